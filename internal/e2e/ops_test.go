package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/cloudmarket/orders/internal/order"
)

// Ops' case handling and attention with causes (issue 16), tried from outside on the real
// stack: each action through the API as ops, the seller simulator showing what the seller
// was told, PostgreSQL what the books and the trails say.

// opsLines returns the order's ops_action audit lines as "actor action".
func opsLines(t *testing.T, orderID string) []string {
	t.Helper()
	var page struct {
		Items []struct {
			Event  string            `json:"event"`
			Actor  order.Actor       `json:"actor"`
			Detail map[string]string `json:"detail"`
		} `json:"items"`
	}
	do(t, ops("GET", "/v1/orders/"+orderID+"/events?limit=200", nil)).json(t, &page)
	var out []string
	for _, e := range page.Items {
		if e.Event == string(order.StepOpsAction) {
			out = append(out, e.Actor.ID+" "+e.Detail["action"])
		}
	}
	return out
}

// TestOpsCancelInPartAndInFull: ops cancel an order in service with a part refund (the rest
// stays the seller's; the seller releases the instance), and an order awaiting acceptance
// in full; each audit trail names the ops person.
func TestOpsCancelInPartAndInFull(t *testing.T) {
	const sellerID = "s-ops-cancel"
	unsupervised, supervised := false, true
	catalogueOf(t, sellerID, "p-ops-cancel", order.TypeSaaS, order.BillingMonthly, &unsupervised)
	catalogueOf(t, sellerID, "p-ops-cancel-sup", order.TypeSaaS, order.BillingMonthly, &supervised)
	wantOK(t, do(t, buyer("c-ops-cancel", "POST", "/v1/orders", newOrder("OPS-CANCEL", "c-ops-cancel", "p-ops-cancel", 9900, time.Hour))), "POST")
	wantOK(t, do(t, buyer("c-ops-cancel", "POST", "/v1/orders", newOrder("OPS-CANCEL-2", "c-ops-cancel", "p-ops-cancel-sup", 5000, time.Hour))), "POST")
	waitStatus(t, "OPS-CANCEL", order.Status(order.PhaseInService), 15*time.Second)
	waitStatus(t, "OPS-CANCEL-2", order.Status(order.PhaseAwaitingAcceptance), 15*time.Second)

	// A part refund of an order not accepted yet is refused: nothing is paid before acceptance.
	r := do(t, ops("POST", "/v1/orders/OPS-CANCEL-2/cancellation", map[string]any{"reason": "the buyer changed their mind",
		"refund": map[string]any{"value": 100, "currency": "CNY"}}))
	if r.status != http.StatusConflict || code(t, r) != order.ErrInvalidTransition {
		t.Fatalf("part refund before acceptance: %d %s", r.status, r.body)
	}
	v := view(t, do(t, ops("POST", "/v1/orders/OPS-CANCEL-2/cancellation", map[string]any{"reason": "the buyer changed their mind"})))
	if v.Status != order.Status(order.PhaseCancelled) || v.Settlement.Status != order.SettlementRefunded {
		t.Fatalf("cancelled in full: %s %+v", v.Status, v.Settlement)
	}
	v = view(t, do(t, ops("POST", "/v1/orders/OPS-CANCEL/cancellation", map[string]any{"reason": "outage compensation",
		"refund": map[string]any{"value": 4000, "currency": "CNY"}})))
	if v.Status != order.Status(order.PhaseCancelled) || v.Settlement.Refunded != 4000 {
		t.Fatalf("cancelled in part: %s %+v", v.Status, v.Settlement)
	}
	waitSim(t, sellerID, "OPS-CANCEL", "released", 15*time.Second)
	waitSim(t, sellerID, "OPS-CANCEL-2", "released", 15*time.Second)
	for _, id := range []string{"OPS-CANCEL", "OPS-CANCEL-2"} {
		if got := opsLines(t, id); !slices.Equal(got, []string{"ops-alice cancel"}) {
			t.Errorf("%s: ops lines %v", id, got)
		}
	}
	// The buyer keeps 5900 of 9900 paid for OPS-CANCEL: taken from its funds, owed to the seller less commission.
	if buyerFunds := buyerFundsKept(t, "OPS-CANCEL"); buyerFunds != 5900 {
		t.Fatalf("the books keep %d of the buyer's money, want 5900", buyerFunds)
	}
	r = do(t, ops("POST", "/v1/orders/OPS-CANCEL/cancellation", map[string]any{"reason": "again"}))
	if r.status != http.StatusConflict && r.status != http.StatusNotFound {
		t.Fatalf("cancel a cancelled order: %d %s", r.status, r.body)
	}
	recordHistory(t, "OPS-CANCEL", "saas_ops_cancel_part_refund")
}

