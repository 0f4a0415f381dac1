// Package e2e holds the integration tests and the benchmark that run the order service
// through real parts: a Temporal server (in process, in-memory SQLite), a throwaway
// PostgreSQL cluster, the seller simulator over real HTTP, the real worker and the real API.
// One stack is started per package in TestMain and shared by every test, because linking
// and starting the server is the expensive part; tests isolate themselves by using their own
// seller, product and order IDs.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/api"
	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/dev/sellersim"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/policy"
	"github.com/cloudmarket/orders/internal/searchattr"
	"github.com/cloudmarket/orders/internal/secrets"
	"github.com/cloudmarket/orders/internal/sellerapi"
	"github.com/cloudmarket/orders/internal/temporalx"
	"github.com/cloudmarket/orders/internal/testkit"
	"github.com/cloudmarket/orders/worker"
)

// testPolicy keeps every clock short enough for a test to watch a whole order life, and the
// acceptance window long enough that the test, not the timer, accepts.
const testPolicy = `
timeScale: 1
seller:
  newInstance: {interval: 300ms, window: 6s}
  poll: {interval: 100ms, window: 6s}
  calls: {interval: 100ms, window: 3s}
  perSeller: {callsPerSecond: 20, concurrency: 4}
  # s-bench: the throughput benchmark measures the engine and the code, not a seller's
  # pacing (BenchmarkMassFreeze does that).
  sellers: {s-bench-freeze: {callsPerSecond: 50, concurrency: 8}, s-bench: {callsPerSecond: 5000, concurrency: 200}}
supervision:
  acceptanceWindow: {saas: 10m, license: 10m, package: 10m, hardware: 10m, service: 10m}
  refundHold: 3s
  rejectionLimit: 3
  deploymentSLA: 10m
  redeliverySLA: 10m
  licenseWait: 10m
  activationWindow: 5s
  firstDeliverySLA: 10m
  shipmentSLA: 10m
  signoffSLA: 10m
appeals:
  tiers: [10m, 10m]
  lastTierSLA: 10m
  maxPerOrder: 3
history:
  maxEventsPerRun: 300
settlement: {statementDay: 3, statementHour: 2}
health: {hour: 1, failingDays: 5, failingDayShare: 0.5, monthlyFailedOrders: 5}
defaultLevel: V2
levels:
  V5: {subscription: {grace: 300ms, retention: 8s}, payPerUse: {grace: 300ms, retention: 300ms}}
  V4: {subscription: {grace: 300ms, retention: 300ms}, payPerUse: {grace: 0s, retention: 10m}}
  V3: {subscription: {grace: 300ms, retention: 300ms}, payPerUse: {grace: 300ms, retention: 300ms}}
  V2: {subscription: {grace: 300ms, retention: 300ms}, payPerUse: {grace: 0s, retention: 300ms}}
  V1: {subscription: {grace: 300ms, retention: 300ms}, payPerUse: {grace: 0s, retention: 300ms}}
  V0: {subscription: {grace: 300ms, retention: 300ms}, payPerUse: {grace: 0s, retention: 300ms}}
`

// Tokens the test API accepts.
const (
	webToken     = "test-web-token"
	opsToken     = "test-ops-token"
	billingToken = "test-billing-token"
)

// stack is the shared real stack.
var stack struct {
	DB        *pgxpool.Pool
	Temporal  client.Client
	Namespace string
	Sim       *httptest.Server
	API       *httptest.Server
	Registry  *prometheus.Registry
	Policy    *policy.Policy
	Server    *api.Server
	// Config is the API's configuration, Env the variables it was loaded from (a process
	// started by a test gets the same) and DatabaseURL the test database.
	Config      *config.Config
	Env         map[string]string
	DatabaseURL string
	// Logs holds everything the stack logged; Answers every answer the API gave through do.
	Logs    *testkit.SyncBuffer
	Answers *testkit.SyncBuffer
}

// benchServer names the Temporal server the benchmarks ran on, for their report.
var benchServer = "the in-process test server (temporaltest: every service in one process, SQLite in memory)"

func TestMain(m *testing.M) {
	code, err := runMain(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e stack:", err)
		code = 1
	}
	os.Exit(code)
}

