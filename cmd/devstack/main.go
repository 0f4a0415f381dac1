// Command devstack is what `make run` and `make cluster` run: the whole system on one
// machine, without Docker, in one terminal, through the one launcher (internal/dev/stack).
//
// `devstack` (or `devstack -topology embedded`, `make run`) starts PostgreSQL
// (pgcluster, data in PG_DATA_DIR) unless DATABASE_URL points at a server already, the
// embedded one-process Temporal server with its web UI (data in TEMPORAL_DB_FILE), the
// seller simulator (its state in database sellersim, SELLERSIM_DATABASE_URL) and the
// `orders` binary with both roles.
//
// `devstack -topology cluster` (`make cluster`) starts the production shape of deploy/:
// one PostgreSQL server (data in .data/cluster/) with the orders database and Temporal's
// persistence and visibility databases; Temporal as separate processes (frontend, two
// history processes sharing 16 shards, matching, worker) and its UI as another; two API
// processes behind one port (API_ADDR; a reverse proxy in this process); two worker
// processes; the simulator (database sellersim).
//
// Either way the children are the binaries next to devstack's own executable (devstack
// itself for the Temporal processes), their output prefixed by their name. Once the API is
// ready devstack loads the demo catalogue (first start only, so edits made by ops
// survive), logs where everything is, and waits. Ctrl-C or SIGTERM stops everything in
// reverse order of start and exits 0; a child that dies on its own also stops
// everything, with exit status 1. Data survives restarts.
//
// Subcommands, run by the launcher as processes of their own (the soak runs them too):
//
//	devstack temporal                          the embedded Temporal server and its UI alone
//	                                           (TEMPORAL_DB_FILE, TEMPORAL_ADDRESS, TEMPORAL_UI_ADDR,
//	                                           TEMPORAL_NAMESPACE), until SIGINT or SIGTERM
//	devstack temporal-schema -spec FILE        create or upgrade the cluster's Temporal schemas
//	devstack temporal-service -spec FILE NAME  one Temporal service process of the cluster
//	devstack temporal-ui -addr A -frontend F -namespace N   the Temporal web UI alone
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/dev/devserver"
	"github.com/cloudmarket/orders/internal/dev/pgcluster"
	"github.com/cloudmarket/orders/internal/dev/ports"
	"github.com/cloudmarket/orders/internal/dev/stack"
	"github.com/cloudmarket/orders/internal/logging"
	"github.com/cloudmarket/orders/internal/secrets"
)

const (
	// actorID names the dev stack in the audit trail of the catalogue it loads.
	actorID = "devstack"
	// clusterDir is the cluster topology's data folder, apart from make run's, because
	// its Temporal history lives in PostgreSQL rather than in SQLite: the two topologies'
	// orders databases must not see each other's workflows.
	clusterDir = "cluster"
)

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
	sub := ""
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		sub = os.Args[1]
	}
	fail := func(what string, err error) {
		log.Error(what, "err", err)
		os.Exit(1)
	}
	switch sub {
	case "temporal":
		if err := runTemporal(ctx, cfg, log); err != nil {
			fail("Temporal server failed", err)
		}
	case "temporal-schema":
		fs := flag.NewFlagSet(sub, flag.ExitOnError)
		specFile := fs.String("spec", "", "the cluster's spec file (written by the launcher)")
		_ = fs.Parse(os.Args[2:])
		spec, err := devserver.ReadClusterSpec(*specFile)
		if err == nil {
			err = devserver.SetupClusterSchema(spec, log)
		}
		if err != nil {
			fail("Temporal schema failed", err)
		}
	case "temporal-service":
		fs := flag.NewFlagSet(sub, flag.ExitOnError)
		specFile := fs.String("spec", "", "the cluster's spec file (written by the launcher)")
		_ = fs.Parse(os.Args[2:])
		if fs.NArg() != 1 {
			fmt.Fprintln(os.Stderr, "usage: devstack temporal-service -spec FILE NAME")
			os.Exit(2)
		}
		spec, err := devserver.ReadClusterSpec(*specFile)
		if err == nil {
			err = devserver.RunClusterService(ctx, spec, fs.Arg(0), log, slog.LevelWarn)
		}
		if err != nil {
			fail("Temporal service failed", err)
		}
	case "temporal-ui":
		fs := flag.NewFlagSet(sub, flag.ExitOnError)
		addr := fs.String("addr", cfg.TemporalUIAddr, "listen address of the UI")
		frontend := fs.String("frontend", cfg.TemporalAddress, "gRPC address of the Temporal frontend")
		ns := fs.String("namespace", cfg.TemporalNamespace, "namespace the UI opens")
		_ = fs.Parse(os.Args[2:])
		if err := devserver.ServeUI(ctx, *addr, *frontend, *ns, log); err != nil {
			fail("Temporal UI failed", err)
		}
	case "":
		fs := flag.NewFlagSet("devstack", flag.ExitOnError)
		topo := fs.String("topology", "embedded", "embedded (make run: one Temporal process on SQLite, one orders process) or cluster (make cluster: the production shape)")
		_ = fs.Parse(os.Args[1:])
		t, err := stack.ParseTopology(*topo)
		if err != nil {
			fmt.Fprintln(os.Stderr, "devstack:", err)
			os.Exit(2)
		}
		if err := run(ctx, cfg, t, log); err != nil {
			if ctx.Err() != nil {
				// Ctrl-C during start-up: what was started is stopped; not a failure.
				log.Info("interrupted during start-up", "err", err)
				return
			}
			fail("dev stack failed", err)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: devstack [-topology embedded|cluster] | temporal | temporal-schema | temporal-service | temporal-ui")
		os.Exit(2)
	}
}

