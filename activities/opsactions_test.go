package activities

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudmarket/orders/internal/order"
)

func TestRecordOpsAction(t *testing.T) {
	ctx := context.Background()
	target := uniqueID("prod")
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, a := range []OpsAction{
		{At: at, Actor: "alice", Action: OpsActionHealthCheck, Target: target, Reason: "seller says fixed", Detail: map[string]any{"workflowId": "w1"}},
		{At: at.Add(time.Second), Actor: "bob", Action: OpsActionHealthCheck, Target: target, Reason: "again"},
	} {
		if err := RecordOpsAction(ctx, db, a); err != nil {
			t.Fatal(err)
		}
	}
	got, err := OpsActions(ctx, db, target)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Actor != "alice" || got[0].Detail["workflowId"] != "w1" || got[1].Actor != "bob" ||
		got[1].Detail == nil || !got[0].At.Equal(at) || got[0].Reason != "seller says fixed" {
		t.Fatalf("ops actions = %+v", got)
	}
}

// TestRecordRestart: the restart line continues the order's trail, the read model takes the
// restored view, and the ops action names the staff member; a restart older than the row
// (a late retry) leaves the view alone.
func TestRecordRestart(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	id := uniqueID("R")
	at := time.Now().UTC().Truncate(time.Millisecond)
	for seq, ph := range []order.Phase{order.PhaseProvisioning, order.PhaseAwaitingAcceptance} {
		if err := s.RecordTransition(ctx, Transition{WorkflowID: "order-" + id, Fingerprint: "fp", Seq: seq + 1, At: at,
			Event: "x", View: view(id, ph)}); err != nil {
			t.Fatal(err)
		}
	}
	v := view(id, order.PhaseAwaitingAcceptance)
	v.NeedsAttention, v.Attention = true, "restarted"
	r := Restart{OrderID: id, Seq: 3, At: at, Actor: order.Actor{Kind: order.ActorOps, ID: "alice"}, Reason: "workflow lost",
		View: v, Detail: map[string]string{"workflowId": "order-" + id}}
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return RecordRestart(ctx, tx, r) }); err != nil {
		t.Fatal(err)
	}
	var event, actor, reason string
	var seq int
	var attention bool
	if err := db.QueryRow(ctx, `SELECT e.event, e.actor_id, e.detail->>'reason', o.seq, (o.view->>'needsAttention')::boolean
		FROM order_events e JOIN orders o USING (order_id) WHERE e.order_id = $1 AND e.seq = 3`, id).
		Scan(&event, &actor, &reason, &seq, &attention); err != nil {
		t.Fatal(err)
	}
	if event != string(order.StepRestarted) || actor != "alice" || reason != "workflow lost" || seq != 3 || !attention {
		t.Fatalf("restart line %s by %s (%s), row seq %d attention %v", event, actor, reason, seq, attention)
	}
	acts, err := OpsActions(ctx, db, id)
	if err != nil || len(acts) != 1 || acts[0].Action != OpsActionRestartOrder || acts[0].Actor != "alice" || acts[0].Detail["seq"] != float64(3) {
		t.Fatalf("ops actions = %+v, %v", acts, err)
	}
	// A stale restart (seq not past the row's) does not overwrite the view.
	r.Seq, r.View = 2, view(id, order.PhaseProvisioning)
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return RecordRestart(ctx, tx, r) }); err != nil {
		t.Fatal(err)
	}
	var phase string
	if err := db.QueryRow(ctx, `SELECT phase FROM orders WHERE order_id = $1`, id).Scan(&phase); err != nil || phase != string(order.PhaseAwaitingAcceptance) {
		t.Fatalf("phase %q after a stale restart (%v)", phase, err)
	}
}
