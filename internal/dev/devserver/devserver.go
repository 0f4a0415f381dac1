// Package devserver runs a complete Temporal server (frontend, history, matching and
// worker services) and the Temporal web UI inside the calling process, persisting to one
// SQLite file, for `make run` and for tests that need a real server.
//
// Why embedded rather than the Temporal CLI's dev server: the CLI cannot be built here
// (see docs/platform-notes.md), and an embedded server stops with the dev stack, keeps
// its data in .data/ next to PostgreSQL's, and has our search attributes registered
// before any worker starts.
//
// Importing this package links the whole server (~200 MB binary, minutes of cold build):
// only cmd/devstack and this package's own test should import it.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/cloudmarket/orders/internal/searchattr"
	"github.com/cloudmarket/orders/internal/temporalx"
)

const (
	// ClusterName names the one cluster; only the server itself sees it.
	ClusterName = "active"
	// ClusterID is fixed so that a data file is always opened by "the same" cluster; the
	// server wants a UUID here and warns on every start otherwise.
	ClusterID = "5b4f0d3e-8c1a-4f53-9a55-2f0d6c1e7a10"
	// DefaultFrontendAddr is where SDK clients find the server (TEMPORAL_ADDRESS).
	DefaultFrontendAddr = "127.0.0.1:7233"
	// DefaultNamespace is created when Options.Namespace is empty.
	DefaultNamespace = "default"
	// DefaultRetention keeps closed workflows a week: long enough to look at a finished
	// demo order in the UI, short enough for the SQLite file to stay small.
	DefaultRetention = 7 * 24 * time.Hour
)

// services are the server's services in the order of their ports (see reservePorts).
var services = []primitives.ServiceName{
	primitives.FrontendService, primitives.HistoryService, primitives.MatchingService, primitives.WorkerService,
}

// Options configures Start. The zero value is an in-memory server on DefaultFrontendAddr,
// namespace "default", no UI.
type Options struct {
	// DBFile is the SQLite file. A missing file is created with the schema on first
	// start and reused after (workflows survive restarts). Empty = in memory, lost on
	// Stop (tests).
	DBFile string
	// FrontendAddr is the frontend's gRPC host:port (default DefaultFrontendAddr). Port 0 =
	// a free port (tests; read it back with Server.FrontendAddr). A taken port is an
	// error, not silently moved: clients are configured with this address.
	FrontendAddr string
	// Namespace is created (if missing) before the server starts; default "default".
	Namespace string
	// Retention of closed workflows in a namespace created by this start; default
	// DefaultRetention. An existing namespace keeps its retention.
	Retention time.Duration
	// SearchAttributes are registered on Namespace after start; nil = the order
	// workflows' attributes (searchattr.All()).
	SearchAttributes map[string]enumspb.IndexedValueType
	// UIAddr is the web UI's host:port, e.g. "127.0.0.1:8233"; empty = no UI.
	UIAddr string
	// Logger receives our messages and the server's own at ServerLogLevel and above.
	Logger *slog.Logger
	// ServerLogLevel is the lowest level of the server's own messages that is passed on;
	// nil = warn (the server is very chatty at info).
	ServerLogLevel slog.Leveler
}

// Server is a running embedded Temporal server (and UI).
type Server struct {
	log          *slog.Logger
	logLevel     *slog.LevelVar // floor of the server's own messages
	server       temporal.Server
	ui           *uiserver.Server
	frontendAddr string
	uiAddr       string
	namespace    string
	stopOnce     sync.Once
}

