// Package schedules holds the scheduled work (Temporal Schedules, created by the worker at
// start): the monthly seller statements and the daily product health check.
package schedules

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/workflows/loop"
)

// statements receives the statement activities' method values.
var statements *activities.Statements

// statementParallelism bounds the sellers stated at once.
const statementParallelism = 4

// SellerStatements is the monthly statement run (order.StatementsWorkflowType), started by
// the schedule (order.StatementsScheduleID) on the policy's day of the month, or by ops for
// a month: every seller's statement of the month, each its own idempotent activity (a
// month stated before is answered as it was), a few sellers at a time.
func SellerStatements(ctx workflow.Context, in order.StatementsInput) ([]activities.StatementSummary, error) {
	month := in.Month
	if month == "" {
		now := workflow.Now(ctx).UTC()
		month = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0).Format("2006-01")
	}
	ctx = loop.Batch(ctx, "statements of "+month)
	var sellers []string
	if err := workflow.ExecuteActivity(ctx, statements.SellersToState, month).Get(ctx, &sellers); err != nil {
		return nil, err
	}
	out := make([]activities.StatementSummary, len(sellers))
	var firstErr error
	for i := 0; i < len(sellers); i += statementParallelism {
		batch := sellers[i:min(i+statementParallelism, len(sellers))]
		futures := make([]workflow.Future, len(batch))
		for j, sellerID := range batch {
			actx := loop.Batch(ctx, "statement of "+sellerID+" for "+month)
			futures[j] = workflow.ExecuteActivity(actx, statements.StateSeller, sellerID, month)
		}
		for j, f := range futures {
			if err := f.Get(ctx, &out[i+j]); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	return out, firstErr
}

// health receives the health activities' method values.
var health *activities.Health

// ProductHealth is the product health check (order.HealthWorkflowType), started daily by
// the schedule (order.HealthScheduleID), or by ops through the API: one activity judges every
// listed product as of the run's day and delists those at the policy's limits. An ops check
// of one product (in.ProductID) runs CheckProduct instead, a distinct activity, so the
// schedule's runs (which pass no input: in is zero) issue exactly the commands they always
// did, and their recorded histories replay unchanged.
func ProductHealth(ctx workflow.Context, in order.HealthInput) (activities.HealthReport, error) {
	day := workflow.Now(ctx).UTC().Format("2006-01-02")
	var report activities.HealthReport
	if in.ProductID != "" {
		ctx = loop.Batch(ctx, "product health of "+in.ProductID+" as of "+day)
		err := workflow.ExecuteActivity(ctx, health.CheckProduct, day, in.ProductID).Get(ctx, &report)
		return report, err
	}
	ctx = loop.Batch(ctx, "product health as of "+day)
	err := workflow.ExecuteActivity(ctx, health.CheckProducts, day).Get(ctx, &report)
	return report, err
}
