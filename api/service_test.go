package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/common/expfmt"

	"github.com/cloudmarket/orders/internal/order"
)

// TestEchoErrorsAreProblems: what Echo's router refuses by itself still leaves as a
// problem document with a stable code.
func TestEchoErrorsAreProblems(t *testing.T) {
	h := newHarness(t, nil)
	rec := h.do(t, http.MethodGet, "/nope", "", nil)
	p := wantProblem(t, rec, http.StatusNotFound, CodeNotFound, "")
	if p.Instance != "/nope" {
		t.Errorf("instance = %q, want /nope", p.Instance)
	}
	rec = h.do(t, http.MethodDelete, "/v1/orders", "", opsBy("alice"))
	wantProblem(t, rec, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "")
	if allow := rec.Header().Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow = %q, want GET and POST", allow)
	}
	rec = h.do(t, http.MethodHead, "/nope", "", nil)
	if rec.Code != http.StatusNotFound || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d bytes, want 404 without body", rec.Code, rec.Body.Len())
	}
}

func TestRequestID(t *testing.T) {
	h := newHarness(t, nil)
	rec := h.do(t, http.MethodGet, "/nope", "", map[string]string{headerRequestID: "abc-123"})
	if got := rec.Header().Get(headerRequestID); got != "abc-123" {
		t.Errorf("X-Request-Id = %q, want the caller's abc-123", got)
	}
	wantProblem(t, rec, http.StatusNotFound, CodeNotFound, "")
	rec = h.do(t, http.MethodGet, "/healthz", "", map[string]string{headerRequestID: "bad id\twith tab"})
	if got := rec.Header().Get(headerRequestID); !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(got) {
		t.Errorf("X-Request-Id = %q, want a generated UUID", got)
	}
}

func TestRecoverIsAProblem(t *testing.T) {
	h := newHarness(t, nil)
	h.e.GET("/boom", func(echo.Context) error { panic("kaboom") })
	rec := h.do(t, http.MethodGet, "/boom", "", nil)
	wantProblem(t, rec, http.StatusInternalServerError, CodeInternal, "")
	logs := h.logs.String()
	if !strings.Contains(logs, "kaboom") || !strings.Contains(logs, "goroutine") {
		t.Errorf("panic not logged with its stack: %s", logs)
	}
	if strings.Contains(rec.Body.String(), "kaboom") {
		t.Errorf("panic value leaked to the client: %s", rec.Body.String())
	}
}

func TestHealthAndReadiness(t *testing.T) {
	h := newHarness(t, nil)
	wantStatus(t, h.do(t, http.MethodGet, "/healthz", "", nil), http.StatusOK)
	// No database: not ready, and saying so as a problem.
	wantProblem(t, h.do(t, http.MethodGet, "/readyz", "", nil), http.StatusServiceUnavailable, CodeUnavailable, "")
}

// TestMetrics: the request histogram uses route templates and a bounded "unmatched" label,
// and lands in the process's registry; the API itself never serves /metrics (it is on its
// own listener, METRICS_ADDR).
func TestMetrics(t *testing.T) {
	h := newHarness(t, nil)
	h.do(t, http.MethodGet, "/v1/orders/a.b", "", opsBy("alice"))
	h.do(t, http.MethodGet, "/healthz", "", nil)
	for i := range 3 {
		h.do(t, http.MethodGet, "/random/"+strings.Repeat("x", i+1), "", nil)
	}
	wantProblem(t, h.do(t, http.MethodGet, "/metrics", "", nil), http.StatusNotFound, CodeNotFound, "")
	var out strings.Builder
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&out, mf); err != nil {
			t.Fatal(err)
		}
	}
	for _, line := range []string{
		`api_request_duration_seconds_count{method="GET",route="/v1/orders/:orderId",status="400"} 1`,
		`api_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 1`,
		`api_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 4`,
	} {
		if !strings.Contains(out.String(), line+"\n") {
			t.Errorf("metrics lack %s\n%s", line, out.String())
		}
	}
	if strings.Contains(out.String(), "/random/") {
		t.Error("an unmatched path became a label value")
	}
	// A second API on the same registry reuses the collectors instead of panicking.
	_ = New(Deps{Config: h.cfg, Registry: h.reg})
}

// TestOpenAPIMatchesRoutes: the served document is the embedded one, and the router holds
// exactly its operations (New registers them from it, and refuses a handler without one).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t, nil)
	rec := h.do(t, http.MethodGet, "/openapi.json", "", nil)
	wantStatus(t, rec, http.StatusOK)
	if !bytes.Equal(rec.Body.Bytes(), h.srv.s.contract.json) {
		t.Fatal("GET /openapi.json does not serve the contract")
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0") {
		t.Errorf("openapi = %q, want 3.0.x", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	param := regexp.MustCompile(`:([A-Za-z0-9_]+)`)
	var routed []string
	for _, r := range h.e.Routes() {
		routed = append(routed, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(documented)
	slices.Sort(routed)
	if !slices.Equal(documented, routed) {
		t.Errorf("openapi.json and the router differ\ndocumented: %v\nrouted:     %v", documented, routed)
	}
}

// TestOpenAPIEnums: the enums the document publishes are the vocabulary's.
func TestOpenAPIEnums(t *testing.T) {
	ct, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	enum := func(schema string) []string {
		var out []string
		for _, v := range ct.doc.Components.Schemas[schema].Value.Enum {
			out = append(out, v.(string))
		}
		return out
	}
	var statuses []string
	for _, s := range order.Statuses {
		statuses = append(statuses, string(s))
	}
	if got := enum("OrderStatus"); !sameSet(got, statuses) {
		t.Errorf("OrderStatus enum = %v, want %v", got, statuses)
	}
	var codes []string
	for _, v := range ct.doc.Components.Schemas["Problem"].Value.Properties["code"].Value.Enum {
		codes = append(codes, v.(string))
	}
	for code := range titles {
		if !slices.Contains(codes, code) {
			t.Errorf("problem code %q is not in the Problem.code enum", code)
		}
	}
	if len(codes) != len(titles) {
		t.Errorf("Problem.code enum has %d codes, the code has %d", len(codes), len(titles))
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestCursorRoundTrip(t *testing.T) {
	in := listCursor{PlacedAt: time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.FixedZone("x", 3600)), OrderID: "o_1-A"}
	s := encodeCursor(in)
	if strings.ContainsAny(s, "+/=") {
		t.Errorf("cursor %q is not unpadded base64url", s)
	}
	out, err := decodeCursor(s)
	if err != nil {
		t.Fatal(err)
	}
	if !out.PlacedAt.Equal(in.PlacedAt) || out.OrderID != in.OrderID {
		t.Errorf("round trip: %+v, want %+v", out, in)
	}
	for _, bad := range []string{
		"", "!!", s + "x", s[:len(s)-2],
		encodeRaw(`{"t":"2030-01-01T00:00:00Z"}`),
		encodeRaw(`{"t":"2030-01-01T00:00:00Z","o":"a b"}`),
		encodeRaw(`{"t":"2030-01-01T00:00:00Z","o":"a","x":1}`),
		encodeRaw(`{"o":"a"}`),
		encodeRaw(`{"t":"2030-01-01T00:00:00Z","o":"a"} {}`),
	} {
		if _, err := decodeCursor(bad); err == nil {
			t.Errorf("decodeCursor(%q) accepted a cursor encodeCursor cannot make", bad)
		}
	}
}

func encodeRaw(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
