// Package stack is the one launcher of the development harness: it starts, stops, kills
// and restarts the processes of the whole system on one machine, waits for each to be
// ready, prefixes their output or writes it to a log file each, and owns the topology.
// cmd/devstack (`make run`, `make cluster`) and the fault soak (internal/dev/soak) both
// run the system through it, so that what the soak tests is what developers run.
//
// Two topologies:
//   - Embedded (`make run`, the soak's default): PostgreSQL, the embedded one-process
//     Temporal server on SQLite with its UI (`devstack temporal`), the simulator, and the
//     orders binary as one process with both roles or as API and worker processes.
//   - Cluster (`make cluster`, `soak -topology cluster`): the production shape of deploy/
//     on one machine. One PostgreSQL server holds the orders database and Temporal's
//     persistence and visibility databases (schemas by the server's own schema tool,
//     `devstack temporal-schema`); Temporal runs as separate processes, a frontend, two
//     history processes sharing the shards, matching and worker (`devstack
//     temporal-service NAME`), with the UI as a process of its own (`devstack
//     temporal-ui`); two API processes behind one port (Proxy, in the launcher's process);
//     two worker processes; the simulator.
//
// This package never links the Temporal server (the devstack binary does, and the stack
// runs it as its children), so the soak stays a small binary.
package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/cloudmarket/orders/internal/dev/pgcluster"
	"github.com/cloudmarket/orders/internal/dev/ports"
	"github.com/cloudmarket/orders/internal/searchattr"
	"github.com/cloudmarket/orders/internal/temporalx"
)

// Topology names a shape of the stack.
type Topology string

// The topologies (see the package comment).
const (
	Embedded Topology = "embedded"
	Cluster  Topology = "cluster"
)

// ParseTopology accepts "embedded" (or "", "dev") and "cluster".
func ParseTopology(s string) (Topology, error) {
	switch s {
	case "", "embedded", "dev":
		return Embedded, nil
	case "cluster":
		return Cluster, nil
	}
	return "", fmt.Errorf("unknown topology %q (embedded or cluster)", s)
}

// Databases of the cluster topology besides the orders database.
const (
	TemporalDatabase   = "temporal"
	VisibilityDatabase = "temporal_visibility"
	// SellerSimDatabase is the simulator's database (SELLERSIM_DATABASE_URL), where it
	// keeps sellers, instances and nonces, so that a restart (or the soak's kill) keeps
	// them.
	SellerSimDatabase = "sellersim"
	// HistoryShards of the cluster topology: enough for two history processes to share
	// them unevenly without one shard being a hot spot; fixed for the life of the data.
	HistoryShards = 16
	// Retention of closed workflows in a namespace the stack registers.
	Retention = 7 * 24 * time.Hour
)

// Options configures Start. Addresses left empty get free loopback ports.
type Options struct {
	Topology Topology
	// BinDir holds the devstack, orders and sellersim binaries.
	BinDir string
	// DataDir keeps what survives a restart of the stack: the cluster's spec file, and
	// temporal.db (embedded) unless TemporalDBFile says otherwise. PostgreSQL's data
	// folder is PG.DataDir.
	DataDir        string
	TemporalDBFile string
	// PG configures the PostgreSQL cluster (ignored with DatabaseURL).
	PG pgcluster.Options
	// DatabaseURL is an application database elsewhere (embedded only): no own PostgreSQL.
	DatabaseURL string
	// LogDir, when set, gets one log file per process (appended across restarts);
	// otherwise every line goes to Terminal with the process's name in front.
	LogDir   string
	Terminal io.Writer
	// Env is the environment every child starts from (nil = this process's).
	Env []string
	// OrdersEnv and SimEnv are added for the orders processes and the simulator.
	OrdersEnv, SimEnv []string
	// Namespace and TaskQueue of the order workflows.
	Namespace, TaskQueue string
	// TemporalAddr is the frontend's gRPC address, UIAddr the web UI's, APIAddr the
	// public API port (the proxy's in the cluster), SimAddr the simulator's.
	TemporalAddr, UIAddr, APIAddr, SimAddr string
	// MetricsAddrs are the metrics (and worker readiness) listeners of the orders
	// processes in start order (APIs, then workers); missing ones get free ports.
	MetricsAddrs []string
	// Combined runs one orders process with both roles on APIAddr (embedded only: make
	// run); otherwise APIs API processes and Workers worker processes run.
	Combined      bool
	APIs, Workers int
	// TemporalLogLevel is the LOG_LEVEL of the Temporal processes (default warn).
	TemporalLogLevel string
	Logger           *slog.Logger
}

