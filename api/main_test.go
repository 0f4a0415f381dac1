package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/mocks"

	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/policy"
	"github.com/cloudmarket/orders/internal/testkit"
)

// testPool is the migrated database of the database tests; nil when none could be started
// (then those tests skip, unless DATABASE_URL was set, which makes a failure fatal).
var testPool *pgxpool.Pool

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	flag.Parse()
	// Fuzzing (make fuzz-smoke) needs no database, and every fuzz worker runs TestMain.
	fuzzing := flag.Lookup("test.fuzz").Value.String() != "" || flag.Lookup("test.fuzzworker").Value.String() == "true"
	if testing.Short() || fuzzing {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, pool, stop, err := testkit.MigratedDB(ctx, 0)
	if err != nil {
		if os.Getenv("DATABASE_URL") != "" {
			fmt.Fprintf(os.Stderr, "api tests: database from DATABASE_URL: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "api tests: no PostgreSQL (%v); database tests will skip\n", err)
		return m.Run()
	}
	defer stop()
	testPool = pool
	return m.Run()
}

func needDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	if testPool == nil {
		t.Skip("no PostgreSQL for this run")
	}
	return testPool
}

// Tokens of the test configuration.
const (
	webToken     = "web-token-123"
	opsToken     = "ops-token-456"
	billingToken = "billing-token-789"
)

// testNow is the fixed clock of every test server.
var testNow = time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)

type harness struct {
	clock *testkit.Clock
	srv   *Server
	e     *echo.Echo
	tc    *mocks.Client
	reg   *prometheus.Registry
	logs  *testkit.SyncBuffer
	cfg   *config.Config
}

// newHarness builds the API over a mock Temporal client (no expectations: any call the
// test did not set up fails it) and db, which may be nil for tests that must not reach
// the database.
func newHarness(t *testing.T, db *pgxpool.Pool, opts ...func(*config.Config)) *harness {
	t.Helper()
	h := &harness{
		clock: testkit.NewClock(testNow),
		tc:    mocks.NewClient(t),
		reg:   prometheus.NewRegistry(),
		logs:  &testkit.SyncBuffer{},
		cfg: &config.Config{
			APITokens: map[string]config.Role{
				webToken: config.RoleWeb, opsToken: config.RoleOps, billingToken: config.RoleBilling,
			},
			APIMaxBodyBytes:   2048,
			APIReadTimeout:    10 * time.Second,
			TaskQueue:         "orders-test",
			TemporalNamespace: "default",
			SellerEndpoints:   config.SellerEndpointsDevelopment,
			IdempotencyTTL:    24 * time.Hour,
			Keys:              testKeys,
		},
	}
	for _, o := range opts {
		o(h.cfg)
	}
	h.srv = New(Deps{
		Temporal: h.tc, DB: db, Policy: policy.Default(), Config: h.cfg, Registry: h.reg,
		Logger: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    h.clock.Now,
	})
	h.e = h.srv.e
	return h
}

// testKeys seals the access keys the tests register.
var testKeys = testkit.Keyring("test-1")

// callerKey is caller.key() of a token's user, as the API derives it.
func callerKey(token, kind, id string) string {
	role := map[string]config.Role{webToken: config.RoleWeb, opsToken: config.RoleOps, billingToken: config.RoleBilling}[token]
	sum := sha256.Sum256([]byte(token))
	return caller{Role: role, Kind: order.ActorKind(kind), ID: id, TokenID: hex.EncodeToString(sum[:6])}.key()
}

// Header sets for the callers of the tests.
func buyer(id string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + webToken, headerActorRole: "buyer", headerActorID: id}
}

func seller(id string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + webToken, headerActorRole: "seller", headerActorID: id}
}

func opsBy(id string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + opsToken, headerActorID: id}
}

func billingCaller() map[string]string {
	return map[string]string{"Authorization": "Bearer " + billingToken}
}

// do sends a request; a non-empty body goes as application/json unless hdr says otherwise.
func (h *harness) do(t *testing.T, method, path, body string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.e.ServeHTTP(rec, req)
	return rec
}

// wantProblem checks that rec is an RFC 7807 problem of this status, code and field.
func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, code, field string) Problem {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body: %s", rec.Code, status, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var raw map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatalf("problem body is not JSON: %v: %s", err, rec.Body.String())
	}
	for _, k := range []string{"type", "title", "status", "detail", "code", "instance"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("problem lacks %q: %s", k, rec.Body.String())
		}
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != status || p.Code != code || p.Field != field {
		t.Fatalf("problem = (%d, %q, field %q), want (%d, %q, field %q); detail: %s",
			p.Status, p.Code, p.Field, status, code, field, p.Detail)
	}
	if p.Type != problemTypePrefix+code || p.Title == "" || p.Detail == "" || p.Instance == "" {
		t.Errorf("incomplete problem: %+v", p)
	}
	if p.RequestID == "" || p.RequestID != rec.Header().Get(headerRequestID) {
		t.Errorf("requestId %q does not match X-Request-Id %q", p.RequestID, rec.Header().Get(headerRequestID))
	}
	return p
}

func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body: %s", rec.Code, status, rec.Body.String())
	}
}

func decodeInto(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("decode %s: %v", rec.Body.String(), err)
	}
}

// merge returns a copy of a with b's entries set over it.
func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
