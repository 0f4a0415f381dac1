package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/lifecycle"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/workflows/orderflow"
)

// restartAnswer is the answer of POST /v1/orders/{orderId}/restart.
type restartAnswer struct {
	OrderID    string `json:"orderId"`
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
	// Seq is the restart's line in the order's audit trail; the workflow's lines follow.
	Seq int `json:"seq"`
	// InputRebuilt: the order had no start input kept (placed before it was), so it was
	// rebuilt from the view, the catalogue and the current policy.
	InputRebuilt bool `json:"inputRebuilt"`
	// Guessed lists what the read model did not say and the restore chose; not empty, the
	// order is flagged for ops (attention cause "restarted").
	Guessed []string   `json:"guessed"`
	Order   order.View `json:"order"`
}

// lostOrder is what the read model holds of an order to restart.
type lostOrder struct {
	view        order.View
	input       []byte // orders.start_input, nil for orders placed before it was kept
	fingerprint string
	lastSeq     int
	appeals     int
	cause       string // of the needs_attention line behind the view's attention
	arrears     order.AccountState
}

// restartOrder starts a lost order workflow again from the read model (POST
// /v1/orders/{orderId}/restart, ops). The order must be known to the read model; its
// workflow must be gone or closed other than by completing a final order (409 not_lost
// otherwise: running, or completed as the read model says); and the order must still have
// something to run (not final, or final with an appeal open or a seller call owed). The new
// run resumes the state lifecycle.Restore rebuilds, with the same workflow ID; the
// restart's audit line (naming the ops person and the reason), the read model as the new
// run holds the order, and the ops_actions line are written in the transaction that holds
// the order's row, and only once the run has started.
func (s *server) restartOrder(c echo.Context) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	id := c.Param("orderId")
	ctx := c.Request().Context()
	dbCtx, cancel := context.WithTimeout(ctx, dbTimeout+temporalTimeout*2)
	defer cancel()
	tx, err := s.db.Begin(dbCtx)
	if err != nil {
		return dbFailure("begin restart of order "+id, err)
	}
	// Rolled back unless committed (after Commit, Rollback is a no-op): a refused or failed
	// restart writes nothing.
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	lo, err := readLostOrder(dbCtx, tx, id)
	if err != nil {
		return err
	}
	if err := s.checkLost(ctx, id, lo.view); err != nil {
		return err
	}

	snap := lifecycle.Snapshot{View: lo.view, Appeals: lo.appeals, AttentionCause: lo.cause, Arrears: lo.arrears,
		Restarter: callerOf(c).actor()}
	if lo.input != nil {
		if err := json.Unmarshal(lo.input, &snap.In); err != nil {
			return notRestorable(id, fmt.Sprintf("its start input does not decode: %v", err))
		}
	} else {
		var bps int
		err := tx.QueryRow(dbCtx, `SELECT commission_bps FROM products WHERE product_id = $1`, lo.view.ProductID).Scan(&bps)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return notRestorable(id, fmt.Sprintf("it has no start input kept and its product %q is not in the catalogue", lo.view.ProductID))
		case err != nil:
			return dbFailure("read product of order "+id, err)
		}
		snap.In = lifecycle.RebuildInput(lo.view, bps, s.policy.Windows(lo.view.ProductType), lo.fingerprint)
		snap.InputRebuilt = true
	}
	now := s.now().UTC()
	restored, err := lifecycle.Restore(snap, now)
	if err != nil {
		return notRestorable(id, err.Error())
	}
	st := restored.State
	seq := lo.lastSeq + 1
	view := lifecycle.View(&st, now)
	in := st.In
	if in.Resume, err = orderflow.ResumePayload(st, seq); err != nil {
		return fmt.Errorf("restart order %s: %w", id, err)
	}

	run, err := s.startRestarted(ctx, in, view)
	if err != nil {
		return err
	}
	answer := restartAnswer{OrderID: id, WorkflowID: order.WorkflowID(id), RunID: run.GetRunID(), Seq: seq,
		InputRebuilt: snap.InputRebuilt, Guessed: restored.Guessed, Order: view}
	if answer.Guessed == nil {
		answer.Guessed = []string{}
	}
	detail := map[string]string{"workflowId": answer.WorkflowID, "runId": answer.RunID,
		"inputRebuilt": fmt.Sprint(snap.InputRebuilt)}
	if len(restored.Guessed) > 0 {
		detail["guessed"] = strings.Join(restored.Guessed, "; ")
	}
	actor := callerOf(c).actor()
	err = activities.RecordRestart(dbCtx, tx, activities.Restart{OrderID: id, Seq: seq, At: now, Actor: actor,
		Reason: req.Reason, View: view, Detail: detail})
	if err == nil {
		err = tx.Commit(dbCtx)
	}
	if err != nil {
		// The order runs again; only the restart's records are missing (its audit line's seq
		// stays a gap). The log keeps what they would have said.
		s.log.Error("order restarted without its audit line", "request_id", requestID(c), "order_id", id,
			"actor_id", actor.ID, "reason", req.Reason, "run_id", answer.RunID, "seq", seq, "error", err)
		return dbFailure("record restart of order "+id, err)
	}
	s.log.Info("order restarted", "request_id", requestID(c), "order_id", id, "actor_id", actor.ID,
		"run_id", answer.RunID, "seq", seq, "status", view.Status, "input_rebuilt", snap.InputRebuilt, "guessed", len(restored.Guessed))
	return c.JSON(http.StatusAccepted, answer)
}