// Stack is a running system. Its processes may be killed and restarted by the caller
// (the soak) through Process and Restart; Stop stops everything.
type Stack struct {
	opts Options
	log  *slog.Logger

	pgMu sync.Mutex
	pg   *pgcluster.Cluster
	// DBURL is the orders database's URL.
	DBURL string

	// Temporal is every Temporal process: the embedded server alone, or the cluster's
	// services in start order; UI is the cluster's UI process (nil when embedded: the
	// embedded server serves its UI itself).
	Temporal []*Process
	UI       *Process
	Sim      *Process
	APIs     []*Process
	Workers  []*Process
	Proxy    *Proxy

	// TemporalAddr, UIURL, APIBase (the public port) and SimBase say where things are.
	TemporalAddr, UIURL, APIBase, SimBase string
	// MetricsURLs are the orders processes' /metrics, in start order.
	MetricsURLs []string
	// SpecFile is the cluster's spec (cluster only).
	SpecFile string

	tc     client.Client
	exited chan *Process
}

// Start starts every part in order and waits until each is ready. On error what was
// started is stopped.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Terminal == nil {
		opts.Terminal = os.Stdout
	}
	if opts.Env == nil {
		opts.Env = os.Environ()
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.TemporalLogLevel == "" {
		opts.TemporalLogLevel = "warn"
	}
	if opts.Topology == Cluster {
		opts.Combined = false
		opts.DatabaseURL = ""
	}
	if opts.Combined {
		opts.APIs, opts.Workers = 1, 0
	}
	s := &Stack{opts: opts, log: opts.Logger, exited: make(chan *Process, 16)}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	for _, name := range []string{"devstack", "orders", "sellersim"} {
		if _, err := os.Stat(filepath.Join(opts.BinDir, name)); err != nil {
			return nil, fmt.Errorf("binary %s not found in %s (run `make build`): %w", name, opts.BinDir, err)
		}
	}
	for _, d := range []string{opts.DataDir, opts.LogDir} {
		if d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return nil, fmt.Errorf("create %s: %w", d, err)
			}
		}
	}
	if s.TemporalAddr, err = orFree(opts.TemporalAddr); err != nil {
		return nil, err
	}
	uiAddr, err := orFree(opts.UIAddr)
	if err != nil {
		return nil, err
	}
	s.UIURL = "http://" + uiAddr
	apiAddr, err := orFree(opts.APIAddr)
	if err != nil {
		return nil, err
	}
	s.APIBase = "http://" + ports.Dialable(apiAddr)
	simAddr, err := orFree(opts.SimAddr)
	if err != nil {
		return nil, err
	}
	s.SimBase = "http://" + ports.Dialable(simAddr)

	// PostgreSQL and the databases.
	dbs := []string{"orders", SellerSimDatabase}
	if opts.Topology == Cluster {
		dbs = append(dbs, TemporalDatabase, VisibilityDatabase)
	}
	if opts.DatabaseURL != "" {
		s.DBURL = opts.DatabaseURL
		s.log.Info("using the PostgreSQL server of DATABASE_URL")
	} else {
		if opts.Topology == Cluster && s.opts.PG.MaxConnections == 0 {
			// Five Temporal processes with a persistence and a visibility pool each
			// (devserver.ClusterSpec: 15 + 10), four orders processes (10 or 20 each), the
			// simulator, the soak's checks: well over PostgreSQL's default 100.
			s.opts.PG.MaxConnections = 400
		}
		pgOpts := s.opts.PG
		pgOpts.Logger = s.log
		if s.pg, err = pgcluster.Start(ctx, pgOpts); err != nil {
			return nil, fmt.Errorf("start PostgreSQL: %w", err)
		}
		s.opts.PG.Port = s.pg.Port() // a restart comes back where the processes look for it
		s.opts.PG.DataDir = s.pg.DataDir()
		for _, db := range dbs {
			if err := s.pg.CreateDatabase(ctx, db); err != nil {
				return nil, fmt.Errorf("create database %s: %w", db, err)
			}
		}
		s.DBURL = s.pg.URL("orders")
	}

	// Temporal.
	if opts.Topology == Cluster {
		err = s.startCluster(ctx, uiAddr)
	} else {
		err = s.startEmbedded(ctx, uiAddr)
	}
	if err != nil {
		return nil, err
	}

	// The simulator first, so that the workers' first calls find it.
	simEnv := append(slices.Clone(opts.Env), "SELLERSIM_ADDR="+simAddr, "SELLERSIM_CALLBACK_URL="+s.APIBase)
	if !hasVar(opts.Env, "SELLERSIM_DATABASE_URL") {
		// The simulator's own database on our cluster; on a server of DATABASE_URL it
		// shares the application's database, keeping to its own schema.
		simDB := s.DBURL
		if s.pg != nil {
			simDB = s.pg.URL(SellerSimDatabase)
		}
		simEnv = append(simEnv, "SELLERSIM_DATABASE_URL="+simDB)
	}
	s.Sim = s.newProcess("sellersim", "sellersim", nil, append(simEnv, opts.SimEnv...),
		func(ctx context.Context) error { return httpReady(ctx, nil, s.SimBase+"/healthz") }, 0)
	if err := s.Sim.Start(ctx); err != nil {
		return nil, err
	}

	// The API processes, then the workers.
	orders := append(slices.Clone(opts.Env), "DATABASE_URL="+s.DBURL, "TEMPORAL_ADDRESS="+s.TemporalAddr,
		"TEMPORAL_NAMESPACE="+opts.Namespace)
	if opts.TaskQueue != "" {
		orders = append(orders, "TEMPORAL_TASK_QUEUE="+opts.TaskQueue)
	}
	orders = append(orders, opts.OrdersEnv...)
	metrics := func(i int) (string, error) {
		if i < len(opts.MetricsAddrs) && opts.MetricsAddrs[i] != "" {
			return opts.MetricsAddrs[i], nil
		}
		return ports.FreeAddr()
	}
	var apiHosts []string
	for i := range opts.APIs {
		m, err := metrics(i)
		if err != nil {
			return nil, err
		}
		addr, name, roles := apiAddr, "api", "api"
		if opts.Combined {
			name, roles = "orders", "api,worker"
		} else if opts.Topology == Cluster {
			// Behind the proxy: each on a port of its own.
			if addr, err = ports.FreeAddr(); err != nil {
				return nil, err
			}
			name = fmt.Sprintf("api-%d", i+1)
		}
		// Only the first API process migrates: the rest start once it is ready.
		env := append(slices.Clone(orders), "ORDERS_ROLES="+roles, "API_ADDR="+addr, "METRICS_ADDR="+m,
			"MIGRATE_ON_START="+strconv.FormatBool(i == 0))
		readyURL := "http://" + ports.Dialable(addr) + "/readyz"
		p := s.newProcess(name, "orders", nil, env, func(ctx context.Context) error { return httpReady(ctx, nil, readyURL) }, 0)
		s.APIs = append(s.APIs, p)
		s.MetricsURLs = append(s.MetricsURLs, "http://"+ports.Dialable(m)+"/metrics")
		apiHosts = append(apiHosts, ports.Dialable(addr))
		if err := p.Start(ctx); err != nil {
			return nil, err
		}
	}
	if opts.Topology == Cluster {
		if s.Proxy, err = StartProxy(apiAddr, apiHosts, s.log.With("component", "api-proxy")); err != nil {
			return nil, err
		}
	}
	for i := range opts.Workers {
		m, err := metrics(opts.APIs + i)
		if err != nil {
			return nil, err
		}
		readyURL := "http://" + ports.Dialable(m) + "/readyz"
		env := append(slices.Clone(orders), "ORDERS_ROLES=worker", "METRICS_ADDR="+m, "MIGRATE_ON_START=false")
		p := s.newProcess(fmt.Sprintf("worker-%d", i+1), "orders", nil, env,
			func(ctx context.Context) error { return httpReady(ctx, nil, readyURL) }, 0)
		s.Workers = append(s.Workers, p)
		s.MetricsURLs = append(s.MetricsURLs, "http://"+ports.Dialable(m)+"/metrics")
		if err := p.Start(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// newProcess makes a child of binary bin (in BinDir) with the stack's output settings.
func (s *Stack) newProcess(name, bin string, args, env []string, ready func(context.Context) error, within time.Duration) *Process {
	p := &Process{name: name, path: filepath.Join(s.opts.BinDir, bin), args: args, env: env, term: s.opts.Terminal,
		log: s.log, ready: ready, readyWithin: within, exited: s.exited, deathSignal: syscall.SIGKILL}
	if s.opts.LogDir != "" {
		p.logPath = filepath.Join(s.opts.LogDir, name+".log")
	} else {
		p.deathSignal = syscall.SIGTERM // a developer's stack: let it stop gracefully
	}
	return p
}

// startEmbedded starts `devstack temporal`: the one-process server on SQLite and its UI.
func (s *Stack) startEmbedded(ctx context.Context, uiAddr string) error {
	dbFile := s.opts.TemporalDBFile
	if dbFile == "" {
		dbFile = filepath.Join(s.opts.DataDir, "temporal.db")
	}
	env := append(slices.Clone(s.opts.Env), "TEMPORAL_DB_FILE="+dbFile,
		"TEMPORAL_ADDRESS="+s.TemporalAddr, "TEMPORAL_UI_ADDR="+uiAddr, "TEMPORAL_NAMESPACE="+s.opts.Namespace)
	p := s.newProcess("temporal", "devstack", []string{"temporal"}, env, s.namespaceReady, 3*time.Minute)
	s.Temporal = []*Process{p}
	return p.Start(ctx)
}

// clusterService is a process of the cluster with its Temporal service.
type clusterService struct{ name, kind string }

// ClusterServices are the cluster's Temporal processes in start order: the history
// processes first (they own the shards), the frontend, which waits for both, and the
// worker service, which needs the frontend.
var ClusterServices = []clusterService{
	{"history-1", "history"}, {"history-2", "history"}, {"matching", "matching"}, {"frontend", "frontend"}, {"tworker", "worker"},
}

// clusterSpec mirrors devserver.ClusterSpec (this package does not link the server).
type clusterSpec struct {
	PGHost             string        `json:"pgHost"`
	PGPort             int           `json:"pgPort"`
	PGUser             string        `json:"pgUser"`
	Database           string        `json:"database"`
	VisibilityDatabase string        `json:"visibilityDatabase"`
	HistoryShards      int32         `json:"historyShards"`
	Services           []serviceSpec `json:"services"`
}

type serviceSpec struct {
	Name           string `json:"name"`
	Kind           string `json:"kind"`
	GRPCPort       int    `json:"grpcPort"`
	MembershipPort int    `json:"membershipPort"`
	HTTPPort       int    `json:"httpPort,omitempty"`
}

// startCluster writes the cluster's spec, has the schema tool create or upgrade
// Temporal's databases, starts every service and the UI, and registers the namespace and
// the search attributes.
func (s *Stack) startCluster(ctx context.Context, uiAddr string) error {
	_, fePort, err := net.SplitHostPort(s.TemporalAddr)
	if err != nil {
		return fmt.Errorf("frontend address %s: %w", s.TemporalAddr, err)
	}
	spec := clusterSpec{PGHost: "127.0.0.1", PGPort: s.pg.Port(), PGUser: pgcluster.SuperUser,
		Database: TemporalDatabase, VisibilityDatabase: VisibilityDatabase, HistoryShards: HistoryShards}
	for _, svc := range ClusterServices {
		ss := serviceSpec{Name: svc.name, Kind: svc.kind}
		if svc.kind == "frontend" {
			ss.GRPCPort, _ = strconv.Atoi(fePort)
			if ss.HTTPPort, err = ports.Free(); err != nil {
				return err
			}
		} else if ss.GRPCPort, err = ports.Free(); err != nil {
			return err
		}
		if ss.MembershipPort, err = ports.FreeLow(); err != nil {
			return err
		}
		spec.Services = append(spec.Services, ss)
	}
	raw, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	s.SpecFile = filepath.Join(s.opts.DataDir, "temporal-cluster.json")
	if err := os.WriteFile(s.SpecFile, raw, 0o644); err != nil {
		return fmt.Errorf("write the cluster spec: %w", err)
	}
	env := append(slices.Clone(s.opts.Env), "LOG_LEVEL="+s.opts.TemporalLogLevel)

	schema := s.newProcess("temporal-schema", "devstack", []string{"temporal-schema", "-spec", s.SpecFile}, env, nil, 0)
	schema.exited = nil
	if err := schema.spawn(); err != nil {
		return err
	}
	if err := waitExit(ctx, schema, 2*time.Minute); err != nil {
		return fmt.Errorf("Temporal schema: %w", err)
	}

	for i, svc := range ClusterServices {
		ready := func(ctx context.Context) error { return tcpReady(ctx, spec.Services[i].GRPCPort) }
		within := time.Minute
		if svc.kind == "frontend" {
			ready, within = s.frontendReady, 3*time.Minute
		}
		p := s.newProcess(svc.name, "devstack", []string{"temporal-service", "-spec", s.SpecFile, svc.name}, env, ready, within)
		s.Temporal = append(s.Temporal, p)
		if err := p.Start(ctx); err != nil {
			return err
		}
	}
	if err := s.registerNamespace(ctx); err != nil {
		return err
	}
	s.UI = s.newProcess("temporal-ui", "devstack",
		[]string{"temporal-ui", "-addr", uiAddr, "-frontend", s.TemporalAddr, "-namespace", s.opts.Namespace}, env,
		func(ctx context.Context) error { return httpReady(ctx, nil, s.UIURL+"/healthz") }, 0)
	return s.UI.Start(ctx)
}

func waitExit(ctx context.Context, p *Process, within time.Duration) error {
	_, done := p.live()
	if done == nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		return exitStatus(p)
	}
	select {
	case <-done:
	case <-ctx.Done():
		_ = p.Kill()
		return ctx.Err()
	case <-time.After(within):
		_ = p.Kill()
		return fmt.Errorf("%s did not finish within %v", p.name, within)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return exitStatus(p)
}

func exitStatus(p *Process) error {
	if p.cmd == nil || p.cmd.ProcessState == nil {
		return fmt.Errorf("%s did not run", p.name)
	}
	if !p.cmd.ProcessState.Success() {
		return fmt.Errorf("%s failed (%s); see its output", p.name, p.cmd.ProcessState)
	}
	return nil
}

// client is the stack's own Temporal client (lazy: it connects on first use and again
// after the frontend restarts).
func (s *Stack) client() (client.Client, error) {
	if s.tc != nil {
		return s.tc, nil
	}
	tc, err := client.NewLazyClient(client.Options{HostPort: s.TemporalAddr, Namespace: s.opts.Namespace,
		Logger: sdklog.NewStructuredLogger(s.log.With("component", "temporal-client"))})
	if err != nil {
		return nil, fmt.Errorf("Temporal client: %w", err)
	}
	s.tc = tc
	return tc, nil
}

// Client is a Temporal client of the stack's namespace.
func (s *Stack) Client() client.Client {
	tc, _ := s.client()
	return tc
}

// namespaceReady answers nil once the frontend describes the namespace.
func (s *Stack) namespaceReady(ctx context.Context) error {
	tc, err := s.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = tc.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s.opts.Namespace})
	return err
}

