package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/cloudmarket/orders/internal/order"
)

// TestSaaSOrderEndToEnd: order -> one instance at the simulator -> acceptance -> settlement
// rows balanced -> expiry, grace, freeze, retention -> released, with the audit trail, the
// seller call records, search attributes and metrics to show for it.
func TestSaaSOrderEndToEnd(t *testing.T) {
	catalogue(t, "s-e2e", "p-e2e", true)
	r := do(t, buyer("c-e2e", "POST", "/v1/orders", newOrder("E2E-1", "c-e2e", "p-e2e", 10000, 4*time.Second)))
	if r.status != http.StatusCreated {
		t.Fatalf("POST order: %d %s", r.status, r.body)
	}
	waitStatus(t, "E2E-1", order.Status(order.PhaseAwaitingAcceptance), 15*time.Second)
	if n := len(simInstances(t, "s-e2e", "E2E-1")); n != 1 {
		t.Fatalf("instances at the seller = %d, want 1", n)
	}

	r = do(t, buyer("c-e2e", "POST", "/v1/orders/E2E-1/acceptance", nil))
	if r.status != http.StatusOK {
		t.Fatalf("acceptance: %d %s", r.status, r.body)
	}
	var accepted order.View
	r.json(t, &accepted)
	if accepted.Status != order.Status(order.PhaseInService) || accepted.Settlement.Status != order.SettlementPending {
		t.Fatalf("after acceptance: status %s, settlement %+v", accepted.Status, accepted.Settlement)
	}
	if accepted.Settlement.Gross != 10000 || accepted.Settlement.Commission != 1500 || accepted.Settlement.Net != 8500 {
		t.Fatalf("settlement split = %+v", accepted.Settlement)
	}
	assertLedgerBalanced(t, "E2E-1", 10000)

	final := waitStatus(t, "E2E-1", order.Status(order.PhaseReleased), 20*time.Second)
	if final.InstanceID == "" || final.Settlement.Status != order.SettlementPending {
		t.Fatalf("final view: %+v", final)
	}
	if got := simInstances(t, "s-e2e", "E2E-1"); len(got) != 1 || got[0].Status != "released" {
		t.Fatalf("simulator instance after release: %+v", got)
	}

	var events struct {
		Items []struct {
			Seq   int    `json:"seq"`
			Event string `json:"event"`
			From  string `json:"from"`
			To    string `json:"to"`
			Actor struct {
				Kind string `json:"kind"`
				ID   string `json:"id"`
			} `json:"actor"`
		} `json:"items"`
	}
	do(t, ops("GET", "/v1/orders/E2E-1/events", nil)).json(t, &events)
	var names []string
	for _, e := range events.Items {
		names = append(names, e.Event)
	}
	want := "placed,instance_created,delivered,accepted,expired,frozen,released"
	if strings.Join(names, ",") != want {
		t.Fatalf("events = %v, want %s", names, want)
	}
	if a := events.Items[3].Actor; a.Kind != "buyer" || a.ID != "c-e2e" {
		t.Errorf("acceptance actor = %+v", a)
	}

	var calls int
	if err := stack.DB.QueryRow(context.Background(),
		`SELECT count(*) FROM seller_calls WHERE order_id = 'E2E-1' AND result_code = '000000'`).Scan(&calls); err != nil || calls < 3 {
		t.Errorf("seller_calls recorded = %d (%v), want newInstance, FREEZE and release", calls, err)
	}

	desc, err := stack.Temporal.DescribeWorkflowExecution(context.Background(), order.WorkflowID("E2E-1"), "")
	if err != nil {
		t.Fatal(err)
	}
	sa := desc.WorkflowExecutionInfo.GetSearchAttributes().GetIndexedFields()
	for _, k := range []string{"OrderStatus", "SellerId", "CustomerId", "ProductId", "ProductType", "WaitingOn"} {
		if _, ok := sa[k]; !ok {
			t.Errorf("search attribute %s not set", k)
		}
	}
	if s := string(sa["OrderStatus"].GetData()); !strings.Contains(s, "released") {
		t.Errorf("OrderStatus search attribute = %s", s)
	}

	if r := do(t, call{method: "GET", path: "/metrics"}); r.status != http.StatusNotFound {
		t.Errorf("GET /metrics on the API port: %d, want 404 (metrics have their own listener)", r.status)
	}
	metrics := scrapeMetrics(t)
	for _, m := range []string{
		`seller_call_duration_seconds_count{activity="newInstance",result_code="000000"}`,
		`order_transitions_total{from="awaiting_acceptance",to="in_service"}`,
		`api_request_duration_seconds`,
		`temporal_`,
	} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	assertNoSecretInHistory(t, "E2E-1", "sk-s-e2e-0123456789")
	recordHistory(t, "E2E-1", "saas_supervised_released")
}

