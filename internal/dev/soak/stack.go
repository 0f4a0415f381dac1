package soak

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/cloudmarket/orders/internal/dev/pgcluster"
	"github.com/cloudmarket/orders/internal/dev/ports"
	"github.com/cloudmarket/orders/internal/secrets"
)

// namespace and taskQueue of the soak's own Temporal server.
const (
	namespace = "orders-soak"
	taskQueue = "orders-soak"
)

// stack is the real system the soak runs: PostgreSQL (pgcluster, a server process of its
// own), the Temporal server (`devstack temporal`), the seller simulator, the API and the
// workers (`orders` with one role each), every one a separate process the soak can stop,
// restart or kill.
type stack struct {
	dir string
	log *slog.Logger

	pgOpts pgcluster.Options
	pgMu   sync.Mutex
	pg     *pgcluster.Cluster
	dbURL  string

	temporal *process
	sim      *process
	api      *process
	workers  []*process

	temporalAddr, uiURL, apiBase, simBase string
	workerProbes                          []string // each worker's /readyz
	tc                                    client.Client
}

// startStack starts every part in order and waits until each is ready.
func startStack(ctx context.Context, opts Options, log *slog.Logger) (_ *stack, err error) {
	dir := opts.Dir
	s := &stack{dir: dir, log: log}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	for _, name := range []string{"devstack", "orders", "sellersim"} {
		if _, err := os.Stat(filepath.Join(opts.BinDir, name)); err != nil {
			return nil, fmt.Errorf("binary %s not found in %s (run `make build`): %w", name, opts.BinDir, err)
		}
	}
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, err
	}

	s.pgOpts = pgcluster.Options{DataDir: filepath.Join(dir, "pg"), Logger: log}
	if s.pg, err = pgcluster.Start(ctx, s.pgOpts); err != nil {
		return nil, fmt.Errorf("start PostgreSQL: %w", err)
	}
	s.pgOpts.Port = s.pg.Port() // a restart comes back where the processes look for it
	if err := s.pg.CreateDatabase(ctx, "orders"); err != nil {
		return nil, err
	}
	s.dbURL = s.pg.URL("orders")
	if err := s.pg.CreateDatabase(ctx, "sellersim"); err != nil { // the simulator's state, kept across its restarts
		return nil, err
	}

	addrs := make([]string, 5+opts.Workers)
	for i := range addrs {
		if addrs[i], err = ports.FreeAddr(); err != nil {
			return nil, err
		}
	}
	s.temporalAddr, s.uiURL = addrs[0], "http://"+addrs[1]
	s.apiBase, s.simBase = "http://"+addrs[2], "http://"+addrs[3]

	base := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir(),
		"LOG_LEVEL=info", "LOG_FORMAT=text",
		// A race-detector build (make test's) stops at the first race, which the soak
		// then reports as an unexpected exit.
		"GORACE=halt_on_error=1",
	}
	s.temporal = &process{name: "temporal", path: filepath.Join(opts.BinDir, "devstack"), args: []string{"temporal"},
		logPath: filepath.Join(logs, "temporal.log"), log: log, env: append(base[:len(base):len(base)],
			"TEMPORAL_DB_FILE="+filepath.Join(dir, "temporal.db"), "TEMPORAL_ADDRESS="+s.temporalAddr,
			"TEMPORAL_UI_ADDR="+addrs[1], "TEMPORAL_NAMESPACE="+namespace)}
	if err := s.startTemporal(ctx); err != nil {
		return nil, err
	}

	s.sim = &process{name: "sellersim", path: filepath.Join(opts.BinDir, "sellersim"),
		logPath: filepath.Join(logs, "sellersim.log"), log: log, env: append(base[:len(base):len(base)],
			"SELLERSIM_ADDR="+addrs[3], "SELLERSIM_CALLBACK_URL="+s.apiBase, "SELLERSIM_DATABASE_URL="+s.pg.URL("sellersim"), "LOG_LEVEL=warn")}
	if err := s.startAndWait(ctx, s.sim, s.simBase+"/healthz"); err != nil {
		return nil, err
	}

	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(soakPolicy), 0o644); err != nil {
		return nil, err
	}
	kek, err := secrets.NewKey("soak-1")
	if err != nil {
		return nil, err
	}
	orders := append(base[:len(base):len(base)],
		"DATABASE_URL="+s.dbURL, "TEMPORAL_ADDRESS="+s.temporalAddr, "TEMPORAL_NAMESPACE="+namespace,
		"TEMPORAL_TASK_QUEUE="+taskQueue, "POLICY_FILE="+policyFile, "KEY_ENCRYPTION_KEYS="+kek,
		"API_TOKENS=web:"+webToken+",ops:"+opsToken+",billing:"+billingToken,
		"SELLER_ENDPOINTS=development", "SHUTDOWN_DRAIN_DELAY=0s",
		// The soak's subscriber gets its events soon after they happen.
		"EVENTS_POLL_INTERVAL=100ms",
		// One web token speaks for every buyer and seller of the run.
		"RATE_LIMIT_TOKEN=off", "RATE_LIMIT_ACTOR=off", "RATE_LIMIT_SELLER_API=off")
	s.api = &process{name: "api", path: filepath.Join(opts.BinDir, "orders"), logPath: filepath.Join(logs, "api.log"), log: log,
		env: append(orders[:len(orders):len(orders)], "ORDERS_ROLES=api", "API_ADDR="+addrs[2], "METRICS_ADDR="+addrs[4], "MIGRATE_ON_START=true")}
	if err := s.startAndWait(ctx, s.api, s.apiBase+"/readyz"); err != nil {
		return nil, err
	}
	for i := range opts.Workers {
		addr := addrs[5+i]
		w := &process{name: fmt.Sprintf("worker-%d", i+1), path: filepath.Join(opts.BinDir, "orders"),
			logPath: filepath.Join(logs, fmt.Sprintf("worker-%d.log", i+1)), log: log,
			env: append(orders[:len(orders):len(orders)], "ORDERS_ROLES=worker", "METRICS_ADDR="+addr, "MIGRATE_ON_START=false")}
		s.workers = append(s.workers, w)
		s.workerProbes = append(s.workerProbes, "http://"+addr+"/readyz")
		if err := s.startAndWait(ctx, w, "http://"+addr+"/readyz"); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// startAndWait starts p and waits for its readiness URL to answer 200.
func (s *stack) startAndWait(ctx context.Context, p *process, readyURL string) error {
	if err := p.start(); err != nil {
		return err
	}
	return p.waitUntil(ctx, 2*time.Minute, func(ctx context.Context) error { return httpReady(ctx, readyURL) })
}

func httpReady(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", url, res.StatusCode)
	}
	return nil
}

