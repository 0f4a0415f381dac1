package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/orders/internal/order"
)

// The actions on an order. Whether the order may take one now is the workflow's decision
// (its update validator answers at once, the same check the workflow applies); the API
// checks only who may call (the contract's roles) and that the caller may see the order
// (one read of PostgreSQL, so unknown orders never reach Temporal).

func (s *server) accept(c echo.Context) error {
	return s.act(c, order.UpdateAccept, order.ActionRequest{Actor: callerOf(c).actor()})
}

func (s *server) retry(c echo.Context) error {
	return s.act(c, order.UpdateRetry, order.ActionRequest{Actor: callerOf(c).actor()})
}

func (s *server) rejectOrder(c echo.Context) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	return s.act(c, order.UpdateReject, order.ActionRequest{Actor: callerOf(c).actor(), Reason: req.Reason})
}

func (s *server) deliverOrder(c echo.Context) error {
	var req struct {
		Note     string  `json:"note"`
		OpenedAt *string `json:"openedAt"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	return s.actOpened(c, order.UpdateDeliver, req.OpenedAt, func(opened *time.Time) any {
		return order.DeliveryRequest{Actor: callerOf(c).actor(), Note: req.Note, OpenedAt: opened}
	})
}

// actOpened runs an action that may carry the seller's actual open time, checked against
// the order it is about (openedAt) before the order sees it.
func (s *server) actOpened(c echo.Context, name string, raw *string, arg func(opened *time.Time) any) error {
	id := c.Param("orderId")
	d, err := s.loadVisibleOrder(c, id)
	if err != nil {
		return err
	}
	opened, err := s.openedAt(raw, d.View)
	if err != nil {
		return err
	}
	return s.actVisible(c, d, id, name, arg(opened))
}

// openedAt reads the optional actual open time a seller reports with a delivery: an RFC
// 3339 time, not before the order was placed and not in the future. The future is the
// order's: on a demo time scale (TIME_SCALE) its days pass in seconds, so "now" for the
// order is its placing plus the time since, scaled.
func (s *server) openedAt(raw *string, view []byte) (*time.Time, error) {
	if raw == nil {
		return nil, nil
	}
	at, err := time.Parse(time.RFC3339, *raw)
	if err != nil {
		return nil, invalidField("openedAt", "openedAt must be an RFC 3339 date-time")
	}
	var v order.View
	if err := decodeView(view, &v); err != nil {
		return nil, err
	}
	now := s.now()
	if scale := s.policy.TimeScale; scale > 1 {
		now = v.PlacedAt.Add(time.Duration(float64(now.Sub(v.PlacedAt)) * scale))
	}
	switch {
	case at.After(now.Add(time.Hour)):
		return nil, invalidField("openedAt", "openedAt is in the future")
	case at.Before(v.PlacedAt.Truncate(time.Second)):
		return nil, invalidField("openedAt", "openedAt is before the order was placed")
	}
	at = at.UTC()
	return &at, nil
}

func (s *server) reportDeployment(c echo.Context) error {
	var req struct {
		Phase    order.DeploymentPhaseName `json:"phase"`
		State    order.DeploymentState     `json:"state"`
		Detail   string                    `json:"detail"`
		OpenedAt *string                   `json:"openedAt"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	return s.actOpened(c, order.UpdateDeploy, req.OpenedAt, func(opened *time.Time) any {
		return order.DeploymentReport{Actor: callerOf(c).actor(), Phase: req.Phase, State: req.State, Detail: req.Detail, OpenedAt: opened}
	})
}

func (s *server) shipOrder(c echo.Context) error {
	var req struct {
		Carrier        string `json:"carrier"`
		TrackingNumber string `json:"trackingNumber"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	return s.act(c, order.UpdateShip, order.ShipmentRequest{Actor: callerOf(c).actor(), Carrier: req.Carrier, TrackingNumber: req.TrackingNumber})
}

func (s *server) signOffShipment(c echo.Context) error {
	var req struct {
		SignedAt string `json:"signedAt"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	// Who may act comes before what the body says, so a stranger learns nothing from the
	// order's answer to a well-formed body.
	id := c.Param("orderId")
	d, err := s.loadVisibleOrder(c, id)
	if err != nil {
		return err
	}
	at, err := time.Parse(time.RFC3339, req.SignedAt)
	if err != nil {
		return invalidField("signedAt", "signedAt must be an RFC 3339 date-time")
	}
	if at.After(s.now().Add(time.Hour)) {
		return invalidField("signedAt", "signedAt is in the future")
	}
	return s.actVisible(c, d, id, order.UpdateSignoff, order.SignoffRequest{Actor: callerOf(c).actor(), SignedAt: at.UTC()})
}

func (s *server) appealOrder(c echo.Context) error {
	var req struct {
		Reason     string           `json:"reason"`
		Evidence   []order.Evidence `json:"evidence"`
		OnBehalfOf string           `json:"onBehalfOf"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	id := c.Param("orderId")
	d, err := s.loadVisibleOrder(c, id)
	if err != nil {
		return err
	}
	arg := order.AppealRequest{Actor: callerOf(c).actor(), Reason: req.Reason, Evidence: req.Evidence}
	switch {
	case arg.Actor.Kind == order.ActorOps && req.OnBehalfOf == "":
		return invalidField("onBehalfOf", "ops open an appeal on behalf of the order's buyer or seller: onBehalfOf is required")
	case arg.Actor.Kind == order.ActorOps:
		party := order.Actor{Kind: order.ActorBuyer, ID: d.CustomerID}
		if req.OnBehalfOf == string(order.ActorSeller) {
			party = order.Actor{Kind: order.ActorSeller, ID: d.SellerID}
		}
		arg.OnBehalfOf = &party
	case req.OnBehalfOf != "":
		return invalidField("onBehalfOf", "only ops open an appeal on a party's behalf")
	}
	var answer order.AppealAnswer
	if err := s.update(c, id, order.UpdateAppeal, arg, &answer); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, answer)
}

// act runs one action on a visible order and answers the order after it.
func (s *server) act(c echo.Context, name string, arg any) error {
	id := c.Param("orderId")
	d, err := s.loadVisibleOrder(c, id)
	if err != nil {
		return err
	}
	return s.actVisible(c, d, id, name, arg)
}

// actVisible runs one action on an order the caller is known to see (d, as read before).
func (s *server) actVisible(c echo.Context, d orderDoc, id, name string, arg any) error {
	var v order.View
	if err := s.update(c, id, name, arg, &v); err != nil {
		return err
	}
	overlaySettled(&v, d.Settled)
	return c.JSON(http.StatusOK, v)
}

// update sends one Temporal Update to the order's workflow and waits for its outcome: the
// workflow answers once the transition is recorded, so a read right after sees it. With an
// Idempotency-Key the update ID is derived from the caller and the key, so even a request
// run twice acts once in the workflow (while it runs; the idempotency store answers after
// that); without one it is a fresh UUID.
func (s *server) update(c echo.Context, orderID, name string, arg, out any) error {
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
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		if err = h.Get(ctx, out); err == nil {
			s.log.Info("order update done", "request_id", requestID(c), "order_id", orderID, "update", name, "update_id", updateID)
			return nil
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
