package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/config"
)

// orderBody is a valid POST /v1/orders body for buyer cust-1 with one part replaced:
// replace maps a placeholder to its substitute.
func orderBody(replace ...string) string {
	b := `{"orderId":"o-1","orderLineId":"l-1","customerId":"cust-1","productId":"p-1",` +
		`"quantity":QTY,"amount":AMOUNT,"expireTime":EXP}`
	defaults := map[string]string{"QTY": "1", "AMOUNT": `{"value":1000,"currency":"CNY"}`, "EXP": `"2031-01-01T00:00:00Z"`}
	for i := 0; i+1 < len(replace); i += 2 {
		defaults[replace[i]] = replace[i+1]
	}
	for k, v := range defaults {
		b = strings.Replace(b, k, v, 1)
	}
	return b
}

// TestCreateOrderValidation: every malformed or invalid POST /v1/orders is refused before
// any database or Temporal call (the harness has neither), with the right status, code and
// field.
func TestCreateOrderValidation(t *testing.T) {
	h := newHarness(t, nil)
	long := strings.Repeat("a", 65)
	tests := []struct {
		name   string
		body   string
		hdr    map[string]string
		status int
		code   string
		field  string
	}{
		{"float value", orderBody("AMOUNT", `{"value":10.5,"currency":"CNY"}`), nil, 400, CodeInvalidField, "amount.value"},
		{"string value", orderBody("AMOUNT", `{"value":"10","currency":"CNY"}`), nil, 400, CodeInvalidField, "amount.value"},
		{"exponent value", orderBody("AMOUNT", `{"value":1e3,"currency":"CNY"}`), nil, 400, CodeInvalidField, "amount.value"},
		{"value over int64", orderBody("AMOUNT", `{"value":100000000000000000000,"currency":"CNY"}`), nil, 400, CodeInvalidField, "amount.value"},
		{"negative value", orderBody("AMOUNT", `{"value":-1,"currency":"CNY"}`), nil, 400, CodeInvalidField, "amount.value"},
		{"missing value", orderBody("AMOUNT", `{"currency":"CNY"}`), nil, 400, CodeInvalidField, "amount.value"},
		{"null value", orderBody("AMOUNT", `{"value":null,"currency":"CNY"}`), nil, 400, CodeInvalidField, "amount.value"},
		{"lower-case currency", orderBody("AMOUNT", `{"value":1,"currency":"cny"}`), nil, 400, CodeInvalidField, "amount.currency"},
		{"long currency", orderBody("AMOUNT", `{"value":1,"currency":"CNYY"}`), nil, 400, CodeInvalidField, "amount.currency"},
		{"missing currency", orderBody("AMOUNT", `{"value":1}`), nil, 400, CodeInvalidField, "amount.currency"},
		{"amount not an object", orderBody("AMOUNT", `5`), nil, 400, CodeInvalidField, "amount"},
		{"missing amount", `{"orderId":"o-1","orderLineId":"l-1","customerId":"cust-1","productId":"p-1","quantity":1}`, nil, 400, CodeInvalidField, "amount"},
		{"unknown nested field", orderBody("AMOUNT", `{"value":1,"currency":"CNY","cents":true}`), nil, 400, CodeInvalidField, "amount.cents"},
		{"zero quantity", orderBody("QTY", "0"), nil, 400, CodeInvalidField, "quantity"},
		{"quantity over limit", orderBody("QTY", "10001"), nil, 400, CodeInvalidField, "quantity"},
		{"fractional quantity", orderBody("QTY", "1.5"), nil, 400, CodeInvalidField, "quantity"},
		{"quantity 1.0", orderBody("QTY", "1.0"), nil, 400, CodeInvalidField, "quantity"},
		{"string quantity", orderBody("QTY", `"1"`), nil, 400, CodeInvalidField, "quantity"},
		{"missing quantity", `{"orderId":"o-1","orderLineId":"l-1","customerId":"cust-1","productId":"p-1","amount":{"value":1,"currency":"CNY"}}`, nil, 400, CodeInvalidField, "quantity"},
		{"orderId with space", strings.Replace(orderBody(), `"o-1"`, `"o 1"`, 1), nil, 400, CodeInvalidField, "orderId"},
		{"orderId too long", strings.Replace(orderBody(), `"o-1"`, `"`+long+`"`, 1), nil, 400, CodeInvalidField, "orderId"},
		{"empty orderId", strings.Replace(orderBody(), `"o-1"`, `""`, 1), nil, 400, CodeInvalidField, "orderId"},
		{"numeric orderId", strings.Replace(orderBody(), `"o-1"`, `1`, 1), nil, 400, CodeInvalidField, "orderId"},
		{"bad orderLineId", strings.Replace(orderBody(), `"l-1"`, `"l/1"`, 1), nil, 400, CodeInvalidField, "orderLineId"},
		{"bad productId", strings.Replace(orderBody(), `"p-1"`, `"p.1"`, 1), nil, 400, CodeInvalidField, "productId"},
		{"bad customerId", strings.Replace(orderBody(), `"cust-1"`, `"cust 1"`, 1), nil, 400, CodeInvalidField, "customerId"},
		{"expireTime not RFC 3339", orderBody("EXP", `"tomorrow"`), nil, 400, CodeInvalidField, "expireTime"},
		{"expireTime date only", orderBody("EXP", `"2031-01-01"`), nil, 400, CodeInvalidField, "expireTime"},
		{"expireTime number", orderBody("EXP", `5`), nil, 400, CodeInvalidField, "expireTime"},
		{"unknown field", strings.Replace(orderBody(), `{`, `{"coupon":"x",`, 1), nil, 400, CodeInvalidField, "coupon"},
		{"differently cased key", strings.Replace(orderBody(), `"orderId"`, `"OrderId"`, 1), nil, 400, CodeInvalidField, "OrderId"},
		{"duplicate key", strings.Replace(orderBody(), `{`, `{"orderId":"o-2",`, 1), nil, 400, CodeInvalidField, "orderId"},
		{"trailing object", orderBody() + `{}`, nil, 400, CodeInvalidJSON, ""},
		{"trailing garbage", orderBody() + `x`, nil, 400, CodeInvalidJSON, ""},
		{"truncated", `{"orderId":`, nil, 400, CodeInvalidJSON, "orderId"},
		{"syntax error", `{"orderId" "o-1"}`, nil, 400, CodeInvalidJSON, "orderId"},
		{"array body", `[]`, nil, 400, CodeInvalidJSON, ""},
		{"null body", `null`, nil, 400, CodeInvalidJSON, ""},
		{"whitespace body", `   `, nil, 400, CodeInvalidJSON, ""},
		{"invalid UTF-8", "{\"orderId\":\"o-\xff\"}", nil, 400, CodeInvalidJSON, ""},
		{"text/plain", orderBody(), map[string]string{"Content-Type": "text/plain"}, 415, CodeUnsupportedMediaType, ""},
		{"form", orderBody(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, CodeUnsupportedMediaType, ""},
		{"latin1 charset", orderBody(), map[string]string{"Content-Type": "application/json; charset=latin1"}, 415, CodeUnsupportedMediaType, ""},
		{"utf-8 charset accepted", orderBody("QTY", "0"), map[string]string{"Content-Type": "application/json; charset=UTF-8"}, 400, CodeInvalidField, "quantity"},
		{"over the limit", `{"orderId":"` + strings.Repeat("a", 3000) + `"}`, nil, 413, CodeBodyTooLarge, ""},
		{"other customer", strings.Replace(orderBody(), `"cust-1"`, `"cust-2"`, 1), nil, 403, CodeForbidden, ""},
		{"seller places", orderBody(), seller("seller-1"), 403, CodeForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := merge(buyer("cust-1"), tt.hdr)
			rec := h.do(t, http.MethodPost, "/v1/orders", tt.body, hdr)
			wantProblem(t, rec, tt.status, tt.code, tt.field)
		})
	}
}

