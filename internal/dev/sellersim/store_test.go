package sellersim

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudmarket/orders/internal/dev/pgcluster"
	"github.com/cloudmarket/orders/internal/sellerapi"
	"github.com/cloudmarket/orders/internal/testkit"
)

// The store tests share one PostgreSQL server, started on first use (so the in-memory
// tests do not wait for it) and stopped by TestMain; each test gets a database of its own.
var (
	pgOnce  sync.Once
	pgURL   string
	pgStop  func()
	pgErr   error
	pgCount atomic.Int32
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pgStop != nil {
		pgStop()
	}
	os.Exit(code)
}

// testDatabase is the URL of a new, empty database for one test.
func testDatabase(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	pgOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		pgURL, pgStop, pgErr = pgcluster.StartForTests(ctx)
	})
	if pgErr != nil {
		t.Fatalf("PostgreSQL: %v", pgErr)
	}
	name := fmt.Sprintf("sellersim_%d_%d", os.Getpid(), pgCount.Add(1))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// openEnv is newEnv on a database: a simulator made by Open, served over HTTP.
func openEnv(t *testing.T, dbURL string, clock *testkit.Clock) *env {
	t.Helper()
	e := &env{clock: clock, logs: &testkit.SyncBuffer{}}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sim, err := Open(context.Background(), Options{Logger: log, Sellers: map[string]string{sellerID: key}, Now: clock.Now, DatabaseURL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	e.sim = sim
	e.srv = httptest.NewServer(sim)
	c, err := sellerapi.NewClient(sellerapi.ClientOptions{Timeout: 2 * time.Second, Logger: log, Policy: sellerapi.EndpointPolicy{Development: true}})
	if err != nil {
		t.Fatal(err)
	}
	e.client = c
	t.Cleanup(func() { e.kill() })
	return e
}

// kill stops serving and drops the simulator with its connections, as a killed process
// would; nothing is flushed on the way out.
func (e *env) kill() {
	e.srv.Close()
	e.sim.Close()
}

// TestStoreSurvivesRestart kills a simulator with a database and starts another on it:
// the instances (with their changes and licences), newInstance's idempotency, the
// behaviour, sellers added through the admin API and the nonces within the window are
// all still there.
func TestStoreSurvivesRestart(t *testing.T) {
	dbURL := testDatabase(t)
	clock := testkit.NewClock(time.Now())
	e := openEnv(t, dbURL, clock)

	const otherSeller, otherKey = "seller-b", "sk-other-0123456789"
	if code := e.admin(t, http.MethodPut, "/admin/sellers/"+otherSeller, `{"accessKey":"`+otherKey+`"}`, nil); code != http.StatusCreated {
		t.Fatalf("add seller: HTTP %d", code)
	}
	e.behave(t, `{"license":"answer","changeCheck":{"refuseBelowQuantity":5}}`)

	first := e.mustCall(t, newInst("ORD-1", "ORD-1-1"))
	if first.ResultCode != sellerapi.CodeSuccess || first.License == "" {
		t.Fatalf("newInstance: %+v", first)
	}
	id := first.InstanceID
	q := e.mustCall(t, query(id))
	password := q.Info[0].AppInfo.Password
	if code := e.codeOf(t, sellerapi.RefreshInstanceRequest{Activity: sellerapi.ActivityRefreshInstance, InstanceID: id,
		OrderID: "ORD-2", OrderLineID: "ORD-2-1", Scene: sellerapi.SceneRenewal, ExpireTime: "20300101000000"}); code != sellerapi.CodeSuccess {
		t.Fatalf("refresh: %s", code)
	}
	if code := e.codeOf(t, status(id, sellerapi.StatusFreeze)); code != sellerapi.CodeSuccess {
		t.Fatalf("freeze: %s", code)
	}
	gone := e.mustCall(t, newInst("ORD-3", "ORD-3-1")).InstanceID
	if code := e.codeOf(t, release(gone)); code != sellerapi.CodeSuccess {
		t.Fatalf("release: %s", code)
	}
	// A request the marketplace signed once; its nonce must be refused after the restart.
	body := []byte(`{"activity":"queryInstance","instanceId":"` + id + `"}`)
	n, ts := nonce(t), nowMs(clock.Now())
	if st, r, _ := e.rawPost(t, sellerID, key, n, ts, body); st != http.StatusOK || r.ResultCode != sellerapi.CodeSuccess {
		t.Fatalf("signed query: HTTP %d %+v", st, r)
	}
	before := e.instances(t, "ORD-1")

	e.kill()
	clock.Advance(10 * time.Second) // still within the signature window
	e = openEnv(t, dbURL, clock)

	if st, r, _ := e.rawPost(t, sellerID, key, n, ts, body); st != http.StatusOK || r.ResultCode != sellerapi.CodeAuthFailed {
		t.Errorf("replayed nonce after restart: HTTP %d %+v, want 000001", st, r)
	}
	again := e.mustCall(t, newInst("ORD-1", "ORD-1-1"))
	if again.InstanceID != id || again.License != first.License {
		t.Errorf("newInstance after restart = %s %q, want %s %q", again.InstanceID, again.License, id, first.License)
	}
	q = e.mustCall(t, query(id))
	if q.ResultCode != sellerapi.CodeSuccess || len(q.Info) != 1 || q.Info[0].AppInfo.Password != password {
		t.Errorf("query after restart: %+v", q)
	}
	if code := e.codeOf(t, query(gone)); code != sellerapi.CodeInstanceNotFound {
		t.Errorf("query of the released instance after restart: %s, want 000003", code)
	}
	if code := e.codeOf(t, release(gone)); code != sellerapi.CodeSuccess {
		t.Errorf("release again after restart: %s", code)
	}
	if code := e.codeOf(t, sellerapi.ChangeInstanceCheckRequest{Activity: sellerapi.ActivityChangeInstanceCheck, InstanceID: id,
		ProductInfo: sellerapi.ProductInfo{ProductID: "p", SKUCode: "s", Quantity: 1}}); code != defaultRefusalCode {
		t.Errorf("changeInstanceCheck after restart: %s, want the behaviour's refusal %s", code, defaultRefusalCode)
	}
	after := e.instances(t, "ORD-1")
	if len(before) != 1 || len(after) != 1 {
		t.Fatalf("instances before %d, after %d", len(before), len(after))
	}
	b, a := before[0], after[0]
	if a.Status != statusFrozen || a.ExpireTime != "20300101000000" || len(a.Refreshes) != 1 || a.Refreshes[0] != b.Refreshes[0] ||
		a.License != b.License || a.CreateCalls != b.CreateCalls+1 || a.ChangeChecks != 1 {
		t.Errorf("instance after restart = %+v\nbefore %+v", a, b)
	}
	if code := e.admin(t, http.MethodGet, "/admin/sellers/"+otherSeller+"/stats", "", nil); code != http.StatusOK {
		t.Errorf("seller added through the admin API is gone after restart: HTTP %d", code)
	}
	res, err := e.client.Call(context.Background(), e.endpoint(otherSeller), otherKey, true, newInst("ORD-9", "ORD-9-1"))
	if err != nil || res.ResultCode != sellerapi.CodeSuccess {
		t.Errorf("added seller after restart: %+v %v", res, err)
	}

	// Past the window a third simulator needs not remember the nonce: the timestamp alone
	// refuses it.
	e.kill()
	clock.Advance(2 * SignatureWindow)
	e = openEnv(t, dbURL, clock)
	if st, r, _ := e.rawPost(t, sellerID, key, n, ts, body); st != http.StatusOK || r.ResultCode != sellerapi.CodeAuthFailed {
		t.Errorf("stale replay: HTTP %d %+v, want 000001", st, r)
	}
	e.sim.mu.Lock()
	_, kept := e.sim.sellers[sellerID].nonces.seen[n]
	e.sim.mu.Unlock()
	if kept {
		t.Error("a nonce past the window was loaded")
	}
}

// TestStoreFailureAnswersRetryable: a change that cannot be committed is answered 000005
// (retryable), never acknowledged.
func TestStoreFailureAnswersRetryable(t *testing.T) {
	dbURL := testDatabase(t)
	e := openEnv(t, dbURL, testkit.NewClock(time.Now()))
	e.sim.store.pool.Close() // the database is gone
	if code := e.codeOf(t, newInst("ORD-1", "ORD-1-1")); code != sellerapi.CodeInternalError {
		t.Errorf("newInstance without its database: %s, want 000005", code)
	}
	if n := e.stats(t)[string(sellerapi.ActivityNewInstance)]["store:"+sellerapi.CodeInternalError]; n != 1 {
		t.Errorf("stats: %v", e.stats(t))
	}
	if code := e.admin(t, http.MethodPut, "/admin/sellers/"+sellerID+"/behaviour", `{"mode":"async"}`, nil); code != http.StatusServiceUnavailable {
		t.Errorf("behaviour change without its database: HTTP %d, want 503", code)
	}
	if code := e.admin(t, http.MethodPost, "/admin/reset", "", nil); code != http.StatusServiceUnavailable {
		t.Errorf("reset without its database: HTTP %d, want 503", code)
	}
}

// TestStoreRefusesNUL: an ID JSONB cannot hold is refused (000002) instead of becoming an
// instance that could never be written, which would block every later write of the seller.
func TestStoreRefusesNUL(t *testing.T) {
	e := openEnv(t, testDatabase(t), testkit.NewClock(time.Now()))
	if code := e.codeOf(t, newInst("ORD\x00-1", "L1")); code != sellerapi.CodeInvalidParameter {
		t.Errorf("newInstance with a NUL: %s, want 000002", code)
	}
	if code := e.codeOf(t, newInst("ORD-2", "L1")); code != sellerapi.CodeSuccess {
		t.Errorf("next newInstance: %s", code)
	}
}

// TestStoreReset: POST /admin/reset empties the database too, so a restart after it does
// not bring the old instances back.
func TestStoreReset(t *testing.T) {
	dbURL := testDatabase(t)
	clock := testkit.NewClock(time.Now())
	e := openEnv(t, dbURL, clock)
	id := e.mustCall(t, newInst("ORD-1", "ORD-1-1")).InstanceID
	if code := e.admin(t, http.MethodPost, "/admin/reset", "", nil); code != http.StatusNoContent {
		t.Fatalf("reset: HTTP %d", code)
	}
	e.kill()
	e = openEnv(t, dbURL, clock)
	if code := e.codeOf(t, query(id)); code != sellerapi.CodeInstanceNotFound {
		t.Errorf("query after reset and restart: %s, want 000003", code)
	}
}

// TestStoreConcurrentRequests: many requests at once on one database all end kept.
func TestStoreConcurrentRequests(t *testing.T) {
	dbURL := testDatabase(t)
	clock := testkit.NewClock(time.Now())
	e := openEnv(t, dbURL, clock)
	const n = 20
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := e.call(t, newInst(fmt.Sprintf("ORD-%d", i%5), "L1"))
			if err == nil {
				ids[i] = res.Response.InstanceID
			}
		})
	}
	wg.Wait()
	e.kill()
	e = openEnv(t, dbURL, clock)
	for i, id := range ids {
		if got := e.mustCall(t, newInst(fmt.Sprintf("ORD-%d", i%5), "L1")).InstanceID; got != id {
			t.Errorf("order %d: %s after restart, %s before", i%5, got, id)
		}
	}
}

