package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// TestSellerListUsage: a seller lists the usage it sent for one of its orders and a month,
// accepted records with their price and refused ones with the reason (a resend counted,
// not repeated), in pages; records of no order of its own are not kept; another seller's
// order, a missing one and a bad month or cursor answer as the contract says.
func TestSellerListUsage(t *testing.T) {
	db := needDB(t)
	h := newHarness(t, db)
	const key = "key-12345678"
	sel, other := seedSeller(t, db), seedSeller(t, db)
	prod := seedProduct(t, db, sel, order.TypeSaaS, order.BillingPayPerUse, true)
	exec(t, db, `UPDATE products SET unit_price = 250, unit_price_currency = 'CNY' WHERE product_id = $1`, prod)
	orderID, inst := uid("o"), uid("inst")
	since := testNow.Add(-10 * 24 * time.Hour)
	v := viewOf(orderID, "cust-1", sel, since.Add(-time.Hour))
	v.ProductID, v.BillingMode, v.InstanceID, v.InServiceSince = prod, order.BillingPayPerUse, inst, &since
	v.Phase, v.Status = order.PhaseInService, order.Status(order.PhaseInService)
	seedOrder(t, db, v, "fp")
	exec(t, db, `UPDATE orders SET instance_id = $2, unit_price = 250 WHERE order_id = $1`, orderID, inst)
	foreign := uid("o")
	seedOrder(t, db, viewOf(foreign, "cust-1", other, testNow), "fp")

	day := func(d int) string { return testNow.Add(time.Duration(-d) * 24 * time.Hour).Format(time.RFC3339) }
	rec := func(sn, begin, end, value string) string {
		return fmt.Sprintf(`{"meteringSn":%q,"instanceId":%q,"beginTime":%q,"endTime":%q,"usageValue":%q}`, sn, inst, begin, end, value)
	}
	push := func(records ...string) {
		t.Helper()
		r := serve(h, signed("POST", "/v1/seller-api/usage", sel, key, testNow, newNonce(t), "["+strings.Join(records, ",")+"]"))
		wantStatus(t, r, http.StatusOK)
	}
	push(
		rec("m-1", day(3), day(2), "1.5"),    // accepted: 1.5 x 250 = 375
		rec("m-2", day(2), day(1), "2"),      // accepted: 500
		rec("m-3", day(1), day(2), "1"),      // refused: ends before it begins
		rec("m-4", day(15), day(14), "1"),    // refused: before the order's time in service
		rec("m-5", "yesterday", day(1), "1"), // refused: unreadable time, listed at receipt
		`{"meteringSn":"m-6","instanceId":"not-ours","beginTime":"`+day(2)+`","endTime":"`+day(1)+`","usageValue":"1"}`,
	)
	push(rec("m-3", day(1), day(2), "1")) // the same refusal again: counted

	list := func(sellerID, query string) *usageListPage {
		t.Helper()
		r := serve(h, signed("GET", "/v1/seller-api/orders/"+orderID+"/usage?"+query, sellerID, key, testNow, newNonce(t), ""))
		wantStatus(t, r, http.StatusOK)
		var p usageListPage
		decodeInto(t, r, &p)
		if strings.Contains(r.Body.String(), "not-ours") {
			t.Errorf("a record of no order of the seller's is listed: %s", r.Body.String())
		}
		return &p
	}
	month := testNow.Format("2006-01")
	p := list(sel, "month="+month)
	got := map[string]usageListed{}
	for _, r := range p.Records {
		got[r.MeteringSn+"/"+r.Outcome] = r
	}
	if len(p.Records) != 5 || p.UnitPrice == nil || p.UnitPrice.Value != 250 {
		t.Fatalf("page = %+v", p)
	}
	for _, tt := range []struct {
		key, reason string
		price       int64
		times       int
	}{
		{"m-1/accepted", "", 375, 0},
		{"m-2/accepted", "", 500, 0},
		{"m-3/refused", "ends_before_begins", 0, 2},
		{"m-4/refused", "not_in_service", 0, 1},
		{"m-5/refused", "invalid_time", 0, 1},
	} {
		r, ok := got[tt.key]
		switch {
		case !ok:
			t.Errorf("%s is not listed: %+v", tt.key, p.Records)
		case tt.reason != "" && (r.Reason != tt.reason || r.Times != tt.times || r.Price != nil):
			t.Errorf("%s = %+v", tt.key, r)
		case tt.reason == "" && (r.Price == nil || r.Price.Value != tt.price || r.Price.Currency != "CNY" || r.Priced == nil || *r.Priced):
			t.Errorf("%s = %+v", tt.key, r)
		}
	}
	if r := got["m-1/accepted"]; r.UsageValue != "1.5" || r.BeginTime != day(3) {
		t.Errorf("m-1 as listed: %+v", r)
	}
	if r := got["m-4/refused"]; r.BeginTime != day(15) {
		t.Errorf("a refused record is not listed as sent: %+v", r)
	}

	// Pages of two: the same records, in order, once each.
	var seen []string
	cursor := ""
	for range 5 {
		q := "month=" + month + "&limit=2"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		pg := list(sel, q)
		for _, r := range pg.Records {
			seen = append(seen, r.MeteringSn+"/"+r.Outcome)
		}
		if cursor = pg.NextCursor; cursor == "" {
			break
		}
	}
	if len(seen) != 5 {
		t.Errorf("paged: %v", seen)
	}
	if p := list(sel, "month=2030-01"); len(p.Records) != 0 {
		t.Errorf("another month lists %d records", len(p.Records))
	}

	for _, tt := range []struct {
		name, sellerID, path string
		status               int
		code, field          string
	}{
		{"another seller's order", other, "/v1/seller-api/orders/" + orderID + "/usage?month=" + month, 404, CodeOrderNotFound, "orderId"},
		{"the other seller's own order is not this seller's", sel, "/v1/seller-api/orders/" + foreign + "/usage?month=" + month, 404, CodeOrderNotFound, "orderId"},
		{"a missing order", sel, "/v1/seller-api/orders/" + uid("o") + "/usage?month=" + month, 404, CodeOrderNotFound, "orderId"},
		{"no month", sel, "/v1/seller-api/orders/" + orderID + "/usage", 400, CodeInvalidField, "month"},
		{"a bad month", sel, "/v1/seller-api/orders/" + orderID + "/usage?month=2030-13", 400, CodeInvalidField, "month"},
		{"a forged cursor", sel, "/v1/seller-api/orders/" + orderID + "/usage?month=" + month + "&cursor=eyJ4IjoxfQ", 400, CodeInvalidField, "cursor"},
		{"an injected month", sel, "/v1/seller-api/orders/" + orderID + "/usage?month=2030-05%27%20OR%201%3D1", 400, CodeInvalidField, "month"},
		{"a huge cursor", sel, "/v1/seller-api/orders/" + orderID + "/usage?month=" + month + "&cursor=" + strings.Repeat("A", 4000), 400, CodeInvalidField, "cursor"},
		{"a repeated month", sel, "/v1/seller-api/orders/" + orderID + "/usage?month=" + month + "&month=2030-04", 400, CodeInvalidField, "month"},
		{"an unknown parameter", sel, "/v1/seller-api/orders/" + orderID + "/usage?month=" + month + "&sellerId=" + other, 400, CodeInvalidField, "sellerId"},
		{"limit too high", sel, "/v1/seller-api/orders/" + orderID + "/usage?month=" + month + "&limit=1000", 400, CodeInvalidField, "limit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := serve(h, signed("GET", tt.path, tt.sellerID, key, testNow, newNonce(t), ""))
			wantProblem(t, r, tt.status, tt.code, tt.field)
		})
	}
	t.Run("unsigned", func(t *testing.T) {
		r := serve(h, signed("GET", "/v1/seller-api/orders/"+orderID+"/usage?month="+month, sel, "key-87654321", testNow, newNonce(t), ""))
		wantProblem(t, r, http.StatusUnauthorized, CodeUnauthenticated, "")
	})
}
