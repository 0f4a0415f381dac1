package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cloudmarket/orders/internal/order"
)

// Ops actions (table ops_actions): the audit trail of what ops do by hand that is not one
// order's transition, shared by every such action so that "who ran what, when and why" is
// one query, whatever the action.

// The actions ops_actions records (ops_actions.action).
const (
	// OpsActionHealthCheck: ops ran the product health check now (target: "products", or
	// the product checked).
	OpsActionHealthCheck = "health_check"
	// OpsActionRestartOrder: ops started a lost order workflow again from the read model
	// (target: the orderId).
	OpsActionRestartOrder = "restart_order"
)

// OpsAction is one line of ops_actions.
type OpsAction struct {
	At time.Time `json:"at"`
	// Actor is the staff member (the ops caller's X-Actor-Id).
	Actor  string `json:"actor"`
	Action string `json:"action"`
	// Target names what the action was on: an orderId, a productId, "products".
	Target string `json:"target"`
	Reason string `json:"reason"`
	// Detail is what the action started or found (workflow and run IDs, say).
	Detail map[string]any `json:"detail,omitempty"`
}

// Execer is what writing an audit line needs: a pool, a connection or a transaction, so an
// action can write its line in the transaction of its other writes.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// RecordOpsAction appends a line to ops_actions. It is not idempotent by itself: the API's
// idempotency keys keep a retried request from running (and recording) twice.
func RecordOpsAction(ctx context.Context, db Execer, a OpsAction) error {
	detail, err := json.Marshal(a.Detail)
	if err != nil || a.Detail == nil {
		detail = []byte("{}")
	}
	if _, err := db.Exec(ctx, `
		INSERT INTO ops_actions (at, actor, action, target, reason, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
		a.At, a.Actor, a.Action, a.Target, a.Reason, detail); err != nil {
		return fmt.Errorf("record ops action %s on %s: %w", a.Action, a.Target, err)
	}
	return nil
}

// OpsActions lists the lines of ops_actions about a target, oldest first.
func OpsActions(ctx context.Context, db pgxQuerier, target string) ([]OpsAction, error) {
	rows, err := db.Query(ctx, `
		SELECT at, actor, action, target, reason, detail FROM ops_actions WHERE target = $1 ORDER BY at, id`, target)
	if err != nil {
		return nil, fmt.Errorf("read ops actions on %s: %w", target, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OpsAction, error) {
		var a OpsAction
		var detail []byte
		if err := r.Scan(&a.At, &a.Actor, &a.Action, &a.Target, &a.Reason, &detail); err != nil {
			return a, err
		}
		a.At = a.At.UTC()
		return a, json.Unmarshal(detail, &a.Detail)
	})
	if err != nil {
		return nil, fmt.Errorf("read ops actions on %s: %w", target, err)
	}
	return out, nil
}

// pgxQuerier is a pool, a connection or a transaction, for reads.
type pgxQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Restart is what an order's restart from the read model writes, in the transaction that
// also holds the order's row: the order's own audit line (its next seq, so its timeline
// shows who restarted it and why), the read model as the restarted workflow holds the order,
// and the ops action.
type Restart struct {
	OrderID string
	// Seq is the restart line's number: one past the last line of the order's trail. The
	// restarted workflow numbers its lines from Seq+1.
	Seq    int
	At     time.Time
	Actor  order.Actor
	Reason string
	View   order.View
	// Detail of the audit line and the ops action (workflowId, runId, what was rebuilt).
	Detail map[string]string
}

// RecordRestart writes a restart in tx: the order's audit line (event restarted, from and
// to the restored status), its row's view at Seq, and the ops_actions line.
func RecordRestart(ctx context.Context, tx pgx.Tx, r Restart) error {
	detail := map[string]string{"reason": r.Reason}
	for k, v := range r.Detail {
		detail[k] = v
	}
	if _, err := appendEvent(ctx, tx, r.OrderID, r.Seq, r.At, r.Actor, order.StepRestarted, r.View.Status, r.View.Status, detail); err != nil {
		return err
	}
	if err := projectRestored(ctx, tx, r.OrderID, r.Seq, r.At, r.View); err != nil {
		return err
	}
	od := map[string]any{}
	for k, v := range r.Detail {
		od[k] = v
	}
	od["seq"] = r.Seq
	if err := RecordOpsAction(ctx, tx, OpsAction{
		At: r.At, Actor: r.Actor.ID, Action: OpsActionRestartOrder, Target: r.OrderID, Reason: r.Reason, Detail: od,
	}); err != nil {
		return err
	}
	// The restart is an order event like any other (last: the outbox's lock is held to the commit).
	return appendOutbox(ctx, tx, r.View, []outboxLine{{seq: r.Seq, at: r.At, actor: r.Actor, event: order.StepRestarted,
		from: r.View.Status, to: r.View.Status}})
}
