package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/internal/order"
)

// callTimeout bounds one activity attempt: a seller call (5 s HTTP timeout) or a database
// write, with room for the attempt's bookkeeping.
const callTimeout = 30 * time.Second

// storeCtx is for PostgreSQL activities: retried until they succeed, because the read model,
// the audit log and the ledger must not miss a step; an outage only delays the order.
func storeCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: callTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
		},
	})
}

// windowCtx is for seller calls: one attempt every Interval until Window has passed (the
// policy's retry window). A backoff coefficient of 1 keeps the rhythm the seller protocol
// promises, and retries add nothing to history.
func windowCtx(ctx workflow.Context, w order.RetryWindow) workflow.Context {
	start := callTimeout
	if w.Window < start {
		start = w.Window
	}
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    start,
		ScheduleToCloseTimeout: w.Window,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    w.Interval,
			BackoffCoefficient: 1,
			MaximumInterval:    w.Interval,
		},
	})
}
