package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/cloudmarket/orders/internal/order"
)

// Reading orders and acting on them against a real PostgreSQL (db_test.go's harness).

func TestGetOrderAndOwnership(t *testing.T) {
	db := needDB(t)
	id, cust, sel := uid("o"), uid("cust"), uid("seller")
	seedOrder(t, db, viewOf(id, cust, sel, testNow), "fp")
	h := newHarness(t, db)
	for _, tt := range []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"own buyer", buyer(cust), 200},
		{"other buyer", buyer("someone-else"), 404},
		{"own seller", seller(sel), 200},
		{"other seller", seller("other-seller"), 404},
		{"ops", opsBy("alice"), 200},
		{"billing", billingCaller(), 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/v1/orders/" + id, "/v1/orders/" + id + "/events"} {
				rec := h.do(t, http.MethodGet, path, "", tt.hdr)
				if tt.status == 404 {
					// Exactly what a missing order answers, but for the request ID.
					got := wantProblem(t, rec, 404, CodeOrderNotFound, "orderId")
					missing := wantProblem(t, h.do(t, http.MethodGet, strings.Replace(path, id, id+"-missing", 1), "", tt.hdr), 404, CodeOrderNotFound, "orderId")
					got.RequestID, missing.RequestID = "", ""
					missing.Instance = strings.Replace(missing.Instance, id+"-missing", id, 1)
					missing.Detail = strings.Replace(missing.Detail, id+"-missing", id, 1)
					if got != missing {
						t.Errorf("a hidden order answers %+v, a missing one %+v", got, missing)
					}
					continue
				}
				wantStatus(t, rec, tt.status)
			}
		})
	}
	t.Run("other buyer may not accept", func(t *testing.T) {
		wantProblem(t, h.do(t, http.MethodPost, "/v1/orders/"+id+"/acceptance", "", buyer("someone-else")), 404, CodeOrderNotFound, "orderId")
	})
	t.Run("other buyer's list is refused, own list is forced", func(t *testing.T) {
		wantProblem(t, h.do(t, http.MethodGet, "/v1/orders?customerId="+cust, "", buyer("someone-else")), 403, CodeForbidden, "")
		rec := h.do(t, http.MethodGet, "/v1/orders", "", buyer("someone-else"))
		wantStatus(t, rec, 200)
		var page listPage
		decodeInto(t, rec, &page)
		if len(page.Items) != 0 {
			t.Errorf("a buyer sees %d orders of others", len(page.Items))
		}
	})
}

// TestUnknownOrdersNeverReachTemporal: an order the read model does not have is 404 from
// PostgreSQL alone (the mock Temporal client fails the test on any call), whatever the ID
// and whoever asks, for reads and actions alike.
func TestUnknownOrdersNeverReachTemporal(t *testing.T) {
	db := needDB(t)
	h := newHarness(t, db)
	for i := range 20 {
		missing := fmt.Sprintf("probe-%d-%s", i, uid("x"))
		wantProblem(t, h.do(t, http.MethodGet, "/v1/orders/"+missing, "", opsBy("alice")), 404, CodeOrderNotFound, "orderId")
		wantProblem(t, h.do(t, http.MethodGet, "/v1/orders/"+missing+"/events", "", buyer("cust-1")), 404, CodeOrderNotFound, "orderId")
		wantProblem(t, h.do(t, http.MethodPost, "/v1/orders/"+missing+"/acceptance", "", buyer("cust-1")), 404, CodeOrderNotFound, "orderId")
		wantProblem(t, h.do(t, http.MethodPost, "/v1/orders/"+missing+"/retry", "", opsBy("alice")), 404, CodeOrderNotFound, "orderId")
	}
}

