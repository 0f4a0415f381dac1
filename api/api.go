// Package api is the HTTP API of the order service (docs/api.md; the full contract it
// implements is openapi.json, served at GET /openapi.json).
//
// It is deliberately thin (docs/architecture.md): it validates input strictly,
// authenticates the bearer token and authorises the caller and the actor it acts for, maps
// each call to one Temporal call (start, update, query) or one read or write of the
// catalogue in PostgreSQL, and maps every failure to an RFC 7807 problem with a stable
// code. Business rules live in the workflows: the API never decides whether an order may
// move, it asks the workflow (a Temporal Update whose validator answers at once) and
// translates the answer. It never writes the orders read model either: the workflow's
// activities own it.
package api

import (
	"context"
	_ "embed"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/policy"
)

//go:embed openapi.json
var openAPIDoc []byte

// Deps is what the API needs from the process that runs it. Everything is injected, so
// tests can pass a mock Temporal client, a throwaway database and a fixed clock.
type Deps struct {
	// Temporal starts, updates and queries order workflows.
	Temporal client.Client
	// DB holds the catalogue (read and written here) and the orders read model (read only).
	DB *pgxpool.Pool
	// Policy gives the clocks snapshotted into each new order, and the customer levels.
	Policy *policy.Policy
	// Config supplies the tokens, the body limit, the task queue and the seller http rule.
	// Required: New panics without it, since no request could be authenticated.
	Config *config.Config
	// Registry receives api_request_duration_seconds and is served at /metrics; nil = a
	// private registry.
	Registry *prometheus.Registry
	// Logger receives the access log and failures; nil = slog.Default().
	Logger *slog.Logger
	// Now is the clock for placedAt, expireTime checks, catalogue timestamps and the
	// product health window; nil = time.Now.
	Now func() time.Time
}

// Timeouts of the calls a request makes. An update waits for the workflow to finish the
// action (the accept handler returns once the order has moved), so it gets the longest.
const (
	dbTimeout       = 5 * time.Second
	temporalTimeout = 10 * time.Second
	updateTimeout   = 30 * time.Second
	readyTimeout    = 2 * time.Second
)

// server carries the dependencies of the handlers.
type server struct {
	tc       client.Client
	db       *pgxpool.Pool
	policy   *policy.Policy
	cfg      *config.Config
	reg      *prometheus.Registry
	log      *slog.Logger
	now      func() time.Time
	maxBody  int64
	tokens   []tokenEntry
	duration *prometheus.HistogramVec
	routes   map[string]bool // "METHOD /path/:param" of every registered route
}

// New builds the Echo instance serving the API; it is an http.Handler ready for an
// http.Server. Routes are exactly those in openapi.json (a test holds them equal).
func New(d Deps) *echo.Echo {
	if d.Config == nil {
		panic("api.New: Deps.Config is required")
	}
	s := &server{
		tc: d.Temporal, db: d.DB, policy: d.Policy, cfg: d.Config, reg: d.Registry,
		log: d.Logger, now: d.Now, maxBody: d.Config.APIMaxBodyBytes,
		tokens: hashTokens(d.Config.APITokens),
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBody <= 0 {
		s.maxBody = 64 << 10
	}
	s.duration = registerDuration(s.reg)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	// No proxy headers are trusted; the access log does not use the client IP anyway.
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(requestIDMiddleware, s.observe, s.recoverMiddleware)

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})))
	e.GET("/openapi.json", s.openAPI)

	web, ops, billing := config.RoleWeb, config.RoleOps, config.RoleBilling
	e.PUT("/v1/sellers/:sellerId", s.putSeller, s.authorize(ops))
	e.PUT("/v1/products/:productId", s.putProduct, s.authorize(ops))
	e.GET("/v1/products/:productId", s.getProduct, s.authorize(web, ops, billing))
	e.PUT("/v1/customers/:customerId", s.putCustomer, s.authorize(ops))
	e.POST("/v1/orders", s.createOrder, s.authorize(web))
	e.GET("/v1/orders", s.listOrders, s.authorize(web, ops, billing))
	e.GET("/v1/orders/:orderId", s.getOrder, s.authorize(web, ops, billing))
	e.GET("/v1/orders/:orderId/events", s.orderEvents, s.authorize(web, ops, billing))
	e.POST("/v1/orders/:orderId/acceptance", s.accept, s.authorize(web))
	e.POST("/v1/orders/:orderId/retry", s.retry, s.authorize(ops))

	s.routes = map[string]bool{}
	for _, r := range e.Routes() {
		s.routes[r.Method+" "+r.Path] = true
	}
	return e
}

// registerDuration registers the request histogram, reusing the one already on the
// registry when New runs twice against it (tests, or a restart of the API inside one
// process).
func registerDuration(reg *prometheus.Registry) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "api_request_duration_seconds",
		Help:    "Duration of HTTP API requests by route template, method and status.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "method", "status"})
	if err := reg.Register(h); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.HistogramVec); ok {
				return existing
			}
		}
		panic("api: register api_request_duration_seconds: " + err.Error())
	}
	return h
}

// healthz says only that the process serves HTTP; orchestrators restart it when it fails.
func (s *server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether requests can be served: PostgreSQL answers a ping and Temporal's
// frontend passes its health check. Orchestrators stop routing traffic while it fails.
func (s *server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	if s.db == nil {
		return unavailable("PostgreSQL", errors.New("no database configured"))
	}
	if err := s.db.Ping(ctx); err != nil {
		return unavailable("PostgreSQL", err)
	}
	if s.tc == nil {
		return unavailable("Temporal", errors.New("no Temporal client configured"))
	}
	if _, err := s.tc.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return unavailable("Temporal", err)
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// openAPI serves the hand-written contract embedded at build time.
func (s *server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDoc)
}