// assertLedgerBalanced checks the order's one settlement and its three balanced lines.
func assertLedgerBalanced(t *testing.T, orderID string, gross int64) {
	t.Helper()
	ctx := context.Background()
	var settlements int
	if err := stack.DB.QueryRow(ctx, `SELECT count(*) FROM settlements WHERE order_id = $1`, orderID).Scan(&settlements); err != nil {
		t.Fatal(err)
	}
	var lines int
	var debit, credit int64
	if err := stack.DB.QueryRow(ctx, `
		SELECT count(*),
		       coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0),
		       coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0)
		  FROM ledger_entries l JOIN settlements s USING (settlement_id)
		 WHERE s.order_id = $1`, orderID).Scan(&lines, &debit, &credit); err != nil {
		t.Fatal(err)
	}
	if settlements != 1 || lines != 3 || debit != gross || credit != gross {
		t.Fatalf("order %s: %d settlements, %d lines, debit %d, credit %d; want 1, 3, %d, %d",
			orderID, settlements, lines, debit, credit, gross, gross)
	}
}

// TestRepeatedOrderWhileResponsesAreLost: the same order POSTed 5 times while the seller
// does the work but loses its answers still yields exactly one instance and one settlement.
func TestRepeatedOrderWhileResponsesAreLost(t *testing.T) {
	catalogue(t, "s-lose", "p-lose", true)
	sim(t, "PUT", "/admin/sellers/s-lose/behaviour", map[string]any{"loseNext": 3})
	body := newOrder("LOSE-1", "c-lose", "p-lose", 9999, time.Hour)

	var wg sync.WaitGroup
	statuses := make([]int, 5)
	ids := make([]string, 5)
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := do(t, buyer("c-lose", "POST", "/v1/orders", body))
			statuses[i] = r.status
			var v order.View
			if r.status < 300 {
				r.json(t, &v)
			}
			ids[i] = v.OrderID
		}()
	}
	wg.Wait()
	created := 0
	for i, s := range statuses {
		if s == http.StatusCreated {
			created++
		} else if s != http.StatusOK {
			t.Fatalf("POST %d: status %d", i, s)
		}
		if ids[i] != "LOSE-1" {
			t.Fatalf("POST %d answered order %q", i, ids[i])
		}
	}
	if created != 1 {
		t.Errorf("%d POSTs answered 201, want exactly 1", created)
	}

	changed := newOrder("LOSE-1", "c-lose", "p-lose", 1, time.Hour)
	if r := do(t, buyer("c-lose", "POST", "/v1/orders", changed)); r.status != http.StatusConflict || code(t, r) != "idempotency_conflict" {
		t.Fatalf("same orderId, different body: %d %s", r.status, r.body)
	}

	waitStatus(t, "LOSE-1", order.Status(order.PhaseAwaitingAcceptance), 20*time.Second)
	inst := simInstances(t, "s-lose", "LOSE-1")
	if len(inst) != 1 || inst[0].CreateCalls < 4 {
		t.Fatalf("instances = %+v, want one instance asked for at least 4 times", inst)
	}
	for range 2 { // a repeated acceptance with the same key does nothing twice
		r := do(t, call{method: "POST", path: "/v1/orders/LOSE-1/acceptance", token: webToken, actorRole: "buyer",
			actorID: "c-lose", headers: map[string]string{"Idempotency-Key": "accept-once"}})
		if r.status != http.StatusOK {
			t.Fatalf("acceptance: %d %s", r.status, r.body)
		}
	}
	assertLedgerBalanced(t, "LOSE-1", 9999)
	var failed int
	if err := stack.DB.QueryRow(context.Background(),
		`SELECT count(*) FROM seller_calls WHERE order_id = 'LOSE-1' AND activity = 'newInstance' AND error <> ''`).Scan(&failed); err != nil || failed != 3 {
		t.Errorf("failed newInstance attempts recorded = %d (%v), want 3", failed, err)
	}
}

func code(t *testing.T, r reply) string {
	t.Helper()
	var p problem
	r.json(t, &p)
	return p.Code
}

