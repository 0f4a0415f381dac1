package orderflow

import (
	"errors"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/policy"
)

// Billing through the SDK test suite (time skipping): each level's timeline, renewals and
// unsubscription as updates, arrears as signals, and a run that continues as new.

// stepAt is when the first audit line of that name was recorded.
func (s *orderSuite) stepAt(name string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.records {
		for _, st := range r.Steps {
			if string(st.Event) == name {
				return r.At
			}
		}
	}
	s.Failf("no step", "%s was never recorded", name)
	return time.Time{}
}

// TestEveryLevelsSubscriptionTimeline: for each customer level of the default policy, a
// monthly order expires at its expireTime, is frozen at the end of the level's grace and
// released at the end of its retention.
func (s *orderSuite) TestEveryLevelsSubscriptionTimeline() {
	p := policy.Default()
	for _, level := range policy.Levels {
		s.Run(level, func() {
			s.SetupTest()
			grace, retention := p.LevelClocks(level, policy.SubscriptionClocks)
			s.clocks = activities.Clocks{Grace: grace, Retention: retention}
			in := startInput(order.TypeSaaS, order.BillingMonthly, false)
			s.env.ExecuteWorkflow(Order, in)
			v := s.result()
			s.Equal(order.PhaseReleased, v.Phase)
			expired, frozen, released := s.stepAt("expired"), s.stepAt("frozen"), s.stepAt("released")
			s.Equal(*in.ExpireTime, expired, "expired at expireTime")
			s.Equal(grace, frozen.Sub(expired), "frozen after the grace")
			s.Equal(retention, released.Sub(frozen), "released after the retention")
			s.Equal(1, s.count("FREEZE"))
		})
	}
}

func (s *orderSuite) TestRenewalThenUnsubscriptionAsUpdates() {
	in := startInput(order.TypeSaaS, order.BillingMonthly, false)
	exp := in.ExpireTime.Add(30 * day)
	renew := order.RenewalRequest{Actor: billing, RenewalOrderID: "R-1", RenewalOrderLineID: "R-1-1", ExpireTime: exp}
	s.update(order.UpdateRenew, order.RenewalRequest{Actor: buyer, RenewalOrderID: "R-1", ExpireTime: exp}, time.Hour,
		s.wantRefused(order.ErrInvalidTransition))
	s.update(order.UpdateRenew, renew, 2*time.Hour, func(v order.View, err error) {
		s.NoError(err)
		s.Equal(1, v.RenewalCount)
		s.Equal(exp, *v.ExpireTime)
	})
	refund := order.Money{Value: 1000, Currency: "CNY"}
	s.update(order.UpdateUnsubscribe, order.UnsubscribeRequest{Actor: billing, Reason: "moved away", UnsubscribeOrderID: "U-1",
		UnsubscribeOrderLineID: "U-1-1", Refund: &refund}, 40*day, s.wantOK(order.Status(order.PhaseInService)))
	s.env.ExecuteWorkflow(Order, in)
	v := s.result()
	s.Equal(order.PhaseReleased, v.Phase)
	s.Equal([]string{"placed", "instance_created", "delivered", "accepted", "renewed", "unsubscribed", "released"}, s.events())
	s.Equal([]string{"post", "post", "refund_part"}, s.money())
	s.Require().Len(s.sellerCalls, 2)
	s.Equal("R-1", s.sellerCalls[0].About.OrderID, "refreshInstance names the renewal order")
	s.Equal(exp, *s.sellerCalls[0].ExpireTime)
	s.Equal("U-1", s.sellerCalls[1].About.OrderID, "releaseInstance names the unsubscribe order")
	s.Equal(0, s.count("FREEZE"), "renewed before its first expiry, unsubscribed before the second")
}

func (s *orderSuite) TestArrearsSignals() {
	in := startInput(order.TypeSaaS, order.BillingPayPerUse, false)
	timerActor := order.Actor{Kind: order.ActorTimer}
	signal := func(a order.ArrearsAction, after time.Duration) {
		s.env.RegisterDelayedCallback(func() {
			s.env.SignalWorkflow(order.SignalArrears, order.ArrearsSignal{Action: a, CaseID: "A-1", Actor: timerActor})
		}, after)
	}
	signal(order.ArrearsFreeze, time.Hour)
	signal(order.ArrearsFreeze, time.Hour+time.Minute) // a repeat
	signal(order.ArrearsUnfreeze, 2*time.Hour)
	signal(order.ArrearsFreeze, 3*time.Hour)
	signal(order.ArrearsRelease, 4*time.Hour)
	s.env.ExecuteWorkflow(Order, in)
	v := s.result()
	s.Equal(order.PhaseReleased, v.Phase)
	s.Equal([]string{"placed", "instance_created", "delivered", "accepted", "frozen", "unfrozen", "frozen", "released"}, s.events())
	s.Equal(2, s.count("FREEZE"))
	s.Equal(1, s.count("UNFREEZE"))
	s.Equal(1, s.count("release"))
}

// TestContinueAsNewCarriesTheOrder: when Temporal suggests it, the run hands its state to
// the next (after the updates it took), and the next goes on where it stood: same audit
// numbering, same clocks, renewals remembered.
func (s *orderSuite) TestContinueAsNewCarriesTheOrder() {
	in := startInput(order.TypeSaaS, order.BillingMonthly, false)
	exp := in.ExpireTime.Add(30 * day)
	s.update(order.UpdateRenew, order.RenewalRequest{Actor: billing, RenewalOrderID: "R-1", ExpireTime: exp}, time.Hour,
		func(_ order.View, err error) { s.NoError(err) })
	s.env.RegisterDelayedCallback(func() { s.env.SetContinueAsNewSuggested(true) }, 2*time.Hour)
	// Something must wake the loop after the suggestion: a signal the order ignores.
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(order.SignalArrears, order.ArrearsSignal{Action: order.ArrearsUnfreeze, Actor: order.Actor{Kind: order.ActorTimer}})
	}, 3*time.Hour)
	s.env.ExecuteWorkflow(Order, in)
	s.True(s.env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	s.Require().True(errors.As(s.env.GetWorkflowError(), &can), "want continue-as-new, got %v", s.env.GetWorkflowError())
	s.Equal(order.WorkflowType, can.WorkflowType.Name)
	var next order.StartInput
	s.Require().NoError(converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	s.NotEmpty(next.Resume)
	seqBefore := len(s.events())

	// The next run, in a fresh environment, from the carried input.
	s.SetupTest()
	s.env.SetStartTime(t0.Add(3 * time.Hour))
	s.update(order.UpdateRenew, order.RenewalRequest{Actor: billing, RenewalOrderID: "R-1", ExpireTime: exp}, time.Hour,
		func(v order.View, err error) {
			s.NoError(err, "the renewal of the last run is remembered: a repeat")
			s.Equal(1, v.RenewalCount)
		})
	s.update(order.UpdateUnsubscribe, order.UnsubscribeRequest{Actor: billing, Reason: "done"}, 2*time.Hour,
		func(_ order.View, err error) { s.NoError(err) })
	s.env.ExecuteWorkflow(Order, next)
	v := s.result()
	s.Equal(order.PhaseReleased, v.Phase)
	s.Equal([]string{"unsubscribed", "released"}, s.events())
	s.Equal(seqBefore+1, s.records[0].FirstSeq, "the audit numbering goes on")
}
