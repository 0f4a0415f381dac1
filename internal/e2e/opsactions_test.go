package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/order"
)

// timeline is an order's audit trail as GET /v1/orders/{id}/events answers it.
type timeline struct {
	Items []struct {
		Seq   int    `json:"seq"`
		Event string `json:"event"`
		Actor struct {
			Kind string `json:"kind"`
			ID   string `json:"id"`
		} `json:"actor"`
		Detail map[string]string `json:"detail"`
	} `json:"items"`
}

func timelineOf(t *testing.T, orderID string) timeline {
	t.Helper()
	var tl timeline
	r := do(t, ops("GET", "/v1/orders/"+orderID+"/events?limit=200", nil))
	wantOK(t, r, "GET events")
	r.json(t, &tl)
	return tl
}

// TestRestartLostOrder: an order awaiting acceptance loses its workflow (terminated by
// hand); actions on it are refused as on a closed order. Ops restart it from the read model:
// the same workflow ID runs again, the restart is a line of the order's trail naming them,
// a repeat of the request is answered from the idempotency store and another restart is
// refused (not_lost). The order then goes on as if nothing happened: the buyer accepts it
// (an update), its expiry runs out, grace and retention pass, the seller freezes and then
// releases the instance (clocks and seller calls), and the audit trail continues without a
// gap after the restart's line.
func TestRestartLostOrder(t *testing.T) {
	ctx := context.Background()
	catalogue(t, "s-rst", "p-rst", true)
	const id = "RST-1"
	wantOK(t, do(t, buyer("c-rst", "POST", "/v1/orders", newOrder(id, "c-rst", "p-rst", 3000, 10*time.Second))), "POST order")
	waitStatus(t, id, order.Status(order.PhaseAwaitingAcceptance), 15*time.Second)
	var input []byte
	if err := stack.DB.QueryRow(ctx, `SELECT start_input FROM orders WHERE order_id = $1`, id).Scan(&input); err != nil || len(input) == 0 {
		t.Fatalf("the placed order kept no start input (%v)", err)
	}
	before := timelineOf(t, id)
	last := before.Items[len(before.Items)-1].Seq

	if err := stack.Temporal.TerminateWorkflow(ctx, order.WorkflowID(id), "", "lost in a test"); err != nil {
		t.Fatal(err)
	}
	if r := do(t, buyer("c-rst", "POST", "/v1/orders/"+id+"/acceptance", nil)); r.status != http.StatusConflict {
		t.Fatalf("acceptance of a lost order: %d %s", r.status, r.body)
	}

	restart := ops("POST", "/v1/orders/"+id+"/restart", map[string]any{"reason": "workflow terminated by mistake"})
	restart.headers = map[string]string{"Idempotency-Key": "restart-" + id}
	r := do(t, restart)
	if r.status != http.StatusAccepted {
		t.Fatalf("restart: %d %s", r.status, r.body)
	}
	var a struct {
		WorkflowID   string     `json:"workflowId"`
		RunID        string     `json:"runId"`
		Seq          int        `json:"seq"`
		InputRebuilt bool       `json:"inputRebuilt"`
		Guessed      []string   `json:"guessed"`
		Order        order.View `json:"order"`
	}
	r.json(t, &a)
	if a.WorkflowID != order.WorkflowID(id) || a.Seq != last+1 || a.InputRebuilt || len(a.Guessed) != 0 ||
		a.Order.Status != order.Status(order.PhaseAwaitingAcceptance) || a.Order.NeedsAttention {
		t.Fatalf("restart answer %s", r.body)
	}
	desc, err := stack.Temporal.DescribeWorkflowExecution(ctx, order.WorkflowID(id), "")
	if err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING ||
		desc.GetWorkflowExecutionInfo().GetExecution().GetRunId() != a.RunID {
		t.Fatalf("the restarted workflow: %v (%v)", desc.GetWorkflowExecutionInfo(), err)
	}
	if again := do(t, restart); again.status != http.StatusAccepted || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the restart repeated with its key: %d %s", again.status, again.body)
	}
	if other := do(t, ops("POST", "/v1/orders/"+id+"/restart", map[string]any{"reason": "again"})); other.status != http.StatusConflict || code(t, other) != "not_lost" {
		t.Fatalf("a restart of a running order: %d %s", other.status, other.body)
	}

	// The order goes on: the buyer's update, then the billing clocks and the seller calls.
	wantOK(t, do(t, buyer("c-rst", "POST", "/v1/orders/"+id+"/acceptance", nil)), "acceptance after the restart")
	waitStatus(t, id, order.Status(order.PhaseReleased), 40*time.Second)
	waitSim(t, "s-rst", id, "released", 10*time.Second)

	after := timelineOf(t, id)
	seen := map[string]bool{}
	for i, e := range after.Items {
		if e.Seq != i+1 {
			t.Fatalf("the trail has a gap or a repeat at line %d: seq %d (%+v)", i+1, e.Seq, after.Items)
		}
		if e.Seq > last+1 {
			seen[e.Event] = true
		}
	}
	restarted := after.Items[last]
	if restarted.Event != string(order.StepRestarted) || restarted.Actor.Kind != "ops" || restarted.Actor.ID != "ops-alice" ||
		restarted.Detail["reason"] != "workflow terminated by mistake" || restarted.Detail["runId"] != a.RunID {
		t.Fatalf("restart line %+v", restarted)
	}
	for _, ev := range []order.StepName{order.StepAccepted, order.StepExpired, order.StepFrozen, order.StepReleased} {
		if !seen[string(ev)] {
			t.Errorf("no %s after the restart: %+v", ev, after.Items[last:])
		}
	}
	acts, err := activities.OpsActions(ctx, stack.DB, id)
	if err != nil || len(acts) != 1 || acts[0].Actor != "ops-alice" || acts[0].Action != activities.OpsActionRestartOrder {
		t.Fatalf("ops actions %+v (%v)", acts, err)
	}
	// Final, owing nothing, its workflow completed: not lost.
	if r := do(t, ops("POST", "/v1/orders/"+id+"/restart", map[string]any{"reason": "again"})); r.status != http.StatusConflict || code(t, r) != "not_lost" {
		t.Fatalf("a restart of a released order: %d %s", r.status, r.body)
	}
}

