package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/policy"
)

// EnsureSchedules creates the Temporal Schedules of the scheduled work, or brings existing
// ones to the policy's times: the monthly seller statements (the policy's day and hour,
// UTC) and the daily product health check. Safe to call from every worker at every start.
// Overlapping runs are skipped (a run still going when the next is due is not doubled).
func EnsureSchedules(ctx context.Context, c client.Client, taskQueue string, pol *policy.Policy, logger *slog.Logger) error {
	schedules := []struct {
		id       string
		spec     client.ScheduleSpec
		workflow string
		args     []any
	}{
		{order.StatementsScheduleID, client.ScheduleSpec{Calendars: []client.ScheduleCalendarSpec{{
			DayOfMonth: []client.ScheduleRange{{Start: pol.Settlement.StatementDay}},
			Hour:       []client.ScheduleRange{{Start: pol.Settlement.StatementHour}},
			Comment:    "monthly seller statements of the month before",
		}}}, order.StatementsWorkflowType, []any{order.StatementsInput{}}},
		{order.HealthScheduleID, client.ScheduleSpec{Calendars: []client.ScheduleCalendarSpec{{
			Hour:    []client.ScheduleRange{{Start: pol.Health.Hour}},
			Comment: "daily product health check",
		}}}, order.HealthWorkflowType, nil},
	}
	for _, s := range schedules {
		action := &client.ScheduleWorkflowAction{ID: s.id, Workflow: s.workflow, Args: s.args, TaskQueue: taskQueue}
		_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
			ID: s.id, Spec: s.spec, Action: action, Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		})
		switch {
		case err == nil:
			logger.Info("schedule created", "schedule_id", s.id)
			continue
		case !errors.Is(err, temporal.ErrScheduleAlreadyRunning):
			return fmt.Errorf("create schedule %s: %w", s.id, err)
		}
		h := c.ScheduleClient().GetHandle(ctx, s.id)
		if err := h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			in.Description.Schedule.Spec = &s.spec
			in.Description.Schedule.Action = action
			return &client.ScheduleUpdate{Schedule: &in.Description.Schedule}, nil
		}}); err != nil {
			return fmt.Errorf("update schedule %s: %w", s.id, err)
		}
	}
	return nil
}