// startTemporal starts the Temporal server process and waits until its namespace answers.
func (s *stack) startTemporal(ctx context.Context) error {
	if err := s.temporal.start(); err != nil {
		return err
	}
	if s.tc == nil {
		tc, err := client.NewLazyClient(client.Options{HostPort: s.temporalAddr, Namespace: namespace,
			Logger: sdklog.NewStructuredLogger(s.log.With("component", "temporal-client"))})
		if err != nil {
			return err
		}
		s.tc = tc
	}
	return s.temporal.waitUntil(ctx, 3*time.Minute, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := s.tc.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
		return err
	})
}

// restartPostgres stops PostgreSQL (fast mode: every session is cut) and starts it again on
// the same data and port.
func (s *stack) restartPostgres(ctx context.Context) (time.Duration, error) {
	s.pgMu.Lock()
	defer s.pgMu.Unlock()
	began := time.Now()
	if err := s.pg.Stop(ctx); err != nil {
		return 0, fmt.Errorf("stop PostgreSQL: %w", err)
	}
	pg, err := pgcluster.Start(ctx, s.pgOpts)
	if err != nil {
		return 0, fmt.Errorf("restart PostgreSQL: %w", err)
	}
	s.pg = pg
	if pg.Port() != s.pgOpts.Port {
		return 0, fmt.Errorf("PostgreSQL came back on port %d, not %d", pg.Port(), s.pgOpts.Port)
	}
	return time.Since(began), nil
}

// restartTemporal crashes the Temporal server (SIGKILL: no graceful shard hand-off, its
// SQLite file as a power cut leaves it) and starts it again on the same file and address.
func (s *stack) restartTemporal(ctx context.Context) (time.Duration, error) {
	began := time.Now()
	if err := s.temporal.kill(); err != nil {
		return 0, err
	}
	if err := s.startTemporal(ctx); err != nil {
		return 0, err
	}
	return time.Since(began), nil
}

// restartWorker starts a killed worker again and waits for its readiness.
func (s *stack) restartWorker(ctx context.Context, i int) error {
	return s.startAndWait(ctx, s.workers[i], s.workerProbes[i])
}

// stop stops everything, in reverse order of start.
func (s *stack) stop() {
	var wg sync.WaitGroup
	for _, w := range s.workers {
		wg.Go(func() { _ = w.stop() })
	}
	wg.Wait()
	for _, p := range []*process{s.api, s.sim, s.temporal} {
		if p != nil {
			_ = p.stop()
		}
	}
	if s.tc != nil {
		s.tc.Close()
	}
	s.pgMu.Lock()
	defer s.pgMu.Unlock()
	if s.pg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.pg.Stop(ctx); err != nil {
			s.log.Error("stop PostgreSQL", "err", err)
		}
	}
}

// logProblems scans every process log for what must never happen: data races, panics.
func (s *stack) logProblems() []string {
	var out []string
	files, _ := filepath.Glob(filepath.Join(s.dir, "logs", "*.log"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		text := string(raw)
		for _, bad := range []string{"WARNING: DATA RACE", "panic: ", "fatal error: "} {
			if n := strings.Count(text, bad); n > 0 {
				out = append(out, fmt.Sprintf("%s: %d× %q", filepath.Base(f), n, strings.TrimSpace(bad)))
			}
		}
	}
	return out
}