// TestOpsAppealOnBehalfClosedThenForceAccepted: ops open an appeal for the buyer (who phoned),
// close it with a note, then accept the order for the buyer.
func TestOpsAppealOnBehalfClosedThenForceAccepted(t *testing.T) {
	const sellerID = "s-ops-accept"
	supervised := true
	catalogueOf(t, sellerID, "p-ops-accept", order.TypeSaaS, order.BillingMonthly, &supervised)
	wantOK(t, do(t, buyer("c-ops-accept", "POST", "/v1/orders", newOrder("OPS-ACCEPT", "c-ops-accept", "p-ops-accept", 9900, time.Hour))), "POST")
	waitStatus(t, "OPS-ACCEPT", order.Status(order.PhaseAwaitingAcceptance), 15*time.Second)
	if r := do(t, ops("POST", "/v1/orders/OPS-ACCEPT/appeals", map[string]any{"reason": "phoned in"})); r.status != http.StatusBadRequest {
		t.Fatalf("ops appeal without onBehalfOf: %d %s", r.status, r.body)
	}
	var a order.AppealAnswer
	r := do(t, ops("POST", "/v1/orders/OPS-ACCEPT/appeals", map[string]any{"reason": "the buyer phoned: the URL does not open", "onBehalfOf": "buyer"}))
	wantOK(t, r, "appeal on the buyer's behalf")
	r.json(t, &a)
	if a.Order.Appeal == nil || a.Order.Appeal.RaisedBy != (order.Actor{Kind: order.ActorBuyer, ID: "c-ops-accept"}) {
		t.Fatalf("appeal raised by %+v, want the buyer", a.Order.Appeal)
	}
	if r := do(t, ops("POST", "/v1/orders/OPS-ACCEPT/forced-acceptance", map[string]any{"reason": "works now"})); r.status != http.StatusConflict || code(t, r) != order.ErrAppealOpen {
		t.Fatalf("force-accept with an appeal open: %d %s", r.status, r.body)
	}
	v := view(t, do(t, ops("POST", "/v1/appeals/"+a.AppealID+"/closure", map[string]any{"note": "the seller fixed the DNS"})))
	if v.Appeal == nil || v.Appeal.State != order.AppealStateResolved || v.Appeal.Outcome != order.OutcomeContinue || v.Appeal.Note != "the seller fixed the DNS" {
		t.Fatalf("closed: %+v", v.Appeal)
	}
	v = view(t, do(t, ops("POST", "/v1/orders/OPS-ACCEPT/forced-acceptance", map[string]any{"reason": "the buyer confirmed by phone"})))
	if v.Status != order.Status(order.PhaseInService) || v.AcceptedBy == nil || *v.AcceptedBy != (order.Actor{Kind: order.ActorOps, ID: "ops-alice"}) {
		t.Fatalf("force-accepted: %s by %+v", v.Status, v.AcceptedBy)
	}
	if got := opsLines(t, "OPS-ACCEPT"); !slices.Equal(got, []string{"ops-alice force_accept"}) {
		t.Errorf("ops lines %v", got)
	}
	recordHistory(t, "OPS-ACCEPT", "saas_ops_appeal_on_behalf_closed_force_accepted")
}

