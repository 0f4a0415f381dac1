// Package worker wires the order service's Temporal worker: it registers the workflows and
// the activities (with their PostgreSQL pool, seller client and metrics) on a task queue.
// cmd/orders, the integration tests and the benchmark all build their worker here, so what
// is tested is what runs.
package worker

import (
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/policy"
	"github.com/cloudmarket/orders/internal/secrets"
	"github.com/cloudmarket/orders/internal/sellerapi"
	"github.com/cloudmarket/orders/workflows"
)

// MaxActivities bounds the activities one worker runs at once; each holds at most one
// database connection at a time, so the worker's pool (WORKER_DB_MAX_CONNS, 20 by default)
// must be larger.
const MaxActivities = 16

// Options are the worker's dependencies.
type Options struct {
	Client    client.Client
	TaskQueue string
	DB        *pgxpool.Pool
	Policy    *policy.Policy
	Seller    *sellerapi.Client
	// Keys opens sellers' sealed access keys.
	Keys    *secrets.Keyring
	Metrics *activities.Metrics
	Logger  *slog.Logger
	// MaxActivities bounds the activities run at once (0 = the SDK's default); keep it
	// below the database pool size so activities do not queue for connections.
	MaxActivities int
	// StopTimeout is how long Stop waits for running activities (0 = the SDK's default).
	StopTimeout time.Duration
}

// New returns a worker (not started) with every workflow and activity of the service.
func New(o Options) sdkworker.Worker {
	policyLimit := func(sellerID string) (float64, int) {
		l := o.Policy.SellerLimit(sellerID)
		return l.CallsPerSecond, l.Concurrency
	}
	shared := activities.NewSharedLimiter(o.DB, policyLimit)
	if o.Seller != nil {
		shared.Lease = activities.LeaseFor(o.Seller.Timeout())
	}
	w := sdkworker.New(o.Client, o.TaskQueue, sdkworker.Options{
		MaxConcurrentActivityExecutionSize: o.MaxActivities,
		WorkerStopTimeout:                  o.StopTimeout,
	})
	workflows.Register(w, workflows.Activities{
		Store: &activities.Store{DB: o.DB, Policy: o.Policy, Metrics: o.Metrics},
		Seller: &activities.Seller{DB: o.DB, Keys: o.Keys, Client: o.Seller, Metrics: o.Metrics, Logger: o.Logger,
			// Per-seller limits shared by every worker through PostgreSQL: ops' (PUT
			// /v1/sellers/{id}/limits), else the policy's.
			Gates: activities.NewSellerGatesFunc(policyLimit).Share(shared)},
		Accounts:   &activities.Accounts{DB: o.DB, Temporal: o.Client, Metrics: o.Metrics},
		Statements: &activities.Statements{DB: o.DB, Metrics: o.Metrics},
		Health:     &activities.Health{DB: o.DB, Policy: o.Policy, Metrics: o.Metrics},
	})
	return w
}
