package orderv1

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/internal/order"
)

// callTimeout bounds one activity attempt: a seller call (SELLER_TIMEOUT, 5 s by default)
// or a database write, with room for the attempt's bookkeeping.
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

// minWindow is the shortest retry window a seller call gets, however far a demo time scale
// shrinks the policy's: one whole attempt (seller timeout plus bookkeeping) must fit, or the
// calls that product health most needs to see, the slow ones, would be cut short.
const minWindow = callTimeout

// windowCtx is for seller calls: one attempt every Interval until Window has passed (the
// policy's retry window), each attempt bounded by callTimeout. A backoff coefficient of 1
// keeps the rhythm the seller protocol promises, and retries add nothing to history.
func windowCtx(ctx workflow.Context, w order.RetryWindow) workflow.Context {
	window := max(w.Window, minWindow)
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    callTimeout,
		ScheduleToCloseTimeout: window,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    w.Interval,
			BackoffCoefficient: 1,
			MaximumInterval:    w.Interval,
		},
	})
}