func runMain(m *testing.M) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Everything logged, at every level, is kept for the leak checks; warnings and errors
	// also go to stderr for whoever reads a failing run.
	stack.Logs, stack.Answers = &testkit.SyncBuffer{}, &testkit.SyncBuffer{}
	logger := slog.New(slog.NewMultiHandler(
		slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}),
		slog.NewJSONHandler(stack.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}),
	))

	dbURL, db, stopDB, err := testkit.MigratedDB(ctx, 20) // 20: as cmd/orders' worker pool
	if err != nil {
		return 0, err
	}
	defer stopDB()
	stack.DB = db

	stack.Registry = prometheus.NewRegistry()
	sdkMetrics, closer := worker.SDKMetrics(stack.Registry)
	defer closer.Close()
	// BENCH_TEMPORAL_ADDRESS points the package at a Temporal server of its own (make
	// bench's P1 on `make cluster`'s frontend, BENCH_TEMPORAL_NAMESPACE); otherwise an
	// in-process test server.
	frontend := os.Getenv("BENCH_TEMPORAL_ADDRESS")
	if frontend != "" {
		stack.Namespace = os.Getenv("BENCH_TEMPORAL_NAMESPACE")
		if stack.Namespace == "" {
			stack.Namespace = "default"
		}
		tc, err := temporalx.Dial(ctx, client.Options{HostPort: frontend, Namespace: stack.Namespace,
			Logger: worker.SDKLogger(logger), MetricsHandler: sdkMetrics})
		if err != nil {
			return 0, err
		}
		defer tc.Close()
		stack.Temporal = tc
		benchServer = "the cluster of `make cluster` (Temporal's services as separate processes on PostgreSQL)"
	} else {
		ts := temporaltest.NewServer(temporaltest.WithBaseClientOptions(client.Options{
			Logger:         worker.SDKLogger(logger),
			MetricsHandler: sdkMetrics,
		}))
		defer ts.Stop()
		stack.Temporal = ts.GetDefaultClient()
		stack.Namespace = ts.GetDefaultNamespace()
		frontend = ts.GetFrontendHostPort()
	}
	if err := temporalx.EnsureSearchAttributes(ctx, stack.Temporal, stack.Namespace, searchattr.All()); err != nil {
		return 0, err
	}

	simulator := sellersim.New(sellersim.Options{Logger: logger})
	stack.Sim = httptest.NewServer(simulator)
	defer stack.Sim.Close()

	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		return 0, err
	}
	stack.Policy = pol
	const taskQueue = "orders-e2e"
	testKey, err := secrets.NewKey("e2e-1")
	if err != nil {
		return 0, err
	}
	env := map[string]string{
		"API_TOKENS":          "web:" + webToken + ",ops:" + opsToken + ",billing:" + billingToken,
		"TEMPORAL_TASK_QUEUE": taskQueue,
		"TEMPORAL_NAMESPACE":  stack.Namespace,
		"TEMPORAL_ADDRESS":    frontend,
		"KEY_ENCRYPTION_KEYS": testKey,
		"SELLER_ENDPOINTS":    "development",
		"API_READ_TIMEOUT":    "2s",
		// The tests drive many orders through one web token and a few buyers.
		"RATE_LIMIT_TOKEN": "off",
		"RATE_LIMIT_ACTOR": "off",
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return 0, err
	}
	stack.Config, stack.Env, stack.DatabaseURL = cfg, env, dbURL
	sc, err := sellerapi.NewClient(sellerapi.ClientOptions{
		Timeout: 2 * time.Second, Logger: logger, Policy: sellerapi.EndpointPolicy{Development: true},
	})
	if err != nil {
		return 0, err
	}
	w := worker.New(worker.Options{
		Client: stack.Temporal, TaskQueue: taskQueue, DB: db, Policy: pol, Seller: sc, Keys: cfg.Keys,
		Metrics: activities.NewMetrics(stack.Registry), Logger: logger, MaxActivities: worker.MaxActivities,
	})
	stack.Registry.MustRegister(&activities.Gauges{DB: db, Logger: logger, MaxAge: time.Nanosecond})
	if err := w.Start(); err != nil {
		return 0, err
	}
	defer w.Stop()
	if err := worker.EnsureSchedules(ctx, stack.Temporal, taskQueue, pol, logger); err != nil {
		return 0, err
	}

	apiPool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return 0, err
	}
	defer apiPool.Close()
	stack.Server = api.New(api.Deps{
		Temporal: stack.Temporal, DB: apiPool, Policy: pol, Config: cfg, Registry: stack.Registry,
		Logger: logger, Now: time.Now,
	})
	stack.API = httptest.NewUnstartedServer(stack.Server)
	stack.API.Config = api.NewHTTPServer("", stack.Server, cfg) // the production listener's limits
	stack.API.Start()
	defer stack.API.Close()
	simulator.SetCallbackURL(stack.API.URL)
	if err := loadServedContract(ctx); err != nil {
		return 0, err
	}
	code := m.Run()
	if code == 0 {
		if err := checkMetricNames(); err != nil {
			return 1, err
		}
	}
	return code, nil
}

// call is one HTTP request to the API.
type call struct {
	method, path string
	token        string
	actorRole    string // web callers: buyer or seller
	actorID      string
	body         any // string = raw bytes, else JSON-encoded
	headers      map[string]string
	base         string // another API than the stack's (a process a test started)
}

// reply is an API answer.
type reply struct {
	status int
	body   []byte
	header http.Header
}

func (r reply) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem is an RFC 7807 answer.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Field  string `json:"field"`
}

