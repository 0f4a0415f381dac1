// Package api is the HTTP API of the order service (docs/api.md). Its contract is
// openapi.yaml, served as JSON at GET /openapi.json, and it is enforced, not just described:
// every route is registered from the document by operationId, with the roles the document
// allows (x-roles, x-actors), and every request is validated against it (kin-openapi) after
// its body has been read within bounds and checked for shape (internal/strictjson) and before
// its handler runs. Handlers check only what needs state: the catalogue, the clock, the order.
//
// It is deliberately thin (docs/architecture.md): it authenticates the caller (bearer tokens,
// or a seller's signature on the seller open API), limits its rate, maps each call to one
// Temporal call (start, update) or to reads and writes of PostgreSQL, and maps every failure
// to an RFC 7807 problem with a stable code. Business rules live in the workflows: the API
// never decides whether an order may move, it asks the workflow (a Temporal Update whose
// validator answers at once) and translates the answer.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/policy"
	"github.com/cloudmarket/orders/internal/secrets"
	"github.com/cloudmarket/orders/internal/sellerapi"
)

// Deps is what the API needs from the process that runs it. Everything is injected, so
// tests can pass a mock Temporal client, a throwaway database and a fixed clock.
type Deps struct {
	// Temporal starts and updates order workflows.
	Temporal client.Client
	// DB holds the catalogue (read and written here), the orders read model (read only),
	// idempotency keys and seller nonces. The API's own pool (API_DB_MAX_CONNS).
	DB *pgxpool.Pool
	// Policy gives the clocks snapshotted into each new order, and the customer levels.
	Policy *policy.Policy
	// Config supplies the tokens, limits, timeouts, task queue and the endpoint rule.
	// Required: New panics without it, since no request could be authenticated.
	Config *config.Config
	// Registry receives the API's metrics (served by the process on METRICS_ADDR, never
	// by the API itself); nil = a private registry.
	Registry *prometheus.Registry
	// Logger receives the access log and failures; nil = slog.Default().
	Logger *slog.Logger
	// Now is the clock for placedAt, expireTime checks, catalogue timestamps, signature
	// windows, idempotency expiry and the product health window; nil = time.Now.
	Now func() time.Time
}

// Timeouts of the calls a request makes. An update waits for the workflow to finish the
// action (the accept handler returns once the order has moved), so it gets the longest.
const (
	dbTimeout       = 5 * time.Second
	temporalTimeout = 10 * time.Second
	updateTimeout   = 20 * time.Second
	readyTimeout    = 2 * time.Second
)

// Server is the API: an http.Handler, plus what the process that runs it needs for
// readiness and housekeeping.
type Server struct {
	s *server
	e *echo.Echo
}

// ServeHTTP serves one request.
func (a *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.e.ServeHTTP(w, r) }

// Drain makes /readyz fail from now on: the first step of a graceful shutdown, so load
// balancers stop sending requests while those in flight finish.
func (a *Server) Drain() { a.s.ready.draining.Store(true) }