// frontendReady answers nil once the frontend serves (before the namespace exists).
func (s *Stack) frontendReady(ctx context.Context) error {
	tc, err := s.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = tc.WorkflowService().GetSystemInfo(ctx, &workflowservice.GetSystemInfoRequest{})
	return err
}

// registerNamespace registers the namespace (first start) and our search attributes.
func (s *Stack) registerNamespace(ctx context.Context) error {
	began := time.Now()
	tc, err := s.client()
	if err != nil {
		return err
	}
	nc, err := client.NewNamespaceClient(client.Options{HostPort: s.TemporalAddr,
		Logger: sdklog.NewStructuredLogger(s.log.With("component", "temporal-client"))})
	if err != nil {
		return fmt.Errorf("Temporal namespace client: %w", err)
	}
	defer nc.Close()
	for {
		err := nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace: s.opts.Namespace, WorkflowExecutionRetentionPeriod: durationpb.New(Retention)})
		var exists *serviceerror.NamespaceAlreadyExists
		if err == nil || errors.As(err, &exists) {
			break
		}
		if ctx.Err() != nil || time.Since(began) > 2*time.Minute {
			return fmt.Errorf("register namespace %s: %w", s.opts.Namespace, err)
		}
		s.log.Debug("namespace registration not accepted yet", "err", err)
		time.Sleep(500 * time.Millisecond)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := temporalx.WaitForNamespace(waitCtx, tc, s.opts.Namespace); err != nil {
		return err
	}
	if err := temporalx.EnsureSearchAttributes(waitCtx, tc, s.opts.Namespace, searchattr.All()); err != nil {
		return err
	}
	s.log.Info("namespace and search attributes registered", "namespace", s.opts.Namespace,
		"searchAttributes", len(searchattr.All()), "elapsed", time.Since(began).Round(time.Millisecond))
	return nil
}