// TestHealthCheckRunByOps: ops run the health check of one product through the API; it
// runs as its own ProductHealth workflow, judges that product alone, and leaves an
// ops_actions line naming the person.
func TestHealthCheckRunByOps(t *testing.T) {
	ctx := context.Background()
	catalogue(t, "s-hc", "p-hc", true)
	r := do(t, ops("POST", "/v1/health-checks/runs", map[string]any{"reason": "seller calls failing since noon", "productId": "p-hc"}))
	if r.status != http.StatusAccepted {
		t.Fatalf("health check: %d %s", r.status, r.body)
	}
	var a struct {
		ProductID  string `json:"productId"`
		WorkflowID string `json:"workflowId"`
		RunID      string `json:"runId"`
	}
	r.json(t, &a)
	var report activities.HealthReport
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := stack.Temporal.GetWorkflow(wctx, a.WorkflowID, a.RunID).Get(wctx, &report); err != nil {
		t.Fatal(err)
	}
	if report.ProductID != "p-hc" || report.Products != 1 || len(report.Delisted) != 0 {
		t.Fatalf("report %+v", report)
	}
	acts, err := activities.OpsActions(ctx, stack.DB, "p-hc")
	if err != nil || len(acts) == 0 || acts[len(acts)-1].Actor != "ops-alice" || acts[len(acts)-1].Detail["runId"] != a.RunID {
		t.Fatalf("ops actions %+v (%v)", acts, err)
	}
	if r := do(t, ops("POST", "/v1/health-checks/runs", map[string]any{"reason": "x", "productId": "p-none"})); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("a check of an unknown product: %d %s", r.status, r.body)
	}
}
