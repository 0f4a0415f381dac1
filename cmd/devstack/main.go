// Command devstack is what `make run` runs: the whole system on one machine, without
// Docker, in one terminal.
//
// It starts PostgreSQL (pgcluster, data in PG_DATA_DIR) unless DATABASE_URL points at a
// server already, an embedded Temporal server with its web UI (devserver, data in
// TEMPORAL_DB_FILE), then the `orders` (API + worker) and `sellersim` binaries that sit
// next to its own executable (the simulator's state in database sellersim), with their
// output prefixed by their name. Once the API is
// ready it loads the demo catalogue (first start only, so edits made by ops survive), logs
// where everything is, and waits.
//
// Ctrl-C or SIGTERM stops everything in reverse order of start (children, Temporal, PostgreSQL) and
// exits 0; a child that dies on its own also stops everything, with exit status 1. Data
// survives restarts. Children run in their own process group (the terminal's Ctrl-C
// reaches only devstack, which stops them in order) and get SIGTERM if devstack itself is
// killed; a PostgreSQL left behind by a killed devstack is taken over on the next start.
//
// `devstack temporal` runs only the embedded Temporal server and its UI (TEMPORAL_DB_FILE,
// TEMPORAL_ADDRESS, TEMPORAL_UI_ADDR, TEMPORAL_NAMESPACE) until SIGINT or SIGTERM: the soak
// (internal/dev/soak) runs it as a process of its own, so that it can stop and restart the
// Temporal server alone while everything else keeps running.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/dev/devserver"
	"github.com/cloudmarket/orders/internal/dev/pgcluster"
	"github.com/cloudmarket/orders/internal/logging"
	"github.com/cloudmarket/orders/internal/secrets"
)

const (
	// appDatabase is the database the dev stack creates in its own cluster.
	appDatabase = "orders"
	// simDatabase is the seller simulator's database in that cluster (SELLERSIM_DATABASE_URL).
	simDatabase = "sellersim"
	// readyTimeout bounds the wait for the API's /readyz: migrations plus dialling
	// Temporal take a few seconds; a minute means something is wrong.
	readyTimeout = 60 * time.Second
	// childStopTimeout is how long a child gets between SIGTERM and SIGKILL.
	childStopTimeout = 10 * time.Second
	// actorID names the dev stack in the audit trail of the catalogue it loads.
	actorID = "devstack"
)

// children are started in this order (the simulator first, so the worker's first calls
// find it) and stopped together.
var children = []string{"sellersim", "orders"}

func main() {
	cfg, err := config.Load(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(2)
	}
	log := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	slog.SetDefault(log)

	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	switch {
	case len(os.Args) == 2 && os.Args[1] == "temporal":
		if err := runTemporal(ctx, cfg, log); err != nil {
			log.Error("Temporal server failed", "err", err)
			os.Exit(1)
		}
		return
	case len(os.Args) > 1:
		fmt.Fprintln(os.Stderr, "usage: devstack [temporal]")
		os.Exit(2)
	}
	if err := run(ctx, cfg, log); err != nil {
		if ctx.Err() != nil {
			// Ctrl-C during start-up: what was started is stopped; not a failure.
			log.Info("interrupted during start-up", "err", err)
			return
		}
		log.Error("dev stack failed", "err", err)
		os.Exit(1)
	}
}

