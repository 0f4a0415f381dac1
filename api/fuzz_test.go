package api

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/licenses"
	"github.com/cloudmarket/orders/internal/usage"
)

// The fuzz targets feed arbitrary input to every decoder of the API: the contract check
// (kin-openapi over strictjson's pre-check) and the strict bind of each body, the list query
// and its cursor, the actor and idempotency headers, and the seller open API's signature
// headers. No input may panic, every refusal must be a 4xx problem with a code, and what is
// accepted must hold the contract's invariants, so no bad input reaches a handler's logic.
// `make test` runs each briefly (make fuzz-smoke); the seeds are in testdata/fuzz.

var (
	fuzzOnce    sync.Once
	fuzzHarness *harness
)

// fuzzServer is one API without database or Temporal: the targets stop before either.
func fuzzServer(t *testing.T) *harness {
	fuzzOnce.Do(func() { fuzzHarness = newHarness(t, nil) })
	return fuzzHarness
}

// checkRequest runs what conform runs for operation opID on req: the body read and
// pre-check, then the contract.
func checkRequest(h *harness, opID string, req *http.Request, params map[string]string) ([]byte, *Problem) {
	op := h.srv.s.contract.byID[opID]
	c := h.e.NewContext(req, httptest.NewRecorder())
	body, p := h.srv.s.readRequestBody(c, op)
	if p != nil {
		return nil, p
	}
	return body, h.srv.s.contract.check(context.Background(), op, req, params, body)
}

func wantClientProblem(t *testing.T, p *Problem, input any) {
	t.Helper()
	if p.Status < 400 || p.Status >= 500 || p.Code == "" || p.Detail == "" {
		t.Fatalf("refusal is not a 4xx problem: %+v for %q", p, input)
	}
}

