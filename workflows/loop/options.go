// Package loop is the small kit the workflows' event loops share: the one timer for the
// earliest deadline, search attributes upserted only when they change, the history check
// that says when to continue as new, and every retry profile, as named options (this file),
// so a call site says which policy it uses and no policy is written twice.
package loop

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/order"
)

// untilDone retries our own side (PostgreSQL, Temporal) until it succeeds: nothing may be
// lost, and an outage only delays the workflow.
var untilDone = &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute}

// Record is for the local activity that writes a transition (audit lines, read model,
// money, appeal) to PostgreSQL: retried until it succeeds. A local activity adds one
// marker to the history rather than three events and a workflow task, which keeps a long
// order's history short.
func Record(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: order.CallTimeout,
		RetryPolicy:         untilDone,
		Summary:             "record transition",
	})
}

// Lookup is for a local activity that reads PostgreSQL (a customer level's clocks):
// retried until it succeeds.
func Lookup(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: order.CallTimeout,
		RetryPolicy:         untilDone,
		Summary:             summary,
	})
}

// Seller is for a seller call: one attempt every interval (never under
// order.MinRetryInterval), each bounded by order.CallTimeout. The seller's retry window is
// spent in attempts that reached it: the activity counts them (order.RetryWindow.Attempts)
// and gives up itself, so time in which the seller was never asked (our worker or database
// down, a missing catalogue entry) never uses it up. A backoff coefficient of 1 keeps the
// rhythm the seller protocol promises, and retries add nothing to history.
func Seller(ctx workflow.Context, w order.RetryWindow, summary string) workflow.Context {
	interval := max(w.Interval, order.MinRetryInterval)
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: order.CallTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    interval,
			BackoffCoefficient: 1,
			MaximumInterval:    interval,
		},
		Summary: summary,
	})
}

// Tell is for the account's activity that signals each of a customer's orders: it
// heartbeats its progress and retries until every order has been told (our side only:
// nothing to give up on).
func Tell(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         untilDone,
		Summary:             summary,
	})
}

// Batch is for the scheduled work's activities (a seller's statement, the product health
// check): long transactions of our own, retried until they succeed unless their input is
// invalid.
func Batch(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypeInvalidInput}},
		Summary: summary,
	})
}

// V1Store is the first order workflow's (orderv1) option for its PostgreSQL activities:
// retried until they succeed.
func V1Store(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: order.CallTimeout,
		RetryPolicy:         untilDone,
	})
}

// v1MinWindow is the shortest retry window a seller call of the first order workflow gets,
// however far a demo time scale shrinks the policy's: one whole attempt must fit.
const v1MinWindow = order.CallTimeout

// V1Window is the first order workflow's option for seller calls: one attempt every
// Interval until Window has passed, each attempt bounded by order.CallTimeout.
func V1Window(ctx workflow.Context, w order.RetryWindow) workflow.Context {
	window := max(w.Window, v1MinWindow)
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    order.CallTimeout,
		ScheduleToCloseTimeout: window,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    w.Interval,
			BackoffCoefficient: 1,
			MaximumInterval:    w.Interval,
		},
	})
}