// run starts the stack, waits for a signal or a failure, and stops what it started. It
// returns nil only for a shutdown asked for by a signal.
func run(ctx context.Context, cfg *config.Config, log *slog.Logger) (err error) {
	began := time.Now()
	binDir, err := executableDir()
	if err != nil {
		return err
	}
	// Check the children exist before starting anything slow.
	for _, name := range children {
		if _, statErr := os.Stat(filepath.Join(binDir, name)); statErr != nil {
			return fmt.Errorf("child binary %s not found next to devstack (run `make build`): %w", name, statErr)
		}
	}

	// Every stop step runs, in reverse order of start, whatever happens.
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		log.Info("dev stack stopped")
	}()

	dbURL := cfg.DatabaseURL
	simDBURL := dbURL // the simulator keeps to its own schema, sellersim
	if dbURL == "" {
		pg, err := pgcluster.Start(ctx, pgcluster.Options{
			DataDir: cfg.PGDataDir,
			Port:    cfg.PGPort,
			BinDir:  cfg.PGBinDir,
			Logger:  log,
			Durable: true,
		})
		if err != nil {
			return fmt.Errorf("start PostgreSQL: %w", err)
		}
		cleanups = append(cleanups, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := pg.Stop(ctx); err != nil {
				log.Error("stop PostgreSQL", "err", err)
			}
		})
		if err := pg.CreateDatabase(ctx, appDatabase); err != nil {
			return fmt.Errorf("create database %s: %w", appDatabase, err)
		}
		dbURL = pg.URL(appDatabase)
		if err := pg.CreateDatabase(ctx, simDatabase); err != nil {
			return fmt.Errorf("create database %s: %w", simDatabase, err)
		}
		simDBURL = pg.URL(simDatabase)
	} else {
		log.Info("using the PostgreSQL server of DATABASE_URL", "url", withoutPassword(dbURL))
	}

	temporalSrv, err := startTemporal(ctx, cfg, log)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, temporalSrv.Stop)

	env := os.Environ()
	if len(cfg.APITokens) == 0 {
		// A development stack: give the API the well-known tokens README documents.
		cfg.APITokens, _ = config.ParseTokens(config.DevTokens)
		env = append(env, "API_TOKENS="+config.DevTokens)
		log.Info("API_TOKENS not set: the API accepts the development tokens listed in README.md")
	}
	if cfg.Keys == nil {
		keys, err := devKey(cfg.DevKeyFile, log)
		if err != nil {
			return err
		}
		env = append(env, "KEY_ENCRYPTION_KEYS="+keys)
	}
	// A development stack: the simulator is on loopback over http, and Ctrl-C needs no
	// load balancer to drain.
	for _, kv := range []string{"SELLER_ENDPOINTS=development", "SHUTDOWN_DRAIN_DELAY=0s"} {
		name, _, _ := strings.Cut(kv, "=")
		if _, set := os.LookupEnv(name); !set {
			env = append(env, kv)
		}
	}
	if cfg.SellerSimDatabaseURL == "" { // so that a restart keeps the sellers' instances
		env = append(env, "SELLERSIM_DATABASE_URL="+simDBURL)
	}
	env = append(env,
		"DATABASE_URL="+dbURL,
		"TEMPORAL_ADDRESS="+temporalSrv.FrontendAddr(),
		"TEMPORAL_NAMESPACE="+temporalSrv.Namespace(),
	)
	exited := make(chan childExit, len(children))
	var procs []*child
	cleanups = append(cleanups, func() { stopChildren(procs, log) })
	for _, name := range children {
		c, err := startChild(filepath.Join(binDir, name), env, log, exited)
		if err != nil {
			return err
		}
		procs = append(procs, c)
	}

	apiBase := "http://" + loopbackAddr(cfg.APIAddr)
	if err := waitReady(ctx, apiBase+"/readyz", exited); err != nil {
		return err
	}
	if cfg.DemoCatalogue {
		if err := loadDemoCatalogue(ctx, cfg, apiBase, log); err != nil {
			// The stack is still useful without it; say what failed and go on.
			log.Error("demo catalogue not loaded (the stack keeps running)", "err", err)
		}
	}

	pgDir, _ := filepath.Abs(cfg.PGDataDir)
	tdb, _ := filepath.Abs(cfg.TemporalDBFile)
	where := []any{
		slog.String("postgres", withoutPassword(dbURL)),
		slog.String("temporal", temporalSrv.FrontendAddr()+" (namespace "+temporalSrv.Namespace()+")"),
		slog.String("temporalUI", temporalSrv.UIURL()),
		slog.String("api", apiBase),
		slog.String("metrics", metricsURL(cfg.MetricsAddr)),
		slog.String("sellersim", "http://"+loopbackAddr(cfg.SellerSimAddr)),
		slog.String("data", dataFolder(cfg.DatabaseURL == "", pgDir, tdb)),
		slog.Duration("startup", time.Since(began).Round(time.Millisecond)),
	}
	log.Info("dev stack ready; Ctrl-C stops it", where...)

	select {
	case <-ctx.Done():
		log.Info("signal received, stopping the dev stack")
		return nil
	case e := <-exited:
		log.Error("child exited unexpectedly, stopping the dev stack", "name", e.name, "err", e.err)
		return fmt.Errorf("%s exited unexpectedly: %v", e.name, e.err)
	}
}

