package devserver

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"

	// The pgx flavour of the PostgreSQL persistence plugin (postgres12_pgx), for the
	// schema tool's connection; the server registers it too, this keeps the tool's
	// dependency explicit.
	_ "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/temporal"
	toolschema "go.temporal.io/server/tools/common/schema"
	toolsql "go.temporal.io/server/tools/sql"
)

// The production shape's persistence: Temporal's own tables and its visibility in two
// databases of their own on the application's PostgreSQL server, created and upgraded by
// the server module's schema tool from the schema files embedded in
// go.temporal.io/server/schema, at the versions pinned here. The versions are the newest
// ones that server v1.32.1 ships; a server upgrade that brings newer schema directories
// raises them in the same commit (SetupSchema upgrades an existing database step by step).
const (
	// PGPlugin is the persistence plugin: PostgreSQL 12+ through pgx, the driver the
	// application uses too.
	PGPlugin = "postgres12_pgx"
	// TemporalSchema and VisibilitySchema are the embedded schema folders.
	TemporalSchema   = "postgresql/v12/temporal"
	VisibilitySchema = "postgresql/v12/visibility"
	// TemporalSchemaVersion and VisibilitySchemaVersion are the pinned schema versions.
	TemporalSchemaVersion   = "1.19"
	VisibilitySchemaVersion = "1.14"
)

// ClusterSpec is the whole static description of a Temporal cluster of separate
// processes on one machine: where its PostgreSQL is, how many history shards it has and
// every service process with its ports. The launcher (internal/dev/stack) writes it to a
// file and starts each process with its name; every process reads the same file, so they
// agree on the shard count and each other's addresses.
type ClusterSpec struct {
	PGHost string `json:"pgHost"`
	PGPort int    `json:"pgPort"`
	PGUser string `json:"pgUser"`
	// Database and VisibilityDatabase are Temporal's two databases.
	Database           string `json:"database"`
	VisibilityDatabase string `json:"visibilityDatabase"`
	// HistoryShards is fixed for the life of the databases: a cluster cannot change it.
	HistoryShards int32 `json:"historyShards"`
	// Services lists every process of the cluster.
	Services []ServiceSpec `json:"services"`
}

// ServiceSpec is one process of the cluster running one Temporal service.
type ServiceSpec struct {
	// Name is the process's own name (history-1), Kind the Temporal service it runs
	// (frontend, history, matching, worker).
	Name string `json:"name"`
	Kind string `json:"kind"`
	// GRPCPort serves the service; MembershipPort is its ringpop (gossip) port;
	// HTTPPort is the frontend's HTTP API (frontend only).
	GRPCPort       int `json:"grpcPort"`
	MembershipPort int `json:"membershipPort"`
	HTTPPort       int `json:"httpPort,omitempty"`
}

// ReadClusterSpec reads a spec file written by the launcher.
func ReadClusterSpec(path string) (*ClusterSpec, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("devserver: read cluster spec: %w", err)
	}
	var s ClusterSpec
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("devserver: cluster spec %s: %w", path, err)
	}
	return &s, nil
}

// FrontendAddr is the gRPC address of the cluster's (first) frontend.
func (s *ClusterSpec) FrontendAddr() string {
	for _, svc := range s.Services {
		if svc.Kind == string(primitives.FrontendService) {
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(svc.GRPCPort))
		}
	}
	return ""
}

// sqlConfig is the connection settings of database db, with a pool of conns: every
// process of the cluster has two pools (persistence and visibility) on one server, whose
// max_connections the launcher raises to fit them all (internal/dev/stack).
func (s *ClusterSpec) sqlConfig(db string, conns int) *config.SQL {
	return &config.SQL{
		PluginName:      PGPlugin,
		DatabaseName:    db,
		ConnectAddr:     net.JoinHostPort(s.PGHost, strconv.Itoa(s.PGPort)),
		ConnectProtocol: "tcp",
		User:            s.PGUser,
		MaxConns:        conns,
		MaxIdleConns:    conns,
		MaxConnLifetime: time.Hour,
	}
}

// visibilitySparseIndexes turns the visibility table's indexes over nullable columns into
// partial ones (the file says why); it runs after every schema update.
//
//go:embed visibility_sparse_indexes.sql
var visibilitySparseIndexes string

// SetupClusterSchema creates Temporal's tables in both databases (which must exist) on
// first use and upgrades them to the pinned versions, with the server module's own schema
// tool (tools/sql, tools/common/schema): what `temporal-sql-tool setup-schema` and
// `update-schema` do, without shipping that tool; then makes the visibility indexes over
// sparse search-attribute slots partial (visibility_sparse_indexes.sql). Running it again
// is a no-op.
func SetupClusterSchema(spec *ClusterSpec, log *slog.Logger) error {
	slogger := newServerLogger(log, slog.LevelWarn)
	for _, s := range []struct{ db, schema, version string }{
		{spec.Database, TemporalSchema, TemporalSchemaVersion},
		{spec.VisibilityDatabase, VisibilitySchema, VisibilitySchemaVersion},
	} {
		began := time.Now()
		conn, err := toolsql.NewConnection(spec.sqlConfig(s.db, 2), slogger)
		if err != nil {
			return fmt.Errorf("devserver: connect to %s for its schema: %w", s.db, err)
		}
		current, verErr := conn.ReadSchemaVersion()
		if verErr != nil || current == "" {
			// No version table yet: a fresh database. As `temporal-sql-tool setup-schema
			// -v 0.0`: the version tables only; the update below then applies every
			// versioned step, the same path an existing database takes.
			task := toolschema.NewSetupSchemaTask(conn, &toolschema.SetupConfig{InitialVersion: "0.0"}, slogger)
			if err := task.Run(); err != nil {
				conn.Close()
				return fmt.Errorf("devserver: set up schema %s in %s: %w", s.schema, s.db, err)
			}
			current = "0.0"
		}
		task := toolschema.NewUpdateSchemaTask(conn, &toolschema.UpdateConfig{
			DBName: s.db, SchemaName: s.schema, TargetVersion: s.version}, slogger)
		if err := task.Run(); err != nil {
			conn.Close()
			return fmt.Errorf("devserver: update schema %s in %s to %s: %w", s.schema, s.db, s.version, err)
		}
		if s.schema == VisibilitySchema {
			if err := conn.Exec(visibilitySparseIndexes); err != nil {
				conn.Close()
				return fmt.Errorf("devserver: sparse visibility indexes in %s: %w", s.db, err)
			}
		}
		now, _ := conn.ReadSchemaVersion()
		conn.Close()
		log.Info("Temporal schema ready", "database", s.db, "from", current, "version", now,
			"elapsed", time.Since(began).Round(time.Millisecond))
	}
	return nil
}