// readLostOrder reads, and locks for the restart, what the read model holds of the order:
// the row (locked, so two restarts of one order are serialised), the last line of its
// audit trail, its appeals, the cause of the flag its view shows and its customer's
// arrears state.
func readLostOrder(ctx context.Context, tx pgx.Tx, id string) (lostOrder, error) {
	var lo lostOrder
	var raw []byte
	var cause *string
	err := tx.QueryRow(ctx, `
		SELECT o.view, o.start_input, o.request_fingerprint,
		       greatest(o.seq, coalesce((SELECT max(e.seq) FROM order_events e WHERE e.order_id = o.order_id), 0)),
		       (SELECT count(*) FROM appeals a WHERE a.order_id = o.order_id),
		       (SELECT e.detail->>'cause' FROM order_events e WHERE e.order_id = o.order_id AND e.event = $2
		            AND e.detail->>'attention' = o.view->>'attention' ORDER BY e.seq DESC LIMIT 1),
		       coalesce((SELECT a.state FROM arrears_accounts a WHERE a.customer_id = o.customer_id), '')
		FROM orders o WHERE o.order_id = $1 FOR UPDATE OF o`, id, order.StepNeedsAttention).
		Scan(&raw, &lo.input, &lo.fingerprint, &lo.lastSeq, &lo.appeals, &cause, &lo.arrears)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return lo, orderNotFound(id)
	case err != nil:
		return lo, dbFailure("read order "+id, err)
	}
	if cause != nil {
		lo.cause = *cause
	}
	if err := json.Unmarshal(raw, &lo.view); err != nil {
		return lo, notRestorable(id, fmt.Sprintf("its view does not decode: %v", err))
	}
	return lo, nil
}

// checkLost refuses to restart an order whose workflow is not lost (running, or completed
// as the read model says it should have), or that has nothing left to run.
func (s *server) checkLost(ctx context.Context, id string, v order.View) error {
	tctx, cancel := context.WithTimeout(ctx, temporalTimeout)
	defer cancel()
	desc, err := s.describeOrder(tctx, id)
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		// Gone: deleted, or past the namespace's retention, or lost with a Temporal restore.
	case err != nil:
		return temporalFailure("describe order "+id, id, err)
	case desc.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || desc.Status == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return notLost(id, "its workflow is running")
	case desc.Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED && v.Phase.Final():
		return notLost(id, fmt.Sprintf("its workflow completed and the order is %s", v.Status))
	}
	appealOpen := v.Appeal != nil && v.Appeal.State == order.AppealStateOpen
	if v.Phase.Final() && v.WaitingOn == order.WaitNone && !appealOpen {
		return notLost(id, fmt.Sprintf("the order is %s and owes nothing: there is nothing to run", v.Status))
	}
	return nil
}

// startRestarted starts the order's workflow again, under its own ID, resuming in.Resume.
// A workflow of that ID running meanwhile (another restart won the race) is not_lost.
func (s *server) startRestarted(ctx context.Context, in order.StartInput, v order.View) (client.WorkflowRun, error) {
	opts := s.startOptions(in, v.Status, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE)
	tctx, cancel := context.WithTimeout(ctx, temporalTimeout)
	defer cancel()
	run, err := s.tc.ExecuteWorkflow(tctx, opts, order.WorkflowType, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case err == nil:
		return run, nil
	case errors.As(err, &started):
		p := notLost(in.OrderID, "its workflow was started again meanwhile")
		p.cause = err
		return nil, p
	default:
		return nil, temporalFailure("restart order "+in.OrderID, in.OrderID, err)
	}
}

func notLost(id, why string) *Problem {
	return conflict(CodeNotLost, fmt.Sprintf("order %q is not lost: %s", id, why))
}

func notRestorable(id, why string) *Problem {
	return conflict(CodeNotRestorable, fmt.Sprintf("order %q cannot be restarted from the read model: %s", id, why))
}