// TestAcceptanceInWrongStateIsRefusedAtOnce: while the seller is still producing, the buyer's
// acceptance is answered 409 invalid_transition by the update validator.
func TestAcceptanceInWrongStateIsRefusedAtOnce(t *testing.T) {
	catalogue(t, "s-slow", "p-slow", true)
	sim(t, "PUT", "/admin/sellers/s-slow/behaviour", map[string]any{"mode": "async", "asyncDelayMs": 5000})
	if r := do(t, buyer("c-slow", "POST", "/v1/orders", newOrder("SLOW-1", "c-slow", "p-slow", 500, time.Hour))); r.status != http.StatusCreated {
		t.Fatalf("POST order: %d %s", r.status, r.body)
	}
	waitStatus(t, "SLOW-1", order.Status(order.PhaseProvisioning), 5*time.Second)
	r := do(t, buyer("c-slow", "POST", "/v1/orders/SLOW-1/acceptance", nil))
	if r.status != http.StatusConflict || code(t, r) != order.ErrInvalidTransition {
		t.Fatalf("early acceptance: %d %s", r.status, r.body)
	}
	r = do(t, ops("POST", "/v1/orders/SLOW-1/retry", nil))
	if r.status != http.StatusConflict || code(t, r) != order.ErrInvalidTransition {
		t.Fatalf("retry while provisioning: %d %s", r.status, r.body)
	}
	// Asynchronous production completes through polling.
	v := waitStatus(t, "SLOW-1", order.Status(order.PhaseAwaitingAcceptance), 15*time.Second)
	if v.FrontEndURL == "" {
		t.Errorf("polled instance has no frontEndUrl: %+v", v)
	}
	// Ops see in the Temporal UI where the order waits and why (the workflow's current
	// details, served by the SDK's metadata query).
	res, err := stack.Temporal.QueryWorkflow(context.Background(), order.WorkflowID("SLOW-1"), "", "__temporal_workflow_metadata")
	if err != nil {
		t.Fatal(err)
	}
	var md sdkpb.WorkflowMetadata
	if err := res.Get(&md); err != nil {
		t.Fatal(err)
	}
	if d := md.GetCurrentDetails(); !strings.Contains(d, "Waiting on: **buyer**") || !strings.Contains(d, "auto-accept at") {
		t.Errorf("current details = %q", d)
	}
	recordHistory(t, "SLOW-1", "saas_async_awaiting_acceptance")
}

// TestSellerRefusalThenOpsRetry: a refusal fails the order at once; ops retry before the
// refund hold ends and the order is produced after all.
func TestSellerRefusalThenOpsRetry(t *testing.T) {
	catalogue(t, "s-refuse", "p-refuse", false)
	sim(t, "PUT", "/admin/sellers/s-refuse/behaviour", map[string]any{"failNext": map[string]any{"count": 1, "resultCode": "000101"}})
	if r := do(t, buyer("c-refuse", "POST", "/v1/orders", newOrder("REF-1", "c-refuse", "p-refuse", 700, time.Hour))); r.status != http.StatusCreated {
		t.Fatalf("POST order: %d %s", r.status, r.body)
	}
	v := waitStatus(t, "REF-1", order.Status(order.PhaseProvisionFailed), 10*time.Second)
	if v.LastError == "" {
		t.Errorf("failed order does not say why: %+v", v)
	}
	if r := do(t, buyer("c-refuse", "POST", "/v1/orders/REF-1/retry", nil)); r.status != http.StatusForbidden {
		t.Fatalf("buyer retry: %d %s, want 403", r.status, r.body)
	}
	r := do(t, ops("POST", "/v1/orders/REF-1/retry", nil))
	if r.status != http.StatusOK {
		t.Fatalf("ops retry: %d %s", r.status, r.body)
	}
	// Unsupervised SaaS: accepted as soon as the instance exists.
	waitStatus(t, "REF-1", order.Status(order.PhaseInService), 10*time.Second)
	assertLedgerBalanced(t, "REF-1", 700)
	recordHistory(t, "REF-1", "saas_refused_ops_retry_in_service")
}

