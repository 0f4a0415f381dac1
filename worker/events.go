package worker

import (
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/outbox"
	"github.com/cloudmarket/orders/internal/sellerapi"
)

// NewEventDispatcher is the worker's deliverer of order events to subscribers (package
// outbox), configured from EVENTS_*: it runs beside the Temporal worker, on the worker's
// pool, because its progress is rows and not workflow state (a killed worker's batch is
// delivered again by another). Subscriber URLs obey the seller endpoint policy
// (SELLER_ENDPOINTS, SELLER_ALLOW_NETWORKS), checked on every connection. Run it with Run
// in a goroutine; it returns when its context ends.
func NewEventDispatcher(db *pgxpool.Pool, cfg *config.Config, reg prometheus.Registerer, logger *slog.Logger) *outbox.Dispatcher {
	policy := sellerapi.EndpointPolicy{
		Development:   cfg.SellerEndpoints == config.SellerEndpointsDevelopment,
		AllowNetworks: cfg.SellerAllowNetworks,
	}
	return &outbox.Dispatcher{
		DB: db, Keys: cfg.Keys, HTTP: outbox.NewHTTPClient(policy, cfg.EventsTimeout),
		RetryWindow: cfg.EventsRetryWindow, PollInterval: cfg.EventsPollInterval,
		Concurrency: cfg.EventsDispatchers, Retention: cfg.EventsRetention,
		Logger: logger, Registry: reg,
	}
}
