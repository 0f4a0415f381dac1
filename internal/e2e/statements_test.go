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

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/orders/internal/order"
)

// Money on the real stack: a seller's usage records, and a monthly statement with a
// supervised order, a renewed one, a refunded one and a pay-per-use one, line by line.

type usageAnswer struct {
	Results []struct {
		MeteringSn string `json:"meteringSn"`
		Outcome    string `json:"outcome"`
		Reason     string `json:"reason"`
	} `json:"results"`
	Stored, Duplicates, Refused int
}

func sendUsage(t *testing.T, sellerID string, records []map[string]string) (reply, usageAnswer) {
	t.Helper()
	raw, _ := json.Marshal(records)
	body := string(raw)
	r := do(t, call{method: "POST", path: "/v1/seller-api/usage", body: body,
		headers: signedHeaders(sellerID, "sk-"+sellerID+"-0123456789", time.Now(), body)})
	var a usageAnswer
	if r.status == http.StatusOK {
		r.json(t, &a)
	}
	return r, a
}

func usageRecord(sn, instanceID string, begin, end time.Time, value string) map[string]string {
	return map[string]string{"meteringSn": sn, "instanceId": instanceID, "beginTime": begin.UTC().Format(time.RFC3339Nano),
		"endTime": end.UTC().Format(time.RFC3339Nano), "usageValue": value}
}