// TestRefundWhenNobodyRetries: after a refusal and the refund hold, the order is cancelled
// with the buyer refunded and nothing posted to the ledger.
func TestRefundWhenNobodyRetries(t *testing.T) {
	catalogue(t, "s-refund", "p-refund", true)
	sim(t, "PUT", "/admin/sellers/s-refund/behaviour", map[string]any{"failNext": map[string]any{"count": 1, "resultCode": "000103"}})
	if r := do(t, buyer("c-refund", "POST", "/v1/orders", newOrder("RFD-1", "c-refund", "p-refund", 800, time.Hour))); r.status != http.StatusCreated {
		t.Fatalf("POST order: %d %s", r.status, r.body)
	}
	v := waitStatus(t, "RFD-1", order.Status(order.PhaseCancelled), 15*time.Second)
	if v.Settlement.Status != order.SettlementRefunded {
		t.Fatalf("settlement = %+v, want refunded", v.Settlement)
	}
	var status string
	var lines int
	ctx := context.Background()
	if err := stack.DB.QueryRow(ctx, `SELECT status FROM settlements WHERE order_id = 'RFD-1'`).Scan(&status); err != nil || status != "refunded" {
		t.Fatalf("settlement row: %q %v", status, err)
	}
	if err := stack.DB.QueryRow(ctx, `SELECT count(*) FROM ledger_entries l JOIN settlements s USING (settlement_id) WHERE s.order_id = 'RFD-1'`).Scan(&lines); err != nil || lines != 0 {
		t.Fatalf("ledger lines for a refund before posting = %d (%v), want 0", lines, err)
	}
	recordHistory(t, "RFD-1", "saas_refused_refunded")
}

