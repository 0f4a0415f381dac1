package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/cloudmarket/orders/internal/config"
)

// hostileBody is a body of about 48 KB (under the 64 KiB limit) shaped to make a decoder
// work, and what the API must answer: the status, code and the start of the field named.
type hostileBody struct {
	name        string
	body        string
	code, field string // field: the problem's field starts with it
}

func hostileBodies() []hostileBody {
	const n = 24000
	var distinct strings.Builder
	distinct.WriteString("{")
	for i := range 5000 {
		fmt.Fprintf(&distinct, `"k%d":1,`, i)
	}
	distinct.WriteString(`"z":1}`)
	return []hostileBody{
		{"nested arrays", `{"orderId":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`, CodeInvalidJSON, "orderId[0]"},
		{"nested objects", strings.Repeat(`{"orderId":`, 4000) + "1" + strings.Repeat("}", 4000), CodeInvalidJSON, "orderId.orderId"},
		{"long string", `{"orderId":"` + strings.Repeat("x", 48000) + `"}`, CodeInvalidField, "orderId"},
		{"long escapes", `{"orderId":"` + strings.Repeat(`\u00e9`, 8000) + `"}`, CodeInvalidField, "orderId"},
		{"repeated key", "{" + strings.Repeat(`"orderId":"a",`, 4000) + `"z":1}`, CodeInvalidField, "orderId"},
		{"many unknown keys", distinct.String(), CodeInvalidField, "k0"},
		{"huge number", `{"quantity":` + strings.Repeat("9", 48000) + `}`, CodeInvalidField, "quantity"},
		{"huge exponent", `{"quantity":1e999999999}`, CodeInvalidField, "quantity"},
		{"invalid UTF-8", `{"orderId":"` + strings.Repeat("\xff", 48000) + `"}`, CodeInvalidJSON, ""},
		{"many elements", `{"orderId":[` + strings.Repeat(`1,`, 20000) + `1]}`, CodeInvalidField, "orderId"},
	}
}

// hostileTargets are the operations that take a body, with a caller allowed to call them.
var hostileTargets = []struct {
	method, path string
	hdr          func() map[string]string
}{
	{http.MethodPost, "/v1/orders", func() map[string]string { return buyer("cust-1") }},
	{http.MethodPut, "/v1/sellers/s-1", func() map[string]string { return opsBy("alice") }},
	{http.MethodPut, "/v1/products/p-1", func() map[string]string { return opsBy("alice") }},
	{http.MethodPut, "/v1/customers/c-1", func() map[string]string { return opsBy("alice") }},
	{http.MethodPost, "/v1/sellers/s-1/key-rotations", func() map[string]string { return opsBy("alice") }},
	{http.MethodPut, "/v1/sellers/s-1/limits", func() map[string]string { return opsBy("alice") }},
	{http.MethodPost, "/v1/orders/o-1/acceptance", func() map[string]string { return buyer("cust-1") }},
	{http.MethodPost, "/v1/orders/o-1/retry", func() map[string]string { return opsBy("alice") }},
	{http.MethodPost, "/v1/orders/o-1/cancellation", func() map[string]string { return opsBy("alice") }},
	{http.MethodPost, "/v1/orders/o-1/clock-extensions", func() map[string]string { return opsBy("alice") }},
	{http.MethodPost, "/v1/appeals/AP1/closure", func() map[string]string { return opsBy("alice") }},
	{http.MethodPost, "/v1/health-checks/runs", func() map[string]string { return opsBy("alice") }},
	{http.MethodPost, "/v1/orders/o-1/restart", func() map[string]string { return opsBy("alice") }},
	{http.MethodPut, "/v1/subscribers/sub-1", func() map[string]string { return opsBy("alice") }},
	{http.MethodPost, "/v1/subscribers/sub-1/replay", func() map[string]string { return opsBy("alice") }},
	{http.MethodPost, "/v1/sellers/s-1/conformance-runs", func() map[string]string { return opsBy("alice") }},
}