// SearchAttributeTypes are the types of the namespace's custom search attributes as the
// server reports them (what the visibility store accepted).
func (s *Stack) SearchAttributeTypes(ctx context.Context) (map[string]enumspb.IndexedValueType, error) {
	tc, err := s.client()
	if err != nil {
		return nil, err
	}
	res, err := tc.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s.opts.Namespace})
	if err != nil {
		return nil, fmt.Errorf("list search attributes: %w", err)
	}
	return res.GetCustomAttributes(), nil
}

// Processes is every child process, Temporal first.
func (s *Stack) Processes() []*Process {
	var out []*Process
	out = append(out, s.Temporal...)
	for _, p := range []*Process{s.UI, s.Sim} {
		if p != nil {
			out = append(out, p)
		}
	}
	out = append(out, s.APIs...)
	return append(out, s.Workers...)
}

// Process is the child called name, or nil.
func (s *Stack) Process(name string) *Process {
	for _, p := range s.Processes() {
		if p.name == name {
			return p
		}
	}
	return nil
}

// Exited hears of each child that exits without being told to.
func (s *Stack) Exited() <-chan *Process { return s.exited }

// RestartPostgres stops PostgreSQL, in immediate mode (a crash: no checkpoint, recovery
// from the write-ahead log at the next start) or fast mode (every session cut, a clean
// shutdown), and starts it again on the same data and port. It returns how long the
// server was down.
func (s *Stack) RestartPostgres(ctx context.Context, crash bool) (time.Duration, error) {
	s.pgMu.Lock()
	defer s.pgMu.Unlock()
	if s.pg == nil {
		return 0, errors.New("PostgreSQL is not the stack's own")
	}
	began := time.Now()
	stop := s.pg.Stop
	if crash {
		stop = s.pg.Crash
	}
	if err := stop(ctx); err != nil {
		return 0, fmt.Errorf("stop PostgreSQL: %w", err)
	}
	pgOpts := s.opts.PG
	pgOpts.Logger = s.log
	pg, err := pgcluster.Start(ctx, pgOpts)
	if err != nil {
		return 0, fmt.Errorf("restart PostgreSQL: %w", err)
	}
	s.pg = pg
	if pg.Port() != s.opts.PG.Port {
		return 0, fmt.Errorf("PostgreSQL came back on port %d, not %d", pg.Port(), s.opts.PG.Port)
	}
	return time.Since(began), nil
}

