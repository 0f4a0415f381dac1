// Command orders runs the order service: the HTTP API and the Temporal worker (ORDERS_ROLES
// picks one or both). Both roles in one process share one Prometheus registry, so /metrics
// shows the SDK's metrics, the API's request durations, the seller calls and the order
// transitions together. It applies the database migrations at start.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/activities/sellerapi"
	"github.com/cloudmarket/orders/api"
	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/logging"
	"github.com/cloudmarket/orders/internal/policy"
	"github.com/cloudmarket/orders/internal/temporalx"
	"github.com/cloudmarket/orders/schema"
	"github.com/cloudmarket/orders/worker"
)

func main() {
	if err := run(); err != nil {
		slog.Error("orders stopped", "error", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.Load(nil)
	if err != nil {
		return err
	}
	logger := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	slog.SetDefault(logger)
	if cfg.RunAPI && len(cfg.APITokens) == 0 {
		return errors.New("API_TOKENS is not set: the API would accept no caller (make run sets development tokens; see README)")
	}
	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL is not set (make run sets it; see README)")
	}
	pol, err := policy.Load(cfg.PolicyFile, cfg.TimeScale)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	version, err := schema.Migrate(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	logger.Info("database schema ready", "version", version)
	poolCfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	poolCfg.MaxConns = worker.DBConns
	db, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer db.Close()

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

	if cfg.RunWorker {
		sc, err := sellerapi.NewClient(sellerapi.ClientOptions{
			Timeout: cfg.SellerTimeout, AllowHTTP: sellerapi.AllowHTTP(cfg.SellerAllowHTTP), Logger: logger,
		})
		if err != nil {
			return err
		}
		w := worker.New(worker.Options{
			Client: tc, TaskQueue: cfg.TaskQueue, DB: db, Policy: pol, Seller: sc,
			Metrics: activities.NewMetrics(reg), Logger: logger, MaxActivities: worker.MaxActivities,
		})
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		defer w.Stop()
		logger.Info("worker polling", "task_queue", cfg.TaskQueue, "namespace", cfg.TemporalNamespace)
	}

	var handler http.Handler
	addr := cfg.MetricsAddr
	if cfg.RunAPI {
		handler = api.New(api.Deps{Temporal: tc, DB: db, Policy: pol, Config: cfg, Registry: reg, Logger: logger, Now: time.Now})
		addr = cfg.APIAddr
	} else if addr != "" {
		handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	}
	errc := make(chan error, 1)
	var srv *http.Server
	if handler != nil {
		srv = &http.Server{
			Addr: addr, Handler: handler,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			// Longer than the API's wait for an update to complete, so its answer is sent.
			WriteTimeout: 60 * time.Second,
			IdleTimeout:  2 * time.Minute,
		}
		go func() { errc <- srv.ListenAndServe() }()
		logger.Info("HTTP listening", "addr", addr, "api", cfg.RunAPI)
	}
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-errc:
		return fmt.Errorf("HTTP server: %w", err)
	}
	if srv != nil {
		// Let requests in flight (an update waits up to 30 s) finish before the worker,
		// the Temporal client and the pool are closed by the deferred calls.
		sctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			logger.Warn("HTTP shutdown", "error", err)
			srv.Close()
		}
	}
	return nil
}
