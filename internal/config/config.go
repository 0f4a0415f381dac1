// Package config is the one place that names, documents and validates every environment
// variable the binaries read. Each binary loads the whole Config (so a typo in any variable
// is caught at start) and uses the sections it needs; README.md's configuration table is
// checked against Vars by a test, so the documentation cannot drift from the code.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmarket/orders/internal/secrets"
)

// Var documents one environment variable: its name, its default and what it controls.
type Var struct {
	Name    string
	Default string
	Doc     string
}

// Vars lists every variable any binary reads, in the order the README shows them.
var Vars = []Var{
	{"DATABASE_URL", "", "PostgreSQL URL of the application database. Empty under `make run`: the dev stack starts its own cluster and passes the URL to its children. Tests start a throwaway cluster unless it is set."},
	{"PG_DATA_DIR", ".data/postgres", "Dev stack: data folder of the local PostgreSQL cluster (created by initdb on first run, reused after)."},
	{"PG_PORT", "55432", "Dev stack: port of the local PostgreSQL cluster; if it is taken, a free port is used and logged."},
	{"PG_BIN_DIR", "", "Folder holding initdb/pg_ctl; empty = found from the postgresql-15 package (/usr/lib/postgresql/15/bin)."},
	{"TEMPORAL_ADDRESS", "127.0.0.1:7233", "Temporal frontend gRPC address (the dev stack serves it; the worker and API dial it)."},
	{"TEMPORAL_NAMESPACE", "default", "Temporal namespace of the order workflows."},
	{"TEMPORAL_TASK_QUEUE", "orders", "Task queue the worker polls and the API starts workflows on."},
	{"TEMPORAL_DB_FILE", ".data/temporal.db", "Dev stack: SQLite file of the embedded Temporal server."},
	{"TEMPORAL_UI_ADDR", "127.0.0.1:8233", "Dev stack: address of the Temporal web UI."},
	{"API_ADDR", ":8080", "Listen address of the HTTP API: the public port (never serves /metrics)."},
	{"API_TOKENS", "", "Bearer tokens and their roles, as role:token pairs separated by commas (roles: web, ops, billing; tokens of 8+ characters). Required where the API runs. `make run` uses the development tokens `web:dev-web-token,ops:dev-ops-token,billing:dev-billing-token` when it is unset."},
	{"API_MAX_BODY_BYTES", "65536", "Largest accepted request body; larger bodies get 413."},
	{"API_READ_TIMEOUT", "10s", "Longest a client may take to send a whole request (headers and body); a slower body gets 408."},
	{"RATE_LIMIT_TOKEN", "500:1000", "Requests per second and burst allowed per API token (the whole web tier shares one), as rate:burst; off disables. Over the limit: 429 with Retry-After."},
	{"RATE_LIMIT_ACTOR", "10:30", "Requests per second and burst per user the web token acts for (X-Actor-Role and X-Actor-Id), so one buyer or seller cannot use up the web tier's limit; rate:burst or off."},
	{"RATE_LIMIT_SELLER_API", "20:40", "Requests per second and burst per seller on the seller open API (/v1/seller-api); rate:burst or off."},
	{"IDEMPOTENCY_TTL", "24h", "How long the first answer to an Idempotency-Key is kept and replayed to repeats."},
	{"API_DB_MAX_CONNS", "10", "Size of the API's PostgreSQL connection pool (its own, apart from the worker's)."},
	{"WORKER_DB_MAX_CONNS", "20", "Size of the worker's PostgreSQL connection pool; keep it above the activities run at once (16) plus EVENTS_DISPATCHERS (each holds a connection while it delivers a batch)."},
	{"WORKER_CACHE_SIZE", "10000", "How many workflows a worker process keeps in memory between their tasks (the Temporal SDK's sticky cache). Each open order costs about 90 KiB there (docs/benchmarks.md, P4); an evicted one is replayed from its history on its next task. Lower it to bound a worker's memory."},
	{"ORDERS_ROLES", "api,worker", "What the orders binary runs: api, worker or both."},
	{"METRICS_ADDR", "127.0.0.1:9464", "Listen address of /metrics (Prometheus), a listener of its own, loopback by default; empty = none."},
	{"MANAGE_SCHEDULES", "true", "A worker creates the Temporal Schedules of the scheduled work (monthly statements, daily product health) at start, or brings them to the policy's times and its task queue. Set false on workers of another task queue in the same namespace."},
	{"MIGRATE_ON_START", "true", "Apply database migrations (and seal plain-text seller keys) when orders starts. Set false where the serving role has no schema rights and `orders migrate` runs as its own step."},
	{"SHUTDOWN_DRAIN_DELAY", "2s", "On SIGTERM, how long /readyz fails while requests are still served, so load balancers stop sending new ones before the listener closes."},
	{"SHUTDOWN_TIMEOUT", "25s", "On SIGTERM, the whole budget to fail readiness, drain requests in flight and stop the worker; what is still running then is cut off."},
	{"KEY_ENCRYPTION_KEYS", "", "Key-encryption keys that seal sellers' access keys in PostgreSQL, as id:base64 pairs (32-byte AES keys) separated by commas. Required by orders. `make run` generates a development key in DEV_KEY_FILE when unset."},
	{"KEY_ENCRYPTION_KEY_ID", "", "Which of KEY_ENCRYPTION_KEYS seals new keys (and what `orders rotate-keys` re-seals to); may be empty when only one key is given."},
	{"DEV_KEY_FILE", ".data/key-encryption-key", "Dev stack: file holding the development key-encryption key (created on first start when KEY_ENCRYPTION_KEYS is unset)."},
	{"POLICY_FILE", "", "Policy file (YAML: retry windows, acceptance windows, levels); empty = the built-in default (internal/policy/default.yaml)."},
	{"TIME_SCALE", "", "Overrides the policy's timeScale: 1440 makes a day of order life pass in a minute."},
	{"SELLER_TIMEOUT", "5s", "Timeout of one HTTP call to a seller endpoint."},
	{"SELLER_ENDPOINTS", "public", "Which seller endpoints are allowed: public (https only, to public addresses only) or development (http too, and loopback and private addresses). Checked when ops register an endpoint and again on every connection, so a DNS answer that changes cannot redirect a call. `make run` and the tests use development."},
	{"SELLER_ALLOW_NETWORKS", "", "Extra networks (CIDRs separated by commas) seller endpoints may resolve into although they are not public, e.g. a private peering range. Metadata addresses (169.254.169.254, fd00:ec2::254) are refused unless listed here."},
	{"EVENTS_RETENTION", "720h", "How long order events stay in the outbox (GET /v1/events, replays): a sweep in the workers deletes older ones. A subscriber can be replayed from any cursor still kept. Longer than EVENTS_RETRY_WINDOW."},
	{"EVENTS_RETRY_WINDOW", "24h", "How long deliveries to a subscriber are retried (with backoff, up to 10m apart) before it is flagged failing and left for ops (GET /v1/subscribers shows it; a replay restarts it)."},
	{"EVENTS_TIMEOUT", "10s", "Timeout of one delivery (a signed POST) to a subscriber."},
	{"EVENTS_DISPATCHERS", "2", "How many subscribers each worker process delivers to at once (0 = this worker delivers none). Several workers share the subscribers without double delivery (rows locked FOR UPDATE SKIP LOCKED)."},
	{"EVENTS_POLL_INTERVAL", "1s", "How often an idle dispatcher looks for new events."},
	{"SELLERSIM_ADDR", "127.0.0.1:8090", "Listen address of the seller simulator."},
	{"SELLERSIM_SELLERS", "seller-demo:sk-demo-0123456789abcdef", "Sellers the simulator knows at start, as sellerId:accessKey pairs separated by commas (more can be added through its admin API)."},
	{"SELLERSIM_DATABASE_URL", "", "PostgreSQL URL where the seller simulator keeps its sellers, instances and recent nonces (in its own schema `sellersim`, created at start), so that it can be restarted without the marketplace's orders losing their instances; empty = in memory only. `make run` and the soak give it database `sellersim` on their cluster."},
	{"SELLERSIM_CALLBACK_URL", "http://127.0.0.1:8080", "Base URL of the order API, where the simulator's licence sellers deliver licences (signed POST /v1/seller-api/licenses/{orderId}); empty = no callbacks."},
	{"DEMO_CATALOGUE", "true", "Dev stack: load the demo seller, product and customer on first start."},
	{"LOG_LEVEL", "info", "debug, info, warn or error."},
	{"LOG_FORMAT", "text", "text or json."},
}