// Stop stops everything in reverse order of start: the workers and the API processes
// together, the proxy, the simulator and the UI, the Temporal processes (the frontend and
// the worker service, then matching, then both history processes: each group at once, as
// a graceful stop takes seconds, and in that order so that no service is left calling
// one already gone), PostgreSQL.
func (s *Stack) Stop() {
	stopAll := func(ps []*Process) {
		var wg sync.WaitGroup
		for _, p := range ps {
			if p != nil {
				wg.Go(func() { _ = p.Stop() })
			}
		}
		wg.Wait()
	}
	stopAll(append(append([]*Process{}, s.Workers...), s.APIs...))
	if s.Proxy != nil {
		s.Proxy.Close()
	}
	stopAll([]*Process{s.Sim, s.UI})
	if len(s.Temporal) == len(ClusterServices) {
		stopAll(s.Temporal[3:])
		stopAll(s.Temporal[2:3])
		stopAll(s.Temporal[:2])
	} else {
		stopAll(s.Temporal)
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

// httpReady answers nil when url answers 200.
func httpReady(ctx context.Context, hc *http.Client, url string) error {
	if hc == nil {
		hc = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", url, res.StatusCode)
	}
	return nil
}

// tcpReady answers nil when something accepts connections on the loopback port.
func tcpReady(ctx context.Context, port int) error {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return c.Close()
}

func orFree(addr string) (string, error) {
	if addr != "" {
		return addr, nil
	}
	return ports.FreeAddr()
}

// hasVar reports whether env sets name to something.
func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == name && v != "" {
			return true
		}
	}
	return false
}
