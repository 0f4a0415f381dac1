package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/lifecycle"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/policy"
)

// lostOrderOf writes a read-model row of an order awaiting acceptance, as its workflow left
// it after three audit lines; withInput keeps its start input as the API now does.
func lostOrderOf(t *testing.T, db *pgxpool.Pool, edit func(v *order.View), withInput bool) (string, order.StartInput) {
	t.Helper()
	sellerID := seedSeller(t, db)
	productID := seedProduct(t, db, sellerID, order.TypeSaaS, order.BillingMonthly, true)
	id := uid("lost")
	exp := testNow.Add(30 * 24 * time.Hour)
	in := order.StartInput{
		OrderID: id, OrderLineID: id + "-1", CustomerID: "cust-1", ProductID: productID, SellerID: sellerID,
		ProductType: order.TypeSaaS, BillingMode: order.BillingMonthly, Supervised: true, Quantity: 1,
		Amount: order.Money{Value: 5000, Currency: "CNY"}, CommissionBps: 1500, ExpireTime: &exp,
		PlacedAt: testNow.Add(-time.Hour), Fingerprint: "fp-" + id, Windows: policy.Default().Windows(order.TypeSaaS),
	}
	v := order.InitialView(in)
	v.Phase, v.Status, v.InstanceID, v.WaitingOn = order.PhaseAwaitingAcceptance, order.Status(order.PhaseAwaitingAcceptance), "inst-1", order.WaitBuyer
	v.Deadlines = []order.Deadline{{Action: string(lifecycle.ClockAutoAccept), At: testNow.Add(24 * time.Hour)}}
	if edit != nil {
		edit(&v)
	}
	seedOrder(t, db, v, in.Fingerprint)
	for seq := 1; seq <= 3; seq++ {
		exec(t, db, `INSERT INTO order_events (order_id, seq, at, actor_kind, actor_id, event, from_status, to_status, detail)
			VALUES ($1, $2, $3, 'system', '', 'x', 'provisioning', 'provisioning', '{}')`, id, seq, testNow)
	}
	exec(t, db, `UPDATE orders SET seq = 3 WHERE order_id = $1`, id)
	if withInput {
		raw, _ := json.Marshal(in)
		exec(t, db, `UPDATE orders SET start_input = $2 WHERE order_id = $1`, id, raw)
	}
	return id, in
}

