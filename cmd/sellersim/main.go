// Command sellersim serves the seller simulator (internal/dev/sellersim) over HTTP, so that
// the order workflows can be run and demonstrated against sellers that verify signatures,
// answer asynchronously, fail or lose answers on request, without any real seller.
//
// Configuration comes from the environment through internal/config: SELLERSIM_ADDR,
// SELLERSIM_SELLERS (sellerId:accessKey pairs), SELLERSIM_CALLBACK_URL,
// SELLERSIM_DATABASE_URL (where its state survives a restart; empty = in memory),
// LOG_LEVEL, LOG_FORMAT. At start it logs
// its address and each seller's production URL (never the keys); SIGINT or SIGTERM stops
// it gracefully.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/dev/sellersim"
	"github.com/cloudmarket/orders/internal/logging"
)

// shutdownTimeout bounds how long in-flight requests may finish after a stop signal.
const shutdownTimeout = 10 * time.Second

func main() {
	cfg, err := config.Load(nil)
	if err != nil {
		slog.Error("seller simulator cannot start", "err", err)
		os.Exit(2)
	}
	log := logging.New(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("seller simulator stopped", "err", err)
		os.Exit(1)
	}
}

// run listens, announces the sellers' production URLs and serves until ctx ends.
func run(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.SellerSimAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.SellerSimAddr, err)
	}
	sim, err := sellersim.Open(ctx, sellersim.Options{Logger: log, Sellers: cfg.SellerSimSellers,
		CallbackURL: cfg.SellerSimCallbackURL, DatabaseURL: cfg.SellerSimDatabaseURL})
	if err != nil {
		ln.Close()
		return fmt.Errorf("open the simulator's state: %w", err)
	}
	defer sim.Close()
	if cfg.SellerSimDatabaseURL == "" {
		log.Info("seller simulator state in memory only: a restart forgets instances and nonces (set SELLERSIM_DATABASE_URL to keep them)")
	}
	base := baseURL(ln.Addr())
	log.Info("seller simulator listening", "addr", ln.Addr().String(), "admin", base+"/admin/")
	ids := make([]string, 0, len(cfg.SellerSimSellers))
	for id := range cfg.SellerSimSellers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		log.Info("seller ready", "seller", id, "produce_url", base+sellersim.ProducePath(id))
	}
	return serve(ctx, ln, sim, log)
}

// baseURL is the URL clients on this host use to reach addr; a wildcard listen address
// is shown as 127.0.0.1 so that the logged produce URLs can be pasted as they are.
func baseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// serve runs an http.Server on ln until ctx ends, then shuts it down gracefully. Request
// contexts derive from ctx, so requests sleeping on injected latency end at once instead
// of holding up the shutdown.
func serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("seller simulator shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("seller simulator stopped")
	return nil
}
