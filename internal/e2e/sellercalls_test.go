package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// The rest of the seller interface (issue 14), tried on the real stack: a product that asks
// to hear of paid orders gets one orderNotify per order; billing takes back a renewal
// period before it begins and the seller hears it (refreshInstance, UNSUBSCRIBE_RENEWAL_PERIOD).

func TestOrderNotifyAndRenewalWithdrawn(t *testing.T) {
	const sellerID = "s-notify"
	unsupervised := false
	catalogueOf(t, sellerID, "p-notify", order.TypeSaaS, order.BillingMonthly, &unsupervised)
	if r := do(t, ops("PUT", "/v1/products/p-notify", map[string]any{
		"sellerId": sellerID, "name": "Product p-notify", "type": "saas", "billingMode": "monthly",
		"commissionRate": 1500, "acceptanceCriteria": "it opens", "supervised": false, "notifyOrders": true,
	})); r.status/100 != 2 {
		t.Fatalf("PUT product: %d %s", r.status, r.body)
	}
	wantOK(t, do(t, buyer("c-notify", "POST", "/v1/orders", newOrder("NOTIFY-1", "c-notify", "p-notify", 9900, time.Hour))), "POST")
	v := waitStatus(t, "NOTIFY-1", order.Status(order.PhaseInService), 15*time.Second)

	// One orderNotify, confirmed in the order's trail.
	deadline := time.Now().Add(15 * time.Second)
	for {
		var notes []struct {
			OrderID string `json:"orderId"`
			Calls   int    `json:"calls"`
		}
		json.Unmarshal(sim(t, "GET", "/admin/sellers/"+sellerID+"/notifications", nil), &notes)
		if len(notes) == 1 && notes[0].OrderID == "NOTIFY-1" && notes[0].Calls == 1 && slices.Contains(eventNames(t, "NOTIFY-1"), "seller_notified") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notifications %+v, trail %v", notes, eventNames(t, "NOTIFY-1"))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Billing renews, then takes the renewal back before its period (an hour away) begins.
	exp := *v.ExpireTime
	renewed := exp.AddDate(0, 1, 0)
	wantOK(t, do(t, billingCall("POST", "/v1/orders/NOTIFY-1/renewal", map[string]any{"renewalOrderId": "NOTIFY-1-R1",
		"renewalOrderLineId": "NOTIFY-1-R1-1", "expireTime": renewed.Format(time.RFC3339)})), "renew")
	r := do(t, billingCall("POST", "/v1/orders/NOTIFY-1/renewal-withdrawal", map[string]any{"renewalOrderId": "NOTIFY-1-R9",
		"unsubscribeOrderId": "NOTIFY-1-U1"}))
	if r.status != http.StatusConflict {
		t.Fatalf("withdraw a renewal never made: %d %s", r.status, r.body)
	}
	v = view(t, do(t, billingCall("POST", "/v1/orders/NOTIFY-1/renewal-withdrawal", map[string]any{"renewalOrderId": "NOTIFY-1-R1",
		"unsubscribeOrderId": "NOTIFY-1-U1", "unsubscribeOrderLineId": "NOTIFY-1-U1-1"})))
	if v.ExpireTime == nil || !v.ExpireTime.Equal(exp) || v.Renewals[0].Withdrawal == nil || v.Renewals[0].Settlement.Status != order.SettlementRefunded {
		t.Fatalf("after the withdrawal: expires %v, renewal %+v", v.ExpireTime, v.Renewals)
	}
	waitRefresh(t, sellerID, "NOTIFY-1", order.RefreshSceneWithdrawal, "NOTIFY-1-U1")
	recordHistory(t, "NOTIFY-1", "saas_notified_renewal_withdrawn")
}

// eventNames lists an order's audit events.
func eventNames(t *testing.T, orderID string) []string {
	t.Helper()
	var page struct {
		Items []struct {
			Event string `json:"event"`
		} `json:"items"`
	}
	do(t, ops("GET", "/v1/orders/"+orderID+"/events?limit=200", nil)).json(t, &page)
	var out []string
	for _, e := range page.Items {
		out = append(out, e.Event)
	}
	return out
}

// TestTrialConvertedAndTrialLapsed: a free trial converted by billing's trial-to-formal order
// (the seller hears TRIAL_TO_FORMAL, the formal order is its own settlement line), and one
// left to lapse: no grace, frozen at its expiry, released after the retention.
func TestTrialConvertedAndTrialLapsed(t *testing.T) {
	const sellerID = "s-trial"
	unsupervised := false
	catalogueOf(t, sellerID, "p-trial", order.TypeSaaS, order.BillingMonthly, &unsupervised)
	if r := do(t, ops("PUT", "/v1/products/p-trial", map[string]any{
		"sellerId": sellerID, "name": "Product p-trial", "type": "saas", "billingMode": "monthly",
		"commissionRate": 1500, "acceptanceCriteria": "it opens", "supervised": false, "trialDays": 14,
	})); r.status/100 != 2 {
		t.Fatalf("PUT product: %d %s", r.status, r.body)
	}
	trial := func(id string) map[string]any {
		return map[string]any{"orderId": id, "orderLineId": id + "-1", "customerId": "c-trial", "productId": "p-trial",
			"quantity": 1, "amount": map[string]any{"value": 0, "currency": "CNY"}, "orderType": "TRIAL"}
	}
	paidTrial := trial("TRIAL-X")
	paidTrial["amount"] = map[string]any{"value": 100, "currency": "CNY"}
	if r := do(t, buyer("c-trial", "POST", "/v1/orders", paidTrial)); r.status != http.StatusBadRequest {
		t.Fatalf("a trial that costs something: %d %s", r.status, r.body)
	}
	wantOK(t, do(t, buyer("c-trial", "POST", "/v1/orders", trial("TRIAL-1"))), "POST trial")
	v := waitStatus(t, "TRIAL-1", order.Status(order.PhaseInService), 15*time.Second)
	if v.OrderType != order.OrderTypeTrial || v.ExpireTime == nil || v.ExpireTime.Sub(v.PlacedAt) < 13*24*time.Hour {
		t.Fatalf("trial: type %q expires %v", v.OrderType, v.ExpireTime)
	}
	if r := do(t, billingCall("POST", "/v1/orders/TRIAL-1/renewal", map[string]any{"renewalOrderId": "TRIAL-1-R",
		"renewalOrderLineId": "TRIAL-1-R-1", "expireTime": v.ExpireTime.AddDate(0, 1, 0).Format(time.RFC3339)})); r.status != http.StatusConflict {
		t.Fatalf("renew an unconverted trial: %d %s", r.status, r.body)
	}
	formalExp := v.ExpireTime.AddDate(0, 1, 0)
	v = view(t, do(t, billingCall("POST", "/v1/orders/TRIAL-1/conversion", map[string]any{"formalOrderId": "TRIAL-1-F",
		"formalOrderLineId": "TRIAL-1-F-1", "expireTime": formalExp.Format(time.RFC3339), "amount": map[string]any{"value": 9900, "currency": "CNY"}})))
	if v.ConvertedBy != "TRIAL-1-F" || !v.ExpireTime.Equal(formalExp.Truncate(time.Second)) || len(v.Renewals) != 1 || v.Renewals[0].Settlement.Gross != 9900 {
		t.Fatalf("converted: by %q expires %v renewals %+v", v.ConvertedBy, v.ExpireTime, v.Renewals)
	}
	waitRefresh(t, sellerID, "TRIAL-1", order.RefreshSceneConversion, "TRIAL-1-F")
	recordHistory(t, "TRIAL-1", "saas_trial_converted")

	// A trial left to lapse, on a policy where a day passes in a fifth of a second: frozen
	// at the expiry (no grace), released after the retention.
	base := apiWithPolicy(t, "timeScale: 1\n", "timeScale: 432000\n")
	place := buyer("c-trial", "POST", "/v1/orders", trial("TRIAL-2"))
	place.base = base
	wantOK(t, do(t, place), "POST lapsing trial")
	v = waitStatus(t, "TRIAL-2", order.Status(order.PhaseReleased), 30*time.Second)
	names := eventNames(t, "TRIAL-2")
	if i, j := slices.Index(names, "expired"), slices.Index(names, "frozen"); i < 0 || j != i+1 {
		t.Fatalf("a lapsed trial's trail %v: frozen right at its expiry", names)
	}
	waitSim(t, sellerID, "TRIAL-2", "released", 15*time.Second)
	recordHistory(t, "TRIAL-2", "saas_trial_lapsed_released")
}

// TestChangeAppliedThenRefused: a paid scale-up applied by the seller (upgradeInstance: the
// order runs as the new quantity, the change its own settlement line), then an upgrade the
// seller refuses: its amount refunded, the order unchanged.
func TestChangeAppliedThenRefused(t *testing.T) {
	const sellerID = "s-change"
	unsupervised := false
	catalogueOf(t, sellerID, "p-change", order.TypeSaaS, order.BillingMonthly, &unsupervised)
	wantOK(t, do(t, buyer("c-change", "POST", "/v1/orders", newOrder("CHANGE-1", "c-change", "p-change", 9900, time.Hour))), "POST")
	waitStatus(t, "CHANGE-1", order.Status(order.PhaseInService), 15*time.Second)
	change := func(id string, qty int, product string) reply {
		body := map[string]any{"changeOrderId": id, "changeOrderLineId": id + "-1", "quantity": qty,
			"amount": map[string]any{"value": 3000, "currency": "CNY"}}
		if product != "" {
			body["productId"] = product
		}
		return do(t, billingCall("POST", "/v1/orders/CHANGE-1/changes", body))
	}
	waitChange := func(id string, want order.ChangeState) order.View {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			v := view(t, do(t, ops("GET", "/v1/orders/CHANGE-1", nil)))
			for _, c := range v.Changes {
				if c.ChangeOrderID == id && c.State == want {
					return v
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("change %s not %s: %+v", id, want, v.Changes)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wantOK(t, change("CHANGE-1-C1", 3, ""), "scale up")
	v := waitChange("CHANGE-1-C1", order.ChangeApplied)
	if v.QuantityNow != 3 || v.ProductNow != "p-change" || v.Changes[0].Settlement.Status != order.SettlementPending {
		t.Fatalf("applied: now %s x%d, line %+v", v.ProductNow, v.QuantityNow, v.Changes[0].Settlement)
	}
	sim(t, "PUT", "/admin/sellers/"+sellerID+"/behaviour", map[string]any{"failNext": map[string]any{"count": 1, "resultCode": "000102"}})
	wantOK(t, change("CHANGE-1-C2", 5, "p-change-pro"), "upgrade")
	v = waitChange("CHANGE-1-C2", order.ChangeFailed)
	if v.QuantityNow != 3 || v.ProductNow != "p-change" || v.Changes[1].Settlement.Status != order.SettlementRefunded || v.Status != order.Status(order.PhaseInService) {
		t.Fatalf("refused: now %s x%d, %+v, status %s", v.ProductNow, v.QuantityNow, v.Changes[1], v.Status)
	}
	if r := change("CHANGE-1-C1", 3, ""); r.status != http.StatusOK {
		t.Fatalf("a repeated change order: %d %s", r.status, r.body)
	}
	recordHistory(t, "CHANGE-1", "saas_change_applied_then_refused")
}

// TestRenewalWithAChange: the seller is asked first (changeInstanceCheck): a shrink below
// what the instance uses is refused, and billing gets 409 with the seller's reason; a
// feasible change renews with scene RENEWAL_CHANGE and the new product.
func TestRenewalWithAChange(t *testing.T) {
	const sellerID = "s-renchange"
	unsupervised := false
	catalogueOf(t, sellerID, "p-renchange", order.TypeSaaS, order.BillingMonthly, &unsupervised)
	sim(t, "PUT", "/admin/sellers/"+sellerID+"/behaviour", map[string]any{"changeCheck": map[string]any{"refuseBelowQuantity": 2,
		"resultMsg": "10 users are active: keep at least 2 seats"}})
	wantOK(t, do(t, buyer("c-renchange", "POST", "/v1/orders", newOrder("RENCHANGE-1", "c-renchange", "p-renchange", 9900, time.Hour))), "POST")
	v := waitStatus(t, "RENCHANGE-1", order.Status(order.PhaseInService), 15*time.Second)
	renew := func(id string, qty int) reply {
		return do(t, billingCall("POST", "/v1/orders/RENCHANGE-1/renewal", map[string]any{"renewalOrderId": id, "renewalOrderLineId": id + "-1",
			"expireTime": v.ExpireTime.AddDate(0, 1, 0).Format(time.RFC3339), "change": map[string]any{"productId": "p-renchange-pro", "skuCode": "seats", "quantity": qty}}))
	}
	r := renew("RENCHANGE-1-R1", 1)
	if r.status != http.StatusConflict || code(t, r) != "change_refused" || !strings.Contains(string(r.body), "keep at least 2 seats") {
		t.Fatalf("a change the seller refuses: %d %s", r.status, r.body)
	}
	v = view(t, renew("RENCHANGE-1-R2", 3))
	if v.ProductNow != "p-renchange-pro" || v.QuantityNow != 3 || len(v.Renewals) != 1 {
		t.Fatalf("renewed with a change: now %s x%d, renewals %+v", v.ProductNow, v.QuantityNow, v.Renewals)
	}
	if product := waitRefresh(t, sellerID, "RENCHANGE-1", order.RefreshSceneChange, "RENCHANGE-1-R2"); product != "p-renchange-pro" {
		t.Fatalf("the seller's instance runs %s after RENEWAL_CHANGE", product)
	}
	recordHistory(t, "RENCHANGE-1", "saas_renewal_change_refused_then_renewed")
}

// waitRefresh waits until the simulator's instance of an order has had refreshInstance with
// the scene and the (renewal, conversion or un-renewal) order, and returns its product then.
func waitRefresh(t *testing.T, sellerID, orderID, scene, refreshOrderID string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		raw := sim(t, "GET", "/admin/sellers/"+sellerID+"/instances?orderId="+orderID, nil)
		var insts []struct {
			ProductID string `json:"productId"`
			Refreshes []struct {
				Scene   string `json:"scene"`
				OrderID string `json:"orderId"`
			} `json:"refreshes"`
		}
		json.Unmarshal(raw, &insts)
		if len(insts) == 1 {
			for _, r := range insts[0].Refreshes {
				if r.Scene == scene && r.OrderID == refreshOrderID {
					return insts[0].ProductID
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the seller of %s was not told %s (%s): %s", orderID, scene, refreshOrderID, raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