// DevTokens are the well-known tokens the dev stack gives its API when API_TOKENS is unset.
// They are documented in README.md, so they are never a default of the API itself: a
// production process without API_TOKENS refuses to start.
const DevTokens = "web:dev-web-token,ops:dev-ops-token,billing:dev-billing-token"

// Role is what an API bearer token is allowed to do.
type Role string

// The roles a token can carry (api.md: callers and authentication).
const (
	RoleWeb     Role = "web"
	RoleOps     Role = "ops"
	RoleBilling Role = "billing"
)

// The seller endpoint rules (SELLER_ENDPOINTS).
const (
	// SellerEndpointsPublic: https only, to public addresses only. The default.
	SellerEndpointsPublic = "public"
	// SellerEndpointsDevelopment: http too, and loopback and private addresses (the
	// simulator on this machine). Metadata addresses still need SELLER_ALLOW_NETWORKS.
	SellerEndpointsDevelopment = "development"
)

// Rate is a token-bucket limit: PerSecond requests per second on average, Burst at once. The
// zero Rate means no limit.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Off reports whether the rate imposes no limit.
func (r Rate) Off() bool { return r.PerSecond == 0 }

// ParseRate parses "rate:burst" (e.g. "20:40"; rate may have decimals) or "off".
func ParseRate(s string) (Rate, error) {
	if strings.EqualFold(strings.TrimSpace(s), "off") {
		return Rate{}, nil
	}
	r, b, ok := strings.Cut(strings.TrimSpace(s), ":")
	perSecond, err1 := strconv.ParseFloat(r, 64)
	burst, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || perSecond <= 0 || perSecond > 1e6 || burst < 1 || burst > 1e6 {
		return Rate{}, fmt.Errorf("want rate:burst (requests per second, at once), e.g. 20:40, or off; got %q", s)
	}
	return Rate{PerSecond: perSecond, Burst: burst}, nil
}