// TestOpsUnfreezeOverridesArrearsThenRefreeze: a pay-per-use order frozen for arrears; ops
// lift the hold (UNFREEZE at the seller, the account's trail says so), then put it back.
func TestOpsUnfreezeOverridesArrearsThenRefreeze(t *testing.T) {
	const sellerID = "s-ops-freeze"
	unsupervised := false
	catalogueOf(t, sellerID, "p-ops-freeze", order.TypeSaaS, order.BillingPayPerUse, &unsupervised)
	if r := do(t, ops("PUT", "/v1/customers/c-ops-freeze", map[string]any{"level": "V4"})); r.status/100 != 2 {
		t.Fatalf("PUT customer: %d %s", r.status, r.body)
	}
	wantOK(t, do(t, buyer("c-ops-freeze", "POST", "/v1/orders", oneTimeOrder("OPS-FREEZE", "c-ops-freeze", "p-ops-freeze", 0))), "POST")
	waitStatus(t, "OPS-FREEZE", order.Status(order.PhaseInService), 15*time.Second)
	if r := do(t, ops("POST", "/v1/orders/OPS-FREEZE/unfreeze", map[string]any{"reason": "x"})); r.status != http.StatusConflict {
		t.Fatalf("unfreeze an order not held: %d %s", r.status, r.body)
	}
	report := billingCall("POST", "/v1/customers/c-ops-freeze/arrears", map[string]any{
		"amount": map[string]any{"value": 3000, "currency": "CNY"}, "since": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)})
	if r := do(t, report); r.status != http.StatusAccepted {
		t.Fatalf("report arrears: %d %s", r.status, r.body)
	}
	waitStatus(t, "OPS-FREEZE", order.StatusFrozen, 15*time.Second)
	waitSim(t, sellerID, "OPS-FREEZE", "frozen", 15*time.Second)
	v := view(t, do(t, ops("POST", "/v1/orders/OPS-FREEZE/unfreeze", map[string]any{"reason": "payment promised by phone"})))
	if v.Status != order.Status(order.PhaseInService) {
		t.Fatalf("unfrozen: %s", v.Status)
	}
	waitSim(t, sellerID, "OPS-FREEZE", "active", 15*time.Second)
	deadline := time.Now().Add(15 * time.Second)
	for {
		var n int
		stack.DB.QueryRow(context.Background(), `SELECT count(*) FROM arrears_events WHERE customer_id = 'c-ops-freeze'
			AND event = 'order_hold_overridden' AND actor_id = 'ops-alice' AND detail->>'orderId' = 'OPS-FREEZE'`).Scan(&n)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the account's trail does not say ops lifted the hold")
		}
		time.Sleep(50 * time.Millisecond)
	}
	v = view(t, do(t, ops("POST", "/v1/orders/OPS-FREEZE/refreeze", map[string]any{"reason": "the promise was broken"})))
	if v.Status != order.StatusFrozen || !slices.Contains(v.Frozen, "ops") {
		t.Fatalf("re-frozen: %s %v", v.Status, v.Frozen)
	}
	waitSim(t, sellerID, "OPS-FREEZE", "frozen", 15*time.Second)
	if got := opsLines(t, "OPS-FREEZE"); !slices.Equal(got, []string{"ops-alice unfreeze", "ops-alice refreeze"}) {
		t.Errorf("ops lines %v", got)
	}
	wantOK(t, do(t, billingCall("POST", "/v1/customers/c-ops-freeze/payments", map[string]any{"amount": map[string]any{"value": 3000, "currency": "CNY"}})), "pay")
	recordHistory(t, "OPS-FREEZE", "payperuse_ops_unfreeze_arrears_then_refreeze")
}