// Start creates the SQLite file and namespace if needed, starts the server and the UI,
// and returns once clients can use the namespace and its search attributes. ctx bounds
// the start; on error nothing is left running.
func Start(ctx context.Context, opts Options) (*Server, error) {
	began := time.Now()
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.FrontendAddr == "" {
		opts.FrontendAddr = DefaultFrontendAddr
	}
	if opts.Namespace == "" {
		opts.Namespace = DefaultNamespace
	}
	if opts.Retention == 0 {
		opts.Retention = DefaultRetention
	}
	if opts.SearchAttributes == nil {
		opts.SearchAttributes = searchattr.All()
	}
	if opts.ServerLogLevel == nil {
		opts.ServerLogLevel = slog.LevelWarn
	}

	host, port, err := splitAddr(opts.FrontendAddr)
	if err != nil {
		return nil, fmt.Errorf("devserver: frontend address: %w", err)
	}
	// Reserve every port at once so that no two services draw the same free port.
	// ports: gRPC of frontend, history, matching, worker, then the frontend's HTTP API
	// (unused by us, but without it the server warns on every start that Nexus is off).
	ports, release, err := reservePorts(host, port, 4)
	if err != nil {
		return nil, fmt.Errorf("devserver: frontend address %s: %w (is another Temporal server or dev stack running?)", opts.FrontendAddr, err)
	}
	if opts.UIAddr != "" {
		// The UI server exits the process when it cannot listen, so check first.
		if err := checkFree(opts.UIAddr); err != nil {
			release()
			return nil, fmt.Errorf("devserver: UI address %s: %w", opts.UIAddr, err)
		}
	}

	sqlCfg, err := prepareDB(opts, log)
	if err != nil {
		release()
		return nil, err
	}
	cfg := serverConfig(sqlCfg, host, ports)
	frontendAddr := net.JoinHostPort(host, strconv.Itoa(ports[0]))

	hosts := map[primitives.ServiceName]static.Hosts{}
	for i, svc := range services {
		hosts[svc] = static.SingleLocalHost(net.JoinHostPort(host, strconv.Itoa(ports[i])))
	}
	logLevel := new(slog.LevelVar)
	logLevel.Set(opts.ServerLogLevel.Level())
	slogger := newServerLogger(log, logLevel)
	// The services bind their ports while the server is built: free them just before.
	release()
	srv, err := newServer(cfg, slogger,
		temporal.ForServices(temporal.DefaultServices),
		// Static hosts: one process, so no ringpop membership (no gossip ports, no
		// join wait at start).
		temporal.WithStaticHosts(hosts),
	)
	if err != nil {
		return nil, fmt.Errorf("devserver: create server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("devserver: start server: %w", err)
	}
	s := &Server{log: log, logLevel: logLevel, server: srv, frontendAddr: frontendAddr, namespace: opts.Namespace}
	fail := func(err error) (*Server, error) {
		s.Stop()
		return nil, err
	}

	if opts.UIAddr != "" {
		if err := s.startUI(ctx, opts.UIAddr); err != nil {
			return fail(err)
		}
	}

	c, err := temporalx.Dial(ctx, client.Options{
		HostPort:  frontendAddr,
		Namespace: opts.Namespace,
		Logger:    sdklog.NewStructuredLogger(log.With("component", "devserver-client")),
	})
	if err != nil {
		return fail(fmt.Errorf("devserver: %w", err))
	}
	defer c.Close()
	if err := temporalx.WaitForNamespace(ctx, c, opts.Namespace); err != nil {
		return fail(fmt.Errorf("devserver: %w", err))
	}
	if err := temporalx.EnsureSearchAttributes(ctx, c, opts.Namespace, opts.SearchAttributes); err != nil {
		return fail(fmt.Errorf("devserver: %w", err))
	}
	log.Info("Temporal server ready", "frontend", frontendAddr, "namespace", opts.Namespace,
		"ui", s.UIURL(), "dbFile", opts.DBFile, "elapsed", time.Since(began).Round(time.Millisecond))
	return s, nil
}

// FrontendAddr is the gRPC host:port clients dial.
func (s *Server) FrontendAddr() string { return s.frontendAddr }

// Namespace is the namespace Start created or found.
func (s *Server) Namespace() string { return s.namespace }

// UIURL is the web UI's base URL, or "" without a UI.
func (s *Server) UIURL() string {
	if s.uiAddr == "" {
		return ""
	}
	return "http://" + s.uiAddr
}

// Stop stops the UI and the server (gracefully: running workflow tasks are finished or
// handed back). Calling it again does nothing.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		began := time.Now()
		// While stopping, the server's internal clients warn about every connection the
		// stop closes; only errors are worth showing then.
		if s.logLevel.Level() < slog.LevelError {
			s.logLevel.Set(slog.LevelError)
		}
		if s.ui != nil {
			s.ui.Stop()
		}
		if err := s.server.Stop(); err != nil {
			s.log.Warn("Temporal server stop", "err", err)
		}
		s.log.Info("Temporal server stopped", "elapsed", time.Since(began).Round(time.Millisecond))
	})
}

