package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/internal/order"
)

// callTimeout bounds one activity attempt: a seller call (SELLER_TIMEOUT, 5 s by default)
// with room for its bookkeeping.
const callTimeout = 30 * time.Second

// minRetryInterval is the shortest interval between two attempts of a seller call, however
// far a demo time scale shrinks the policy's: a seller is never hammered.
const minRetryInterval = time.Second

// recordCtx is for the local activity that writes a transition (audit lines, read model,
// money, appeal) to PostgreSQL: retried until it succeeds, because nothing may be lost;
// an outage only delays the order. A local activity adds one marker to the history rather
// than three events and a workflow task, which keeps a long order's history short.
func recordCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: callTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
		},
		Summary: "record transition",
	})
}

// sellerCtx is for a seller call: one attempt every interval (never under a second), each
// bounded by callTimeout. The seller's retry window is spent in attempts that reached it:
// the activity counts them (order.RetryWindow.Attempts) and gives up itself, so time in
// which the seller was never asked (our worker or database down, a missing catalogue
// entry) never uses it up. A backoff coefficient of 1 keeps the rhythm the seller protocol
// promises, and retries add nothing to history.
func sellerCtx(ctx workflow.Context, w order.RetryWindow, summary string) workflow.Context {
	interval := max(w.Interval, minRetryInterval)
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: callTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    interval,
			BackoffCoefficient: 1,
			MaximumInterval:    interval,
		},
		Summary: summary,
	})
}