// TestOpsAttentionWithCauseThenExtendClock: a service nobody delivers is flagged with the
// cause first_delivery_sla: the attention list, the order and a Temporal UI query by
// AttentionCause find it; ops extend the clock and the flag clears.
func TestOpsAttentionWithCauseThenExtendClock(t *testing.T) {
	const sellerID = "s-ops-clock"
	supervised := true
	catalogueOf(t, sellerID, "p-ops-clock", order.TypeService, order.BillingOneTime, &supervised)
	// A day in 0.2 s: the first-delivery SLA (1 d) runs out in a fifth of a second.
	base := apiWithPolicy(t, "timeScale: 1\n", "timeScale: 432000\n", "firstDeliverySLA: 10m", "firstDeliverySLA: 1d")
	place := buyer("c-ops-clock", "POST", "/v1/orders", oneTimeOrder("OPS-CLOCK", "c-ops-clock", "p-ops-clock", 3000))
	place.base = base
	wantOK(t, do(t, place), "POST order")
	deadline := time.Now().Add(15 * time.Second)
	var v order.View
	for !v.NeedsAttention {
		if time.Now().After(deadline) {
			t.Fatalf("a service nobody delivers is not flagged: %+v", v)
		}
		time.Sleep(50 * time.Millisecond)
		v = view(t, do(t, ops("GET", "/v1/orders/OPS-CLOCK", nil)))
	}
	if v.AttentionCause != "first_delivery_sla" || v.AttentionSince == nil || len(v.AttentionItems) != 1 {
		t.Fatalf("flag: cause %q since %v items %+v", v.AttentionCause, v.AttentionSince, v.AttentionItems)
	}
	var page struct {
		Items []struct {
			OrderID string `json:"orderId"`
			Cause   string `json:"cause"`
		} `json:"items"`
	}
	do(t, ops("GET", "/v1/attention?cause=first_delivery_sla&sellerId="+sellerID, nil)).json(t, &page)
	if len(page.Items) != 1 || page.Items[0].OrderID != "OPS-CLOCK" {
		t.Fatalf("attention list: %+v", page.Items)
	}
	// The Temporal UI's query by cause.
	for {
		resp, err := stack.Temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: "AttentionCause = 'first_delivery_sla' AND WorkflowId = 'order-OPS-CLOCK'"})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Executions) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no workflow found by AttentionCause")
		}
		time.Sleep(100 * time.Millisecond)
	}
	ext := ops("POST", "/v1/orders/OPS-CLOCK/clock-extensions", map[string]any{"reason": "the seller asked for a week", "clock": "first_delivery_sla", "by": "90d"})
	v = view(t, do(t, ext))
	if v.NeedsAttention || !slices.ContainsFunc(v.Deadlines, func(d order.Deadline) bool { return d.Action == "first_delivery_sla" }) {
		t.Fatalf("extended: attention %q deadlines %+v", v.Attention, v.Deadlines)
	}
	if r := do(t, ops("POST", "/v1/orders/OPS-CLOCK/clock-extensions", map[string]any{"reason": "x", "clock": "auto_accept", "by": "1d"})); r.status != http.StatusConflict {
		t.Fatalf("extend a clock that is not there: %d %s", r.status, r.body)
	}
	if got := opsLines(t, "OPS-CLOCK"); !slices.Equal(got, []string{"ops-alice extend_clock"}) {
		t.Errorf("ops lines %v", got)
	}
	deliver := seller(sellerID, "POST", "/v1/orders/OPS-CLOCK/delivery", map[string]any{"note": "done"})
	deliver.base = base
	wantOK(t, do(t, deliver), "deliver")
	recordHistory(t, "OPS-CLOCK", "service_first_delivery_flagged_ops_extend")
}

// TestOpsProvisionFailedIsFlaggedWithTheSellersWords: a refusal flags the order with the
// cause provision_failed and the seller's own words, in the order and the attention list.
func TestOpsProvisionFailedIsFlaggedWithTheSellersWords(t *testing.T) {
	catalogue(t, "s-ops-refuse", "p-ops-refuse", false)
	sim(t, "PUT", "/admin/sellers/s-ops-refuse/behaviour", map[string]any{"failNext": map[string]any{"count": 1, "resultCode": "000101"}})
	wantOK(t, do(t, buyer("c-ops-refuse", "POST", "/v1/orders", newOrder("OPS-REFUSE", "c-ops-refuse", "p-ops-refuse", 700, time.Hour))), "POST")
	v := waitStatus(t, "OPS-REFUSE", order.Status(order.PhaseProvisionFailed), 10*time.Second)
	if !v.NeedsAttention || v.AttentionCause != "provision_failed" || !strings.Contains(v.LastError, "000101") {
		t.Fatalf("provision_failed: attention %v cause %q lastError %q", v.NeedsAttention, v.AttentionCause, v.LastError)
	}
	v = view(t, do(t, ops("POST", "/v1/orders/OPS-REFUSE/retry", nil)))
	if v.NeedsAttention {
		t.Fatalf("retried: still flagged %q", v.Attention)
	}
	waitStatus(t, "OPS-REFUSE", order.Status(order.PhaseInService), 10*time.Second)
}
