// Command orders runs the order service, and its two maintenance steps:
//
//	orders              serve: the HTTP API and the Temporal worker (ORDERS_ROLES picks one
//	                    or both), /metrics on its own listener (METRICS_ADDR)
//	orders migrate      apply the database migrations and seal plain-text seller keys, then
//	                    exit: run it as its own step (a Kubernetes Job, say) so that the
//	                    serving role needs no schema rights (MIGRATE_ON_START=false)
//	orders rotate-keys  re-seal every seller key under the current key-encryption key
//	                    (KEY_ENCRYPTION_KEY_ID), then exit
//	orders seller-check check a seller's production endpoint against the seller protocol
//	                    and print a table of checks (sellercheck.go; needs no database)
//
// Serving, the API and the worker have database pools of their own (API_DB_MAX_CONNS,
// WORKER_DB_MAX_CONNS), so a burst of reads cannot starve the activities or the reverse;
// both roles share one Prometheus registry. On SIGTERM the process fails readiness at once,
// keeps serving for SHUTDOWN_DRAIN_DELAY while load balancers notice, then stops taking
// requests, lets those in flight finish, and stops the worker, all within SHUTDOWN_TIMEOUT.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/api"
	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/licenses"
	"github.com/cloudmarket/orders/internal/logging"
	"github.com/cloudmarket/orders/internal/outbox"
	"github.com/cloudmarket/orders/internal/policy"
	"github.com/cloudmarket/orders/internal/sellerapi"
	"github.com/cloudmarket/orders/internal/sellerkeys"
	"github.com/cloudmarket/orders/internal/temporalx"
	"github.com/cloudmarket/orders/schema"
	"github.com/cloudmarket/orders/worker"
)

const usage = `usage: orders [serve | migrate | rotate-keys | seller-check -h]
  serve        run the API and/or the worker (ORDERS_ROLES); the default
  migrate      apply database migrations and seal plain-text seller keys, then exit
  rotate-keys  re-seal every seller key, licence and subscriber secret under KEY_ENCRYPTION_KEY_ID, then exit
  seller-check check a seller's endpoint against the seller protocol (orders seller-check -h)
Configuration: environment variables, see README.md.`

func main() {
	cmd := "serve"
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	if cmd == "seller-check" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := sellerCheck(ctx, os.Args[2:], os.Stdout, os.Stderr, os.Getenv)
		stop()
		os.Exit(code)
	}
	if len(os.Args) > 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	steps := map[string]func(context.Context, *config.Config, *slog.Logger) error{
		"serve": serve, "migrate": migrate, "rotate-keys": rotateKeys,
	}
	step, ok := steps[cmd]
	if !ok {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	cfg, err := config.Load(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(2)
	}
	logger := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := step(ctx, cfg, logger); err != nil {
		logger.Error("orders "+cmd+" failed", "error", err)
		os.Exit(1)
	}
}