// prepareDB builds the SQLite settings and, before the server opens the file, creates the
// schema (first start) and the namespace (if missing).
func prepareDB(opts Options, log *slog.Logger) (*config.SQL, error) {
	sqlCfg := &config.SQL{
		PluginName: sqliteplugin.PluginName,
		// One connection: measured twice the throughput of the default settings; more
		// connections only produce SQLITE_BUSY (platform-notes.md).
		MaxConns:     1,
		MaxIdleConns: 1,
	}
	if opts.DBFile == "" {
		sqlCfg.DatabaseName = "devserver-" + strconv.FormatUint(rand.Uint64(), 36)
		sqlCfg.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
	} else {
		abs, err := filepath.Abs(opts.DBFile)
		if err != nil {
			return nil, fmt.Errorf("devserver: database file: %w", err)
		}
		sqlCfg.DatabaseName = abs
		sqlCfg.ConnectAttributes = map[string]string{
			"mode": "rwc",
			// Anything that is not an SQLite URI parameter becomes a pragma.
			"journal_mode": "wal",
			"synchronous":  "normal",
			"busy_timeout": "10000",
		}
		if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
				return nil, fmt.Errorf("devserver: create folder of the database file: %w", err)
			}
			began := time.Now()
			if err := sqliteschema.SetupSchema(sqlCfg); err != nil {
				// A half-made file would be "reused" next time and fail in odd ways.
				for _, suffix := range []string{"", "-wal", "-shm"} {
					_ = os.Remove(abs + suffix)
				}
				return nil, fmt.Errorf("devserver: create schema in %s: %w", abs, err)
			}
			log.Info("created Temporal SQLite database", "file", abs, "elapsed", time.Since(began).Round(time.Millisecond))
		} else if err != nil {
			return nil, fmt.Errorf("devserver: database file: %w", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), sparseTimeout)
		n, err := sparseSQLiteVisibility(ctx, abs)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("devserver: sparse visibility indexes in %s: %w", abs, err)
		}
		if n > 0 {
			log.Info("visibility indexes over search-attribute slots made partial", "file", abs, "indexes", n)
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig(ClusterName, opts.Namespace, false, nil)
	if err != nil {
		return nil, fmt.Errorf("devserver: namespace %q: %w", opts.Namespace, err)
	}
	ns.Detail.Config.Retention = durationpb.New(opts.Retention)
	if err := sqliteschema.CreateNamespaces(sqlCfg, ns); err != nil {
		return nil, fmt.Errorf("devserver: create namespace %q: %w", opts.Namespace, err)
	}
	return sqlCfg, nil
}