func postBody(path string, body []byte) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func FuzzOrderBody(f *testing.F) {
	f.Add([]byte(orderBody()))
	f.Add([]byte(orderBody("AMOUNT", `{"value":10.5,"currency":"CNY"}`)))
	f.Add([]byte(`{"orderId":` + strings.Repeat("[", 30) + strings.Repeat("]", 30) + `}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		h := fuzzServer(t)
		checked, p := checkRequest(h, "createOrder", postBody("/v1/orders", body), nil)
		if p != nil {
			wantClientProblem(t, p, body)
			return
		}
		c := h.e.NewContext(postBody("/v1/orders", body), httptest.NewRecorder())
		c.Set(ctxBody, checked)
		var req orderRequest
		if err := h.srv.s.bind(c, &req); err != nil {
			wantClientProblem(t, toProblem(err), body)
			return
		}
		pl, p := req.validate()
		if p != nil {
			wantClientProblem(t, p, body)
			return
		}
		for _, id := range []string{pl.OrderID, pl.OrderLineID, pl.CustomerID, pl.ProductID} {
			if !idRE.MatchString(id) {
				t.Fatalf("accepted ID %q from %q", id, body)
			}
		}
		if pl.Amount.Value < 0 || pl.Quantity < 1 || pl.Quantity > 10000 || !regexp.MustCompile(`^[A-Z]{3}$`).MatchString(pl.Amount.Currency) {
			t.Fatalf("accepted an invalid order: %+v from %q", pl, body)
		}
	})
}

// FuzzCatalogueBodies: op selects the PUT (seller, product, customer).
func FuzzCatalogueBodies(f *testing.F) {
	f.Add(uint8(0), []byte(`{"name":"S","endpoint":"https://seller.example/p","accessKey":"key-12345678"}`))
	f.Add(uint8(1), []byte(`{"sellerId":"s-1","name":"P","type":"saas","billingMode":"monthly","commissionRate":1500,"acceptanceCriteria":"works"}`))
	f.Add(uint8(2), []byte(`{"level":"gold"}`))
	f.Add(uint8(0), []byte(`{"name":"S\u0000","endpoint":"http://169.254.169.254/","accessKey":"k e y"}`))
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		h := fuzzServer(t)
		ops := []struct{ id, path string }{
			{"putSeller", "/v1/sellers/s-1"}, {"putProduct", "/v1/products/p-1"}, {"putCustomer", "/v1/customers/c-1"},
		}
		o := ops[int(op)%len(ops)]
		req := httptest.NewRequest(http.MethodPut, o.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		checked, p := checkRequest(h, o.id, req, map[string]string{"sellerId": "s-1", "productId": "p-1", "customerId": "c-1"})
		if p != nil {
			wantClientProblem(t, p, body)
			return
		}
		c := h.e.NewContext(req, httptest.NewRecorder())
		c.Set(ctxBody, checked)
		var dst any
		switch o.id {
		case "putSeller":
			dst = &sellerRequest{}
		case "putProduct":
			dst = &productRequest{}
		default:
			dst = &customerRequest{}
		}
		if err := h.srv.s.bind(c, dst); err != nil {
			wantClientProblem(t, toProblem(err), body)
			return
		}
		switch v := dst.(type) {
		case *sellerRequest:
			if v.Name == "" || strings.ContainsAny(v.Name, "\x00\n\r") || (v.AccessKey != nil && (len(*v.AccessKey) < 8 || strings.ContainsAny(*v.AccessKey, " \t\n"))) {
				t.Fatalf("accepted seller %+v from %q", v, body)
			}
			// The syntax and scheme rule (resolving a fuzzed host would be a network call).
			if u, err := h.srv.s.endpoint.CheckURL(v.Endpoint); err == nil && u.User != nil {
				t.Fatalf("accepted an endpoint with user info: %q", v.Endpoint)
			}
		case *productRequest:
			if !v.Type.Valid() || !v.BillingMode.Valid() || v.CommissionRate < 0 || v.CommissionRate > 10000 || !idRE.MatchString(v.SellerID) {
				t.Fatalf("accepted product %+v from %q", v, body)
			}
		case *customerRequest:
			if v.Level == "" {
				t.Fatalf("accepted customer %+v from %q", v, body)
			}
		}
	})
}

// FuzzActionBody: the bodies of the actions that take none (or {}).
func FuzzActionBody(f *testing.F) {
	for _, b := range []string{``, `{}`, ` `, `{"x":1}`, `[]`, `null`, `{}{}`} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		h := fuzzServer(t)
		_, p := checkRequest(h, "acceptOrder", postBody("/v1/orders/o-1/acceptance", body), map[string]string{"orderId": "o-1"})
		if p != nil {
			wantClientProblem(t, p, body)
			return
		}
		if trimmed := strings.TrimSpace(string(body)); trimmed != "" && strings.ReplaceAll(trimmed, " ", "") != "{}" &&
			!regexp.MustCompile(`^\{\s*\}$`).MatchString(trimmed) {
			t.Fatalf("accepted action body %q", body)
		}
	})
}

// FuzzListQuery: the query string of GET /v1/orders, its cursor included.
func FuzzListQuery(f *testing.F) {
	for _, q := range []string{"", "limit=10", "status=in_service&sellerId=s-1", "limit=0", "cursor=" + encodeCursor(listCursor{PlacedAt: testNow, OrderID: "o-1"}),
		"cursor=%ff%fe", "limit=1&limit=2", "x=1", "status=nope", "cursor=" + strings.Repeat("A", 600)} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		h := fuzzServer(t)
		req := httptest.NewRequest(http.MethodGet, "/v1/orders", nil)
		req.URL.RawQuery = rawQuery
		if _, p := checkRequest(h, "listOrders", req, nil); p != nil {
			wantClientProblem(t, p, rawQuery)
			return
		}
		q, _ := url.ParseQuery(rawQuery)
		for k, vs := range q {
			if len(vs) != 1 || !map[string]bool{"status": true, "sellerId": true, "customerId": true, "productId": true, "limit": true, "cursor": true}[k] {
				t.Fatalf("accepted query %q", rawQuery)
			}
		}
		if c := q.Get("cursor"); c != "" {
			if cur, err := decodeCursor(c); err == nil && (cur.PlacedAt.IsZero() || !idRE.MatchString(cur.OrderID)) {
				t.Fatalf("decoded an incomplete cursor %+v", cur)
			}
		}
	})
}

// FuzzCallerHeaders: the actor and idempotency headers, as a web, ops or billing caller.
func FuzzCallerHeaders(f *testing.F) {
	f.Add(uint8(0), "buyer", "cust-1", "key-1")
	f.Add(uint8(1), "", "alice", "")
	f.Add(uint8(0), "seller\r\nX-Evil: 1", "a b", strings.Repeat("k", 200))
	f.Add(uint8(2), "buyer", "", "\x00")
	f.Fuzz(func(t *testing.T, role uint8, actorRole, actorID, key string) {
		h := fuzzServer(t)
		tokens := []string{webToken, opsToken, billingToken}
		req := httptest.NewRequest(http.MethodPost, "/v1/orders/o-1/acceptance", nil)
		req.Header.Set("Authorization", "Bearer "+tokens[int(role)%len(tokens)])
		for k, v := range map[string]string{headerActorRole: actorRole, headerActorID: actorID, headerIdempotencyKey: key} {
			if v != "" {
				req.Header[k] = []string{v}
			}
		}
		cl, p := parseActor([]config.Role{config.RoleWeb, config.RoleOps, config.RoleBilling}[int(role)%3], req)
		if p != nil {
			wantClientProblem(t, p, []string{actorRole, actorID})
		} else if cl.ID != "" && !idRE.MatchString(cl.ID) {
			t.Fatalf("accepted actor ID %q", cl.ID)
		}
		c := h.e.NewContext(req, httptest.NewRecorder())
		k, p := idempotencyKey(c)
		if p != nil {
			wantClientProblem(t, p, key)
		} else if k != "" && (len(k) > 128 || !printableASCII(k, 128)) {
			t.Fatalf("accepted idempotency key %q", k)
		}
	})
}

// FuzzSellerSignatureHeaders: the signature headers of the seller open API. Whatever they
// hold, a refusal is a 401; what passes is well-formed and within the timestamp window.
func FuzzSellerSignatureHeaders(f *testing.F) {
	now := time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)
	inTime := strconv.FormatInt(now.UnixMilli(), 10)
	f.Add("seller-1", strings.Repeat("A", 64), inTime, strings.Repeat("a", 32))
	f.Add("s 1", "xyz", "-1", "NONCE")
	f.Add("seller-1", strings.Repeat("f", 64), strings.Repeat("9", 13), strings.Repeat("0", 32))
	f.Add("seller-1", strings.Repeat("f", 64), "1764000000000", strings.Repeat("0", 32))
	f.Fuzz(func(t *testing.T, sellerID, sig, timestamp, nonce string) {
		h := http.Header{}
		for k, v := range map[string]string{headerSellerID: sellerID, headerSignature: sig, headerTimestamp: timestamp, headerNonce: nonce} {
			h[k] = []string{v}
		}
		sc, p := parseSellerSignature(h, now)
		if p != nil {
			if p.Status != http.StatusUnauthorized || p.Code != CodeUnauthenticated {
				t.Fatalf("refusal %+v is not a 401", p)
			}
			return
		}
		ms, err := strconv.ParseInt(sc.timestamp, 10, 64)
		if err != nil || !idRE.MatchString(sc.sellerID) || len(sc.signature) != 64 || len(sc.nonce) != 32 ||
			now.Sub(time.UnixMilli(ms)).Abs() > sellerAPIWindow {
			t.Fatalf("accepted %+v", sc)
		}
	})
}

// actionOps are the operations whose body says what happened: each body must pass the
// contract and bind into what the handler binds, or be refused as a 4xx problem.
var actionOps = []struct{ id, path string }{
	{"rejectOrder", "/v1/orders/o-1/rejection"},
	{"deliverOrder", "/v1/orders/o-1/delivery"},
	{"reportDeployment", "/v1/orders/o-1/deployment"},
	{"shipOrder", "/v1/orders/o-1/shipment"},
	{"signOffShipment", "/v1/orders/o-1/shipment/signoff"},
	{"appealOrder", "/v1/orders/o-1/appeals"},
	{"reviewOrder", "/v1/orders/o-1/review"},
	{"resolveAppeal", "/v1/appeals/a-1/resolution"},
	{"sellerDeliverLicense", "/v1/seller-api/licenses/o-1"},
}

// FuzzActionBodies: the bodies of the actions that carry one (rejection, delivery, deployment
// report, shipment, sign-off, appeal, review, resolution, a seller's licence). What passes
// holds only valid UTF-8 within the contract's lengths, so a workflow history or the read
// model never receives a string the contract refuses; a passed licence masks to at most
// nine characters.
func FuzzActionBodies(f *testing.F) {
	seeds := map[int][]string{
		0: {`{"reason":"it does not start"}`, `{"reason":""}`, `{"reason":"\u0000"}`},
		1: {`{"note":"redeployed with the fix"}`},
		2: {`{"phase":"install","state":"done"}`, `{"phase":"verify","state":"failed","detail":"x\ty"}`, `{"phase":"boot","state":"done"}`},
		3: {`{"carrier":"SF","trackingNumber":"SF123"}`, `{"carrier":"\u001b[31m","trackingNumber":"<script>"}`},
		4: {`{"signedAt":"2030-05-17T12:00:00Z"}`, `{"signedAt":"2030-02-30T25:00:00Z"}`},
		5: {`{"reason":"not as described","evidence":[{"name":"a.png","contentType":"image/png","sha256":"` + strings.Repeat("a", 64) + `","size":10}]}`},
		6: {`{"quality":5,"afterSales":4,"deliverySpeed":3,"comment":"good"}`, `{"quality":6,"afterSales":0,"deliverySpeed":-1}`},
		7: {`{"outcome":"refund","note":"seller at fault"}`, `{"outcome":"burn"}`},
		8: {`{"orderLineId":"ol-1","license":"LIC-1234-5678-9012"}`, `{"orderLineId":"ol-1","license":"` + strings.Repeat("x", 9000) + `"}`},
	}
	for op, bodies := range seeds {
		for _, b := range bodies {
			f.Add(uint8(op), []byte(b))
		}
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		h := fuzzServer(t)
		o := actionOps[int(op)%len(actionOps)]
		params := map[string]string{"orderId": "o-1", "appealId": "a-1"}
		checked, p := checkRequest(h, o.id, postBody(o.path, body), params)
		if p != nil {
			wantClientProblem(t, p, body)
			return
		}
		c := h.e.NewContext(postBody(o.path, body), httptest.NewRecorder())
		c.Set(ctxBody, checked)
		var fields map[string]any
		if err := h.srv.s.bind(c, &fields); err != nil {
			wantClientProblem(t, toProblem(err), body)
			return
		}
		walkStrings(fields, func(s string) {
			if !utf8.ValidString(s) || utf8.RuneCountInString(s) > licenses.MaxLength {
				t.Fatalf("%s accepted string %q", o.id, s)
			}
		})
		if lic, ok := fields["license"].(string); ok {
			if m := licenses.Mask(lic); utf8.RuneCountInString(m) > 9 {
				t.Fatalf("licence masked to %q", m)
			}
		}
	})
}

func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case map[string]any:
		for k, e := range x {
			fn(k)
			walkStrings(e, fn)
		}
	case []any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	}
}

// FuzzUsageBody: a seller's usage records. What the contract and the strict bind let
// through is a list of at most 1000 records; each record that usage.Check takes holds a
// positive exact quantity, a period that ends no earlier than it begins, not in the future
// and not older than 21 days.
func FuzzUsageBody(f *testing.F) {
	rec := `{"meteringSn":"sn-1","instanceId":"inst-1","beginTime":"2030-05-17T10:00:00Z","endTime":"2030-05-17T11:00:00Z","usageValue":"12.5"}`
	for _, b := range []string{"[" + rec + "]", "[" + rec + "," + rec + "]", "[]", "{}", `[{"meteringSn":1}]`,
		`[{"meteringSn":"a","instanceId":"b","beginTime":"x","endTime":"y","usageValue":"1e9"}]`, "[" + strings.Repeat(rec+",", 3) + rec + "]"} {
		f.Add([]byte(b))
	}
	now := time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		h := fuzzServer(t)
		checked, p := checkRequest(h, "sellerUsage", postBody("/v1/seller-api/usage", body), nil)
		if p != nil {
			wantClientProblem(t, p, body)
			return
		}
		c := h.e.NewContext(postBody("/v1/seller-api/usage", body), httptest.NewRecorder())
		c.Set(ctxBody, checked)
		var records []usage.Record
		if err := h.srv.s.bind(c, &records); err != nil {
			wantClientProblem(t, toProblem(err), body)
			return
		}
		if len(records) == 0 || len(records) > usage.MaxRecords {
			t.Fatalf("accepted %d records", len(records))
		}
		for _, r := range records {
			u, reason := usage.Check(r, now)
			if reason != "" {
				continue
			}
			if u.Quantity <= 0 || u.End.Before(u.Begin) || u.End.After(now.Add(usage.Skew)) || u.Begin.Before(now.Add(-usage.MaxAge)) {
				t.Fatalf("usage.Check took %+v from %+v", u, r)
			}
		}
	})
}