// RunClusterService runs the one Temporal service of process name in spec until ctx
// ends, then stops it gracefully.
//
// Membership is ringpop's, bootstrapped from the cluster_membership table of the
// persistence database, not static hosts: static membership hashes every key over a
// fixed list of hosts, so the shards of a dead history process would stay with it until
// it came back. With ringpop the surviving history process takes them over once the dead
// one is declared faulty, which is what the cluster soak checks.
func RunClusterService(ctx context.Context, spec *ClusterSpec, name string, log *slog.Logger, serverLevel slog.Leveler) error {
	var self *ServiceSpec
	for i := range spec.Services {
		if spec.Services[i].Name == name {
			self = &spec.Services[i]
		}
	}
	if self == nil {
		return fmt.Errorf("devserver: no service %q in the cluster spec", name)
	}
	cfg := clusterConfig(spec, self)
	logLevel := new(slog.LevelVar)
	logLevel.Set(serverLevel.Level())
	slogger := newServerLogger(log, logLevel)
	srv, err := newServer(cfg, slogger, temporal.ForServices([]string{self.Kind}))
	if err != nil {
		return fmt.Errorf("devserver: create %s: %w", name, err)
	}
	began := time.Now()
	if err := srv.Start(); err != nil {
		return fmt.Errorf("devserver: start %s: %w", name, err)
	}
	log.Info("Temporal service started", "name", name, "service", self.Kind,
		"grpc", net.JoinHostPort("127.0.0.1", strconv.Itoa(self.GRPCPort)), "elapsed", time.Since(began).Round(time.Millisecond))
	<-ctx.Done()
	logLevel.Set(slog.LevelError)
	stopped := time.Now()
	if err := srv.Stop(); err != nil {
		return fmt.Errorf("devserver: stop %s: %w", name, err)
	}
	log.Info("Temporal service stopped", "name", name, "elapsed", time.Since(stopped).Round(time.Millisecond))
	return nil
}

// clusterConfig is the static configuration of process self: every service's ports (its
// own kind with its own), PostgreSQL persistence and visibility, ringpop membership on
// loopback.
func clusterConfig(spec *ClusterSpec, self *ServiceSpec) *config.Config {
	const store, visStore = "postgres-default", "postgres-visibility"
	frontend := spec.FrontendAddr()
	cfg := &config.Config{}
	cfg.Global.Membership = config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: "127.0.0.1"}
	cfg.Persistence = config.Persistence{
		DefaultStore:     store,
		VisibilityStore:  visStore,
		NumHistoryShards: spec.HistoryShards,
		DataStores: map[string]config.DataStore{
			store:    {SQL: spec.sqlConfig(spec.Database, 15)},
			visStore: {SQL: spec.sqlConfig(spec.VisibilityDatabase, 10)},
		},
	}
	cfg.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        ClusterName,
		CurrentClusterName:       ClusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			ClusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend, ClusterID: ClusterID},
		},
	}
	cfg.DCRedirectionPolicy.Policy = "noop"
	cfg.Services = map[string]config.Service{}
	for _, svc := range spec.Services {
		if _, seen := cfg.Services[svc.Kind]; seen && svc.Kind != self.Kind {
			continue
		}
		if svc.Kind == self.Kind && svc.Name != self.Name {
			continue
		}
		cfg.Services[svc.Kind] = config.Service{RPC: config.RPC{
			GRPCPort: svc.GRPCPort, MembershipPort: svc.MembershipPort, HTTPPort: svc.HTTPPort, BindOnIP: "127.0.0.1"}}
	}
	cfg.Archival.History.State = "disabled"
	cfg.Archival.Visibility.State = "disabled"
	cfg.NamespaceDefaults.Archival.History.State = "disabled"
	cfg.NamespaceDefaults.Archival.Visibility.State = "disabled"
	cfg.PublicClient.HostPort = frontend
	return cfg
}

// ServeUI serves the Temporal web UI at addr against the frontend at frontendAddr until
// ctx ends: the cluster's UI as a process of its own (`devstack temporal-ui`).
func ServeUI(ctx context.Context, addr, frontendAddr, namespace string, log *slog.Logger) error {
	if err := checkFree(addr); err != nil {
		return fmt.Errorf("devserver: UI address %s: %w", addr, err)
	}
	s := &Server{log: log, frontendAddr: frontendAddr, namespace: namespace}
	if err := s.startUI(ctx, addr); err != nil {
		return err
	}
	log.Info("Temporal UI ready", "ui", s.UIURL(), "frontend", frontendAddr)
	<-ctx.Done()
	s.ui.Stop()
	return nil
}
