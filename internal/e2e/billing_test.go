package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/cloudmarket/orders/internal/order"
)

// Billing's side of an order on the real stack: renewals, unsubscription, and a
// subscription renewed monthly for ten years.

func billingCall(method, path string, body any) call {
	return call{method: method, path: path, token: billingToken, actorID: "billing-1", body: body}
}

// waitSim polls the simulator until the order's instance is in status want.
func waitSim(t *testing.T, sellerID, orderID, want string, within time.Duration) simInstance {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		insts := simInstances(t, sellerID, orderID)
		if len(insts) == 1 && insts[0].Status == want {
			return insts[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance of order %s at the seller: %+v, want status %s", orderID, insts, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRenewalWhileFrozenThenUnsubscription: a monthly order expires, its grace ends and
// the seller freezes it; billing renews it (the seller is told the new expiry, and
// unfreezes), then ends it (released at once, naming the unsubscribe order, refund recorded).
func TestRenewalWhileFrozenThenUnsubscription(t *testing.T) {
	catalogue(t, "s-renew", "p-renew", false)
	// V5 in the test policy: 300 ms of grace, 8 s of retention.
	if r := do(t, ops("PUT", "/v1/customers/c-renew", map[string]any{"level": "V5"})); r.status/100 != 2 {
		t.Fatalf("PUT customer: %d %s", r.status, r.body)
	}
	wantOK(t, do(t, buyer("c-renew", "POST", "/v1/orders", newOrder("RENEW-1", "c-renew", "p-renew", 1000, 2*time.Second))), "POST order")
	waitStatus(t, "RENEW-1", order.StatusFrozen, 15*time.Second)
	waitSim(t, "s-renew", "RENEW-1", "frozen", 10*time.Second)
	if r := do(t, buyer("c-renew", "POST", "/v1/orders/RENEW-1/renewal", map[string]any{
		"renewalOrderId": "RENEW-1-R1", "renewalOrderLineId": "RENEW-1-R1-1", "expireTime": time.Now().Add(60 * 24 * time.Hour).UTC().Format(time.RFC3339),
	})); r.status != http.StatusForbidden {
		t.Fatalf("a buyer renewing: %d %s", r.status, r.body)
	}
	exp := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	r := do(t, billingCall("POST", "/v1/orders/RENEW-1/renewal", map[string]any{
		"renewalOrderId": "RENEW-1-R1", "renewalOrderLineId": "RENEW-1-R1-1", "expireTime": exp.Format(time.RFC3339),
		"amount": map[string]any{"value": 1200, "currency": "CNY"},
	}))
	v := view(t, r)
	if v.Status != order.Status(order.PhaseInService) || v.RenewalCount != 1 || !v.ExpireTime.Equal(exp) {
		t.Fatalf("after renewal: %d %s", r.status, r.body)
	}
	if s := v.Renewals[0].Settlement; s.Gross != 1200 || s.Commission != 180 || s.Status != order.SettlementPending {
		t.Fatalf("renewal settlement %+v", s)
	}
	inst := waitSim(t, "s-renew", "RENEW-1", "active", 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for inst.ExpireTime != exp.Format("20060102150405") {
		if time.Now().After(deadline) {
			t.Fatalf("the seller's expireTime is %q, want the renewal's %s", inst.ExpireTime, exp)
		}
		time.Sleep(50 * time.Millisecond)
		inst = simInstances(t, "s-renew", "RENEW-1")[0]
	}
	// Backwards, and after the fact with another expiry: refused, nothing changes.
	if r := do(t, billingCall("POST", "/v1/orders/RENEW-1/renewal", map[string]any{
		"renewalOrderId": "RENEW-1-R0", "renewalOrderLineId": "RENEW-1-R0-1", "expireTime": exp.Add(-time.Hour).Format(time.RFC3339)})); r.status != http.StatusConflict {
		t.Fatalf("a renewal backwards: %d %s", r.status, r.body)
	}
	r = do(t, billingCall("POST", "/v1/orders/RENEW-1/unsubscription", map[string]any{
		"reason": "the customer moved to another product", "unsubscribeOrderId": "RENEW-1-U1", "unsubscribeOrderLineId": "RENEW-1-U1-1",
		"refund": map[string]any{"value": 600, "currency": "CNY"},
	}))
	if v = view(t, r); v.Unsubscription == nil || v.Unsubscription.Refund.Gross != 600 {
		t.Fatalf("unsubscription: %d %s", r.status, r.body)
	}
	waitStatus(t, "RENEW-1", order.Status(order.PhaseReleased), 10*time.Second)
	waitSim(t, "s-renew", "RENEW-1", "released", 5*time.Second)
	if r := do(t, billingCall("POST", "/v1/orders/RENEW-1/renewal", map[string]any{
		"renewalOrderId": "RENEW-1-R2", "renewalOrderLineId": "RENEW-1-R2-1", "expireTime": exp.Add(30 * 24 * time.Hour).Format(time.RFC3339)})); r.status != http.StatusConflict {
		t.Fatalf("a renewal after release: %d %s", r.status, r.body)
	}
	var lines []string
	rows, err := stack.DB.Query(context.Background(), `SELECT s.kind || ' ' || s.status || ' ' || e.posting || ' ' || e.account || ' ' || e.direction || ' ' || e.amount
		FROM settlements s JOIN ledger_entries e USING (settlement_id) WHERE s.order_id = 'RENEW-1' ORDER BY e.entry_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var l string
		rows.Scan(&l)
		lines = append(lines, l)
	}
	want := []string{
		"order pending post buyer_funds debit 1000", "order pending post platform_commission credit 150", "order pending post seller_payable credit 850",
		"renewal pending post buyer_funds debit 1200", "renewal pending post platform_commission credit 180", "renewal pending post seller_payable credit 1020",
		"unsubscribe refunded reverse buyer_funds credit 600", "unsubscribe refunded reverse platform_commission debit 90", "unsubscribe refunded reverse seller_payable debit 510",
	}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Fatalf("ledger lines\n%v\nwant\n%v", lines, want)
	}
	recordHistory(t, "RENEW-1", "saas_frozen_renewed_unsubscribed")
}

// TestTenYearsOfMonthlyRenewals: a monthly subscription renewed 120 times keeps every run's
// history under the policy's bound (300 events in the test policy) by continuing as new;
// the order, its audit trail and its money come through every run whole.
func TestTenYearsOfMonthlyRenewals(t *testing.T) {
	catalogue(t, "s-decade", "p-decade", false)
	wantOK(t, do(t, buyer("c-decade", "POST", "/v1/orders", newOrder("DECADE-1", "c-decade", "p-decade", 1000, 30*24*time.Hour))), "POST order")
	waitStatus(t, "DECADE-1", order.Status(order.PhaseInService), 15*time.Second)
	base := time.Now().UTC().Truncate(time.Second)
	const months = 120
	for i := 1; i <= months; i++ {
		exp := base.Add(time.Duration(i+1) * 30 * 24 * time.Hour)
		r := do(t, billingCall("POST", "/v1/orders/DECADE-1/renewal", map[string]any{
			"renewalOrderId": fmt.Sprintf("DECADE-1-R%03d", i), "renewalOrderLineId": fmt.Sprintf("DECADE-1-R%03d-1", i),
			"expireTime": exp.Format(time.RFC3339)}))
		if r.status != http.StatusOK {
			t.Fatalf("renewal %d: %d %s", i, r.status, r.body)
		}
		// Renewals come a month apart: the seller has the new expiry (the refresh call is
		// done) before the next one. Sent back to back instead, every renewal that arrives
		// while a run drains its last call adds its events to that run, and the bound
		// below would measure this machine's speed rather than the workflow.
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if inst := simInstances(t, "s-decade", "DECADE-1"); len(inst) == 1 && inst[0].ExpireTime == exp.Format("20060102150405") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("renewal %d: the seller never saw expiry %s", i, exp)
			}
		}
	}
	last := base.Add((months + 1) * 30 * 24 * time.Hour)
	deadline := time.Now().Add(30 * time.Second)
	for {
		inst := simInstances(t, "s-decade", "DECADE-1")
		if len(inst) == 1 && inst[0].ExpireTime == last.Format("20060102150405") {
			break
		}
		if time.Now().After(deadline) {
			r := do(t, ops("GET", "/v1/orders/DECADE-1", nil))
			t.Fatalf("the seller's expiry is %+v, want the last renewal's %s; the order: %s", inst, last, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	v := view(t, do(t, ops("GET", "/v1/orders/DECADE-1", nil)))
	if v.RenewalCount != months || len(v.Renewals) != order.MaxViewRenewals || !v.ExpireTime.Equal(last) {
		t.Fatalf("after ten years: %d renewals (%d shown), expireTime %v", v.RenewalCount, len(v.Renewals), v.ExpireTime)
	}
	var renewals, lines int
	stack.DB.QueryRow(context.Background(), `SELECT count(*) FROM order_events WHERE order_id = 'DECADE-1' AND event = 'renewed'`).Scan(&renewals)
	stack.DB.QueryRow(context.Background(), `SELECT count(*) FROM settlements WHERE order_id = 'DECADE-1' AND kind = 'renewal'`).Scan(&lines)
	if renewals != months || lines != months {
		t.Fatalf("%d renewed events and %d renewal lines, want %d each", renewals, lines, months)
	}
	// Every run of the workflow, each bounded.
	runs := workflowRuns(t, order.WorkflowID("DECADE-1"))
	if len(runs) < 3 {
		t.Fatalf("%d runs (%v events): the order never continued as new", len(runs), eventsOf(runs))
	}
	const bound = 300 + 40 // the policy's limit, plus the last loop turn's events before it
	for _, run := range runs {
		if run.events > bound {
			t.Errorf("run %s has %d history events, more than %d", run.runID, run.events, bound)
		}
	}
	t.Logf("%d renewals in %d runs of %v events", months, len(runs), eventsOf(runs))
	recordRunHistory(t, "DECADE-1", runs[0].runID, "saas_monthly_renewals_continued_as_new")
	wantOK(t, do(t, billingCall("POST", "/v1/orders/DECADE-1/unsubscription", map[string]any{"reason": "ten years are enough"})), "unsubscribe")
	waitStatus(t, "DECADE-1", order.Status(order.PhaseReleased), 10*time.Second)
	recordHistory(t, "DECADE-1", "saas_resumed_unsubscribed_released")
}

type runInfo struct {
	runID  string
	events int64
}

// workflowRuns lists the runs of a workflow ID, oldest first, with their history lengths.
func workflowRuns(t *testing.T, workflowID string) []runInfo {
	t.Helper()
	var out []runInfo
	deadline := time.Now().Add(15 * time.Second)
	for {
		out = out[:0]
		res, err := stack.Temporal.ListWorkflow(context.Background(), listRequest(workflowID))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Executions {
			d, err := stack.Temporal.DescribeWorkflowExecution(context.Background(), workflowID, e.Execution.RunId)
			if err != nil {
				t.Fatal(err)
			}
			out = append([]runInfo{{runID: e.Execution.RunId, events: d.WorkflowExecutionInfo.HistoryLength}}, out...)
		}
		if len(out) > 0 || time.Now().After(deadline) {
			return out
		}
		time.Sleep(200 * time.Millisecond) // visibility is eventually consistent
	}
}

func eventsOf(runs []runInfo) []int64 {
	var out []int64
	for _, r := range runs {
		out = append(out, r.events)
	}
	return out
}

func listRequest(workflowID string) *workflowservice.ListWorkflowExecutionsRequest {
	return &workflowservice.ListWorkflowExecutionsRequest{Namespace: stack.Namespace, Query: "WorkflowId = '" + workflowID + "'"}
}

// TestExpiryBurstUnderSellerLimit: 60 monthly orders of one seller expire together. Their
// FREEZEs queue at the seller's limit (20 calls/s) longer than the level's retention
// (300 ms), so most releases reach the seller before their FREEZE, which then answers
// 000003. Every order still ends released, none flagged for ops, and the seller never sees
// more than its limit in a second.
func TestExpiryBurstUnderSellerLimit(t *testing.T) {
	catalogue(t, "s-burst", "p-burst", false)
	const n = 60
	for i := range n {
		id := fmt.Sprintf("BURST-%02d", i)
		wantOK(t, do(t, buyer("c-burst", "POST", "/v1/orders", newOrder(id, "c-burst", "p-burst", 1000, time.Second))), "POST "+id)
	}
	var released, flagged int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if err := stack.DB.QueryRow(context.Background(), `
			SELECT count(*) FILTER (WHERE status = 'released'), count(*) FILTER (WHERE (view->>'needsAttention')::boolean)
			FROM orders WHERE customer_id = 'c-burst'`).Scan(&released, &flagged); err != nil {
			t.Fatal(err)
		}
		if released == n || time.Now().After(deadline) {
			break
		}
	}
	if released != n || flagged != 0 {
		t.Fatalf("%d of %d orders released, %d flagged for ops", released, n, flagged)
	}
	for i := range n {
		id := fmt.Sprintf("BURST-%02d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := stack.Temporal.GetWorkflow(ctx, order.WorkflowID(id), "").Get(ctx, nil)
		cancel()
		if err != nil {
			t.Fatalf("workflow of %s did not end: %v", id, err)
		}
	}
	calls := simCalls(t, "s-burst")
	if most := maxPerSecond(calls); most > 20 {
		t.Errorf("the seller saw %d calls within one second; its limit is 20", most)
	}
}