// startTemporal starts the embedded Temporal server and its UI as cfg says.
func startTemporal(ctx context.Context, cfg *config.Config, log *slog.Logger) (*devserver.Server, error) {
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	srv, err := devserver.Start(startCtx, devserver.Options{
		DBFile:       cfg.TemporalDBFile,
		FrontendAddr: cfg.TemporalAddress,
		Namespace:    cfg.TemporalNamespace,
		UIAddr:       cfg.TemporalUIAddr,
		Logger:       log,
	})
	if err != nil {
		return nil, fmt.Errorf("start Temporal: %w", err)
	}
	return srv, nil
}

// runTemporal serves the embedded Temporal server and its UI alone until ctx ends.
func runTemporal(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	srv, err := startTemporal(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.Stop()
	log.Info("Temporal server ready; SIGTERM stops it", "temporal", srv.FrontendAddr(), "namespace", srv.Namespace(), "temporalUI", srv.UIURL())
	<-ctx.Done()
	log.Info("signal received, stopping the Temporal server")
	return nil
}

// devKey returns the development key-encryption key kept in path, making one on first use.
// The file stays in the ignored .data/ folder with the data it protects; production takes
// its keys from a secret store instead (deploy/).
func devKey(path string, log *slog.Logger) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		keys := strings.TrimSpace(string(b))
		if _, err := secrets.ParseKeyring(keys, ""); err != nil {
			return "", fmt.Errorf("development key file %s: %w", path, err)
		}
		return keys, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read development key file: %w", err)
	}
	keys, err := secrets.NewKey("dev-1")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, []byte(keys+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write development key file: %w", err)
	}
	log.Info("generated a development key-encryption key for sellers' access keys", "file", path)
	return keys, nil
}

// executableDir is the folder of the running binary (symlinks resolved), where `make
// build` puts the children too.
func executableDir() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("locate devstack executable: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return filepath.Dir(exe), nil
}

// child is one supervised process.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been waited for
}

type childExit struct {
	name string
	err  error
}

// startChild starts path with env, prefixes its output lines with its name, and reports
// its exit on exited.
func startChild(path string, env []string, log *slog.Logger, exited chan<- childExit) (*child, error) {
	name := filepath.Base(path)
	cmd := exec.Command(path)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // Ctrl-C reaches devstack only; it stops children in order
		Pdeathsig: syscall.SIGTERM, // devstack killed: children do not outlive it
	}
	var pipes []*os.File
	closeAll := func() {
		for _, f := range pipes {
			_ = f.Close()
		}
	}
	// Child output goes through pipes so that each line can carry the child's name.
	// The write ends are files given to the child directly (no copying goroutine in
	// exec), the read ends are scanned here until the child closes them.
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pipe for %s: %w", name, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		_ = outR.Close()
		_ = outW.Close()
		return nil, fmt.Errorf("pipe for %s: %w", name, err)
	}
	pipes = append(pipes, outR, outW, errR, errW)
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	_ = outW.Close()
	_ = errW.Close()
	log.Info("started child process", "name", name, "pid", cmd.Process.Pid)

	var copying sync.WaitGroup
	copying.Add(2)
	go func() { defer copying.Done(); prefixLines(outR, os.Stdout, name) }()
	go func() { defer copying.Done(); prefixLines(errR, os.Stderr, name) }()
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		copying.Wait()
		_ = outR.Close()
		_ = errR.Close()
		close(c.done)
		exited <- childExit{name: name, err: exitReason(err)}
	}()
	return c, nil
}