// Config is every setting, parsed and validated.
type Config struct {
	DatabaseURL string

	PGDataDir string
	PGPort    int
	PGBinDir  string

	TemporalAddress   string
	TemporalNamespace string
	TaskQueue         string
	TemporalDBFile    string
	TemporalUIAddr    string

	APIAddr         string
	APITokens       map[string]Role // token -> role
	APIMaxBodyBytes int64
	APIReadTimeout  time.Duration

	RateLimitToken     Rate
	RateLimitActor     Rate
	RateLimitSellerAPI Rate
	IdempotencyTTL     time.Duration

	APIDBMaxConns    int32
	WorkerDBMaxConns int32
	// WorkerCacheSize is the SDK's sticky workflow cache size (process-wide).
	WorkerCacheSize int
	MigrateOnStart  bool
	ManageSchedules bool

	ShutdownDrainDelay time.Duration
	ShutdownTimeout    time.Duration

	// Keys seals and opens sellers' access keys; nil when KEY_ENCRYPTION_KEYS is unset.
	Keys       *secrets.Keyring
	DevKeyFile string

	RunAPI      bool
	RunWorker   bool
	MetricsAddr string

	PolicyFile string
	TimeScale  float64 // 0 = use the policy file's

	SellerTimeout       time.Duration
	SellerEndpoints     string
	SellerAllowNetworks []netip.Prefix

	// Order events out (package dispatch, GET /v1/events).
	EventsRetention    time.Duration
	EventsRetryWindow  time.Duration
	EventsTimeout      time.Duration
	EventsDispatchers  int
	EventsPollInterval time.Duration

	SellerSimAddr        string
	SellerSimSellers     map[string]string // sellerId -> accessKey
	SellerSimCallbackURL string
	// SellerSimDatabaseURL is where the simulator keeps its state across restarts; "" =
	// in memory (sellersim.Options.DatabaseURL).
	SellerSimDatabaseURL string

	DemoCatalogue bool

	LogLevel  string
	LogFormat string
}