func TestBodyWithoutContentLengthOverLimit(t *testing.T) {
	h := newHarness(t, nil)
	req := httptest.NewRequest(http.MethodPost, "/v1/orders", strings.NewReader(`{"orderId":"`+strings.Repeat("a", 5000)+`"}`))
	req.ContentLength = -1 // chunked: only the reader can stop it
	req.Header.Set("Content-Type", "application/json")
	for k, v := range buyer("cust-1") {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.e.ServeHTTP(rec, req)
	wantProblem(t, rec, http.StatusRequestEntityTooLarge, CodeBodyTooLarge, "")
}

func TestMissingContentType(t *testing.T) {
	h := newHarness(t, nil)
	rec := h.do(t, http.MethodPost, "/v1/orders", orderBody(), merge(buyer("cust-1"), map[string]string{"Content-Type": ""}))
	wantProblem(t, rec, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "")
}

// TestCatalogueValidation covers the PUTs: bad input never reaches the database.
func TestCatalogueValidation(t *testing.T) {
	h := newHarness(t, nil)
	const okSeller = `{"name":"S","endpoint":"https://seller.example/produce","accessKey":"key-12345678"}`
	product := func(replace ...string) string {
		b := `{"sellerId":"s-1","name":"P","type":TYPE,"billingMode":MODE,"commissionRate":RATE,"acceptanceCriteria":"works"LISTED}`
		r := map[string]string{"TYPE": `"saas"`, "MODE": `"monthly"`, "RATE": "1500", "LISTED": ""}
		for i := 0; i+1 < len(replace); i += 2 {
			r[replace[i]] = replace[i+1]
		}
		for k, v := range r {
			b = strings.Replace(b, k, v, 1)
		}
		return b
	}
	tests := []struct {
		name   string
		path   string
		body   string
		status int
		code   string
		field  string
	}{
		{"seller: bad path id", "/v1/sellers/" + strings.Repeat("x", 65), okSeller, 400, CodeInvalidField, "sellerId"},
		{"seller: path id with dot", "/v1/sellers/s.1", okSeller, 400, CodeInvalidField, "sellerId"},
		{"seller: missing name", "/v1/sellers/s-1", `{"endpoint":"https://a.example","accessKey":"key-12345678"}`, 400, CodeInvalidField, "name"},
		{"seller: name with newline", "/v1/sellers/s-1", `{"name":"a\nb","endpoint":"https://a.example","accessKey":"key-12345678"}`, 400, CodeInvalidField, "name"},
		{"seller: ftp endpoint", "/v1/sellers/s-1", `{"name":"S","endpoint":"ftp://a.example/x","accessKey":"key-12345678"}`, 400, CodeInvalidField, "endpoint"},
		{"seller: http to a public host", "/v1/sellers/s-1", `{"name":"S","endpoint":"http://a.example/x","accessKey":"key-12345678"}`, 400, CodeInvalidField, "endpoint"},
		{"seller: relative endpoint", "/v1/sellers/s-1", `{"name":"S","endpoint":"/produce","accessKey":"key-12345678"}`, 400, CodeInvalidField, "endpoint"},
		{"seller: endpoint without host", "/v1/sellers/s-1", `{"name":"S","endpoint":"https://","accessKey":"key-12345678"}`, 400, CodeInvalidField, "endpoint"},
		{"seller: endpoint with user info", "/v1/sellers/s-1", `{"name":"S","endpoint":"https://u:p@a.example/x","accessKey":"key-12345678"}`, 400, CodeInvalidField, "endpoint"},
		{"seller: short key", "/v1/sellers/s-1", `{"name":"S","endpoint":"https://a.example","accessKey":"short"}`, 400, CodeInvalidField, "accessKey"},
		{"seller: key with space", "/v1/sellers/s-1", `{"name":"S","endpoint":"https://a.example","accessKey":"key 12345678"}`, 400, CodeInvalidField, "accessKey"},
		{"seller: key not a string", "/v1/sellers/s-1", `{"name":"S","endpoint":"https://a.example","accessKey":12345678}`, 400, CodeInvalidField, "accessKey"},
		{"seller: verifyBodySign string", "/v1/sellers/s-1", `{"name":"S","endpoint":"https://a.example","verifyBodySign":"yes"}`, 400, CodeInvalidField, "verifyBodySign"},
		{"seller: unknown field", "/v1/sellers/s-1", `{"name":"S","endpoint":"https://a.example","key":"key-12345678"}`, 400, CodeInvalidField, "key"},
		{"product: missing sellerId", "/v1/products/p-1", strings.Replace(product(), `"sellerId":"s-1",`, "", 1), 400, CodeInvalidField, "sellerId"},
		{"product: bad type", "/v1/products/p-1", product("TYPE", `"saas2"`), 400, CodeInvalidField, "type"},
		{"product: bad billing mode", "/v1/products/p-1", product("MODE", `"weekly"`), 400, CodeInvalidField, "billingMode"},
		{"product: rate over 100%", "/v1/products/p-1", product("RATE", "10001"), 400, CodeInvalidField, "commissionRate"},
		{"product: negative rate", "/v1/products/p-1", product("RATE", "-1"), 400, CodeInvalidField, "commissionRate"},
		{"product: fractional rate", "/v1/products/p-1", product("RATE", "15.5"), 400, CodeInvalidField, "commissionRate"},
		{"product: string rate", "/v1/products/p-1", product("RATE", `"1500"`), 400, CodeInvalidField, "commissionRate"},
		{"product: missing rate", "/v1/products/p-1", strings.Replace(product(), `"commissionRate":1500,`, "", 1), 400, CodeInvalidField, "commissionRate"},
		{"product: missing criteria", "/v1/products/p-1", strings.Replace(product(), `,"acceptanceCriteria":"works"`, "", 1), 400, CodeInvalidField, "acceptanceCriteria"},
		{"product: listed string", "/v1/products/p-1", product("LISTED", `,"listed":"true"`), 400, CodeInvalidField, "listed"},
		{"product: bad path id", "/v1/products/p!1", product(), 400, CodeInvalidField, "productId"},
		{"customer: unknown level", "/v1/customers/c-1", `{"level":"diamond"}`, 400, CodeInvalidField, "level"},
		{"customer: missing level", "/v1/customers/c-1", `{}`, 400, CodeInvalidField, "level"},
		{"customer: numeric level", "/v1/customers/c-1", `{"level":5}`, 400, CodeInvalidField, "level"},
		{"customer: a level of before V0-V5", "/v1/customers/c-1", `{"level":"gold"}`, 400, CodeInvalidField, "level"},
		{"customer: extra field", "/v1/customers/c-1", `{"level":"V3","vip":true}`, 400, CodeInvalidField, "vip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := h.do(t, http.MethodPut, tt.path, tt.body, opsBy("alice"))
			wantProblem(t, rec, tt.status, tt.code, tt.field)
		})
	}
}

