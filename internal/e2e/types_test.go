package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/testkit"
)

// One order of each product type over HTTP on the real stack, as the web tier, the seller
// (through the web tier and through its own signed calls) and ops would drive them.

func wantOK(t *testing.T, r reply, what string) {
	t.Helper()
	if r.status/100 != 2 {
		t.Fatalf("%s: %d %s", what, r.status, r.body)
	}
}

func view(t *testing.T, r reply) order.View {
	t.Helper()
	var v order.View
	r.json(t, &v)
	return v
}

func TestLicenseDeliveredByCallback(t *testing.T) {
	catalogueOf(t, "s-lic", "p-lic", order.TypeLicense, order.BillingOneTime, nil)
	sim(t, "PUT", "/admin/sellers/s-lic/behaviour", map[string]any{"license": "callback", "licenseDelayMs": 200})
	wantOK(t, do(t, buyer("c-lic", "POST", "/v1/orders", oneTimeOrder("LIC-1", "c-lic", "p-lic", 5000))), "POST order")
	v := waitStatus(t, "LIC-1", order.Status(order.PhaseAwaitingAcceptance), 20*time.Second)
	if v.License == nil || v.License.Text != "" || v.License.Via != "callback" || !strings.Contains(v.License.Masked, "…") {
		t.Fatalf("ops' view of the licence: %+v", v.License)
	}
	insts := simInstances(t, "s-lic", "LIC-1")
	if len(insts) != 1 {
		t.Fatalf("instances %+v", insts)
	}
	var simInst struct {
		License          string `json:"license"`
		LicenseDelivered bool   `json:"licenseDelivered"`
		LicenseChecked   bool   `json:"licenseChecked"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		raw := sim(t, "GET", "/admin/sellers/s-lic/instances?orderId=LIC-1", nil)
		var list []json.RawMessage
		json.Unmarshal(raw, &list)
		json.Unmarshal(list[0], &simInst)
		if simInst.LicenseChecked || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !simInst.LicenseDelivered || !simInst.LicenseChecked {
		t.Fatalf("the simulator's licence: delivered %v, checked against our view %v", simInst.LicenseDelivered, simInst.LicenseChecked)
	}
	// The buyer sees it in full; the seller through the web tier sees it masked.
	if got := view(t, do(t, buyer("c-lic", "GET", "/v1/orders/LIC-1", nil))); got.License == nil || got.License.Text != simInst.License {
		t.Fatalf("the buyer's licence %+v, the seller made %q", got.License, simInst.License)
	}
	if got := view(t, do(t, seller("s-lic", "GET", "/v1/orders/LIC-1", nil))); got.License.Text != "" {
		t.Fatal("the seller's web view shows the licence in full")
	}
	// A resend of the same licence is answered the same; another licence is refused.
	resend := func(lic string) reply {
		body := `{"orderLineId":"LIC-1-1","license":"` + lic + `"}`
		return do(t, call{method: "POST", path: "/v1/seller-api/licenses/LIC-1", body: body,
			headers: signedHeaders("s-lic", "sk-s-lic-0123456789", time.Now(), body)})
	}
	wantOK(t, resend(simInst.License), "resend of the same licence")
	if r := resend("LIC-SOMETHING-ELSE-0000"); r.status != http.StatusConflict || code(t, r) != order.ErrLicenseMismatch {
		t.Fatalf("another licence: %d %s", r.status, r.body)
	}
	// Signed with a wrong key: 401, and the order keeps its licence.
	wrong := `{"orderLineId":"LIC-1-1","license":"LIC-FORGED-0000-0000"}`
	if r := do(t, call{method: "POST", path: "/v1/seller-api/licenses/LIC-1", body: wrong,
		headers: signedHeaders("s-lic", "sk-s-lic-wrong-key-00", time.Now(), wrong)}); r.status != http.StatusUnauthorized {
		t.Fatalf("a licence signed with a wrong key: %d %s", r.status, r.body)
	}
	if got := view(t, do(t, buyer("c-lic", "GET", "/v1/orders/LIC-1", nil))); got.License.Text != simInst.License {
		t.Fatalf("after a forged licence the buyer reads %q", got.License.Text)
	}
	// Another seller cannot deliver for this order; the order is not there for it.
	body := `{"orderLineId":"LIC-1-1","license":"x"}`
	if r := do(t, call{method: "POST", path: "/v1/seller-api/licenses/LIC-1", body: body,
		headers: signedHeaders("s-e2e", "sk-s-e2e-0123456789", time.Now(), body)}); r.status != http.StatusNotFound && r.status != http.StatusUnauthorized {
		t.Fatalf("another seller's licence: %d %s", r.status, r.body)
	}
	wantOK(t, do(t, buyer("c-lic", "POST", "/v1/orders/LIC-1/acceptance", nil)), "accept")
	waitStatus(t, "LIC-1", order.Status(order.PhaseCompleted), 5*time.Second)
	assertNoSecretInHistory(t, "LIC-1", simInst.License)
	recordHistory(t, "LIC-1", "license_callback_completed")
}

// TestLicenseCallbackBeforeQueryAnswers: found by the soak. A licence seller answers
// asynchronously and delivers the licence by callback before its instance is ready; the
// buyer accepts while queryInstance still polls. The poll's late answer must leave the
// completed order and the buyer's instance alone (it used to release both).
func TestLicenseCallbackBeforeQueryAnswers(t *testing.T) {
	catalogueOf(t, "s-lic4", "p-lic4", order.TypeLicense, order.BillingOneTime, nil)
	sim(t, "PUT", "/admin/sellers/s-lic4/behaviour", map[string]any{"mode": "async", "asyncDelayMs": 4000, "license": "callback", "licenseDelayMs": 100})
	wantOK(t, do(t, buyer("c-lic4", "POST", "/v1/orders", oneTimeOrder("LIC-4", "c-lic4", "p-lic4", 5000))), "POST order")
	waitStatus(t, "LIC-4", order.Status(order.PhaseAwaitingAcceptance), 10*time.Second)
	wantOK(t, do(t, buyer("c-lic4", "POST", "/v1/orders/LIC-4/acceptance", nil)), "accept")
	waitStatus(t, "LIC-4", order.Status(order.PhaseCompleted), 5*time.Second)
	// The instance becomes ready 4 s after newInstance; the workflow ends once the poll has
	// its answer.
	run := stack.Temporal.GetWorkflow(context.Background(), order.WorkflowID("LIC-4"), "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var final order.View
	if err := run.Get(ctx, &final); err != nil {
		t.Fatal(err)
	}
	if final.Status != order.Status(order.PhaseCompleted) {
		t.Fatalf("the workflow ended %s", final.Status)
	}
	if got := view(t, do(t, ops("GET", "/v1/orders/LIC-4", nil))); got.Status != order.Status(order.PhaseCompleted) || got.InstanceID == "" {
		t.Fatalf("after the late answer: %s, instance %q", got.Status, got.InstanceID)
	}
	if insts := simInstances(t, "s-lic4", "LIC-4"); len(insts) != 1 || insts[0].Status != "active" {
		t.Fatalf("the buyer's instance at the seller: %+v", insts)
	}
	recordHistory(t, "LIC-4", "license_callback_accepted_before_query")
}

func TestLicenseInTheAnswer(t *testing.T) {
	catalogueOf(t, "s-lic2", "p-lic2", order.TypeLicense, order.BillingYearly, nil)
	sim(t, "PUT", "/admin/sellers/s-lic2/behaviour", map[string]any{"license": "answer"})
	wantOK(t, do(t, buyer("c-lic2", "POST", "/v1/orders", newOrder("LIC-2", "c-lic2", "p-lic2", 5000, time.Hour))), "POST order")
	v := waitStatus(t, "LIC-2", order.Status(order.PhaseAwaitingAcceptance), 20*time.Second)
	lic := simInstances(t, "s-lic2", "LIC-2")
	sum := sha256.Sum256([]byte(licenseOf(t, "s-lic2", "LIC-2")))
	if v.License == nil || v.License.Via != "answer" || v.License.SHA256 != hex.EncodeToString(sum[:]) || len(lic) != 1 {
		t.Fatalf("licence %+v", v.License)
	}
}

func licenseOf(t *testing.T, sellerID, orderID string) string {
	raw := sim(t, "GET", "/admin/sellers/"+sellerID+"/instances?orderId="+orderID, nil)
	var list []struct {
		License string `json:"license"`
	}
	json.Unmarshal(raw, &list)
	return list[0].License
}

func TestPackageDeploymentWithRejection(t *testing.T) {
	catalogueOf(t, "s-pkg", "p-pkg", order.TypePackage, order.BillingOneTime, nil)
	wantOK(t, do(t, buyer("c-pkg", "POST", "/v1/orders", oneTimeOrder("PKG-1", "c-pkg", "p-pkg", 20000))), "POST order")
	waitStatus(t, "PKG-1", order.Status(order.PhaseDeploying), 10*time.Second)
	deploy := func(phase, state string) reply {
		return do(t, seller("s-pkg", "POST", "/v1/orders/PKG-1/deployment", map[string]any{"phase": phase, "state": state, "detail": phase + " " + state}))
	}
	if r := deploy("verify", "running"); r.status != http.StatusConflict {
		t.Fatalf("verify before install: %d %s", r.status, r.body)
	}
	wantOK(t, deploy("install", "failed"), "install failed")
	wantOK(t, deploy("install", "done"), "install again")
	wantOK(t, deploy("start", "done"), "start")
	v := view(t, deploy("verify", "done"))
	if v.Status != order.Status(order.PhaseAwaitingAcceptance) || len(v.Deployment) != 3 || v.Deployment[2].State != order.DeploymentDone {
		t.Fatalf("after verify: %+v", v)
	}
	// Read your writes: a GET right after the answer shows the same.
	if got := view(t, do(t, ops("GET", "/v1/orders/PKG-1", nil))); got.Status != v.Status {
		t.Fatalf("GET after the answer: %s, the answer said %s", got.Status, v.Status)
	}
	v = view(t, do(t, buyer("c-pkg", "POST", "/v1/orders/PKG-1/rejection", map[string]any{"reason": "the verify step did not check the licence server"})))
	if v.Status != order.Status(order.PhaseRejected) || v.Rejections != 1 || v.Deployment[0].State != order.DeploymentPending {
		t.Fatalf("after rejection: %+v", v)
	}
	for _, p := range []string{"install", "start", "verify"} {
		wantOK(t, deploy(p, "done"), "redeploy "+p)
	}
	wantOK(t, do(t, buyer("c-pkg", "POST", "/v1/orders/PKG-1/acceptance", nil)), "accept")
	waitStatus(t, "PKG-1", order.Status(order.PhaseCompleted), 5*time.Second)
	recordHistory(t, "PKG-1", "package_rejected_redeployed_completed")
}

func TestHardwareShippedSignedOffAutoAccepted(t *testing.T) {
	catalogueOf(t, "s-hw", "p-hw", order.TypeHardware, order.BillingOneTime, nil)
	wantOK(t, do(t, buyer("c-hw", "POST", "/v1/orders", oneTimeOrder("HW-1", "c-hw", "p-hw", 300000))), "POST order")
	waitStatus(t, "HW-1", order.Status(order.PhaseShipping), 10*time.Second)
	if r := do(t, buyer("c-hw", "POST", "/v1/orders/HW-1/shipment/signoff", map[string]any{"signedAt": time.Now().UTC().Format(time.RFC3339)})); r.status != http.StatusConflict {
		t.Fatalf("sign-off before shipping: %d %s", r.status, r.body)
	}
	v := view(t, do(t, seller("s-hw", "POST", "/v1/orders/HW-1/shipment", map[string]any{"carrier": "SF Express", "trackingNumber": "SF1234567890"})))
	if v.Shipment == nil || v.Shipment.TrackingNumber != "SF1234567890" {
		t.Fatalf("shipment: %+v", v.Shipment)
	}
	v = view(t, do(t, buyer("c-hw", "POST", "/v1/orders/HW-1/shipment/signoff", map[string]any{"signedAt": time.Now().UTC().Format(time.RFC3339)})))
	if v.Status != order.Status(order.PhaseAwaitingAcceptance) || v.Shipment.SignedAt == nil || len(v.Deadlines) != 1 || v.Deadlines[0].Action != "auto_accept" {
		t.Fatalf("after sign-off: %+v", v)
	}
	wantOK(t, do(t, buyer("c-hw", "POST", "/v1/orders/HW-1/acceptance", nil)), "accept")
	waitStatus(t, "HW-1", order.Status(order.PhaseCompleted), 5*time.Second)
	recordHistory(t, "HW-1", "hardware_shipped_signed_completed")
}

func TestServiceAppealContinueThenReview(t *testing.T) {
	catalogueOf(t, "s-svc", "p-svc", order.TypeService, order.BillingOneTime, nil)
	wantOK(t, do(t, buyer("c-svc", "POST", "/v1/orders", oneTimeOrder("SVC-1", "c-svc", "p-svc", 80000))), "POST order")
	waitStatus(t, "SVC-1", order.Status(order.PhaseDelivering), 10*time.Second)
	v := view(t, do(t, seller("s-svc", "POST", "/v1/orders/SVC-1/delivery", map[string]any{"note": "on-site training done"})))
	if v.Status != order.Status(order.PhaseAwaitingAcceptance) || v.AcceptanceCriteria != "it opens" || v.Delivery == nil {
		t.Fatalf("after delivery: %+v", v)
	}
	r := do(t, buyer("c-svc", "POST", "/v1/orders/SVC-1/appeals", map[string]any{
		"reason": "half of the team was not trained",
		"evidence": []map[string]any{{"name": "attendance.pdf", "contentType": "application/pdf",
			"sha256": strings.Repeat("ab", 32), "size": 12345}},
	}))
	if r.status != http.StatusCreated {
		t.Fatalf("appeal: %d %s", r.status, r.body)
	}
	var answer order.AppealAnswer
	r.json(t, &answer)
	if answer.AppealID == "" || answer.Order.Status != order.StatusAppealing {
		t.Fatalf("appeal answer %+v", answer)
	}
	if r := do(t, buyer("c-svc", "POST", "/v1/orders/SVC-1/acceptance", nil)); r.status != http.StatusConflict || code(t, r) != order.ErrAppealOpen {
		t.Fatalf("accept while appealing: %d %s", r.status, r.body)
	}
	if r := do(t, seller("s-svc", "POST", "/v1/orders/SVC-1/appeals", map[string]any{"reason": "mine too"})); code(t, r) != order.ErrAppealOpen {
		t.Fatalf("second appeal: %d %s", r.status, r.body)
	}
	var queue struct {
		Items []struct {
			AppealID string `json:"appealId"`
			OrderID  string `json:"orderId"`
			History  []struct {
				Kind string `json:"kind"`
			} `json:"history"`
		} `json:"items"`
	}
	do(t, ops("GET", "/v1/appeals?state=open&limit=200", nil)).json(t, &queue)
	found := false
	for _, a := range queue.Items {
		found = found || (a.AppealID == answer.AppealID && a.OrderID == "SVC-1" && len(a.History) == 1 && a.History[0].Kind == "raised")
	}
	if !found {
		t.Fatalf("the appeal is not in ops' open queue: %+v", queue)
	}
	v = view(t, do(t, ops("POST", "/v1/appeals/"+answer.AppealID+"/resolution", map[string]any{"outcome": "continue", "note": "seller to retrain"})))
	if v.Status != order.Status(order.PhaseAwaitingAcceptance) || v.Appeal.Outcome != order.OutcomeContinue {
		t.Fatalf("after continue: %+v", v)
	}
	if r := do(t, ops("POST", "/v1/appeals/"+answer.AppealID+"/resolution", map[string]any{"outcome": "refund"})); r.status != http.StatusConflict {
		t.Fatalf("resolving twice: %d %s", r.status, r.body)
	}
	if r := do(t, ops("POST", "/v1/appeals/AP0000000000000000000/resolution", map[string]any{"outcome": "refund"})); r.status != http.StatusNotFound {
		t.Fatalf("an unknown appeal: %d %s", r.status, r.body)
	}
	review := map[string]any{"quality": 4, "afterSales": 5, "deliverySpeed": 3, "tags": []string{"patient"}, "text": "good in the end"}
	if r := do(t, buyer("c-svc", "POST", "/v1/orders/SVC-1/review", review)); r.status != http.StatusConflict {
		t.Fatalf("a review before acceptance: %d %s", r.status, r.body)
	}
	wantOK(t, do(t, buyer("c-svc", "POST", "/v1/orders/SVC-1/acceptance", nil)), "accept")
	if r := do(t, buyer("c-svc", "POST", "/v1/orders/SVC-1/review", review)); r.status != http.StatusCreated {
		t.Fatalf("review: %d %s", r.status, r.body)
	}
	if r := do(t, buyer("c-svc", "POST", "/v1/orders/SVC-1/review", review)); r.status != http.StatusConflict || code(t, r) != "already_reviewed" {
		t.Fatalf("a second review: %d %s", r.status, r.body)
	}
	var product struct {
		Reviews struct {
			Count   int     `json:"count"`
			Quality float64 `json:"quality"`
		} `json:"reviews"`
	}
	do(t, ops("GET", "/v1/products/p-svc", nil)).json(t, &product)
	if product.Reviews.Count != 1 || product.Reviews.Quality != 4 {
		t.Fatalf("product reviews: %+v", product.Reviews)
	}
	// The audit trail, two lines a page.
	var seen []string
	cursor := ""
	for pages := 0; pages < 20; pages++ {
		path := "/v1/orders/SVC-1/events?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var page struct {
			Items []struct {
				Event string `json:"event"`
			} `json:"items"`
			NextCursor string `json:"nextCursor"`
		}
		do(t, buyer("c-svc", "GET", path, nil)).json(t, &page)
		for _, e := range page.Items {
			seen = append(seen, e.Event)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	want := "placed,delivered,appeal_opened,appeal_resolved,accepted"
	if strings.Join(seen, ",") != want {
		t.Fatalf("events %v, want %s", seen, want)
	}
	recordHistory(t, "SVC-1", "service_appeal_continue_accepted")
}

func TestAppealRefundReleasesTheInstance(t *testing.T) {
	catalogue(t, "s-apr", "p-apr", true)
	wantOK(t, do(t, buyer("c-apr", "POST", "/v1/orders", newOrder("APR-1", "c-apr", "p-apr", 1000, time.Hour))), "POST order")
	waitStatus(t, "APR-1", order.Status(order.PhaseAwaitingAcceptance), 15*time.Second)
	var answer order.AppealAnswer
	do(t, seller("s-apr", "POST", "/v1/orders/APR-1/appeals", map[string]any{"reason": "buyer asks for more than sold"})).json(t, &answer)
	v := view(t, do(t, ops("POST", "/v1/appeals/"+answer.AppealID+"/resolution", map[string]any{"outcome": "refund", "note": "goodwill"})))
	if v.Status != order.Status(order.PhaseCancelled) || v.Settlement.Status != order.SettlementRefunded {
		t.Fatalf("after refund: %+v", v)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		insts := simInstances(t, "s-apr", "APR-1")
		if len(insts) == 1 && insts[0].Status == "released" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the refunded order's instance is not released: %+v", insts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var appeals struct {
		Items []struct {
			AppealID string `json:"appealId"`
			Outcome  string `json:"outcome"`
			History  []struct {
				Kind  string `json:"kind"`
				Actor struct {
					Kind string `json:"kind"`
				} `json:"actor"`
			} `json:"history"`
		} `json:"items"`
	}
	do(t, ops("GET", "/v1/appeals?state=resolved&limit=200", nil)).json(t, &appeals)
	for _, a := range appeals.Items {
		if a.AppealID == answer.AppealID {
			if a.Outcome != "refund" || len(a.History) != 2 || a.History[1].Actor.Kind != "ops" {
				t.Fatalf("resolved appeal %+v", a)
			}
			var n int
			stack.DB.QueryRow(context.Background(), `SELECT count(*) FROM ledger_entries JOIN settlements USING (settlement_id) WHERE order_id = 'APR-1'`).Scan(&n)
			if n != 0 {
				t.Fatalf("%d ledger lines for an order refunded before posting", n)
			}
			recordHistory(t, "APR-1", "saas_appeal_refund_released")
			return
		}
	}
	t.Fatalf("appeal %s not among the resolved", answer.AppealID)
}

// TestAppealEscalatesThroughEveryTierThenForcedAccept: an appeal nobody resolves climbs every
// tier on its SLA (timer-made history lines, the escalated queue, the search attributes),
// and ops then force the acceptance. The tiers are a policy read at placement, so the order
// is placed through an API process whose policy has 1 s tiers; the stack's worker runs it.
func TestAppealEscalatesThroughEveryTierThenForcedAccept(t *testing.T) {
	catalogue(t, "s-esc", "p-esc", true)
	base := apiWithPolicy(t, "tiers: [10m, 10m]", "tiers: [1s, 1s]")
	place := buyer("c-esc", "POST", "/v1/orders", newOrder("ESC-1", "c-esc", "p-esc", 1000, time.Hour))
	place.base = base
	wantOK(t, do(t, place), "POST order")
	waitStatus(t, "ESC-1", order.Status(order.PhaseAwaitingAcceptance), 15*time.Second)
	var answer order.AppealAnswer
	do(t, buyer("c-esc", "POST", "/v1/orders/ESC-1/appeals", map[string]any{"reason": "the instance is not what was sold"})).json(t, &answer)
	if answer.AppealID == "" {
		t.Fatal("no appeal")
	}
	deadline := time.Now().Add(20 * time.Second)
	var v order.View
	for v.Appeal == nil || v.Appeal.Tier < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the appeal did not reach the last tier: %+v", v.Appeal)
		}
		time.Sleep(100 * time.Millisecond)
		v = view(t, do(t, ops("GET", "/v1/orders/ESC-1", nil)))
	}
	if v.Appeal.EscalateAt != nil || v.Status != order.StatusAppealing {
		t.Fatalf("at the last tier: %+v (status %s)", v.Appeal, v.Status)
	}
	// The read model is written inside the workflow task (a local activity); the search
	// attributes are upserted when that task completes: wait for them.
	for {
		desc, err := stack.Temporal.DescribeWorkflowExecution(context.Background(), order.WorkflowID("ESC-1"), "")
		if err != nil {
			t.Fatal(err)
		}
		sa := desc.WorkflowExecutionInfo.GetSearchAttributes().GetIndexedFields()
		if string(sa["AppealOpen"].GetData()) == "true" && string(sa["AppealTier"].GetData()) == "3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("search attributes AppealOpen=%s AppealTier=%s", sa["AppealOpen"].GetData(), sa["AppealTier"].GetData())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var queue struct {
		Items []appealItem `json:"items"`
	}
	do(t, ops("GET", "/v1/appeals?state=escalated&limit=200", nil)).json(t, &queue)
	i := slices.IndexFunc(queue.Items, func(a appealItem) bool { return a.AppealID == answer.AppealID })
	if i < 0 {
		t.Fatalf("appeal %s is not in the escalated queue", answer.AppealID)
	}
	var kinds []string
	for _, h := range queue.Items[i].History {
		kinds = append(kinds, fmt.Sprintf("%s:%d:%s", h.Kind, h.Tier, h.Actor.Kind))
	}
	if got := strings.Join(kinds, ","); got != "raised:1:buyer,escalated:2:timer,escalated:3:timer" {
		t.Errorf("appeal history %s", got)
	}
	if !strings.Contains(scrapeMetrics(t), `order_appeals_total{kind="escalated"`) {
		t.Error("/metrics counts no escalation")
	}
	v = view(t, do(t, ops("POST", "/v1/appeals/"+answer.AppealID+"/resolution", map[string]any{"outcome": "accept", "note": "delivered as sold"})))
	if v.Status != order.Status(order.PhaseInService) || v.AcceptedBy == nil || v.AcceptedBy.Kind != order.ActorOps {
		t.Fatalf("after a forced acceptance: status %s accepted by %+v", v.Status, v.AcceptedBy)
	}
	recordHistory(t, "ESC-1", "saas_appeal_escalated_accepted")
}

// apiWithPolicy starts an API process whose policy is the test policy with each old text
// replaced by the new that follows it (pairs), and returns its base URL: orders placed
// through it carry that policy's windows (the stack's worker runs them).
func apiWithPolicy(t *testing.T, pairs ...string) string {
	t.Helper()
	policy := testPolicy
	for i := 0; i+1 < len(pairs); i += 2 {
		changed := strings.Replace(policy, pairs[i], pairs[i+1], 1)
		if changed == policy {
			t.Fatalf("the test policy has no %q any more: update this test", pairs[i])
		}
		policy = changed
	}
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := testkit.FreeAddr(t)
	p := startOrders(t, nil, map[string]string{"API_ADDR": addr, "METRICS_ADDR": "", "MIGRATE_ON_START": "false",
		"ORDERS_ROLES": "api", "POLICY_FILE": file})
	base := "http://" + addr
	waitReady(t, base, p)
	return base
}

// appealItem is what the tests read of GET /v1/appeals.
type appealItem struct {
	AppealID string `json:"appealId"`
	Tier     int    `json:"tier"`
	History  []struct {
		Kind  string `json:"kind"`
		Tier  int    `json:"tier"`
		Actor struct {
			Kind string `json:"kind"`
		} `json:"actor"`
	} `json:"history"`
}