// Maintain deletes expired idempotency keys and old seller nonces now and then, until ctx
// ends. The process that runs the API runs it in a goroutine.
func (a *Server) Maintain(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		a.s.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// server carries the dependencies of the handlers.
type server struct {
	tc       client.Client
	db       *pgxpool.Pool
	policy   *policy.Policy
	cfg      *config.Config
	keys     *secrets.Keyring
	endpoint sellerapi.EndpointPolicy
	log      *slog.Logger
	now      func() time.Time
	maxBody  int64
	tokens   []tokenEntry
	contract *contract
	limits   limiters
	ready    readiness
	duration *prometheus.HistogramVec
	routes   map[string]bool // "METHOD /path/:param" of every registered route
	// checks runs seller conformance checks in the background (conformance.go).
	checks *conformanceRunner
}

// New builds the API. It panics when the embedded contract is broken or names an operation
// without a handler (or the reverse): a build that cannot serve its contract must not start.
func New(d Deps) *Server {
	if d.Config == nil {
		panic("api.New: Deps.Config is required")
	}
	ct, err := loadContract()
	if err != nil {
		panic("api.New: " + err.Error())
	}
	s := &server{
		tc: d.Temporal, db: d.DB, policy: d.Policy, cfg: d.Config, keys: d.Config.Keys,
		endpoint: sellerapi.EndpointPolicy{
			Development:   d.Config.SellerEndpoints == config.SellerEndpointsDevelopment,
			AllowNetworks: d.Config.SellerAllowNetworks,
		},
		log: d.Logger, now: d.Now, maxBody: d.Config.APIMaxBodyBytes,
		tokens: hashTokens(d.Config.APITokens), contract: ct,
		checks: newConformanceRunner(d.Config.SellerTimeout),
	}
	reg := d.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
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
	s.duration = registerCollector(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "api_request_duration_seconds",
		Help:    "Duration of HTTP API requests by route template, method and status.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "method", "status"}))
	s.limits = newLimiters(d.Config, reg)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	// No proxy headers are trusted; the access log does not use the client IP anyway.
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(requestIDMiddleware, s.observe, s.recoverMiddleware, onceEach)

	handlers := map[string]echo.HandlerFunc{
		"healthz": s.healthz, "readyz": s.readyz, "openapi": s.openAPI,
		"putSeller": s.putSeller, "getSeller": s.getSeller, "startKeyRotation": s.startKeyRotation,
		"cancelKeyRotation": s.cancelKeyRotation,
		"putSellerLimits":   s.putSellerLimits, "deleteSellerLimits": s.deleteSellerLimits,
		"sellerConfirmKey": s.sellerConfirmKey, "sellerListUsage": s.sellerListUsage, "putProduct": s.putProduct, "getProduct": s.getProduct,
		"putCustomer": s.putCustomer,
		"createOrder": s.createOrder, "listOrders": s.listOrders, "getOrder": s.getOrder,
		"listOrderEvents": s.orderEvents, "listLicenseCodeHeartbeats": s.licenseCodeHeartbeats, "acceptOrder": s.accept, "retryOrder": s.retry,
		"rejectOrder": s.rejectOrder, "deliverOrder": s.deliverOrder, "reportDeployment": s.reportDeployment,
		"shipOrder": s.shipOrder, "signOffShipment": s.signOffShipment, "appealOrder": s.appealOrder,
		"reviewOrder": s.reviewOrder, "listAppeals": s.listAppeals, "resolveAppeal": s.resolveAppeal,
		"sellerGetOrder": s.sellerGetOrder, "sellerDeliverLicense": s.sellerDeliverLicense,
		"renewOrder": s.renewOrder, "unsubscribeOrder": s.unsubscribeOrder, "withdrawRenewal": s.withdrawRenewal, "convertTrial": s.convertTrial, "changeOrder": s.changeOrder,
		"sellerUsage": s.sellerUsage, "listProducts": s.listProducts, "sellerSettlements": s.sellerSettlements, "runStatements": s.runStatements,
		"runHealthCheck": s.runHealthCheck, "restartOrder": s.restartOrder,
		"cancelOrder": s.cancelOrder, "forceAcceptOrder": s.forceAcceptOrder, "unfreezeOrder": s.unfreezeOrder,
		"refreezeOrder": s.refreezeOrder, "extendOrderClock": s.extendOrderClock, "closeAppeal": s.closeAppeal,
		"listAttention": s.listAttention,
		"getArrears":    s.getArrears, "reportArrears": s.reportArrears, "reportPayment": s.reportPayment, "listArrears": s.listArrears,
		"putSubscriber": s.putSubscriber, "listSubscribers": s.listSubscribers, "replaySubscriber": s.replaySubscriber,
		"listEvents": s.listEvents,
	}
	// Seller conformance runs (conformance.go).
	handlers["startConformanceRun"] = s.startConformanceRun
	handlers["listConformanceRuns"] = s.listConformanceRuns
	handlers["getConformanceRun"] = s.getConformanceRun
	// Licence codes in the seller open API (licensecodes.go).
	handlers["sellerActivateLicenseCode"] = s.sellerActivateLicenseCode
	handlers["sellerLicenseCodeHeartbeat"] = s.sellerLicenseCodeHeartbeat
	for _, op := range ct.ops {
		h, ok := handlers[op.ID]
		if !ok {
			panic("api.New: no handler for operation " + op.ID)
		}
		delete(handlers, op.ID)
		var mw []echo.MiddlewareFunc
		if op.MaxBody > 0 {
			limit := op.MaxBody
			mw = append(mw, func(next echo.HandlerFunc) echo.HandlerFunc {
				return func(c echo.Context) error { c.Set(ctxMaxBody, limit); return next(c) }
			})
		}
		switch {
		case op.SellerAPI():
			mw = append(mw, s.sellerAuth, s.limitSeller)
		case len(op.Roles) > 0:
			mw = append(mw, s.authenticate(op), s.limitCaller)
		}
		mw = append(mw, s.conform(op))
		if op.Idempotent {
			mw = append(mw, s.idempotent)
		}
		e.Add(op.Method, op.EchoPath, h, mw...)
	}
	for id := range handlers {
		panic("api.New: handler " + id + " has no operation in openapi.yaml")
	}

	s.routes = map[string]bool{}
	for _, r := range e.Routes() {
		s.routes[r.Method+" "+r.Path] = true
	}
	return &Server{s: s, e: e}
}

// registerCollector registers c, or returns the collector of the same description already
// on reg (New runs more than once against one registry in tests).
func registerCollector[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic("api: register metric: " + err.Error())
	}
	return c
}

func registerCounterVec(reg prometheus.Registerer, opts prometheus.CounterOpts, labels []string) *prometheus.CounterVec {
	return registerCollector(reg, prometheus.NewCounterVec(opts, labels))
}

// openAPI serves the contract.
func (s *server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, s.contract.json)
}

// NewHTTPServer is the http.Server the API runs in, with the limits a public listener
// needs: a slow client gets API_READ_TIMEOUT for the whole request, headers are bounded,
// and idle connections are closed.
func NewHTTPServer(addr string, h http.Handler, cfg *config.Config) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: min(5*time.Second, cfg.APIReadTimeout),
		ReadTimeout:       cfg.APIReadTimeout,
		// Longer than the API's wait for an update to complete, so its answer is sent.
		WriteTimeout:   updateTimeout + 10*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 32 << 10,
	}
}