// TestCheckEndpoint: registration applies the seller endpoint rule, resolving the host.
func TestCheckEndpoint(t *testing.T) {
	public := newHarness(t, nil, func(c *config.Config) { c.SellerEndpoints = config.SellerEndpointsPublic })
	dev := newHarness(t, nil)
	tests := []struct {
		url         string
		public, dev bool
	}{
		{"https://93.184.216.34/produce", true, true},
		{"http://127.0.0.1:8090/sellers/x/produce", false, true},
		{"http://localhost:8090/x", false, true},
		{"https://localhost:8090/x", false, true},
		{"http://[::1]:8090/x", false, true},
		{"https://10.0.0.1/x", false, true},
		{"http://169.254.169.254/latest/meta-data", false, false},
		{"https://[fd00:ec2::254]/", false, false},
		{"https://seller.invalid/x", false, false},
		{"https://93.184.216.34/x#frag", false, false},
		{"https://u:p@93.184.216.34/x", false, false},
		{"mailto:a@b", false, false},
		{"ftp://93.184.216.34/x", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		if got := public.srv.s.checkEndpoint(context.Background(), tt.url) == nil; got != tt.public {
			t.Errorf("public: checkEndpoint(%q) ok = %v, want %v", tt.url, got, tt.public)
		}
		if got := dev.srv.s.checkEndpoint(context.Background(), tt.url) == nil; got != tt.dev {
			t.Errorf("development: checkEndpoint(%q) ok = %v, want %v", tt.url, got, tt.dev)
		}
	}
}

func TestListValidation(t *testing.T) {
	h := newHarness(t, nil)
	tests := []struct {
		name   string
		query  string
		hdr    map[string]string
		status int
		code   string
		field  string
	}{
		{"limit zero", "limit=0", opsBy("alice"), 400, CodeInvalidField, "limit"},
		{"limit over max", "limit=201", opsBy("alice"), 400, CodeInvalidField, "limit"},
		{"limit not a number", "limit=ten", opsBy("alice"), 400, CodeInvalidField, "limit"},
		{"unknown status", "status=shipped", opsBy("alice"), 400, CodeInvalidField, "status"},
		{"bad sellerId", "sellerId=a%20b", opsBy("alice"), 400, CodeInvalidField, "sellerId"},
		{"unknown parameter", "sort=asc", opsBy("alice"), 400, CodeInvalidField, "sort"},
		{"repeated parameter", "status=completed&status=released", opsBy("alice"), 400, CodeInvalidField, "status"},
		{"forged cursor", "cursor=bm90LWEtY3Vyc29y", opsBy("alice"), 400, CodeInvalidField, "cursor"},
		{"garbage cursor", "cursor=%25%25", opsBy("alice"), 400, CodeInvalidField, "cursor"},
		{"ops reads without actor id", "limit=0", map[string]string{"Authorization": "Bearer " + opsToken}, 400, CodeInvalidField, "limit"},
		{"billing reads", "limit=0", billingCaller(), 400, CodeInvalidField, "limit"},
		{"buyer lists another customer", "customerId=cust-2", buyer("cust-1"), 403, CodeForbidden, ""},
		{"seller lists another seller", "sellerId=s-2", seller("s-1"), 403, CodeForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := h.do(t, http.MethodGet, "/v1/orders?"+tt.query, "", tt.hdr)
			wantProblem(t, rec, tt.status, tt.code, tt.field)
		})
	}
}