func TestOrderEvents(t *testing.T) {
	db := needDB(t)
	h := newHarness(t, db)
	id := uid("o")
	seedOrder(t, db, viewOf(id, "cust-1", "seller-1", testNow), "fp")
	for _, e := range []struct {
		seq                 int
		kind, actor, ev, to string
		detail              string
	}{
		{2, "seller", "", "instance_created", "awaiting_acceptance", `{"instanceId":"i-1"}`},
		{1, "system", "", "placed", "provisioning", `{}`},
		{3, "buyer", "cust-1", "accepted", "in_service", `{}`},
	} {
		exec(t, db, `INSERT INTO order_events (order_id, seq, at, actor_kind, actor_id, event, from_status, to_status, detail)
			VALUES ($1, $2, $3, $4, $5, $6, '', $7, $8)`, id, e.seq, testNow.Add(time.Duration(e.seq)*time.Minute), e.kind, e.actor, e.ev, e.to, e.detail)
	}
	rec := h.do(t, http.MethodGet, "/v1/orders/"+id+"/events", "", buyer("cust-1"))
	wantStatus(t, rec, http.StatusOK)
	var got struct {
		Items []struct {
			Seq    int               `json:"seq"`
			At     time.Time         `json:"at"`
			Actor  map[string]string `json:"actor"`
			Event  string            `json:"event"`
			From   *string           `json:"from"`
			To     string            `json:"to"`
			Detail map[string]any    `json:"detail"`
		} `json:"items"`
	}
	decodeInto(t, rec, &got)
	if len(got.Items) != 3 {
		t.Fatalf("items = %s", rec.Body.String())
	}
	for i, it := range got.Items {
		if it.Seq != i+1 || it.From == nil || it.Detail == nil {
			t.Errorf("item %d = %+v", i, it)
		}
	}
	last := got.Items[2]
	if last.Actor["kind"] != "buyer" || last.Actor["id"] != "cust-1" || last.Event != "accepted" || last.To != "in_service" ||
		!last.At.Equal(testNow.Add(3*time.Minute)) {
		t.Errorf("last event = %+v", last)
	}
	if got.Items[1].Detail["instanceId"] != "i-1" {
		t.Errorf("detail = %v", got.Items[1].Detail)
	}
}

// TestListOrdersPaging walks every page with the cursor and gets each order once, newest
// first, ties on placedAt broken by orderId.
func TestListOrdersPaging(t *testing.T) {
	db := needDB(t)
	h := newHarness(t, db)
	cust, sel := uid("cust"), uid("seller")
	base := testNow.Add(-time.Hour)
	ids := []string{uid("o"), uid("o"), uid("o"), uid("o"), uid("o")}
	placed := []time.Time{base, base.Add(time.Minute), base.Add(time.Minute), base.Add(2 * time.Minute), base.Add(3*time.Minute + 123456*time.Microsecond)}
	for i, id := range ids {
		seedOrder(t, db, viewOf(id, cust, sel, placed[i]), "fp")
	}
	seedOrder(t, db, viewOf(uid("o"), uid("cust"), sel, base), "fp") // another customer
	exec(t, db, `UPDATE orders SET status = 'completed' WHERE order_id = $1`, ids[0])

	// Expected: newest first; ids[1] and ids[2] share placedAt, the larger orderId first.
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if ids[1] > ids[2] {
		want[2], want[3] = ids[1], ids[2]
	}
	var seen []string
	cursor, pages := "", 0
	for {
		q := "/v1/orders?limit=2&customerId=" + cust
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		rec := h.do(t, http.MethodGet, q, "", opsBy("alice"))
		wantStatus(t, rec, http.StatusOK)
		var page struct {
			Items      []order.View `json:"items"`
			NextCursor string       `json:"nextCursor"`
		}
		decodeInto(t, rec, &page)
		pages++
		for _, v := range page.Items {
			seen = append(seen, v.OrderID)
		}
		if page.NextCursor == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		cursor = page.NextCursor
	}
	if pages != 3 || strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Errorf("pages %d, orders %v; want 3 pages of %v", pages, seen, want)
	}

	for _, tt := range []struct {
		name  string
		query string
		hdr   map[string]string
		count int
	}{
		{"buyer sees own orders without a filter", "", buyer(cust), 5},
		{"status filter", "?status=completed&customerId=" + cust, opsBy("alice"), 1},
		{"seller sees orders of own products", "", seller(sel), 6},
		{"product filter", "?productId=nothing&sellerId=" + sel, opsBy("alice"), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := h.do(t, http.MethodGet, "/v1/orders"+tt.query, "", tt.hdr)
			wantStatus(t, rec, http.StatusOK)
			var page listPage
			decodeInto(t, rec, &page)
			if len(page.Items) != tt.count || page.NextCursor != "" {
				t.Errorf("got %d items (next %q), want %d", len(page.Items), page.NextCursor, tt.count)
			}
		})
	}
}

