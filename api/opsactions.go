package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/order"
)

// Ops actions of issue 16: what ops could only do in the Temporal UI (or not at all), as
// API calls allowed to ops alone, each with a reason and an audit line naming the person
// (ops_actions; for an order, its own trail too).

// healthRun is the answer of POST /v1/health-checks/runs.
type healthRun struct {
	ProductID  string `json:"productId,omitempty"`
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
}

// runHealthCheck starts the product health check now (POST /v1/health-checks/runs, ops):
// the workflow the daily schedule starts, under an ID of its own, for every listed product
// or for one. A product that does not exist is 422, a delisted one 409 (the check judges
// listed products only, so it would judge nothing).
func (s *server) runHealthCheck(c echo.Context) error {
	var req struct {
		Reason    string `json:"reason"`
		ProductID string `json:"productId"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if req.ProductID != "" {
		if err := s.checkableProduct(ctx, req.ProductID); err != nil {
			return err
		}
	}
	now := s.now().UTC()
	id := order.HealthOpsWorkflowID(req.ProductID, now)
	tctx, cancel := context.WithTimeout(ctx, temporalTimeout)
	defer cancel()
	run, err := s.tc.ExecuteWorkflow(tctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: s.cfg.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, order.HealthWorkflowType, order.HealthInput{ProductID: req.ProductID})
	if err != nil {
		return temporalFailure("start health check "+id, "", err)
	}
	answer := healthRun{ProductID: req.ProductID, WorkflowID: id, RunID: run.GetRunID()}
	target := "products"
	if req.ProductID != "" {
		target = req.ProductID
	}
	actor := callerOf(c).ID
	dbCtx, dbCancel := context.WithTimeout(ctx, dbTimeout)
	defer dbCancel()
	if err := activities.RecordOpsAction(dbCtx, s.db, activities.OpsAction{
		At: now, Actor: actor, Action: activities.OpsActionHealthCheck, Target: target, Reason: req.Reason,
		Detail: map[string]any{"workflowId": answer.WorkflowID, "runId": answer.RunID},
	}); err != nil {
		// The check runs; only its audit line is missing. The log keeps what the line would
		// have said, and the caller is told to retry (the same key, within the second,
		// meets the same run).
		s.log.Error("health check started without its audit line", "request_id", requestID(c), "actor_id", actor,
			"target", target, "reason", req.Reason, "workflow_id", id, "run_id", answer.RunID, "error", err)
		return dbFailure("record health check", err)
	}
	s.log.Info("health check started", "request_id", requestID(c), "actor_id", actor, "target", target,
		"workflow_id", id, "run_id", answer.RunID)
	return c.JSON(http.StatusAccepted, answer)
}

// checkableProduct refuses a product the health check cannot judge: unknown (422, the body
// names it) or delisted (409).
func (s *server) checkableProduct(ctx context.Context, productID string) error {
	dbCtx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var listed bool
	err := s.db.QueryRow(dbCtx, `SELECT listed FROM products WHERE product_id = $1`, productID).Scan(&listed)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		p := newProblem(http.StatusUnprocessableEntity, CodeProductNotFound, fmt.Sprintf("no product %q", productID))
		p.Field = "productId"
		return p
	case err != nil:
		return dbFailure("read product "+productID, err)
	case !listed:
		p := conflict(CodeProductDelisted, fmt.Sprintf(
			"product %q is delisted: the health check judges listed products only (relist it with PUT /v1/products/%s)", productID, productID))
		p.Field = "productId"
		return p
	}
	return nil
}