func TestMonthlyStatementLineByLine(t *testing.T) {
	const seller = "s-stmt"
	supervised, unsupervised := true, false
	catalogueOf(t, seller, "p-stmt-sup", order.TypeSaaS, order.BillingMonthly, &supervised)
	catalogueOf(t, seller, "p-stmt-ren", order.TypeSaaS, order.BillingMonthly, &unsupervised)
	catalogueOf(t, seller, "p-stmt-ppu", order.TypeSaaS, order.BillingPayPerUse, nil)

	// A supervised order, accepted by its buyer.
	wantOK(t, do(t, buyer("c-stmt", "POST", "/v1/orders", newOrder("STMT-SUP", "c-stmt", "p-stmt-sup", 1000, time.Hour))), "POST")
	waitStatus(t, "STMT-SUP", order.Status(order.PhaseAwaitingAcceptance), 15*time.Second)
	wantOK(t, do(t, buyer("c-stmt", "POST", "/v1/orders/STMT-SUP/acceptance", nil)), "accept")
	// A renewed one.
	wantOK(t, do(t, buyer("c-stmt", "POST", "/v1/orders", newOrder("STMT-REN", "c-stmt", "p-stmt-ren", 1000, time.Hour))), "POST")
	waitStatus(t, "STMT-REN", order.Status(order.PhaseInService), 15*time.Second)
	wantOK(t, do(t, billingCall("POST", "/v1/orders/STMT-REN/renewal", map[string]any{"renewalOrderId": "STMT-REN-R1",
		"renewalOrderLineId": "STMT-REN-R1-1", "expireTime": time.Now().Add(40 * 24 * time.Hour).UTC().Format(time.RFC3339),
		"amount": map[string]any{"value": 1200, "currency": "CNY"}})), "renew")
	// A refunded one: accepted (posted), then refunded on appeal (reversed).
	wantOK(t, do(t, buyer("c-stmt", "POST", "/v1/orders", newOrder("STMT-REF", "c-stmt", "p-stmt-ren", 2000, time.Hour))), "POST")
	waitStatus(t, "STMT-REF", order.Status(order.PhaseInService), 15*time.Second)
	var appeal order.AppealAnswer
	do(t, buyer("c-stmt", "POST", "/v1/orders/STMT-REF/appeals", map[string]any{"reason": "never worked"})).json(t, &appeal)
	wantOK(t, do(t, ops("POST", "/v1/appeals/"+appeal.AppealID+"/resolution", map[string]any{"outcome": "refund"})), "refund")
	// A pay-per-use one, and its usage.
	wantOK(t, do(t, buyer("c-stmt", "POST", "/v1/orders", oneTimeOrder("STMT-PPU", "c-stmt", "p-stmt-ppu", 0))), "POST")
	v := waitStatus(t, "STMT-PPU", order.Status(order.PhaseInService), 15*time.Second)
	inst := v.InstanceID
	since := *v.InServiceSince // usage counts from the order's time in service
	time.Sleep(400 * time.Millisecond)
	now := time.Now()
	r, a := sendUsage(t, seller, []map[string]string{
		usageRecord("u-1", inst, since, since.Add(100*time.Millisecond), "1.5"),
		usageRecord("u-2", inst, since.Add(100*time.Millisecond), since.Add(200*time.Millisecond), "2.25"),
		usageRecord("u-3", inst, since.Add(200*time.Millisecond), since.Add(300*time.Millisecond), "0.0001"),
		usageRecord("u-1", inst, since, since.Add(100*time.Millisecond), "9"), // again in the call
		usageRecord("u-old", inst, now.Add(-22*24*time.Hour), now.Add(-21*24*time.Hour), "1"),
		usageRecord("u-future", inst, now, now.Add(time.Hour), "1"),
		usageRecord("u-backwards", inst, now.Add(-time.Hour), now.Add(-2*time.Hour), "1"),
		usageRecord("u-float", inst, now.Add(-time.Hour), now, "1.00001"),
		usageRecord("u-other", "inst-of-someone-else", now.Add(-time.Hour), now, "1"),
	})
	if r.status != http.StatusOK || a.Stored != 3 || a.Refused != 6 {
		t.Fatalf("usage: %d %s", r.status, r.body)
	}
	var reasons []string
	for _, x := range a.Results {
		reasons = append(reasons, x.Outcome+":"+x.Reason)
	}
	want := "stored:,stored:,stored:,refused:duplicate_in_request,refused:too_old,refused:in_future,refused:ends_before_begins,refused:invalid_usage_value,refused:unknown_instance"
	if strings.Join(reasons, ",") != want {
		t.Fatalf("outcomes %v", reasons)
	}
	if _, a := sendUsage(t, seller, []map[string]string{usageRecord("u-2", inst, since.Add(100*time.Millisecond), since.Add(200*time.Millisecond), "99")}); a.Duplicates != 1 {
		t.Fatalf("a resent record: %+v", a)
	}
	if r, _ := sendUsage(t, "s-e2e", []map[string]string{usageRecord("u-9", inst, now.Add(-time.Hour), now, "1")}); r.status == http.StatusOK {
		var other usageAnswer
		r.json(t, &other)
		if other.Results[0].Reason != "unknown_instance" {
			t.Fatalf("another seller's usage for this instance: %s", r.body)
		}
	}

	month := time.Now().UTC().Format("2006-01")
	if r := do(t, call{method: "GET", path: "/v1/sellers/" + seller + "/settlements?month=" + month, token: opsToken, actorID: "ops-alice"}); r.status != http.StatusNotFound {
		t.Fatalf("a month not stated yet: %d %s", r.status, r.body)
	}
	if r := do(t, ops("POST", "/v1/settlements/runs", map[string]any{"month": month})); r.status != http.StatusAccepted {
		t.Fatalf("run statements: %d %s", r.status, r.body)
	}
	statement := waitStatement(t, seller, month)
	if len(statement.Statements) != 1 {
		t.Fatalf("statements %+v", statement)
	}
	st := statement.Statements[0]
	var lines []string
	for _, l := range st.Lines {
		lines = append(lines, fmt.Sprintf("%s %s %s %d/%d/%d", l.OrderID, l.Kind, l.Posting, l.Gross, l.Commission, l.Net))
	}
	slices.Sort(lines)
	// Usage: 1.5 + 2.25 + 0.0001 = 3.7501 units x 25 = 93.7525 -> 94; commission 15% of 94
	// = 14.1 -> 14 (half up); net 80.
	wantLines := []string{
		"STMT-PPU order post 0/0/0",
		"STMT-PPU usage post 94/14/80",
		"STMT-REF order post 2000/300/1700",
		"STMT-REF order reverse -2000/-300/-1700",
		"STMT-REN order post 1000/150/850",
		"STMT-REN renewal post 1200/180/1020",
		"STMT-SUP order post 1000/150/850",
	}
	var ours []string
	for _, l := range lines {
		if strings.HasPrefix(l, "STMT-") {
			ours = append(ours, l)
		}
	}
	if !slices.Equal(ours, wantLines) {
		t.Fatalf("statement lines\n%s\nwant\n%s", strings.Join(ours, "\n"), strings.Join(wantLines, "\n"))
	}
	if st.Gross != 3294 || st.Commission != 494 || st.Net != 2800 || st.UsageGross != 94 || st.LineCount != 7 {
		t.Fatalf("statement totals %+v", st)
	}
	// Paid out exactly the statement's net, and the lines are settled.
	var paidOut int64
	stack.DB.QueryRow(context.Background(), `SELECT coalesce(sum(CASE direction WHEN 'credit' THEN amount ELSE -amount END), 0)
		FROM ledger_entries e JOIN settlements s USING (settlement_id) WHERE s.seller_id = $1 AND e.account = 'seller_paid_out'`, seller).Scan(&paidOut)
	if paidOut != st.Net {
		t.Fatalf("seller paid out %d, the statement says %d", paidOut, st.Net)
	}
	if v := view(t, do(t, buyer("c-stmt", "GET", "/v1/orders/STMT-SUP", nil))); v.Settlement.Status != order.SettlementSettled {
		t.Fatalf("a stated order's settlement is %s", v.Settlement.Status)
	}
	if v := view(t, do(t, ops("GET", "/v1/orders/STMT-REN", nil))); v.Renewals[0].Settlement.Status != order.SettlementSettled {
		t.Fatalf("a stated renewal's settlement is %s", v.Renewals[0].Settlement.Status)
	}
	// The seller sees its own statement; another seller does not.
	if r := do(t, seller2(seller, "GET", "/v1/sellers/"+seller+"/settlements?month="+month)); r.status != http.StatusOK {
		t.Fatalf("the seller's own statement: %d %s", r.status, r.body)
	}
	if r := do(t, seller2("s-e2e", "GET", "/v1/sellers/"+seller+"/settlements?month="+month)); r.status != http.StatusNotFound {
		t.Fatalf("another seller's statement: %d %s", r.status, r.body)
	}
	// A rerun changes nothing.
	before := do(t, ops("GET", "/v1/sellers/"+seller+"/settlements?month="+month, nil)).body
	if r := do(t, ops("POST", "/v1/settlements/runs", map[string]any{"month": month})); r.status != http.StatusAccepted {
		t.Fatalf("rerun: %d %s", r.status, r.body)
	}
	time.Sleep(time.Second)
	if after := do(t, ops("GET", "/v1/sellers/"+seller+"/settlements?month="+month, nil)).body; string(after) != string(before) {
		t.Fatalf("a rerun changed the statement:\n%s\n%s", before, after)
	}
	var payouts int
	stack.DB.QueryRow(context.Background(), `SELECT count(*) FROM ledger_entries e JOIN settlements s USING (settlement_id)
		WHERE s.seller_id = $1 AND e.posting IN ('payout', 'clawback')`, seller).Scan(&payouts)
	if payouts != 2*7 {
		t.Fatalf("%d payout lines, want two for each of 7 stated postings", payouts)
	}
	recordWorkflowHistory(t, order.StatementsWorkflowID(month), "", "month_stated")
}

