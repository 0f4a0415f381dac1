// Package worker wires the order service's Temporal worker: it registers the workflows and
// the activities (with their PostgreSQL pool, seller client and metrics) on a task queue.
// cmd/orders, the integration tests and the benchmark all build their worker here, so what
// is tested is what runs.
package worker

import (
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/activities/sellerapi"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/policy"
	"github.com/cloudmarket/orders/workflows"
)

// Capacity of one process that runs the worker: database connections, and activities run at
// once (each holds at most one connection at a time, leaving room for the API's reads).
// pgx's default pool (4 connections on 2 cores) would queue activities and API reads behind
// each other under load.
const (
	DBConns       = 20
	MaxActivities = 16
)

// Options are the worker's dependencies.
type Options struct {
	Client    client.Client
	TaskQueue string
	DB        *pgxpool.Pool
	Policy    *policy.Policy
	Seller    *sellerapi.Client
	Metrics   *activities.Metrics
	Logger    *slog.Logger
	// MaxActivities bounds the activities run at once (0 = the SDK's default); keep it
	// below the database pool size so activities do not queue for connections.
	MaxActivities int
}

// New returns a worker (not started) with every workflow and activity of the service.
func New(o Options) sdkworker.Worker {
	w := sdkworker.New(o.Client, o.TaskQueue, sdkworker.Options{MaxConcurrentActivityExecutionSize: o.MaxActivities})
	w.RegisterWorkflowWithOptions(workflows.Order, workflow.RegisterOptions{Name: order.WorkflowType})
	w.RegisterActivity(&activities.Store{DB: o.DB, Policy: o.Policy, Metrics: o.Metrics})
	w.RegisterActivity(&activities.Seller{DB: o.DB, Client: o.Seller, Metrics: o.Metrics, Logger: o.Logger})
	return w
}