// migrate applies the migrations and seals any seller key still in plain text.
func migrate(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	if err := needDatabaseAndKeys(cfg); err != nil {
		return err
	}
	version, err := schema.Migrate(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	n, err := resealKeys(ctx, cfg, sellerkeys.PlainOnly)
	if err != nil {
		return err
	}
	logger.Info("database schema ready", "version", version, "seller_keys_sealed", n)
	return nil
}

// rotateKeys re-seals every seller key, licence and event subscriber secret not sealed under
// the current key.
func rotateKeys(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	if err := needDatabaseAndKeys(cfg); err != nil {
		return err
	}
	if err := schema.CheckCurrent(ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	n, err := resealKeys(ctx, cfg, sellerkeys.AllOld)
	if err != nil {
		return err
	}
	logger.Info("seller keys re-sealed", "key_id", cfg.Keys.Current(), "rows", n)
	db, err := newPool(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err = licenses.Reseal(ctx, db, cfg.Keys)
	if err != nil {
		return err
	}
	logger.Info("licences re-sealed", "key_id", cfg.Keys.Current(), "rows", n)
	n, err = outbox.Reseal(ctx, db, cfg.Keys)
	if err != nil {
		return err
	}
	logger.Info("event subscriber secrets re-sealed", "key_id", cfg.Keys.Current(), "rows", n)
	return nil
}

func resealKeys(ctx context.Context, cfg *config.Config, which bool) (int, error) {
	db, err := newPool(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return sellerkeys.Reseal(ctx, db, cfg.Keys, which)
}

func needDatabaseAndKeys(cfg *config.Config) error {
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is not set (make run sets it; see README)")
	}
	if cfg.Keys == nil {
		return errors.New("KEY_ENCRYPTION_KEYS is not set: seller keys can be neither sealed nor opened (make run generates a development key; see README)")
	}
	return nil
}

func newPool(ctx context.Context, url string, size int32) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	pc.MaxConns = size
	db, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	return db, nil
}

// serve runs the roles ORDERS_ROLES names until SIGTERM, then shuts down in order.
func serve(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	if cfg.RunAPI && len(cfg.APITokens) == 0 {
		return errors.New("API_TOKENS is not set: the API would accept no caller (make run sets development tokens; see README)")
	}
	if err := needDatabaseAndKeys(cfg); err != nil {
		return err
	}
	pol, err := policy.Load(cfg.PolicyFile, cfg.TimeScale)
	if err != nil {
		return err
	}
	if cfg.MigrateOnStart {
		if err := migrate(ctx, cfg, logger); err != nil {
			return err
		}
	} else if err := schema.CheckCurrent(ctx, cfg.DatabaseURL); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sdkMetrics, closer := worker.SDKMetrics(reg)
	defer closer.Close()
	tc, err := temporalx.Dial(ctx, client.Options{
		HostPort:       cfg.TemporalAddress,
		Namespace:      cfg.TemporalNamespace,
		Logger:         worker.SDKLogger(logger),
		MetricsHandler: sdkMetrics,
	})
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddress, err)
	}
	defer tc.Close()

	// The budget of the shutdown: the worker gets the last part of it.
	workerStop := min(10*time.Second, cfg.ShutdownTimeout/3)
	var w sdkworker.Worker
	stopEvents := func() {}
	probes := &worker.Probes{Temporal: tc}
	if cfg.RunWorker {
		// Process-wide, before the worker starts (the SDK reads it once).
		sdkworker.SetStickyWorkflowCacheSize(cfg.WorkerCacheSize)
		db, err := newPool(ctx, cfg.DatabaseURL, cfg.WorkerDBMaxConns)
		if err != nil {
			return err
		}
		defer db.Close()
		missing, err := sellerkeys.UnknownKeyIDs(ctx, db, cfg.Keys)
		if err != nil {
			return err
		}
		lost, err := licenses.UnknownKeyIDs(ctx, db, cfg.Keys)
		if err != nil {
			return err
		}
		missing = append(missing, lost...)
		unsigned, err := outbox.UnknownKeyIDs(ctx, db, cfg.Keys)
		if err != nil {
			return err
		}
		missing = append(missing, unsigned...)
		slices.Sort(missing)
		missing = slices.Compact(missing)
		if len(missing) > 0 {
			return fmt.Errorf("seller keys, licences or event subscriber secrets are sealed under key-encryption keys that are not configured (%s): add them to KEY_ENCRYPTION_KEYS, or run `orders rotate-keys` where they are", strings.Join(missing, ", "))
		}
		sc, err := sellerapi.NewClient(sellerapi.ClientOptions{
			Timeout: cfg.SellerTimeout, Logger: logger,
			Policy: sellerapi.EndpointPolicy{
				Development:   cfg.SellerEndpoints == config.SellerEndpointsDevelopment,
				AllowNetworks: cfg.SellerAllowNetworks,
			},
		})
		if err != nil {
			return err
		}
		w = worker.New(worker.Options{
			Client: tc, TaskQueue: cfg.TaskQueue, DB: db, Policy: pol, Seller: sc, Keys: cfg.Keys,
			Metrics: activities.NewMetrics(reg), Logger: logger, MaxActivities: worker.MaxActivities,
			StopTimeout: workerStop,
		})
		reg.MustRegister(&activities.Gauges{DB: db, Logger: logger})
		probes.DB = db
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		// Order events to subscribers: stopped before the worker, so a batch in flight
		// records its progress while the database is still there.
		dispatchCtx, stopDispatch := context.WithCancel(context.Background())
		dispatchDone := make(chan struct{})
		go func() {
			defer close(dispatchDone)
			worker.NewEventDispatcher(db, cfg, reg, logger).Run(dispatchCtx)
		}()
		defer func() { stopDispatch(); <-dispatchDone }()
		stopEvents = func() { stopDispatch(); <-dispatchDone }
		logger.Info("worker polling", "task_queue", cfg.TaskQueue, "namespace", cfg.TemporalNamespace)
		if cfg.ManageSchedules {
			if err := worker.EnsureSchedules(ctx, tc, cfg.TaskQueue, pol, logger); err != nil {
				return err
			}
		}
	}

	errc := make(chan error, 2)
	var apiSrv, metricsSrv *http.Server
	var apiHandler *api.Server
	maintainCtx, stopMaintain := context.WithCancel(context.Background())
	defer stopMaintain()
	if cfg.RunAPI {
		db, err := newPool(ctx, cfg.DatabaseURL, cfg.APIDBMaxConns)
		if err != nil {
			return err
		}
		defer db.Close()
		apiHandler = api.New(api.Deps{Temporal: tc, DB: db, Policy: pol, Config: cfg, Registry: reg, Logger: logger, Now: time.Now})
		go apiHandler.Maintain(maintainCtx)
		apiSrv = api.NewHTTPServer(cfg.APIAddr, apiHandler, cfg)
		go func() { errc <- fmt.Errorf("API listener: %w", apiSrv.ListenAndServe()) }()
		logger.Info("API listening", "addr", cfg.APIAddr)
	}
	if cfg.MetricsAddr != "" {
		// /metrics, and the probes of a worker (the API answers its own on the API port).
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		if cfg.RunWorker {
			probes.Register(mux)
		}
		metricsSrv = &http.Server{
			Addr:              cfg.MetricsAddr,
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			WriteTimeout:      30 * time.Second,
		}
		go func() { errc <- fmt.Errorf("metrics listener: %w", metricsSrv.ListenAndServe()) }()
		logger.Info("metrics listening", "addr", cfg.MetricsAddr)
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	began := time.Now()
	deadline := began.Add(cfg.ShutdownTimeout)
	logger.Info("shutting down: readiness fails from now on", "drain_delay", cfg.ShutdownDrainDelay, "budget", cfg.ShutdownTimeout)
	probes.Drain()
	if apiHandler != nil {
		apiHandler.Drain()
		time.Sleep(cfg.ShutdownDrainDelay)
		// Requests in flight (an update waits for its workflow, which needs this worker)
		// finish before the worker stops.
		sctx, cancel := context.WithDeadline(context.Background(), deadline.Add(-workerStop))
		if err := apiSrv.Shutdown(sctx); err != nil {
			logger.Warn("API requests still running at the shutdown deadline were cut off", "error", err)
			apiSrv.Close()
		}
		cancel()
		stopMaintain()
	}
	stopEvents()
	if w != nil {
		w.Stop() // waits up to workerStop for running activities
	}
	if metricsSrv != nil {
		metricsSrv.Close()
	}
	logger.Info("stopped", "elapsed", time.Since(began).Round(time.Millisecond))
	return nil
}