// Load reads every variable from the environment (lookup defaults to os.LookupEnv) and
// returns all problems at once, so a misconfigured start says everything that is wrong.
func Load(lookup func(string) (string, bool)) (*Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	get := func(name string) string {
		if v, ok := lookup(name); ok {
			return strings.TrimSpace(v)
		}
		for _, v := range Vars {
			if v.Name == name {
				return v.Default
			}
		}
		panic("config: undocumented variable " + name)
	}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	duration := func(name string, lo, hi time.Duration) time.Duration {
		d, err := time.ParseDuration(get(name))
		if err != nil || d < lo || d > hi {
			bad(name, "want a duration from %v to %v, got %q", lo, hi, get(name))
		}
		return d
	}
	count := func(name string, lo, hi int) int {
		n, err := strconv.Atoi(get(name))
		if err != nil || n < lo || n > hi {
			bad(name, "want a whole number from %d to %d, got %q", lo, hi, get(name))
		}
		return n
	}
	c := &Config{
		DatabaseURL:          get("DATABASE_URL"),
		PGDataDir:            get("PG_DATA_DIR"),
		PGBinDir:             get("PG_BIN_DIR"),
		TemporalAddress:      get("TEMPORAL_ADDRESS"),
		TemporalNamespace:    get("TEMPORAL_NAMESPACE"),
		TaskQueue:            get("TEMPORAL_TASK_QUEUE"),
		TemporalDBFile:       get("TEMPORAL_DB_FILE"),
		TemporalUIAddr:       get("TEMPORAL_UI_ADDR"),
		APIAddr:              get("API_ADDR"),
		MetricsAddr:          get("METRICS_ADDR"),
		PolicyFile:           get("POLICY_FILE"),
		SellerEndpoints:      get("SELLER_ENDPOINTS"),
		DevKeyFile:           get("DEV_KEY_FILE"),
		SellerSimAddr:        get("SELLERSIM_ADDR"),
		SellerSimCallbackURL: get("SELLERSIM_CALLBACK_URL"),
		SellerSimDatabaseURL: get("SELLERSIM_DATABASE_URL"),
		LogLevel:             strings.ToLower(get("LOG_LEVEL")),
		LogFormat:            strings.ToLower(get("LOG_FORMAT")),
	}
	port, err := strconv.Atoi(get("PG_PORT"))
	if err != nil || port < 1 || port > 65535 {
		bad("PG_PORT", "want a port number 1-65535, got %q", get("PG_PORT"))
	}
	c.PGPort = port
	for _, a := range []struct{ name, val string }{
		{"TEMPORAL_ADDRESS", c.TemporalAddress}, {"TEMPORAL_UI_ADDR", c.TemporalUIAddr},
		{"API_ADDR", c.APIAddr}, {"SELLERSIM_ADDR", c.SellerSimAddr}, {"METRICS_ADDR", c.MetricsAddr},
	} {
		if a.val == "" && a.name == "METRICS_ADDR" { // empty: no metrics listener
			continue
		}
		if _, _, err := net.SplitHostPort(a.val); err != nil {
			bad(a.name, "want host:port, got %q", a.val)
		}
	}
	if c.TemporalNamespace == "" {
		bad("TEMPORAL_NAMESPACE", "must not be empty")
	}
	if c.TaskQueue == "" {
		bad("TEMPORAL_TASK_QUEUE", "must not be empty")
	}
	tokens, err := ParseTokens(get("API_TOKENS"))
	if err != nil {
		bad("API_TOKENS", "%v", err)
	}
	c.APITokens = tokens
	n, err := strconv.ParseInt(get("API_MAX_BODY_BYTES"), 10, 64)
	if err != nil || n < 1024 || n > 64<<20 {
		bad("API_MAX_BODY_BYTES", "want a byte count 1024-67108864, got %q", get("API_MAX_BODY_BYTES"))
	}
	c.APIMaxBodyBytes = n
	c.APIReadTimeout = duration("API_READ_TIMEOUT", time.Second, 10*time.Minute)
	c.IdempotencyTTL = duration("IDEMPOTENCY_TTL", time.Minute, 30*24*time.Hour)
	c.ShutdownDrainDelay = duration("SHUTDOWN_DRAIN_DELAY", 0, time.Minute)
	c.ShutdownTimeout = duration("SHUTDOWN_TIMEOUT", time.Second, 10*time.Minute)
	if c.ShutdownDrainDelay >= c.ShutdownTimeout {
		bad("SHUTDOWN_DRAIN_DELAY", "must be shorter than SHUTDOWN_TIMEOUT")
	}
	for _, r := range []struct {
		name string
		dst  *Rate
	}{{"RATE_LIMIT_TOKEN", &c.RateLimitToken}, {"RATE_LIMIT_ACTOR", &c.RateLimitActor}, {"RATE_LIMIT_SELLER_API", &c.RateLimitSellerAPI}} {
		rate, err := ParseRate(get(r.name))
		if err != nil {
			bad(r.name, "%v", err)
		}
		*r.dst = rate
	}
	c.APIDBMaxConns = int32(count("API_DB_MAX_CONNS", 1, 1000))
	c.WorkerDBMaxConns = int32(count("WORKER_DB_MAX_CONNS", 1, 1000))
	c.WorkerCacheSize = count("WORKER_CACHE_SIZE", 1, 1000000)
	migrate, err := strconv.ParseBool(get("MIGRATE_ON_START"))
	if err != nil {
		bad("MIGRATE_ON_START", "want true or false, got %q", get("MIGRATE_ON_START"))
	}
	c.MigrateOnStart = migrate
	schedules, err := strconv.ParseBool(get("MANAGE_SCHEDULES"))
	if err != nil {
		bad("MANAGE_SCHEDULES", "want true or false, got %q", get("MANAGE_SCHEDULES"))
	}
	c.ManageSchedules = schedules
	if keys := get("KEY_ENCRYPTION_KEYS"); keys != "" {
		kr, err := secrets.ParseKeyring(keys, get("KEY_ENCRYPTION_KEY_ID"))
		if err != nil {
			bad("KEY_ENCRYPTION_KEYS", "%v", err)
		}
		c.Keys = kr
	} else if get("KEY_ENCRYPTION_KEY_ID") != "" {
		bad("KEY_ENCRYPTION_KEY_ID", "set without KEY_ENCRYPTION_KEYS")
	}
	for _, r := range strings.Split(get("ORDERS_ROLES"), ",") {
		switch strings.TrimSpace(r) {
		case "api":
			c.RunAPI = true
		case "worker":
			c.RunWorker = true
		default:
			bad("ORDERS_ROLES", "unknown role %q (want api, worker)", r)
		}
	}
	if ts := get("TIME_SCALE"); ts != "" {
		f, err := strconv.ParseFloat(ts, 64)
		if err != nil || f <= 0 || f > 1e7 {
			bad("TIME_SCALE", "want a positive number up to 1e7, got %q", ts)
		}
		c.TimeScale = f
	}
	d, err := time.ParseDuration(get("SELLER_TIMEOUT"))
	if err != nil || d <= 0 || d > time.Minute {
		bad("SELLER_TIMEOUT", "want a duration up to 1m, got %q", get("SELLER_TIMEOUT"))
	}
	c.SellerTimeout = d
	if c.SellerEndpoints != SellerEndpointsPublic && c.SellerEndpoints != SellerEndpointsDevelopment {
		bad("SELLER_ENDPOINTS", "want public or development, got %q", c.SellerEndpoints)
	}
	for _, cidr := range strings.Split(get("SELLER_ALLOW_NETWORKS"), ",") {
		if cidr = strings.TrimSpace(cidr); cidr == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(cidr)
		if err != nil {
			bad("SELLER_ALLOW_NETWORKS", "%q is not a CIDR", cidr)
			continue
		}
		c.SellerAllowNetworks = append(c.SellerAllowNetworks, pfx.Masked())
	}
	c.EventsRetention = duration("EVENTS_RETENTION", time.Hour, 10*365*24*time.Hour)
	c.EventsRetryWindow = duration("EVENTS_RETRY_WINDOW", time.Minute, 30*24*time.Hour)
	if c.EventsRetryWindow >= c.EventsRetention {
		bad("EVENTS_RETRY_WINDOW", "must be shorter than EVENTS_RETENTION (events must outlive their retries)")
	}
	c.EventsTimeout = duration("EVENTS_TIMEOUT", 100*time.Millisecond, time.Minute)
	c.EventsDispatchers = count("EVENTS_DISPATCHERS", 0, 64)
	c.EventsPollInterval = duration("EVENTS_POLL_INTERVAL", 10*time.Millisecond, time.Minute)
	sellers, err := parsePairs(get("SELLERSIM_SELLERS"))
	if err != nil {
		bad("SELLERSIM_SELLERS", "%v", err)
	}
	c.SellerSimSellers = sellers
	demo, err := strconv.ParseBool(get("DEMO_CATALOGUE"))
	if err != nil {
		bad("DEMO_CATALOGUE", "want true or false, got %q", get("DEMO_CATALOGUE"))
	}
	c.DemoCatalogue = demo
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("LOG_LEVEL", "want debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("LOG_FORMAT", "want text or json, got %q", c.LogFormat)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

// ParseTokens parses API_TOKENS ("role:token,role:token"; empty = no tokens) into a
// token -> role map. Errors never quote a token.
func ParseTokens(s string) (map[string]Role, error) {
	out := map[string]Role{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, p := range strings.Split(s, ",") {
		role, token, _ := strings.Cut(strings.TrimSpace(p), ":")
		switch Role(role) {
		case RoleWeb, RoleOps, RoleBilling:
		default:
			return nil, fmt.Errorf("unknown role %q (want web, ops, billing)", role)
		}
		if len(token) < 8 {
			return nil, fmt.Errorf("token for role %s is shorter than 8 characters", role)
		}
		if _, dup := out[token]; dup {
			return nil, fmt.Errorf("a token is given twice")
		}
		out[token] = Role(role)
	}
	return out, nil
}

// TokenFor returns a token of role (the smallest, so the choice is stable), or "".
func (c *Config) TokenFor(role Role) string {
	best := ""
	for token, r := range c.APITokens {
		if r == role && (best == "" || token < best) {
			best = token
		}
	}
	return best
}

// parsePairs parses "a:b,c:d"; empty input is an empty map.
func parsePairs(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, p := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), ":")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("want name:value pairs separated by commas, got an entry without both parts")
		}
		out[k] = v
	}
	return out, nil
}

// Names returns the variable names, sorted, for documentation checks.
func Names() []string {
	out := make([]string, 0, len(Vars))
	for _, v := range Vars {
		out = append(out, v.Name)
	}
	sort.Strings(out)
	return out
}