// TestInstanceJSONRoundTrip: every field of an instance, the unexported state included,
// comes back from its stored form.
func TestInstanceJSONRoundTrip(t *testing.T) {
	in := &instance{InstanceID: "i", OrderID: "o", OrderLineID: "l", Status: statusFrozen, ExpireTime: "20300101000000",
		CreateCalls: 3, License: "LIC", LicenseDelivered: true, LicenseChecked: true, LicenseStatus: 200,
		instanceChanges: instanceChanges{ProductID: "p", Refreshes: []refreshRecord{{Scene: sellerapi.SceneRenewal, OrderID: "o2", Calls: 2}},
			Upgrades: []orderRef{{"o3", "l3"}}, UpgradeCalls: 2, ChangeChecks: 4, ChangeRefusals: 1, AsyncLicenses: 1, LicenseCalls: 2,
			licenseEvents: map[string]bool{"ev\x00fp": true}},
		readyAt: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC), password: "pw", seq: 7}
	data, err := encodeInstance(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeInstance(data)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := encodeInstance(out)
	if string(again) != string(data) || !out.readyAt.Equal(in.readyAt) || out.password != "pw" || out.seq != 7 || !out.licenseEvents["ev\x00fp"] {
		t.Errorf("round trip:\n%s\n%s", data, again)
	}
}