func TestPathIDValidation(t *testing.T) {
	h := newHarness(t, nil)
	for _, tt := range []struct{ method, path, field string }{
		{http.MethodGet, "/v1/orders/a.b", "orderId"},
		{http.MethodGet, "/v1/orders/" + strings.Repeat("o", 65) + "/events", "orderId"},
		{http.MethodPost, "/v1/orders/%C3%A9/retry", "orderId"},
		{http.MethodGet, "/v1/products/p~1", "productId"},
	} {
		rec := h.do(t, tt.method, tt.path, "", opsBy("alice"))
		wantProblem(t, rec, http.StatusBadRequest, CodeInvalidField, tt.field)
	}
}

// TestOpsActionValidation: every ops action's body is checked before the order is read
// (the harness has no database nor Temporal), each bad field named.
func TestOpsActionValidation(t *testing.T) {
	h := newHarness(t, nil)
	long := strings.Repeat("x", 2001)
	tests := []struct {
		name, path, body, field string
	}{
		{"cancel without reason", "/v1/orders/o-1/cancellation", `{}`, "reason"},
		{"cancel with an empty reason", "/v1/orders/o-1/cancellation", `{"reason":""}`, "reason"},
		{"cancel with a reason too long", "/v1/orders/o-1/cancellation", `{"reason":"` + long + `"}`, "reason"},
		{"cancel with a control character", "/v1/orders/o-1/cancellation", `{"reason":"a\u0000b"}`, "reason"},
		{"cancel with a negative refund", "/v1/orders/o-1/cancellation", `{"reason":"x","refund":{"value":-1,"currency":"CNY"}}`, "refund.value"},
		{"cancel with a fractional refund", "/v1/orders/o-1/cancellation", `{"reason":"x","refund":{"value":1.5,"currency":"CNY"}}`, "refund.value"},
		{"cancel with a bad currency", "/v1/orders/o-1/cancellation", `{"reason":"x","refund":{"value":1,"currency":"yuan"}}`, "refund.currency"},
		{"force-accept with an unknown field", "/v1/orders/o-1/forced-acceptance", `{"reason":"x","by":"me"}`, "by"},
		{"unfreeze without reason", "/v1/orders/o-1/unfreeze", `{}`, "reason"},
		{"refreeze without body", "/v1/orders/o-1/refreeze", ``, ""},
		{"extend an unknown clock", "/v1/orders/o-1/clock-extensions", `{"reason":"x","clock":"expire","by":"1d"}`, "clock"},
		{"extend by nothing", "/v1/orders/o-1/clock-extensions", `{"reason":"x","clock":"auto_accept","by":"0d"}`, "by"},
		{"extend by a week in weeks", "/v1/orders/o-1/clock-extensions", `{"reason":"x","clock":"auto_accept","by":"1w"}`, "by"},
		{"extend by a year", "/v1/orders/o-1/clock-extensions", `{"reason":"x","clock":"auto_accept","by":"365d"}`, "by"},
		{"extend by a Go duration", "/v1/orders/o-1/clock-extensions", `{"reason":"x","clock":"auto_accept","by":"1h30m"}`, "by"},
		{"close an appeal without a note", "/v1/appeals/AP1/closure", `{}`, "note"},
		{"appeal on behalf of billing", "/v1/orders/o-1/appeals", `{"reason":"x","onBehalfOf":"billing"}`, "onBehalfOf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := h.do(t, http.MethodPost, tt.path, tt.body, opsBy("alice"))
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
			}
			var p Problem
			decodeInto(t, rec, &p)
			if tt.field != "" && p.Field != tt.field {
				t.Errorf("field %q, want %q (%s)", p.Field, tt.field, p.Detail)
			}
		})
	}
	t.Run("attention list", func(t *testing.T) {
		for q, field := range map[string]string{"cause=late": "cause", "sellerId=a%20b": "sellerId", "limit=0": "limit", "cursor=bm9wZQ": "cursor"} {
			rec := h.do(t, http.MethodGet, "/v1/attention?"+q, "", opsBy("alice"))
			wantProblem(t, rec, http.StatusBadRequest, CodeInvalidField, field)
		}
	})
}

func TestParseExtension(t *testing.T) {
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, "90m": 90 * time.Minute, "36h": 36 * time.Hour, "2d": 48 * time.Hour, "90d": 90 * 24 * time.Hour} {
		if got, err := parseExtension(in); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "0h", "-1h", "91d", "1w", "1.5h", "99999999999999999999h"} {
		if _, err := parseExtension(in); err == nil {
			t.Errorf("%q taken", in)
		}
	}
}