// run starts the stack, waits for a signal or a failure, and stops what it started. It
// returns nil only for a shutdown asked for by a signal.
func run(ctx context.Context, cfg *config.Config, topo stack.Topology, log *slog.Logger) error {
	began := time.Now()
	binDir, err := executableDir()
	if err != nil {
		return err
	}
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
	opts := stack.Options{
		Topology: topo, BinDir: binDir, Env: env, Terminal: os.Stdout, Logger: log,
		Namespace: cfg.TemporalNamespace, TaskQueue: cfg.TaskQueue,
		TemporalAddr: cfg.TemporalAddress, UIAddr: cfg.TemporalUIAddr, APIAddr: cfg.APIAddr, SimAddr: cfg.SellerSimAddr,
		PG:          pgcluster.Options{DataDir: cfg.PGDataDir, Port: cfg.PGPort, BinDir: cfg.PGBinDir, Durable: true},
		DatabaseURL: cfg.DatabaseURL,
	}
	switch topo {
	case stack.Cluster:
		dir := filepath.Join(filepath.Dir(cfg.PGDataDir), clusterDir)
		opts.DataDir, opts.PG.DataDir = dir, filepath.Join(dir, "postgres")
		opts.APIs, opts.Workers = 2, 2
		// api-1, api-2, worker-1, worker-2 from METRICS_ADDR's port up.
		opts.MetricsAddrs = consecutive(cfg.MetricsAddr, 4)
	default:
		opts.DataDir, opts.TemporalDBFile = filepath.Dir(cfg.TemporalDBFile), cfg.TemporalDBFile
		opts.Combined = true
		opts.MetricsAddrs = []string{cfg.MetricsAddr}
	}
	st, err := stack.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		st.Stop()
		log.Info("dev stack stopped")
	}()
	if cfg.DemoCatalogue {
		if err := loadDemoCatalogue(ctx, cfg, st.APIBase, log); err != nil {
			// The stack is still useful without it; say what failed and go on.
			log.Error("demo catalogue not loaded (the stack keeps running)", "err", err)
		}
	}
	where := []any{
		slog.String("topology", string(topo)),
		slog.String("postgres", withoutPassword(st.DBURL)),
		slog.String("temporal", st.TemporalAddr+" (namespace "+cfg.TemporalNamespace+")"),
		slog.String("temporalUI", st.UIURL),
		slog.String("api", st.APIBase),
		slog.String("metrics", strings.Join(st.MetricsURLs, " ")),
		slog.String("sellersim", st.SimBase),
		slog.String("data", opts.DataDir),
		slog.Duration("startup", time.Since(began).Round(time.Millisecond)),
	}
	if topo == stack.Cluster {
		var names []string
		for _, p := range st.Processes() {
			names = append(names, p.Name())
		}
		where = append(where, slog.String("processes", strings.Join(names, " ")))
	}
	log.Info("dev stack ready; Ctrl-C stops it", where...)

	for {
		select {
		case <-ctx.Done():
			log.Info("signal received, stopping the dev stack")
			return nil
		case p := <-st.Exited():
			if topo != stack.Cluster {
				log.Error("child exited unexpectedly, stopping the dev stack", "name", p.Name())
				return fmt.Errorf("%s exited unexpectedly", p.Name())
			}
			// The production shape restarts what dies, as its orchestrator would, so that
			// killing a process shows the others carry on and the dead one rejoins.
			if err := restartDead(ctx, p, log); err != nil {
				return err
			}
		}
	}
}

// restartBackoff is how long make cluster waits before it starts a dead process again.
const restartBackoff = 2 * time.Second

// restartDead starts p again after restartBackoff, unless the stack is stopping.
func restartDead(ctx context.Context, p *stack.Process, log *slog.Logger) error {
	log.Warn("process died; restarting it", "process", p.Name(), "in", restartBackoff, "starts_so_far", p.Starts())
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(restartBackoff):
	}
	if err := p.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("restart %s: %w", p.Name(), err)
	}
	log.Info("process back", "process", p.Name())
	return nil
}

// consecutive is n listen addresses from addr's port up (none if addr is empty: metrics off).
func consecutive(addr string, n int) []string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || addr == "" {
		return nil
	}
	var p int
	if _, err := fmt.Sscan(port, &p); err != nil {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = net.JoinHostPort(host, fmt.Sprint(p+i))
	}
	return out
}

// runTemporal serves the embedded Temporal server and its UI alone until ctx ends.
func runTemporal(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
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
		return fmt.Errorf("start Temporal: %w", err)
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
			"endpoint":  "http://" + ports.Dialable(cfg.SellerSimAddr) + "/sellers/seller-demo/produce",
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