// TestBadInputs: every bad request gets the right 4xx problem and writes nothing: no order
// row, no workflow.
func TestBadInputs(t *testing.T) {
	catalogue(t, "s-bad", "p-bad", true)
	if r := do(t, buyer("c-owner", "POST", "/v1/orders", newOrder("BAD-OWNED", "c-owner", "p-bad", 100, time.Hour))); r.status != http.StatusCreated {
		t.Fatalf("POST order: %d %s", r.status, r.body)
	}
	valid := func(id string) map[string]any { return newOrder(id, "c-bad", "p-bad", 100, time.Hour) }
	with := func(id string, k string, v any) map[string]any {
		b := valid(id)
		if strings.HasPrefix(k, "amount.") {
			b["amount"].(map[string]any)[strings.TrimPrefix(k, "amount.")] = v
		} else {
			b[k] = v
		}
		return b
	}
	tests := []struct {
		name       string
		call       call
		status     int
		code       string
		field      string
		neverOrder string // an orderId that must not exist afterwards
	}{
		{"malformed json", buyer("c-bad", "POST", "/v1/orders", `{"orderId": "BAD-1",`), 400, "invalid_json", "", "BAD-1"},
		{"unknown field", buyer("c-bad", "POST", "/v1/orders", with("BAD-2", "discount", 5)), 400, "invalid_field", "discount", "BAD-2"},
		{"bad order id", buyer("c-bad", "POST", "/v1/orders", with("BAD-3", "orderId", "bad id!")), 400, "invalid_field", "orderId", "bad id!"},
		{"order id too long", buyer("c-bad", "POST", "/v1/orders", with("BAD-4", "orderId", strings.Repeat("a", 65))), 400, "invalid_field", "orderId", strings.Repeat("a", 65)},
		{"negative amount", buyer("c-bad", "POST", "/v1/orders", with("BAD-5", "amount.value", -1)), 400, "invalid_field", "amount.value", "BAD-5"},
		{"float amount", buyer("c-bad", "POST", "/v1/orders", with("BAD-6", "amount.value", 10.5)), 400, "invalid_field", "amount.value", "BAD-6"},
		{"string amount", buyer("c-bad", "POST", "/v1/orders", with("BAD-7", "amount.value", "100")), 400, "invalid_field", "amount.value", "BAD-7"},
		{"bad currency", buyer("c-bad", "POST", "/v1/orders", with("BAD-8", "amount.currency", "yuan")), 400, "invalid_field", "amount.currency", "BAD-8"},
		{"zero quantity", buyer("c-bad", "POST", "/v1/orders", with("BAD-9", "quantity", 0)), 400, "invalid_field", "quantity", "BAD-9"},
		{"expiry in the past", buyer("c-bad", "POST", "/v1/orders", with("BAD-10", "expireTime", "2001-01-01T00:00:00Z")), 400, "invalid_field", "expireTime", "BAD-10"},
		{"unknown product", buyer("c-bad", "POST", "/v1/orders", with("BAD-11", "productId", "no-such-product")), 422, "product_not_found", "productId", "BAD-11"},
		{"no token", call{method: "POST", path: "/v1/orders", body: valid("BAD-12")}, 401, "unauthenticated", "", "BAD-12"},
		{"wrong token", call{method: "POST", path: "/v1/orders", token: "not-a-token", actorRole: "buyer", actorID: "c-bad", body: valid("BAD-13")}, 401, "unauthenticated", "", "BAD-13"},
		{"ops may not place orders", ops("POST", "/v1/orders", valid("BAD-14")), 403, "forbidden", "", "BAD-14"},
		{"buyer orders for someone else", buyer("c-other", "POST", "/v1/orders", valid("BAD-15")), 403, "forbidden", "", "BAD-15"},
		{"buyer accepts someone else's order", buyer("c-bad", "POST", "/v1/orders/BAD-OWNED/acceptance", nil), 404, "order_not_found", "orderId", ""},
		{"buyer reads someone else's order", buyer("c-bad", "GET", "/v1/orders/BAD-OWNED", nil), 404, "order_not_found", "orderId", ""},
		{"unknown order", ops("GET", "/v1/orders/NO-SUCH-ORDER", nil), 404, "order_not_found", "", ""},
		{"bad path id", ops("GET", "/v1/orders/bad%20id", nil), 400, "invalid_field", "orderId", ""},
		{"not json", call{method: "POST", path: "/v1/orders", token: webToken, actorRole: "buyer", actorID: "c-bad", body: "orderId=1", headers: map[string]string{"Content-Type": "text/plain"}}, 415, "unsupported_media_type", "", ""},
		{"body too large", buyer("c-bad", "POST", "/v1/orders", `{"orderId":"`+strings.Repeat("x", 70000)+`"}`), 413, "body_too_large", "", ""},
		{"bad commission rate", ops("PUT", "/v1/products/p-bad2", map[string]any{"sellerId": "s-bad", "name": "x", "type": "saas", "billingMode": "monthly", "commissionRate": 10001}), 400, "invalid_field", "commissionRate", ""},
		{"product of unknown seller", ops("PUT", "/v1/products/p-bad3", map[string]any{"sellerId": "nobody", "name": "x", "type": "saas", "billingMode": "monthly", "commissionRate": 100, "acceptanceCriteria": "x"}), 422, "seller_not_found", "sellerId", ""},
		{"metadata endpoint", ops("PUT", "/v1/sellers/s-bad2", map[string]any{"name": "x", "endpoint": "http://169.254.169.254/latest/meta-data", "accessKey": "0123456789abcdef"}), 400, "invalid_field", "endpoint", ""},
		{"endpoint that does not resolve", ops("PUT", "/v1/sellers/s-bad2", map[string]any{"name": "x", "endpoint": "https://seller.invalid/x", "accessKey": "0123456789abcdef"}), 400, "invalid_field", "endpoint", ""},
		{"unknown level", ops("PUT", "/v1/customers/c-bad", map[string]any{"level": "diamond"}), 400, "invalid_field", "level", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.call)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Errorf("Content-Type = %q, want application/problem+json", ct)
			}
			var p problem
			r.json(t, &p)
			if p.Code != tt.code || p.Status != tt.status || p.Title == "" {
				t.Errorf("problem = %+v, want code %q", p, tt.code)
			}
			if tt.field != "" && p.Field != tt.field {
				t.Errorf("field = %q, want %q", p.Field, tt.field)
			}
			if tt.neverOrder != "" {
				assertNoOrder(t, tt.neverOrder)
			}
		})
	}
}

func assertNoOrder(t *testing.T, orderID string) {
	t.Helper()
	var n int
	if err := stack.DB.QueryRow(context.Background(), `SELECT count(*) FROM orders WHERE order_id = $1`, orderID).Scan(&n); err != nil || n != 0 {
		t.Errorf("order %s: %d rows (%v), want none", orderID, n, err)
	}
	_, err := stack.Temporal.DescribeWorkflowExecution(context.Background(), order.WorkflowID(orderID), "")
	var nf *serviceerror.NotFound
	if err == nil || !asNotFound(err, &nf) {
		t.Errorf("order %s: a workflow exists (%v)", orderID, err)
	}
}

func asNotFound(err error, nf **serviceerror.NotFound) bool {
	e, ok := err.(*serviceerror.NotFound)
	if ok {
		*nf = e
	}
	return ok || strings.Contains(fmt.Sprint(err), "not found")
}
