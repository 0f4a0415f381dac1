package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
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
	deadline = time.Now().Add(15 * time.Second)
	for {
		var insts []struct {
			Refreshes []struct {
				Scene      string `json:"scene"`
				OrderID    string `json:"orderId"`
				ExpireTime string `json:"expireTime"`
			} `json:"refreshes"`
		}
		json.Unmarshal(sim(t, "GET", "/admin/sellers/"+sellerID+"/instances?orderId=NOTIFY-1", nil), &insts)
		if len(insts) == 1 && slices.ContainsFunc(insts[0].Refreshes, func(x struct {
			Scene      string `json:"scene"`
			OrderID    string `json:"orderId"`
			ExpireTime string `json:"expireTime"`
		}) bool {
			return x.Scene == order.RefreshSceneWithdrawal && x.OrderID == "NOTIFY-1-U1"
		}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the seller was not told the renewal period was taken back: %s", sim(t, "GET", "/admin/sellers/"+sellerID+"/instances?orderId=NOTIFY-1", nil))
		}
		time.Sleep(50 * time.Millisecond)
	}
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