// TestProductHealthSchedule: the daily health check, triggered as ops would from the
// Temporal UI, records every listed product's figures (GET /v1/products/{id} shows them).
func TestProductHealthSchedule(t *testing.T) {
	catalogue(t, "s-health", "p-health", false)
	h := stack.Temporal.ScheduleClient().GetHandle(context.Background(), order.HealthScheduleID)
	if err := h.Trigger(context.Background(), client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var p struct {
			Listed bool `json:"listed"`
			Health struct {
				CheckedAt *time.Time `json:"checkedAt"`
			} `json:"health"`
		}
		do(t, ops("GET", "/v1/products/p-health", nil)).json(t, &p)
		if p.Health.CheckedAt != nil {
			if !p.Listed {
				t.Fatal("a healthy product was delisted")
			}
			break
		}
		if time.Now().After(deadline) {
			res, _ := stack.Temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
				Namespace: stack.Namespace, Query: "WorkflowType = '" + order.HealthWorkflowType + "'"})
			var why []string
			for _, e := range res.GetExecutions() {
				d, err := stack.Temporal.DescribeWorkflowExecution(context.Background(), e.Execution.WorkflowId, e.Execution.RunId)
				if err == nil {
					for _, a := range d.PendingActivities {
						why = append(why, a.GetLastFailure().GetMessage())
					}
				}
				why = append(why, e.Status.String())
			}
			t.Fatalf("the triggered health check did not record the product's figures: %v", why)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var page struct {
		Items []struct {
			ProductID string `json:"productId"`
			Health    struct {
				CheckedAt *time.Time `json:"checkedAt"`
			} `json:"health"`
		} `json:"items"`
	}
	do(t, ops("GET", "/v1/products?listed=true&sellerId=s-health", nil)).json(t, &page)
	if len(page.Items) != 1 || page.Items[0].ProductID != "p-health" || page.Items[0].Health.CheckedAt == nil {
		t.Fatalf("ops' product list: %+v", page.Items)
	}
	res, err := stack.Temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: stack.Namespace, Query: "WorkflowType = '" + order.HealthWorkflowType + "'"})
	if err != nil || len(res.Executions) == 0 {
		t.Fatalf("no health run listed: %v", err)
	}
	recordWorkflowHistory(t, res.Executions[0].Execution.WorkflowId, res.Executions[0].Execution.RunId, "checked")
}

func seller2(id, method, path string) call {
	return call{method: method, path: path, token: webToken, actorRole: "seller", actorID: id}
}

type statementDoc struct {
	Statements []struct {
		Currency                                      string
		Gross, Commission, Net, UsageGross, LineCount int64
		Lines                                         []struct {
			OrderID, Kind, Posting string
			Gross, Commission, Net int64
		}
	}
}

func waitStatement(t *testing.T, sellerID, month string) statementDoc {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := do(t, ops("GET", "/v1/sellers/"+sellerID+"/settlements?month="+month, nil))
		if r.status == http.StatusOK {
			var d statementDoc
			r.json(t, &d)
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("no statement of %s for %s: %d %s", sellerID, month, r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
