package api

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/sellerapi"
)

// signed builds a seller open API request signed as the seller protocol signs ours.
func signed(method, path, sellerID, key string, at time.Time, nonce string, body string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	req.Header.Set(headerSellerID, sellerID)
	req.Header.Set(headerTimestamp, ts)
	req.Header.Set(headerNonce, nonce)
	req.Header.Set(headerSignature, sellerapi.Signature(key, nonce, ts, []byte(body)))
	return req
}

func serve(h *harness, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.e.ServeHTTP(rec, req)
	return rec
}

func newNonce(t *testing.T) string {
	n, err := sellerapi.NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSellerAPIGetOrder(t *testing.T) {
	db := needDB(t)
	h := newHarness(t, db, func(c *config.Config) { c.RateLimitSellerAPI = config.Rate{PerSecond: 1, Burst: 20} })
	sel, other := seedSeller(t, db), seedSeller(t, db) // both with key-12345678
	const key = "key-12345678"
	own, foreign := uid("o"), uid("o")
	v := viewOf(own, "cust-7", sel, testNow)
	seedOrder(t, db, v, "fp")
	seedOrder(t, db, viewOf(foreign, "cust-7", other, testNow), "fp")
	path := "/v1/seller-api/orders/" + own

	rec := serve(h, signed("GET", path, sel, key, testNow, newNonce(t), ""))
	wantStatus(t, rec, http.StatusOK)
	var got sellerOrder
	decodeInto(t, rec, &got)
	if got.OrderID != own || got.CustomerID != "cust-7" || got.BillingMode != order.BillingMonthly || got.ProductType != order.TypeSaaS {
		t.Errorf("answer = %+v", got)
	}
	wantStatus(t, serve(h, signed("GET", path+"?orderLineId="+v.OrderLineID, sel, key, testNow, newNonce(t), "")), http.StatusOK)

	replayed := signed("GET", path, sel, key, testNow, newNonce(t), "")
	wantStatus(t, serve(h, replayed), http.StatusOK)
	again := httptest.NewRequest("GET", path, nil)
	again.Header = replayed.Header.Clone()

	for _, tt := range []struct {
		name   string
		req    *http.Request
		status int
		code   string
	}{
		{"replayed nonce", again, 401, CodeUnauthenticated},
		{"wrong key", signed("GET", path, sel, "key-87654321", testNow, newNonce(t), ""), 401, CodeUnauthenticated},
		{"unknown seller", signed("GET", path, "nobody", key, testNow, newNonce(t), ""), 401, CodeUnauthenticated},
		{"stale timestamp", signed("GET", path, sel, key, testNow.Add(-61*time.Second), newNonce(t), ""), 401, CodeUnauthenticated},
		{"future timestamp", signed("GET", path, sel, key, testNow.Add(61*time.Second), newNonce(t), ""), 401, CodeUnauthenticated},
		{"unsigned", httptest.NewRequest("GET", path, nil), 401, CodeUnauthenticated},
		{"bearer token instead", func() *http.Request {
			r := httptest.NewRequest("GET", path, nil)
			r.Header.Set("Authorization", "Bearer "+opsToken)
			return r
		}(), 401, CodeUnauthenticated},
		{"bearer token on the key confirmation", func() *http.Request {
			r := httptest.NewRequest("POST", "/v1/seller-api/keys/confirm", nil)
			r.Header.Set("Authorization", "Bearer "+opsToken)
			return r
		}(), 401, CodeUnauthenticated},
		{"key confirmation with a wrong key", signed("POST", "/v1/seller-api/keys/confirm", sel, "key-87654321", testNow, newNonce(t), ""), 401, CodeUnauthenticated},
		{"key confirmation with a body", signed("POST", "/v1/seller-api/keys/confirm", sel, key, testNow, newNonce(t), `{"a":1}`), 400, CodeInvalidJSON},
		{"another seller's order", signed("GET", "/v1/seller-api/orders/"+foreign, sel, key, testNow, newNonce(t), ""), 404, CodeOrderNotFound},
		{"a missing order", signed("GET", "/v1/seller-api/orders/"+uid("o"), sel, key, testNow, newNonce(t), ""), 404, CodeOrderNotFound},
		{"another line", signed("GET", path+"?orderLineId=l-2", sel, key, testNow, newNonce(t), ""), 404, CodeOrderNotFound},
		{"unknown query parameter", signed("GET", path+"?x=1", sel, key, testNow, newNonce(t), ""), 400, CodeInvalidField},
		{"a body signed but not allowed", signed("GET", path, sel, key, testNow, newNonce(t), `{"a":1}`), 400, CodeInvalidJSON},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(h, tt.req)
			field := ""
			switch tt.code {
			case CodeOrderNotFound:
				field = "orderId"
			case CodeInvalidField:
				field = "x"
			}
			wantProblem(t, rec, tt.status, tt.code, field)
			if tt.status == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Signature") {
				t.Errorf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}

	t.Run("a failed signature records no nonce", func(t *testing.T) {
		n := newNonce(t)
		wantProblem(t, serve(h, signed("GET", path, sel, "key-87654321", testNow, n, "")), 401, CodeUnauthenticated, "")
		wantStatus(t, serve(h, signed("GET", path, sel, key, testNow, n, "")), http.StatusOK)
	})

	t.Run("per-seller rate limit", func(t *testing.T) {
		limited := newHarness(t, db, func(c *config.Config) { c.RateLimitSellerAPI = config.Rate{PerSecond: 1, Burst: 2} })
		for range 2 {
			wantStatus(t, serve(limited, signed("GET", path, sel, key, testNow, newNonce(t), "")), http.StatusOK)
		}
		rec := serve(limited, signed("GET", path, sel, key, testNow, newNonce(t), ""))
		wantProblem(t, rec, http.StatusTooManyRequests, CodeRateLimited, "")
		// Another seller has its own limit.
		wantStatus(t, serve(limited, signed("GET", "/v1/seller-api/orders/"+foreign, other, key, testNow, newNonce(t), "")), http.StatusOK)
	})
}