func exitReason(err error) error {
	if err == nil {
		return errors.New("exit status 0")
	}
	return err
}

// outputMu keeps lines of different children from interleaving mid-line.
var outputMu sync.Mutex

// prefixLines copies r to w line by line, each prefixed with "name | ".
func prefixLines(r io.Reader, w io.Writer, name string) {
	br := bufio.NewReaderSize(r, 64<<10)
	prefix := []byte(fmt.Sprintf("%-9s| ", name))
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if line[len(line)-1] != '\n' {
				line = append(line, '\n')
			}
			outputMu.Lock()
			_, _ = w.Write(append(append([]byte{}, prefix...), line...))
			outputMu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// stopChildren sends SIGTERM to every running child's process group (last started
// first, all at once), waits up to childStopTimeout, then kills what is left.
func stopChildren(procs []*child, log *slog.Logger) {
	var running []*child
	for i := len(procs) - 1; i >= 0; i-- {
		c := procs[i]
		select {
		case <-c.done:
			continue // already gone (the child whose exit triggered the shutdown)
		default:
		}
		running = append(running, c)
		// The negative pid addresses the child's process group (Setpgid), so helpers the
		// child started go too.
		if err := syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			log.Warn("SIGTERM to child", "name", c.name, "err", err)
		}
	}
	began := time.Now()
	grace, cancel := context.WithTimeout(context.Background(), childStopTimeout)
	defer cancel()
	for _, c := range running {
		select {
		case <-c.done:
			log.Info("child stopped", "name", c.name, "elapsed", time.Since(began).Round(time.Millisecond))
		case <-grace.Done():
			log.Warn("child did not stop within the grace period, killing it", "name", c.name, "grace", childStopTimeout)
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-c.done
		}
	}
}

// waitReady polls readyURL until it answers 200, a child exits, the signal comes or
// readyTimeout passes.
func waitReady(ctx context.Context, readyURL string, exited <-chan childExit) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	last := "no answer yet"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, readyURL, nil)
		if err != nil {
			return fmt.Errorf("readiness request: %w", err)
		}
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case e := <-exited:
			return fmt.Errorf("%s exited before the API was ready: %v", e.name, e.err)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the API did not become ready at %s within %v (last: %s)", readyURL, readyTimeout, last)
			}
			return fmt.Errorf("interrupted while waiting for the API at %s", readyURL)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// loadDemoCatalogue puts the demo seller, product and customer through the API as ops,
