package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/secrets"
	"github.com/cloudmarket/orders/internal/testkit"
)

// The orders binary, built once per run (with -race, so it reuses what the test build
// compiled), and run as operations would run it: migrate as its own step, serve with
// MIGRATE_ON_START=false, SIGTERM, rotate-keys.
var ordersBinary struct {
	once sync.Once
	path string
	err  error
}

func buildOrders(t *testing.T) string {
	t.Helper()
	ordersBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "orders-bin-")
		if err != nil {
			ordersBinary.err = err
			return
		}
		ordersBinary.path = filepath.Join(dir, "orders")
		out, err := exec.Command("go", "build", "-race", "-o", ordersBinary.path, "github.com/cloudmarket/orders/cmd/orders").CombinedOutput()
		if err != nil {
			ordersBinary.err = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if ordersBinary.err != nil {
		t.Fatal(ordersBinary.err)
	}
	return ordersBinary.path
}

// ordersProcess is a running orders command.
type ordersProcess struct {
	cmd    *exec.Cmd
	output *testkit.SyncBuffer
	done   chan struct{} // closed once the process has exited; err is then set
	err    error
}

// startOrders runs the binary with the stack's configuration plus extra.
func startOrders(t *testing.T, args []string, extra map[string]string) *ordersProcess {
	t.Helper()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	vars := map[string]string{}
	for k, v := range stack.Env {
		vars[k] = v
	}
	vars["DATABASE_URL"] = stack.DatabaseURL
	vars["LOG_FORMAT"] = "json"
	vars["MANAGE_SCHEDULES"] = "false" // the stack's worker owns them, on its task queue
	vars["LOG_LEVEL"] = "debug"
	for k, v := range extra {
		vars[k] = v
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	p := &ordersProcess{output: &testkit.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(buildOrders(t), args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill() // a no-op for one that has exited
		<-p.done
	})
	return p
}

// wait waits for the process to exit and returns its error (nil for exit status 0).
func (p *ordersProcess) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(within):
		t.Fatalf("orders did not exit within %v; output:\n%s", within, p.output.String())
		return nil
	}
}

func get(url string) (int, string) {
	res, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	return res.StatusCode, string(b)
}