func do(t testing.TB, c call) reply {
	t.Helper()
	var body io.Reader
	switch b := c.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	base := stack.API.URL
	if c.base != "" {
		base = c.base
	}
	req, err := http.NewRequest(c.method, base+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.actorRole != "" {
		req.Header.Set("X-Actor-Role", c.actorRole)
	}
	if c.actorID != "" {
		req.Header.Set("X-Actor-Id", c.actorID)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := reply{status: res.StatusCode, body: raw, header: res.Header}
	checkAgainstContract(t, req, r)
	fmt.Fprintf(stack.Answers, "%s %s -> %d %v %s\n", c.method, c.path, r.status, r.header, r.body)
	return r
}

// ops, buyer: shorthands for the two callers the tests use most.
func ops(method, path string, body any) call {
	return call{method: method, path: path, token: opsToken, actorID: "ops-alice", body: body}
}

func buyer(id, method, path string, body any) call {
	return call{method: method, path: path, token: webToken, actorRole: "buyer", actorID: id, body: body}
}

// sim calls the simulator's admin API.
func sim(t testing.TB, method, path string, body any) []byte {
	t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, stack.Sim.URL+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		t.Fatalf("simulator %s %s: %d %s", method, path, res.StatusCode, out)
	}
	return out
}

// simInstance is one instance as the simulator's admin API lists it.
type simInstance struct {
	InstanceID  string `json:"instanceId"`
	OrderID     string `json:"orderId"`
	Status      string `json:"status"`
	CreateCalls int    `json:"createCalls"`
	ExpireTime  string `json:"expireTime"`
}

func simInstances(t testing.TB, sellerID, orderID string) []simInstance {
	t.Helper()
	var out []simInstance
	if err := json.Unmarshal(sim(t, "GET", "/admin/sellers/"+sellerID+"/instances?orderId="+orderID, nil), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// catalogue registers a seller at the simulator and in the catalogue, with one monthly
// SaaS product.
func catalogue(t testing.TB, sellerID, productID string, supervised bool) {
	t.Helper()
	catalogueOf(t, sellerID, productID, order.TypeSaaS, order.BillingMonthly, &supervised)
}

// catalogueOf registers a seller and one product of a type and billing mode; supervised nil
// leaves the type's default.
func catalogueOf(t testing.TB, sellerID, productID string, typ order.ProductType, mode order.BillingMode, supervised *bool) {
	t.Helper()
	key := "sk-" + sellerID + "-0123456789"
	sim(t, "PUT", "/admin/sellers/"+sellerID, map[string]any{"accessKey": key})
	if r := do(t, ops("PUT", "/v1/sellers/"+sellerID, map[string]any{
		"name": "Seller " + sellerID, "endpoint": stack.Sim.URL + "/sellers/" + sellerID + "/produce", "accessKey": key,
	})); r.status/100 != 2 {
		t.Fatalf("PUT seller: %d %s", r.status, r.body)
	}
	product := map[string]any{
		"sellerId": sellerID, "name": "Product " + productID, "type": string(typ), "billingMode": string(mode),
		"commissionRate": 1500, "acceptanceCriteria": "it opens",
	}
	if supervised != nil {
		product["supervised"] = *supervised
	}
	if mode == order.BillingPayPerUse {
		product["unitPrice"] = map[string]any{"value": 25, "currency": "CNY"} // 0.25 CNY a unit
	}
	if r := do(t, ops("PUT", "/v1/products/"+productID, product)); r.status/100 != 2 {
		t.Fatalf("PUT product: %d %s", r.status, r.body)
	}
}

// oneTimeOrder is a POST /v1/orders body for a one-time purchase.
func oneTimeOrder(orderID, customerID, productID string, value int64) map[string]any {
	b := newOrder(orderID, customerID, productID, value, 0)
	delete(b, "expireTime")
	return b
}

func seller(id, method, path string, body any) call {
	return call{method: method, path: path, token: webToken, actorRole: "seller", actorID: id, body: body}
}

// newOrder is a POST /v1/orders body for a monthly SaaS order that expires in `life`.
func newOrder(orderID, customerID, productID string, value int64, life time.Duration) map[string]any {
	return map[string]any{
		"orderId": orderID, "orderLineId": orderID + "-1", "customerId": customerID, "productId": productID,
		"quantity": 1, "amount": map[string]any{"value": value, "currency": "CNY"},
		"expireTime": time.Now().Add(life).UTC().Format(time.RFC3339Nano),
	}
}

// scrapeMetrics reads the process's registry as the metrics listener serves it.
func scrapeMetrics(t testing.TB) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(stack.Registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// waitStatus polls GET /v1/orders/{id} (as ops) until the order has the status.
func waitStatus(t testing.TB, orderID string, want order.Status, within time.Duration) order.View {
	t.Helper()
	deadline := time.Now().Add(within)
	var v order.View
	for {
		r := do(t, ops("GET", "/v1/orders/"+orderID, nil))
		if r.status == http.StatusOK {
			r.json(t, &v)
			if v.Status == want {
				return v
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s: status %q after %v, want %q (last answer %d %s)", orderID, v.Status, within, want, r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