// serverConfig is the static configuration of a one-process cluster on host:
// ports[0..3] are the gRPC ports of frontend, history, matching and worker, ports[4] the
// frontend's HTTP port.
func serverConfig(sqlCfg *config.SQL, host string, ports []int) *config.Config {
	const store = "sqlite-default"
	frontend := net.JoinHostPort(host, strconv.Itoa(ports[0]))
	cfg := &config.Config{}
	cfg.Persistence = config.Persistence{
		DefaultStore:     store,
		VisibilityStore:  store,
		NumHistoryShards: 1, // one process, one SQLite connection: more shards buy nothing
		DataStores:       map[string]config.DataStore{store: {SQL: sqlCfg}},
	}
	cfg.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        ClusterName,
		CurrentClusterName:       ClusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			ClusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontend,
				ClusterID:              ClusterID,
			},
		},
	}
	cfg.DCRedirectionPolicy.Policy = "noop"
	cfg.Services = map[string]config.Service{}
	for i, svc := range services {
		cfg.Services[string(svc)] = config.Service{RPC: config.RPC{GRPCPort: ports[i], BindOnIP: host}}
	}
	fe := cfg.Services[string(primitives.FrontendService)]
	fe.RPC.HTTPPort = ports[4]
	cfg.Services[string(primitives.FrontendService)] = fe
	cfg.Archival.History.State = "disabled"
	cfg.Archival.Visibility.State = "disabled"
	cfg.NamespaceDefaults.Archival.History.State = "disabled"
	cfg.NamespaceDefaults.Archival.Visibility.State = "disabled"
	cfg.PublicClient.HostPort = frontend
	return cfg
}

// startUI serves the Temporal web UI at addr, pointed at our frontend, and waits until it
// answers.
func (s *Server) startUI(ctx context.Context, addr string) error {
	host, port, err := splitAddr(addr)
	if err != nil {
		return fmt.Errorf("devserver: UI address: %w", err)
	}
	s.uiAddr = net.JoinHostPort(host, strconv.Itoa(port))
	s.ui = uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		Host:                host,
		Port:                port,
		TemporalGRPCAddress: s.frontendAddr,
		EnableUI:            true,
		DefaultNamespace:    s.namespace,
		// Plain http on loopback: a Secure CSRF cookie would never be sent back.
		CORS:               uiconfig.CORS{CookieInsecure: true},
		HideLogs:           true,
		DisableNewsFetch:   true, // no internet access needed, no outbound calls
		NotifyOnNewVersion: false,
	}))
	go func() {
		// Start blocks until Stop; a listen failure exits the process inside the UI
		// library, which is why Start checks the port first.
		if err := s.ui.Start(); err != nil {
			s.log.Error("Temporal UI stopped", "err", err)
		}
	}()
	hc := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.uiAddr+"/healthz", nil)
		if err != nil {
			return fmt.Errorf("devserver: UI health request: %w", err)
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devserver: UI at %s did not answer: %w", s.uiAddr, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func splitAddr(addr string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	if host == "" || host == "localhost" {
		host = "127.0.0.1"
	}
	return host, port, nil
}

// reservePorts holds the frontend port (0 = any) and extra free ports on host until
// release is called, so that none of them is handed out twice.
func reservePorts(host string, frontend, extra int) (ports []int, release func(), err error) {
	var listeners []net.Listener
	release = func() {
		for _, l := range listeners {
			_ = l.Close()
		}
		listeners = nil
	}
	for i := 0; i <= extra; i++ {
		port := 0
		if i == 0 {
			port = frontend
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			release()
			return nil, nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, release, nil
}

func checkFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

// newServer builds a Temporal server of cfg with what every server here shares: its
// logger, the authorizer and claim mapper cfg names, and the development dynamic config (a
// search attribute registered a moment ago is usable at once, at the cost of a database
// read per lookup). opts add which services it runs and how it finds the others.
func newServer(cfg *config.Config, logger *serverLogger, opts ...temporal.ServerOption) (temporal.Server, error) {
	authorizer, err := authorization.GetAuthorizerFromConfig(&cfg.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("devserver: authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&cfg.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("devserver: claim mapper: %w", err)
	}
	return temporal.NewServer(append([]temporal.ServerOption{
		temporal.WithConfig(cfg),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
		}),
	}, opts...)...)
}