// TestOrdersProcess: `orders migrate` as its own step, then a server that needs no schema
// rights (MIGRATE_ON_START=false), /metrics on its own listener only, and a graceful
// shutdown: readiness fails at once, a request in flight still gets its answer, and the
// process is gone within SHUTDOWN_TIMEOUT.
func TestOrdersProcess(t *testing.T) {
	catalogue(t, "s-proc", "p-proc", true)
	if r := do(t, buyer("c-proc", "POST", "/v1/orders", newOrder("PROC-1", "c-proc", "p-proc", 100, time.Hour))); r.status != http.StatusCreated {
		t.Fatalf("POST order: %d %s", r.status, r.body)
	}
	waitStatus(t, "PROC-1", order.Status(order.PhaseAwaitingAcceptance), 15*time.Second)

	mig := startOrders(t, []string{"migrate"}, nil)
	if err := mig.wait(t, 2*time.Minute); err != nil {
		t.Fatalf("orders migrate: %v\n%s", err, mig.output.String())
	}

	apiAddr, metricsAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	srv := startOrders(t, nil, map[string]string{
		"API_ADDR": apiAddr, "METRICS_ADDR": metricsAddr, "MIGRATE_ON_START": "false",
		"TEMPORAL_TASK_QUEUE":  "orders-e2e-process",
		"SHUTDOWN_DRAIN_DELAY": "1s", "SHUTDOWN_TIMEOUT": "8s",
	})
	base := "http://" + apiAddr
	deadline := time.Now().Add(time.Minute)
	for {
		if status, _ := get(base + "/readyz"); status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within a minute:\n%s", srv.output.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status, _ := get(base + "/metrics"); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the API port: %d, want 404", status)
	}
	status, body := get("http://" + metricsAddr + "/metrics")
	if status != http.StatusOK || !strings.Contains(body, "api_request_duration_seconds") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics listener: %d %.200s", status, body)
	}
	// The worker's probes, on the metrics listener (a worker-only pod has no API port).
	for _, p := range []string{"/healthz", "/readyz"} {
		if status, body := get("http://" + metricsAddr + p); status != http.StatusOK {
			t.Errorf("worker %s on the metrics listener: %d %s", p, status, body)
		}
	}

	// A request in flight: a repeat of an idempotency key whose first request is running
	// (its row is claimed), which waits for that answer.
	path := "/v1/orders/PROC-1/retry"
	sum := sha256.Sum256([]byte(opsToken))
	callerKey := "ops:" + hex.EncodeToString(sum[:6]) + ":ops:ops-alice"
	hash := sha256.Sum256([]byte("POST " + path + "\n{}"))
	if _, err := stack.DB.Exec(context.Background(), `INSERT INTO idempotency_keys
		(caller, key, route, request_hash, state, created_at, locked_until, expires_at)
		VALUES ($1, 'in-flight', $2, $3, 'running', now(), now() + interval '1 minute', now() + interval '1 hour')`,
		callerKey, "POST "+path, hex.EncodeToString(hash[:])); err != nil {
		t.Fatal(err)
	}
	inFlight := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+opsToken)
		req.Header.Set("X-Actor-Id", "ops-alice")
		req.Header.Set("Idempotency-Key", "in-flight")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			inFlight <- 0
			return
		}
		res.Body.Close()
		inFlight <- res.StatusCode
	}()
	time.Sleep(300 * time.Millisecond)

	began := time.Now()
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for status, _ := get(base + "/readyz"); status != http.StatusServiceUnavailable; status, _ = get(base + "/readyz") {
		if time.Since(began) > 900*time.Millisecond {
			t.Fatalf("/readyz still answers %d after SIGTERM", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status, _ := get(base + "/healthz"); status != http.StatusOK {
		t.Errorf("during the drain delay requests are still served; /healthz answered %d", status)
	}
	if status, _ := get("http://" + metricsAddr + "/readyz"); status != http.StatusServiceUnavailable {
		t.Errorf("the worker's /readyz after SIGTERM: %d, want 503", status)
	}
	// The first request's answer arrives; the waiting one replays it, shutdown or not.
	if _, err := stack.DB.Exec(context.Background(), `UPDATE idempotency_keys SET state = 'done', status = 200,
		content_type = 'application/json', response = '{"orderId":"PROC-1"}' WHERE caller = $1 AND key = 'in-flight'`, callerKey); err != nil {
		t.Fatal(err)
	}
	select {
	case status := <-inFlight:
		if status != http.StatusOK {
			t.Errorf("the request in flight at SIGTERM got %d, want its answer", status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request in flight got no answer")
	}
	if err := srv.wait(t, 15*time.Second); err != nil {
		t.Errorf("orders exited with %v", err)
	}
	took := time.Since(began)
	t.Logf("stopped %v after SIGTERM (budget 8s)", took.Round(time.Millisecond))
	if took > 8*time.Second+2*time.Second {
		t.Errorf("shutdown took %v, over SHUTDOWN_TIMEOUT", took)
	}
	out := srv.output.String()
	for _, want := range []string{`"msg":"shutting down: readiness fails from now on"`, `"msg":"stopped"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s", want)
		}
	}
	assertNoKeyMaterial(t, out)
}

// TestRotateKeys: `orders rotate-keys` re-seals every seller key under the new current key;
// a server whose keys cannot open a sealed row refuses to start and names the key; rotating
// back leaves the stack as it was.
func TestRotateKeys(t *testing.T) {
	catalogue(t, "s-rotate", "p-rotate", true)
	// A licence, sealed like the keys: rotated with them, still shown to its buyer.
	catalogueOf(t, "s-rotlic", "p-rotlic", order.TypeLicense, order.BillingYearly, nil)
	sim(t, "PUT", "/admin/sellers/s-rotlic/behaviour", map[string]any{"license": "answer"})
	wantOK(t, do(t, buyer("c-rotlic", "POST", "/v1/orders", newOrder("ROTLIC-1", "c-rotlic", "p-rotlic", 5000, time.Hour))), "POST order")
	waitStatus(t, "ROTLIC-1", order.Status(order.PhaseAwaitingAcceptance), 20*time.Second)
	licenseText := func() string {
		t.Helper()
		v := view(t, do(t, buyer("c-rotlic", "GET", "/v1/orders/ROTLIC-1", nil)))
		if v.License == nil {
			t.Fatal("the licence order shows no licence")
		}
		return v.License.Text
	}
	wantText := licenseOf(t, "s-rotlic", "ROTLIC-1")
	old := stack.Env["KEY_ENCRYPTION_KEYS"]
	newKey, err := secrets.NewKey("e2e-2")
	if err != nil {
		t.Fatal(err)
	}
	rotate := func(keys, current string) string {
		t.Helper()
		p := startOrders(t, []string{"rotate-keys"}, map[string]string{"KEY_ENCRYPTION_KEYS": keys, "KEY_ENCRYPTION_KEY_ID": current})
		if err := p.wait(t, time.Minute); err != nil {
			t.Fatalf("rotate-keys to %s: %v\n%s", current, err, p.output.String())
		}
		assertNoKeyMaterial(t, p.output.String(), newKey)
		return p.output.String()
	}
	kekOf := func() []string {
		rows, err := stack.DB.Query(context.Background(), `SELECT access_key_kek FROM sellers
			UNION SELECT kek FROM order_licenses ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for rows.Next() {
			var id string
			rows.Scan(&id)
			ids = append(ids, id)
		}
		return ids
	}
	out := rotate(old+","+newKey, "e2e-2")
	if got := kekOf(); len(got) != 1 || got[0] != "e2e-2" {
		t.Fatalf("after rotate-keys the rows are sealed under %v, want [e2e-2]", got)
	}
	if !strings.Contains(out, `"msg":"seller keys re-sealed"`) || !strings.Contains(out, `"msg":"licences re-sealed"`) {
		t.Errorf("rotate-keys did not say what it did:\n%s", out)
	}
	// A server with only the old key cannot open them: it refuses to start, naming e2e-2.
	srv := startOrders(t, nil, map[string]string{"API_ADDR": testkit.FreeAddr(t), "METRICS_ADDR": "", "MIGRATE_ON_START": "false",
		"TEMPORAL_TASK_QUEUE": "orders-e2e-rotate"})
	var exit *exec.ExitError
	if err := srv.wait(t, time.Minute); !errors.As(err, &exit) || !strings.Contains(srv.output.String(), "e2e-2") {
		t.Errorf("a server without the key in use: %v\n%s", err, srv.output.String())
	}
	back := rotate(old+","+newKey, "e2e-1")
	if got := kekOf(); len(got) != 1 || got[0] != "e2e-1" {
		t.Fatalf("after rotating back: %v", got)
	}
	if got := licenseText(); got != wantText || wantText == "" {
		t.Errorf("after two rotations the buyer reads licence %q, the seller made %q", got, wantText)
	}
	if strings.Contains(out+back, wantText) {
		t.Error("rotate-keys printed a licence")
	}
	// The stack (which holds only e2e-1) still calls its sellers.
	if r := do(t, buyer("c-rotate", "POST", "/v1/orders", newOrder("ROT-1", "c-rotate", "p-rotate", 100, time.Hour))); r.status != http.StatusCreated {
		t.Fatalf("POST order: %d %s", r.status, r.body)
	}
	waitStatus(t, "ROT-1", order.Status(order.PhaseAwaitingAcceptance), 15*time.Second)
}

// assertNoKeyMaterial fails when output holds a key-encryption key (the stack's, or one of
// more) or a seller's access key (catalogue's keys all end so).
func assertNoKeyMaterial(t *testing.T, output string, more ...string) {
	t.Helper()
	for _, pair := range append(strings.Split(stack.Env["KEY_ENCRYPTION_KEYS"], ","), more...) {
		_, material, _ := strings.Cut(pair, ":")
		if strings.Contains(output, material) {
			t.Error("a key-encryption key appears in the output of orders")
		}
	}
	if strings.Contains(output, "-0123456789") {
		t.Error("a seller access key appears in the output of orders")
	}
}

// TestKilledAfterPlacingStillCompletes: the service is killed (SIGKILL) right after an order
// is placed, and comes back after longer than the seller's whole retry window. The window is
// spent by the seller's answers, not by our downtime: the order completes instead of
// failing and being refunded (what the first workflow did: provision_failed 30 s later).
func TestKilledAfterPlacingStillCompletes(t *testing.T) {
	catalogue(t, "s-kill", "p-kill", true)
	queue := "orders-e2e-kill"
	// Only the API runs: the order is placed, its workflow waits for a worker.
	apiAddr := testkit.FreeAddr(t)
	first := startOrders(t, nil, map[string]string{"API_ADDR": apiAddr, "METRICS_ADDR": "", "MIGRATE_ON_START": "false",
		"TEMPORAL_TASK_QUEUE": queue, "ORDERS_ROLES": "api"})
	base := "http://" + apiAddr
	waitReady(t, base, first)
	body, _ := json.Marshal(newOrder("KILL-1", "c-kill", "p-kill", 100, time.Hour))
	req, _ := http.NewRequest("POST", base+"/v1/orders", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+webToken)
	req.Header.Set("X-Actor-Role", "buyer")
	req.Header.Set("X-Actor-Id", "c-kill")
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("POST order: %v %v", err, res)
	}
	res.Body.Close()
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.wait(t, 10*time.Second)
	// Longer than the test policy's newInstance window (6 s).
	time.Sleep(8 * time.Second)
	second := startOrders(t, nil, map[string]string{"API_ADDR": testkit.FreeAddr(t), "METRICS_ADDR": "", "MIGRATE_ON_START": "false",
		"TEMPORAL_TASK_QUEUE": queue, "ORDERS_ROLES": "worker"})
	v := waitStatus(t, "KILL-1", order.Status(order.PhaseAwaitingAcceptance), 30*time.Second)
	if v.LastError != "" {
		t.Errorf("last error %q", v.LastError)
	}
	var failed int
	stack.DB.QueryRow(context.Background(), `SELECT count(*) FROM order_events WHERE order_id = 'KILL-1' AND event = 'provision_failed'`).Scan(&failed)
	if failed != 0 {
		t.Fatal("the downtime was counted against the seller: provision_failed")
	}
	_ = second.cmd.Process.Signal(syscall.SIGTERM)
	second.wait(t, 30*time.Second)
}

func waitReady(t *testing.T, base string, p *ordersProcess) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if status, _ := get(base + "/readyz"); status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within a minute:\n%s", p.output.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
