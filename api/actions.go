package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/orders/internal/order"
)

// accept is the buyer's acceptance of a delivered order (POST .../acceptance). Whether the
// order can be accepted now is the workflow's decision (its update validator); the API
// checks only that the caller may see the order (the contract lets only buyers call).
func (s *server) accept(c echo.Context) error {
	id := c.Param("orderId")
	if _, err := s.loadVisibleOrder(c, id); err != nil {
		return err
	}
	return s.update(c, id, order.UpdateAccept, order.ActionRequest{Actor: callerOf(c).actor()})
}

// retry is ops asking a failed seller call to be tried again (POST .../retry).
func (s *server) retry(c echo.Context) error {
	id := c.Param("orderId")
	if _, err := s.loadVisibleOrder(c, id); err != nil {
		return err
	}
	return s.update(c, id, order.UpdateRetry, order.ActionRequest{Actor: callerOf(c).actor()})
}

// update sends one Temporal Update to the order's workflow and waits for its outcome. With
// an Idempotency-Key the update ID is derived from the caller and the key, so Temporal
// answers a repeat with the first outcome instead of running the action again (while the
// workflow runs; the idempotency store answers after that); without one it is a fresh UUID.
func (s *server) update(c echo.Context, orderID, name string, req order.ActionRequest) error {
	updateID := uuid.NewString()
	if key, _ := c.Get(ctxIdempotencyKey).(string); key != "" {
		updateID = updateIDFor(name, callerOf(c).key(), key)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), updateTimeout)
	defer cancel()
	h, err := s.tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   order.WorkflowID(orderID),
		UpdateID:     updateID,
		UpdateName:   name,
		Args:         []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		var v order.View
		if err = h.Get(ctx, &v); err == nil {
			s.log.Info("order update done", "request_id", requestID(c), "order_id", orderID,
				"update", name, "update_id", updateID, "status", v.Status)
			return c.JSON(http.StatusOK, v)
		}
	}
	return s.updateFailure(ctx, orderID, name, err)
}

// updateFailure maps a failed update. The server answers NotFound both for an order that
// never existed and for one whose workflow has closed, so a NotFound is followed by a
// describe to tell 404 from 409 "order is closed" by fact rather than by message text.
func (s *server) updateFailure(ctx context.Context, orderID, name string, err error) error {
	var notFound *serviceerror.NotFound
	if !errors.As(err, &notFound) {
		return temporalFailure(name+" order "+orderID, orderID, err)
	}
	desc, dErr := s.describeOrder(ctx, orderID)
	switch {
	case dErr != nil:
		return temporalFailure("describe order "+orderID, orderID, dErr)
	case desc.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return orderClosed(err)
	default:
		// Running now yet not found a moment ago: a new run took over (continue-as-new).
		return unavailable("the order workflow", err)
	}
}