func TestAcceptance(t *testing.T) {
	db := needDB(t)
	h := newHarness(t, db)
	id := uid("o")
	seedOrder(t, db, viewOf(id, "cust-1", "seller-1", testNow), "fp")
	accepted := viewOf(id, "cust-1", "seller-1", testNow)
	accepted.Phase, accepted.Status = order.PhaseInService, order.Status(order.PhaseInService)
	handle := mocks.NewWorkflowUpdateHandle(t)
	handle.On("Get", mock.Anything, mock.AnythingOfType("*order.View")).Run(func(args mock.Arguments) {
		*args.Get(1).(*order.View) = accepted
	}).Return(nil).Once()
	var opts client.UpdateWorkflowOptions
	h.tc.On("UpdateWorkflow", mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		opts = args.Get(1).(client.UpdateWorkflowOptions)
	}).Return(handle, nil).Once()

	rec := h.do(t, http.MethodPost, "/v1/orders/"+id+"/acceptance", "", merge(buyer("cust-1"), map[string]string{headerIdempotencyKey: "k1"}))
	wantStatus(t, rec, http.StatusOK)
	var v order.View
	decodeInto(t, rec, &v)
	if v.Status != order.Status(order.PhaseInService) {
		t.Errorf("answer = %+v", v)
	}
	if opts.UpdateName != order.UpdateAccept || opts.UpdateID != updateIDFor(order.UpdateAccept, callerKey(webToken, "buyer", "cust-1"), "k1") ||
		opts.Args[0] != (order.ActionRequest{Actor: order.Actor{Kind: order.ActorBuyer, ID: "cust-1"}}) {
		t.Errorf("update = %+v", opts)
	}
}

// TestAttentionList: GET /v1/attention lists flagged orders oldest cause first, filtered by
// cause and seller, in keyset pages, with what ops read.
func TestAttentionList(t *testing.T) {
	db := needDB(t)
	h := newHarness(t, db)
	sel := uid("seller")
	base := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC) // before every other test's rows
	var ids []string
	for i, cause := range []string{"provision_failed", "seller_call_failed", "provision_failed"} {
		id := uid("att")
		ids = append(ids, id)
		v := viewOf(id, uid("cust"), sel, testNow)
		since := base.Add(time.Duration(i) * time.Hour)
		v.NeedsAttention, v.AttentionCause, v.AttentionSince = true, cause, &since
		v.Attention = "because " + cause
		v.AttentionItems = []order.AttentionItem{{Cause: cause, Why: v.Attention, Since: &since}}
		seedOrder(t, db, v, "fp")
		exec(t, db, `UPDATE orders SET attention_cause = $2, attention_since = $3 WHERE order_id = $1`, id, cause, since)
	}
	seedOrder(t, db, viewOf(uid("calm"), uid("cust"), sel, testNow), "fp") // not flagged

	list := func(q string) attentionPageT {
		rec := h.do(t, http.MethodGet, "/v1/attention?sellerId="+sel+q, "", opsBy("alice"))
		wantStatus(t, rec, 200)
		var p attentionPageT
		decodeInto(t, rec, &p)
		return p
	}
	all := list("")
	if got := idsOf(all); strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Fatalf("listed %v, want %v oldest first", got, ids)
	}
	if e := all.Items[0]; e.Cause != "provision_failed" || e.Why != "because provision_failed" || len(e.Items) != 1 || !e.Since.Equal(base) {
		t.Errorf("entry %+v", e)
	}
	if got := idsOf(list("&cause=provision_failed")); len(got) != 2 || got[0] != ids[0] || got[1] != ids[2] {
		t.Errorf("cause filter: %v", got)
	}
	first := list("&limit=2")
	if len(first.Items) != 2 || first.NextCursor == "" {
		t.Fatalf("first page %v cursor %q", idsOf(first), first.NextCursor)
	}
	if second := list("&limit=2&cursor=" + first.NextCursor); len(second.Items) != 1 || second.Items[0].OrderID != ids[2] || second.NextCursor != "" {
		t.Errorf("second page %v cursor %q", idsOf(second), second.NextCursor)
	}
	t.Run("a failing subscriber", func(t *testing.T) {
		sub := uid("sub")
		exec(t, db, `INSERT INTO event_subscribers (subscriber_id, url, secret_kek, secret_dek, secret_sealed, state, failing_since, last_error)
			VALUES ($1, 'https://hooks.example/x', 'k', '\x00', '\x00', 'failing', $2, 'dial tcp: connection refused')`, sub, base)
		rec := h.do(t, http.MethodGet, "/v1/attention?cause=subscriber_failing", "", opsBy("alice"))
		wantStatus(t, rec, 200)
		var p struct {
			Items       []attentionEntry      `json:"items"`
			Subscribers []subscriberAttention `json:"subscribers"`
		}
		decodeInto(t, rec, &p)
		if len(p.Items) != 0 || !slices.ContainsFunc(p.Subscribers, func(a subscriberAttention) bool {
			return a.SubscriberID == sub && a.LastError == "dial tcp: connection refused" && a.Since.Equal(base)
		}) {
			t.Errorf("subscribers %+v items %d", p.Subscribers, len(p.Items))
		}
	})
}

type attentionPageT struct {
	Items      []attentionEntry `json:"items"`
	NextCursor string           `json:"nextCursor"`
}

func idsOf(p attentionPageT) []string {
	var out []string
	for _, e := range p.Items {
		out = append(out, e.OrderID)
	}
	return out
}