// TestHostileBodies: every body-taking operation answers each hostile body with a 400 that
// names the field, before any database or Temporal call (the harness has neither), and one
// such request allocates at most a few MB (the nested-array body once took 900 MB).
func TestHostileBodies(t *testing.T) {
	h := newHarness(t, nil, func(c *config.Config) { c.APIMaxBodyBytes = 64 << 10 })
	const perRequestBound = 4 << 20
	for _, target := range hostileTargets {
		for _, b := range hostileBodies() {
			t.Run(target.path+" "+b.name, func(t *testing.T) {
				rec := h.do(t, target.method, target.path, b.body, target.hdr())
				if rec.Code != http.StatusBadRequest {
					t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
				}
				var p Problem
				decodeInto(t, rec, &p)
				if p.Code != b.code && !(b.code == CodeInvalidField && p.Code == CodeInvalidJSON) {
					t.Errorf("code %q, want %q: %s", p.Code, b.code, p.Detail)
				}
				// Where the member is not one of the operation's, the problem names it as
				// unknown; either way the field is the member the body is bad at.
				if !strings.HasPrefix(p.Field, b.field) {
					t.Errorf("field %q, want it to start with %q (%s)", p.Field, b.field, p.Detail)
				}
				if len(p.Field) > 400 || len(p.Detail) > 600 {
					t.Errorf("problem of %d/%d bytes: it must not grow with the body", len(p.Field), len(p.Detail))
				}
			})
		}
	}
	t.Run("memory per request", func(t *testing.T) {
		for _, b := range hostileBodies() {
			if per := allocatedPerRequest(t, h, b.body); per > perRequestBound {
				t.Errorf("%s: %d bytes allocated per request, bound %d", b.name, per, perRequestBound)
			} else {
				t.Logf("%s: %d KB allocated per request", b.name, per>>10)
			}
		}
	})
	t.Run("four at once", func(t *testing.T) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 5 {
					h.do(t, http.MethodPost, "/v1/orders", hostileBodies()[0].body, buyer("cust-1"))
				}
			})
		}
		wg.Wait()
		runtime.ReadMemStats(&after)
		if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 64<<20 {
			t.Errorf("the heap grew by %d MB under four concurrent attacks", grown>>20)
		}
	})
}

// allocatedPerRequest measures the bytes one POST /v1/orders with body allocates.
func allocatedPerRequest(t *testing.T, h *harness, body string) uint64 {
	t.Helper()
	h.do(t, http.MethodPost, "/v1/orders", body, buyer("cust-1")) // warm up
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const runs = 5
	for range runs {
		h.do(t, http.MethodPost, "/v1/orders", body, buyer("cust-1"))
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / runs
}

// BenchmarkHostileRequests: time and memory of one hostile POST /v1/orders through the whole
// HTTP stack, against a well-formed invalid one (make bench reports both).
func BenchmarkHostileRequests(b *testing.B) {
	h := newHarness(&testing.T{}, nil, func(c *config.Config) { c.APIMaxBodyBytes = 64 << 10 })
	bodies := append([]hostileBody{{name: "baseline: small invalid order", body: orderBody("QTY", "0")}}, hostileBodies()...)
	for _, hb := range bodies {
		b.Run(hb.name, func(b *testing.B) {
			b.SetBytes(int64(len(hb.body)))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/v1/orders", strings.NewReader(hb.body))
				req.Header.Set("Content-Type", "application/json")
				for k, v := range buyer("cust-1") {
					req.Header.Set(k, v)
				}
				h.e.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
}

// TestRepeatedHeaders: a single-valued header sent twice is refused before anything reads
// it, whichever value would have won.
func TestRepeatedHeaders(t *testing.T) {
	h := newHarness(t, nil)
	for _, name := range []string{"Authorization", headerActorRole, headerActorID, headerIdempotencyKey, "Content-Type",
		headerSellerID, headerSignature, headerTimestamp, headerNonce} {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/v1/orders/o-1/acceptance", nil)
			for k, v := range buyer("cust-1") {
				req.Header.Set(k, v)
			}
			first := req.Header.Get(name)
			if first == "" {
				first = "value-1"
			}
			req.Header[name] = []string{first, "value-2"}
			rec := httptest.NewRecorder()
			h.e.ServeHTTP(rec, req)
			wantProblem(t, rec, http.StatusBadRequest, CodeInvalidField, name)
		})
	}
}