// unless the demo product exists already: a restart must not undo what ops changed.
func loadDemoCatalogue(ctx context.Context, cfg *config.Config, apiBase string, log *slog.Logger) error {
	token := cfg.TokenFor(config.RoleOps)
	if token == "" {
		return errors.New("API_TOKENS has no token of role ops")
	}
	accessKey, ok := cfg.SellerSimSellers["seller-demo"]
	if !ok {
		return errors.New("SELLERSIM_SELLERS has no access key for seller-demo")
	}
	api := &apiClient{base: apiBase, token: token, hc: &http.Client{Timeout: 10 * time.Second}}

	// One product of each type, all sold by seller-demo (the simulator). A catalogue from an
	// earlier run is completed, never changed: what is there stays as it is.
	products := []struct {
		id   string
		body map[string]any
	}{
		{"prod-demo-saas", map[string]any{"name": "Demo SaaS (monthly)", "type": "saas", "billingMode": "monthly",
			"acceptanceCriteria": "The instance URL opens and the admin can sign in.", "supervised": true}},
		{"prod-demo-license", map[string]any{"name": "Demo licence (yearly)", "type": "license", "billingMode": "yearly",
			"acceptanceCriteria": "The licence key activates the product."}},
		{"prod-demo-package", map[string]any{"name": "Demo package (one-time)", "type": "package", "billingMode": "one_time",
			"acceptanceCriteria": "Installed, started and verified on the buyer's host."}},
		{"prod-demo-hardware", map[string]any{"name": "Demo appliance (one-time)", "type": "hardware", "billingMode": "one_time",
			"acceptanceCriteria": "The appliance arrives undamaged and powers on."}},
		{"prod-demo-service", map[string]any{"name": "Demo onboarding service (one-time)", "type": "service", "billingMode": "one_time",
			"acceptanceCriteria": "Two half-day workshops for up to ten people, with slides."}},
		{"prod-demo-metered", map[string]any{"name": "Demo metered API (pay-per-use)", "type": "saas", "billingMode": "pay_per_use",
			"acceptanceCriteria": "The API key works.", "unitPrice": map[string]any{"value": 25, "currency": "CNY"}}},
	}
	var missing []string
	for _, p := range products {
		status, err := api.do(ctx, http.MethodGet, "/v1/products/"+p.id, nil)
		if err != nil {
			return err
		}
		switch status {
		case http.StatusOK:
		case http.StatusNotFound:
			missing = append(missing, p.id)
		default:
			return fmt.Errorf("GET /v1/products/%s: unexpected status %d", p.id, status)
		}
	}
	if len(missing) == 0 {
		log.Info("demo catalogue already present, left as it is")
		return nil
	}

	type step struct {
		path string
		body any
	}
	steps := []step{
		{"/v1/sellers/seller-demo", map[string]any{
			"name":      "Demo Seller",
			"endpoint":  "http://" + loopbackAddr(cfg.SellerSimAddr) + "/sellers/seller-demo/produce",
			"accessKey": accessKey,
		}},
		{"/v1/customers/cust-demo", map[string]any{"level": "V4"}},
	}
	for _, p := range products {
		if slices.Contains(missing, p.id) {
			p.body["sellerId"], p.body["commissionRate"] = "seller-demo", 1500
			steps = append(steps, step{"/v1/products/" + p.id, p.body})
		}
	}
	for _, s := range steps {
		status, err := api.do(ctx, http.MethodPut, s.path, s.body)
		if err != nil {
			return err
		}
		if status < 200 || status > 299 {
			return fmt.Errorf("PUT %s: status %d", s.path, status)
		}
	}
	log.Info("demo catalogue loaded", "seller", "seller-demo", "products", missing, "customer", "cust-demo")
	return nil
}

// apiClient makes the few calls devstack needs, as an ops caller.
type apiClient struct {
	base  string
	token string
	hc    *http.Client
}

// do sends one request and returns the status. 404 is a status, not an error (it answers
// "does it exist?"); other statuses from 300 up are errors quoting the problem body.
func (a *apiClient) do(ctx context.Context, method, path string, body any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("X-Actor-Id", actorID)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusNotFound {
		return resp.StatusCode, fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return resp.StatusCode, nil
}

// metricsURL is where the orders process serves /metrics, or "off".
func metricsURL(addr string) string {
	if addr == "" {
		return "off"
	}
	return "http://" + loopbackAddr(addr) + "/metrics"
}

// loopbackAddr turns a listen address (":8080", "0.0.0.0:8080") into one to dial.
func loopbackAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// withoutPassword drops the password of a URL before it is logged.
func withoutPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if q := u.Query(); q.Has("password") {
		q.Del("password")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// dataFolder names where the stack keeps its data: the common parent of the PostgreSQL
// folder and the Temporal file when they share one (the default .data/), else both.
func dataFolder(ownPostgres bool, pgDir, temporalDB string) string {
	if !ownPostgres {
		return filepath.Dir(temporalDB)
	}
	if filepath.Dir(pgDir) == filepath.Dir(temporalDB) {
		return filepath.Dir(pgDir)
	}
	return pgDir + ", " + temporalDB
}
