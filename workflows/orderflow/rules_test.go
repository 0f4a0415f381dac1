package orderflow

import (
	"slices"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/internal/lifecycle"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/sellerapi"
)

// TestRulesComeFromTheInputBeforeMarkers: an order whose input carries its rules runs under
// them whatever the version markers would say (here they would say "before every change"),
// and an order without them still reads its rules from the markers. A refused production
// is flagged for ops only under RulesOps, which tells the two apart.
func (s *orderSuite) TestRulesComeFromTheInputBeforeMarkers() {
	for _, tc := range []struct {
		name        string
		rules       int
		wantFlagged bool
	}{
		{"input without rules, markers say legacy", 0, false},
		{"input with the current rules", lifecycle.RulesCurrent, true},
	} {
		s.Run(tc.name, func() {
			s.SetupTest()
			s.env.OnGetVersion(ChangeSeams, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
			s.env.OnGetVersion(ChangeOps, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
			s.sellerErr["newInstance"] = temporal.NewNonRetryableApplicationError("sold out", sellerapi.ClassRefused.ErrorType(), nil)
			in := startInput(order.TypeSaaS, order.BillingOneTime, false)
			in.Rules = tc.rules
			s.env.ExecuteWorkflow(Order, in)
			s.result()
			s.Equal(tc.wantFlagged, slices.Contains(s.events(), string(order.StepNeedsAttention)), "events %v", s.events())
		})
	}
}

// TestRulesUnknownToTheWorkerAreNotRun: an order placed by a newer API under rules this
// worker does not know fails its workflow task (retried until a newer worker takes it)
// instead of running under other rules.
func (s *orderSuite) TestRulesUnknownToTheWorkerAreNotRun() {
	in := startInput(order.TypeSaaS, order.BillingOneTime, false)
	in.Rules = lifecycle.RulesCurrent + 1
	s.env.ExecuteWorkflow(Order, in)
	s.Require().True(s.env.IsWorkflowCompleted())
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	s.Contains(err.Error(), "does not know")
	s.Empty(s.records, "nothing recorded under unknown rules")
}
