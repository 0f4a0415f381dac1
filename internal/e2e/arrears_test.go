package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// Arrears on the real stack: billing reports them, the customer's account freezes (then
// releases, or after payment unfreezes) every pay-per-use order, and the simulator sees
// each call in order and never faster than the seller's limit.

// simCall is one request the simulator received.
type simCall struct {
	At         time.Time `json:"at"`
	Activity   string    `json:"activity"`
	InstanceID string    `json:"instanceId"`
	Status     string    `json:"status"`
	ResultCode string    `json:"resultCode"`
}

func simCalls(t testing.TB, sellerID string) []simCall {
	t.Helper()
	var out []simCall
	if err := json.Unmarshal(sim(t, "GET", "/admin/sellers/"+sellerID+"/calls", nil), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func arrearsOf(t *testing.T, customerID string) order.AccountView {
	t.Helper()
	var v order.AccountView
	do(t, billingCall("GET", "/v1/customers/"+customerID+"/arrears", nil)).json(t, &v)
	return v
}

func waitArrears(t *testing.T, customerID string, want order.AccountState, within time.Duration) order.AccountView {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		v := arrearsOf(t, customerID)
		if v.State == want {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("customer %s's arrears: %+v, want state %s", customerID, v, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// placePayPerUse places n pay-per-use orders for the customer and waits until all are in
// service; it returns their IDs.
func placePayPerUse(t *testing.T, prefix, customerID, productID string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("%s-%02d", prefix, i)
		wantOK(t, do(t, buyer(customerID, "POST", "/v1/orders", oneTimeOrder(id, customerID, productID, 0))), "POST order "+id)
		ids = append(ids, id)
	}
	for _, id := range ids {
		waitStatus(t, id, order.Status(order.PhaseInService), 60*time.Second)
	}
	return ids
}

// maxPerSecond is the most calls that fall within any one second.
func maxPerSecond(calls []simCall) int {
	most := 0
	for i := range calls {
		n := 0
		for j := i; j < len(calls) && calls[j].At.Sub(calls[i].At) < time.Second; j++ {
			n++
		}
		most = max(most, n)
	}
	return most
}

// statusSequence is, per instance, the FREEZE/UNFREEZE/release calls the seller saw.
func statusSequence(calls []simCall) map[string][]string {
	out := map[string][]string{}
	for _, c := range calls {
		switch c.Activity {
		case "updateInstanceStatus":
			out[c.InstanceID] = append(out[c.InstanceID], c.Status)
		case "releaseInstance":
			out[c.InstanceID] = append(out[c.InstanceID], "release")
		}
	}
	return out
}

// TestArrearsFrozenThenPaid: 30 pay-per-use orders of a V4 customer (pay-per-use grace 0:
// frozen at once) are frozen when arrears are reported and unfrozen when they are paid; the
// seller sees FREEZE then UNFREEZE for each, at most 20 calls a second (the test policy's
// per-seller limit); new pay-per-use orders are refused meanwhile.
func TestArrearsFrozenThenPaid(t *testing.T) {
	catalogueOf(t, "s-ppu", "p-ppu", order.TypeSaaS, order.BillingPayPerUse, nil)
	if r := do(t, ops("PUT", "/v1/customers/c-ppu", map[string]any{"level": "V4"})); r.status/100 != 2 {
		t.Fatalf("PUT customer: %d %s", r.status, r.body)
	}
	ids := placePayPerUse(t, "PPU", "c-ppu", "p-ppu", 30)
	if v := arrearsOf(t, "c-ppu"); v.State != order.AccountNone {
		t.Fatalf("before any arrears: %+v", v)
	}
	report := billingCall("POST", "/v1/customers/c-ppu/arrears", map[string]any{
		"amount": map[string]any{"value": 12000, "currency": "CNY"}, "since": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)})
	report.headers = map[string]string{"Idempotency-Key": "arrears-c-ppu-1"}
	if r := do(t, report); r.status != http.StatusAccepted {
		t.Fatalf("report arrears: %d %s", r.status, r.body)
	}
	if r := do(t, report); r.status != http.StatusAccepted || r.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the report again under its key: %d %v", r.status, r.header)
	}
	v := waitArrears(t, "c-ppu", order.AccountFrozen, 60*time.Second)
	if v.Outstanding.Value != 12000 || v.RetentionEnds == nil || v.CaseID == "" {
		t.Fatalf("frozen account %+v (a repeated report must not add up)", v)
	}
	for _, id := range ids {
		waitStatus(t, id, order.StatusFrozen, 60*time.Second)
	}
	if r := do(t, buyer("c-ppu", "POST", "/v1/orders", oneTimeOrder("PPU-new", "c-ppu", "p-ppu", 0))); r.status != http.StatusConflict ||
		code(t, r) != "customer_in_arrears" {
		t.Fatalf("a new pay-per-use order while frozen: %d %s", r.status, r.body)
	}
	var page struct {
		Items []order.AccountView `json:"items"`
	}
	do(t, ops("GET", "/v1/arrears?state=frozen", nil)).json(t, &page)
	if !slices.ContainsFunc(page.Items, func(a order.AccountView) bool { return a.CustomerID == "c-ppu" }) {
		t.Fatalf("c-ppu is not among the frozen: %+v", page.Items)
	}
	desc, err := stack.Temporal.DescribeWorkflowExecution(context.Background(), order.AccountWorkflowID("c-ppu"), "")
	if err != nil {
		t.Fatal(err)
	}
	if sa := desc.WorkflowExecutionInfo.GetSearchAttributes().GetIndexedFields(); !strings.Contains(string(sa["ArrearsState"].GetData()), "frozen") {
		t.Errorf("ArrearsState search attribute %s", sa["ArrearsState"].GetData())
	}
	if r := do(t, billingCall("POST", "/v1/customers/c-ppu/payments", map[string]any{"amount": map[string]any{"value": 5, "currency": "USD"}})); r.status != http.StatusBadRequest {
		t.Fatalf("a payment in another currency: %d %s", r.status, r.body)
	}
	if r := do(t, billingCall("POST", "/v1/customers/c-ppu/payments", map[string]any{"amount": map[string]any{"value": 12000, "currency": "CNY"}})); r.status != http.StatusAccepted {
		t.Fatalf("payment: %d %s", r.status, r.body)
	}
	waitArrears(t, "c-ppu", order.AccountNone, 60*time.Second)
	for _, id := range ids {
		waitStatus(t, id, order.Status(order.PhaseInService), 60*time.Second)
	}
	// Every instance: FREEZE, then UNFREEZE, nothing else; never faster than the limit.
	deadline := time.Now().Add(60 * time.Second)
	var seq map[string][]string
	for {
		calls := simCalls(t, "s-ppu")
		seq = statusSequence(calls)
		done := len(seq) == len(ids)
		for _, s := range seq {
			done = done && slices.Equal(s, []string{"FREEZE", "UNFREEZE"})
		}
		if done {
			var status []simCall
			for _, c := range calls {
				if c.Activity == "updateInstanceStatus" {
					status = append(status, c)
				}
			}
			if most := maxPerSecond(status); most > 20 {
				t.Errorf("the seller saw %d status calls within one second; its limit is 20", most)
			} else {
				t.Logf("%d status calls, at most %d within a second (limit 20)", len(status), most)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the seller saw %v", seq)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wantOK(t, do(t, buyer("c-ppu", "POST", "/v1/orders", oneTimeOrder("PPU-after", "c-ppu", "p-ppu", 0))), "a pay-per-use order after payment")
	recordWorkflowHistory(t, order.AccountWorkflowID("c-ppu"), "", "frozen_paid")
	recordHistory(t, ids[0], "payperuse_frozen_unfrozen")
}

// TestArrearsUnpaidReleased: a V3 customer's arrears (grace and retention 300 ms in the test
// policy) are not paid: its pay-per-use orders are frozen, then released; a payment after
// release ends the case and leaves them released.
func TestArrearsUnpaidReleased(t *testing.T) {
	catalogueOf(t, "s-ppu2", "p-ppu2", order.TypeSaaS, order.BillingPayPerUse, nil)
	if r := do(t, ops("PUT", "/v1/customers/c-ppu2", map[string]any{"level": "V3"})); r.status/100 != 2 {
		t.Fatalf("PUT customer: %d %s", r.status, r.body)
	}
	ids := placePayPerUse(t, "PPR", "c-ppu2", "p-ppu2", 3)
	if r := do(t, billingCall("POST", "/v1/customers/c-ppu2/arrears", map[string]any{
		"amount": map[string]any{"value": 300, "currency": "CNY"}, "since": time.Now().UTC().Format(time.RFC3339)})); r.status != http.StatusAccepted {
		t.Fatalf("report arrears: %d %s", r.status, r.body)
	}
	waitArrears(t, "c-ppu2", order.AccountReleased, 60*time.Second)
	for _, id := range ids {
		waitStatus(t, id, order.Status(order.PhaseReleased), 60*time.Second)
	}
	if r := do(t, buyer("c-ppu2", "POST", "/v1/orders", oneTimeOrder("PPR-new", "c-ppu2", "p-ppu2", 0))); code(t, r) != "customer_in_arrears" {
		t.Fatalf("a new order while released and unpaid: %d %s", r.status, r.body)
	}
	if r := do(t, billingCall("POST", "/v1/customers/c-ppu2/payments", map[string]any{"amount": map[string]any{"value": 300, "currency": "CNY"}})); r.status != http.StatusAccepted {
		t.Fatalf("payment: %d %s", r.status, r.body)
	}
	waitArrears(t, "c-ppu2", order.AccountNone, 60*time.Second)
	for _, s := range statusSequence(simCalls(t, "s-ppu2")) {
		if !slices.Equal(s, []string{"FREEZE", "release"}) {
			t.Fatalf("the seller saw %v for an instance, want FREEZE then release", s)
		}
	}
	for _, id := range ids {
		if v := view(t, do(t, ops("GET", "/v1/orders/"+id, nil))); v.Status != order.Status(order.PhaseReleased) {
			t.Fatalf("order %s is %s after the payment; released orders stay released", id, v.Status)
		}
	}
	var events []string
	rows, err := stack.DB.Query(context.Background(), `SELECT event FROM arrears_events WHERE customer_id = 'c-ppu2' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e string
		rows.Scan(&e)
		events = append(events, e)
	}
	if want := "arrears_reported,grace_started,frozen,released,arrears_paid"; strings.Join(events, ",") != want {
		t.Fatalf("account events %v, want %s", events, want)
	}
	metrics := scrapeMetrics(t)
	for _, m := range []string{`arrears_events_total{event="released"}`, `order_holds_total{event="released",reason="arrears"}`,
		`ledger_postings_total{posting="post"}`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	recordWorkflowHistory(t, order.AccountWorkflowID("c-ppu2"), "", "unpaid_released_paid")
	recordHistory(t, ids[0], "payperuse_frozen_released")
}
