package loop

import (
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"
)

// LongEnough says whether a run's history has reached limit events (0: no limit of our
// own) or Temporal suggests continuing as new: a long-lived workflow (an order renewed for
// years, a customer's account) then hands its state to a new run, so no run grows without
// bound.
func LongEnough(ctx workflow.Context, limit int) bool {
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || (limit > 0 && info.GetCurrentHistoryLength() >= limit)
}

// ContinueAsNew ends the run with a continue-as-new of workflowType with input (which
// carries the state), logging the history length it had reached.
func ContinueAsNew(ctx workflow.Context, logger log.Logger, workflowType string, input any) error {
	logger.Info("continues as new", "workflow_type", workflowType, "history_length", workflow.GetInfo(ctx).GetCurrentHistoryLength())
	return workflow.NewContinueAsNewError(ctx, workflowType, input)
}