// TestRestartOrder: a lost order is started again with the same workflow ID, resuming the
// state rebuilt from the read model, numbered after its trail; the restart is a line of the
// order's trail and of ops_actions, naming the person and the reason. Orders whose workflow
// is not lost, or that cannot be rebuilt, are refused with stable codes, and nothing is
// written.
func TestRestartOrder(t *testing.T) {
	db := needDB(t)
	notFound := serviceerror.NewNotFound("workflow not found")
	body := `{"reason":"workflow terminated by mistake"}`

	t.Run("lost, with its start input", func(t *testing.T) {
		h := newHarness(t, db)
		id, in := lostOrderOf(t, db, nil, true)
		h.tc.On("DescribeWorkflowExecution", mock.Anything, order.WorkflowID(id), "").Return(nil, notFound).Once()
		var opts client.StartWorkflowOptions
		var got order.StartInput
		h.tc.On("ExecuteWorkflow", mock.Anything, mock.Anything, order.WorkflowType, mock.Anything).Run(func(args mock.Arguments) {
			opts, got = args.Get(1).(client.StartWorkflowOptions), args.Get(3).(order.StartInput)
		}).Return(workflowRun(t, "run-2"), nil).Once()
		rec := h.do(t, http.MethodPost, "/v1/orders/"+id+"/restart", body, merge(opsBy("alice"), map[string]string{"Idempotency-Key": uid("k")}))
		wantStatus(t, rec, http.StatusAccepted)
		var a restartAnswer
		decodeInto(t, rec, &a)
		if a.WorkflowID != order.WorkflowID(id) || a.RunID != "run-2" || a.Seq != 4 || a.InputRebuilt || len(a.Guessed) != 0 ||
			a.Order.Status != order.Status(order.PhaseAwaitingAcceptance) || a.Order.NeedsAttention {
			t.Errorf("answer %+v", a)
		}
		if opts.ID != order.WorkflowID(id) || opts.WorkflowIDReusePolicy != enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE ||
			opts.WorkflowIDConflictPolicy != enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL || !opts.WorkflowExecutionErrorWhenAlreadyStarted {
			t.Errorf("start options %+v", opts)
		}
		var r struct {
			State lifecycle.State `json:"state"`
			Seq   int             `json:"seq"`
		}
		if err := json.Unmarshal(got.Resume, &r); err != nil {
			t.Fatalf("resume %s: %v", got.Resume, err)
		}
		if r.Seq != 4 || r.State.Phase != order.PhaseAwaitingAcceptance || r.State.InstanceID != "inst-1" ||
			!r.State.Clocks.Has(lifecycle.ClockAutoAccept) || r.State.In.Fingerprint != in.Fingerprint || len(r.State.In.Resume) != 0 ||
			got.OrderID != id || got.CommissionBps != 1500 {
			t.Errorf("resumed %+v at %d", r.State, r.Seq)
		}
		var event, actor, reason string
		var rowSeq int
		if err := db.QueryRow(context.Background(), `SELECT e.event, e.actor_id, e.detail->>'reason', o.seq
			FROM order_events e JOIN orders o USING (order_id) WHERE e.order_id = $1 AND e.seq = 4`, id).
			Scan(&event, &actor, &reason, &rowSeq); err != nil {
			t.Fatal(err)
		}
		if event != string(order.StepRestarted) || actor != "alice" || reason != "workflow terminated by mistake" || rowSeq != 4 {
			t.Errorf("restart line %s by %s (%s), row at %d", event, actor, reason, rowSeq)
		}
		acts, err := activities.OpsActions(context.Background(), db, id)
		if err != nil || len(acts) != 1 || acts[0].Action != activities.OpsActionRestartOrder || acts[0].Actor != "alice" ||
			acts[0].Detail["runId"] != "run-2" {
			t.Errorf("ops actions %+v (%v)", acts, err)
		}
	})

	t.Run("terminated, placed before start inputs were kept", func(t *testing.T) {
		h := newHarness(t, db)
		id, _ := lostOrderOf(t, db, nil, false)
		h.tc.On("DescribeWorkflowExecution", mock.Anything, order.WorkflowID(id), "").
			Return(describeResponse(t, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, ""), nil).Once()
		var got order.StartInput
		h.tc.On("ExecuteWorkflow", mock.Anything, mock.Anything, order.WorkflowType, mock.Anything).Run(func(args mock.Arguments) {
			got = args.Get(3).(order.StartInput)
		}).Return(workflowRun(t, "run-3"), nil).Once()
		rec := h.do(t, http.MethodPost, "/v1/orders/"+id+"/restart", body, opsBy("bob"))
		wantStatus(t, rec, http.StatusAccepted)
		var a restartAnswer
		decodeInto(t, rec, &a)
		if !a.InputRebuilt || len(a.Guessed) == 0 || !a.Order.NeedsAttention || !strings.Contains(a.Order.Attention, "bob") {
			t.Errorf("answer %+v", a)
		}
		if got.CommissionBps != 1500 || got.Windows.AcceptanceWindow == 0 || got.Fingerprint != "fp-"+id {
			t.Errorf("rebuilt input %+v", got)
		}
		var attention bool
		if err := db.QueryRow(context.Background(), `SELECT (view->>'needsAttention')::boolean FROM orders WHERE order_id = $1`, id).
			Scan(&attention); err != nil || !attention {
			t.Errorf("read model not flagged (%v)", err)
		}
	})

	final := func(v *order.View) {
		v.Phase, v.Status, v.WaitingOn, v.Deadlines = order.PhaseCompleted, order.Status(order.PhaseCompleted), order.WaitNone, []order.Deadline{}
	}
	refusals := []struct {
		name        string
		edit        func(v *order.View)
		describe    *enumspb.WorkflowExecutionStatus // nil: not found
		describeErr error
		startErr    error // nil: not started
		status      int
		code        string
	}{
		{"running", nil, new(enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING), nil, nil, 409, CodeNotLost},
		{"completed and final", final, new(enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED), nil, nil, 409, CodeNotLost},
		{"terminated but final, owing nothing", final, new(enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED), nil, nil, 409, CodeNotLost},
		{"started meanwhile", nil, nil, nil, serviceerror.NewWorkflowExecutionAlreadyStarted("exists", "", "run-x"), 409, CodeNotLost},
		{"a view the machine cannot take", func(v *order.View) { v.Phase = "limbo" }, nil, nil, nil, 409, CodeNotRestorable},
		{"Temporal unavailable", nil, nil, serviceerror.NewUnavailable("down"), nil, 503, CodeUnavailable},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, db)
			id, _ := lostOrderOf(t, db, tt.edit, true)
			switch {
			case tt.describeErr != nil:
				h.tc.On("DescribeWorkflowExecution", mock.Anything, order.WorkflowID(id), "").Return(nil, tt.describeErr).Once()
			case tt.describe != nil:
				h.tc.On("DescribeWorkflowExecution", mock.Anything, order.WorkflowID(id), "").Return(describeResponse(t, *tt.describe, ""), nil).Once()
			default:
				h.tc.On("DescribeWorkflowExecution", mock.Anything, order.WorkflowID(id), "").Return(nil, notFound).Once()
			}
			if tt.startErr != nil {
				h.tc.On("ExecuteWorkflow", mock.Anything, mock.Anything, order.WorkflowType, mock.Anything).Return(nil, tt.startErr).Once()
			}
			wantProblem(t, h.do(t, http.MethodPost, "/v1/orders/"+id+"/restart", body, opsBy("alice")), tt.status, tt.code, "")
			var lines, acts int
			db.QueryRow(context.Background(), `SELECT count(*) FROM order_events WHERE order_id = $1`, id).Scan(&lines)
			db.QueryRow(context.Background(), `SELECT count(*) FROM ops_actions WHERE target = $1`, id).Scan(&acts)
			if lines != 3 || acts != 0 {
				t.Errorf("a refused restart wrote %d lines, %d ops actions", lines-3, acts)
			}
		})
	}

	t.Run("input", func(t *testing.T) {
		h := newHarness(t, db, func(c *config.Config) { c.APIMaxBodyBytes = 8 << 10 })
		for _, tt := range []struct{ name, path, body, code, field string }{
			{"no reason", "/v1/orders/o-1/restart", `{}`, CodeInvalidField, "reason"},
			{"reason too long", "/v1/orders/o-1/restart", `{"reason":"` + strings.Repeat("x", 2001) + `"}`, CodeInvalidField, "reason"},
			{"bad order id", "/v1/orders/a%20b/restart", body, CodeInvalidField, "orderId"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				wantProblem(t, h.do(t, http.MethodPost, tt.path, tt.body, opsBy("alice")), 400, tt.code, tt.field)
			})
		}
		wantProblem(t, h.do(t, http.MethodPost, "/v1/orders/"+uid("nope")+"/restart", body, opsBy("alice")), 404, CodeOrderNotFound, "orderId")
	})
}
