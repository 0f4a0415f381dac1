package orderflow

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/policy"
	"github.com/cloudmarket/orders/internal/sellerapi"
)

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

var (
	buyer   = order.Actor{Kind: order.ActorBuyer, ID: "cust-1"}
	other   = order.Actor{Kind: order.ActorBuyer, ID: "cust-2"}
	opsA    = order.Actor{Kind: order.ActorOps, ID: "alice"}
	sellerA = order.Actor{Kind: order.ActorSeller, ID: "seller-1"}
	billing = order.Actor{Kind: order.ActorBilling, ID: "billing"}
)

func startInput(t order.ProductType, mode order.BillingMode, supervised bool) order.StartInput {
	in := order.StartInput{
		OrderID: "O-1", OrderLineID: "O-1-1", CustomerID: "cust-1", ProductID: "prod-1", SellerID: "seller-1",
		ProductType: t, BillingMode: mode, Supervised: supervised, Quantity: 1,
		Amount: order.Money{Value: 10000, Currency: "CNY"}, CommissionBps: 1500,
		PlacedAt: t0, Fingerprint: "fp", Windows: policy.Default().Windows(t),
	}
	if mode.Periodic() {
		exp := t0.Add(30 * 24 * time.Hour)
		in.ExpireTime = &exp
	}
	return in
}

// orderSuite runs the order workflow in the SDK's test environment with time skipping: the
// days of an order's life pass in milliseconds. Activities are recorders here; the
// integration tests run the same workflow on the real stack.
type orderSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment

	mu      sync.Mutex
	records []activities.Record
	calls   map[string]int
	// sellerErr, when set for a call, is what the seller activity fails with.
	sellerErr map[string]error
	// instance is what newInstance answers; clocks what the level lookup does.
	instance activities.Instance
	clocks   activities.Clocks
	// sellerCalls are the release and refresh calls made, with their arguments.
	sellerCalls []activities.SellerCall
}

func TestOrderWorkflow(t *testing.T) { suite.Run(t, new(orderSuite)) }

func (s *orderSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.SetStartTime(t0) // the orders are placed at t0
	s.env.RegisterWorkflow(Order)
	s.env.RegisterActivity(&activities.Store{})
	s.env.RegisterActivity(&activities.Seller{})
	s.records, s.calls, s.sellerErr, s.sellerCalls = nil, map[string]int{}, map[string]error{}, nil
	s.instance = activities.Instance{InstanceID: "inst-1", Ready: true, FrontEndURL: "https://x"}
	s.env.OnActivity(store.Record, mock.Anything, mock.Anything).Return(func(_ context.Context, r activities.Record) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.records = append(s.records, r)
		return nil
	})
	s.clocks = activities.Clocks{Grace: 7 * 24 * time.Hour, Retention: 15 * 24 * time.Hour}
	s.env.OnActivity(store.CustomerClocks, mock.Anything, mock.Anything, mock.Anything).Return(
		func(context.Context, string, float64) (activities.Clocks, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.clocks, nil
		})
	s.env.OnActivity(seller.NewInstance, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.SellerCall) (activities.Instance, error) {
			if err := s.called("newInstance"); err != nil {
				return activities.Instance{}, err
			}
			return s.instance, nil
		})
	s.env.OnActivity(seller.QueryInstance, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.SellerCall) (activities.Instance, error) {
			if err := s.called("queryInstance"); err != nil {
				return activities.Instance{}, err
			}
			return activities.Instance{InstanceID: "inst-1", Ready: true}, nil
		})
	s.env.OnActivity(seller.UpdateInstanceStatus, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_ context.Context, _ activities.SellerCall, st sellerapi.InstanceStatus) error {
			return s.called(string(st))
		})
	s.env.OnActivity(seller.ReleaseInstance, mock.Anything, mock.Anything).Return(
		func(_ context.Context, c activities.SellerCall) error {
			s.sent(c)
			return s.called("release")
		})
	s.env.OnActivity(seller.RefreshInstance, mock.Anything, mock.Anything).Return(
		func(_ context.Context, c activities.SellerCall) error {
			s.sent(c)
			return s.called("refresh")
		})
}

// sent keeps a seller call's arguments.
func (s *orderSuite) sent(c activities.SellerCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sellerCalls = append(s.sellerCalls, c)
}

func (s *orderSuite) called(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[name]++
	return s.sellerErr[name]
}

func (s *orderSuite) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[name]
}

// events are the audit lines recorded, in order.
func (s *orderSuite) events() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.records {
		for _, st := range r.Steps {
			out = append(out, string(st.Event))
		}
	}
	return out
}

func (s *orderSuite) money() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.records {
		for _, p := range r.Postings {
			out = append(out, string(p.Action))
		}
	}
	return out
}

// update sends an update after a delay and checks its answer.
func (s *orderSuite) update(name string, arg any, after time.Duration, check func(order.View, error)) {
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { check(order.View{}, err) },
			OnComplete: func(v any, err error) {
				switch x := v.(type) {
				case order.View:
					check(x, err)
				case order.AppealAnswer:
					check(x.Order, err)
				default:
					check(order.View{}, err)
				}
			},
		}, arg)
	}, after)
}

// wantOK and wantRefused are update checks.
func (s *orderSuite) wantOK(status order.Status) func(order.View, error) {
	return func(v order.View, err error) {
		s.NoError(err)
		s.Equal(status, v.Status)
	}
}

func (s *orderSuite) wantRefused(code string) func(order.View, error) {
	return func(_ order.View, err error) {
		var appErr *temporal.ApplicationError
		if s.ErrorAs(err, &appErr) {
			s.Equal(code, appErr.Type())
		}
	}
}

func (s *orderSuite) result() order.View {
	s.True(s.env.IsWorkflowCompleted())
	s.NoError(s.env.GetWorkflowError())
	var v order.View
	s.NoError(s.env.GetWorkflowResult(&v))
	return v
}

func act(a order.Actor) order.ActionRequest { return order.ActionRequest{Actor: a} }

func (s *orderSuite) TestSupervisedSaaSAcceptedThenReleased() {
	in := startInput(order.TypeSaaS, order.BillingMonthly, true)
	s.update(order.UpdateAccept, act(other), time.Hour, s.wantRefused(order.ErrInvalidTransition))
	s.update(order.UpdateAccept, act(buyer), 2*time.Hour, s.wantOK(order.Status(order.PhaseInService)))
	s.env.ExecuteWorkflow(Order, in)
	v := s.result()
	s.Equal(order.PhaseReleased, v.Phase)
	s.Equal([]string{"placed", "instance_created", "delivered", "accepted", "expired", "frozen", "released"}, s.events())
	s.Equal([]string{"post"}, s.money())
	s.Equal(1, s.count("FREEZE"))
	s.Equal(1, s.count("release"))
}

func (s *orderSuite) TestEveryProductTypeToAcceptance() {
	for _, tt := range []struct {
		typ     order.ProductType
		deliver func(*orderSuite)
	}{
		{order.TypeLicense, func(s *orderSuite) {
			s.update(order.UpdateLicense, order.LicenseDelivery{Actor: sellerA, License: *licenseRef("L-1")}, time.Minute,
				s.wantOK(order.Status(order.PhaseAwaitingAcceptance)))
		}},
		{order.TypePackage, func(s *orderSuite) {
			for i, p := range order.DeploymentPhases {
				s.update(order.UpdateDeploy, order.DeploymentReport{Actor: sellerA, Phase: p, State: order.DeploymentDone},
					time.Duration(i+1)*time.Minute, func(_ order.View, err error) { s.NoError(err) })
			}
		}},
		{order.TypeHardware, func(s *orderSuite) {
			s.update(order.UpdateShip, order.ShipmentRequest{Actor: sellerA, Carrier: "SF", TrackingNumber: "SF123"}, time.Minute,
				s.wantOK(order.Status(order.PhaseShipping)))
			s.update(order.UpdateSignoff, order.SignoffRequest{Actor: buyer, SignedAt: t0.Add(time.Hour)}, 2*time.Minute,
				s.wantOK(order.Status(order.PhaseAwaitingAcceptance)))
		}},
		{order.TypeService, func(s *orderSuite) {
			s.update(order.UpdateDeliver, order.DeliveryRequest{Actor: sellerA, Note: "trained the team"}, time.Minute,
				s.wantOK(order.Status(order.PhaseAwaitingAcceptance)))
		}},
	} {
		s.Run(string(tt.typ), func() {
			s.SetupTest()
			in := startInput(tt.typ, order.BillingOneTime, true)
			if tt.typ == order.TypeLicense {
				s.instance = activities.Instance{InstanceID: "inst-1", Ready: true} // no licence in the answer
			}
			tt.deliver(s)
			s.update(order.UpdateAccept, act(buyer), time.Hour, s.wantOK(order.Status(order.PhaseCompleted)))
			s.env.ExecuteWorkflow(Order, in)
			v := s.result()
			s.Equal(order.PhaseCompleted, v.Phase)
			s.Equal(order.SettlementPending, v.Settlement.Status)
		})
	}
}

func (s *orderSuite) TestRejectionLoopToTheLimitThenAppealRefund() {
	in := startInput(order.TypeService, order.BillingOneTime, true)
	deliver := order.DeliveryRequest{Actor: sellerA, Note: "delivered"}
	reject := order.ActionRequest{Actor: buyer, Reason: "not what was agreed"}
	at := time.Minute
	s.update(order.UpdateDeliver, deliver, at, func(_ order.View, err error) { s.NoError(err) })
	for i := 1; i <= 3; i++ {
		at += time.Minute
		s.update(order.UpdateReject, reject, at, s.wantOK(order.Status(order.PhaseRejected)))
		at += time.Minute
		s.update(order.UpdateDeliver, deliver, at, s.wantOK(order.Status(order.PhaseAwaitingAcceptance)))
	}
	at += time.Minute
	s.update(order.UpdateReject, reject, at, s.wantRefused(order.ErrRejectionLimit))
	at += time.Minute
	var appealID string
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(order.UpdateAppeal, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { s.Fail("appeal refused", err) },
			OnComplete: func(v any, err error) {
				s.NoError(err)
				appealID = v.(order.AppealAnswer).AppealID
				s.Equal(order.StatusAppealing, v.(order.AppealAnswer).Order.Status)
			},
		}, order.AppealRequest{Actor: buyer, Reason: "three bad deliveries"})
	}, at)
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(order.UpdateResolve, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { s.Fail("resolution refused", err) },
			OnComplete: func(v any, err error) {
				s.NoError(err)
				s.Equal(order.Status(order.PhaseCancelled), v.(order.View).Status)
			},
		}, order.AppealResolution{Actor: opsA, AppealID: appealID, Outcome: order.OutcomeRefund, Note: "refund"})
	}, at+time.Hour)
	s.env.ExecuteWorkflow(Order, in)
	v := s.result()
	s.Equal(order.PhaseCancelled, v.Phase)
	s.Equal(3, v.Rejections)
	s.Equal([]string{"refund"}, s.money())
}

func (s *orderSuite) TestEscalationThroughEveryTierThenAccept() {
	in := startInput(order.TypeService, order.BillingOneTime, true)
	var appealID string
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(order.UpdateAppeal, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { s.Fail("appeal refused", err) },
			OnComplete: func(v any, err error) { s.NoError(err); appealID = v.(order.AppealAnswer).AppealID },
		}, order.AppealRequest{Actor: sellerA, Reason: "the buyer gives no access"})
	}, time.Hour)
	// Tiers of 2 and 3 days: after 6 days the appeal is at the last tier.
	s.env.RegisterDelayedCallback(func() {
		var v order.View
		val, err := s.env.QueryWorkflow(order.QueryState)
		s.NoError(err)
		s.NoError(val.Get(&v))
		s.Equal(3, v.Appeal.Tier)
		s.Nil(v.Appeal.EscalateAt)
		s.env.UpdateWorkflow(order.UpdateResolve, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { s.Fail("resolution refused", err) },
			OnComplete: func(v any, err error) { s.NoError(err) },
		}, order.AppealResolution{Actor: opsA, AppealID: appealID, Outcome: order.OutcomeAccept})
	}, 6*24*time.Hour)
	s.env.ExecuteWorkflow(Order, in)
	v := s.result()
	s.Equal(order.PhaseCompleted, v.Phase)
	s.Equal(order.ActorOps, v.AcceptedBy.Kind)
	s.Equal([]string{"placed", "appeal_opened", "appeal_escalated", "appeal_escalated", "appeal_resolved", "accepted"}, s.events())
}

func (s *orderSuite) TestPausedAcceptanceWindowResumesWithItsRemainder() {
	in := startInput(order.TypeService, order.BillingOneTime, true)
	var appealID string
	s.update(order.UpdateDeliver, order.DeliveryRequest{Actor: sellerA, Note: "done"}, time.Hour, func(_ order.View, err error) { s.NoError(err) })
	s.env.RegisterDelayedCallback(func() { // 6 days of the 7-day window used
		s.env.UpdateWorkflow(order.UpdateAppeal, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { s.Fail("refused", err) },
			OnComplete: func(v any, err error) { appealID = v.(order.AppealAnswer).AppealID },
		}, order.AppealRequest{Actor: buyer, Reason: "missing manual"})
	}, 6*24*time.Hour+time.Hour)
	s.env.RegisterDelayedCallback(func() { // 20 days later: the window did not run out
		val, _ := s.env.QueryWorkflow(order.QueryState)
		var v order.View
		s.NoError(val.Get(&v))
		s.Equal(order.StatusAppealing, v.Status)
		s.env.UpdateWorkflow(order.UpdateResolve, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { s.Fail("refused", err) }, OnComplete: func(any, error) {},
		}, order.AppealResolution{Actor: opsA, AppealID: appealID, Outcome: order.OutcomeContinue})
	}, 26*24*time.Hour+time.Hour)
	s.env.RegisterDelayedCallback(func() { // 23 hours after resuming: still waiting for the buyer
		val, _ := s.env.QueryWorkflow(order.QueryState)
		var v order.View
		s.NoError(val.Get(&v))
		s.Equal(order.Status(order.PhaseAwaitingAcceptance), v.Status)
	}, 27*24*time.Hour)
	s.env.ExecuteWorkflow(Order, in)
	v := s.result()
	s.Equal(order.ActorTimer, v.AcceptedBy.Kind)
	// Accepted one day after the appeal closed: the day the window had left.
	s.WithinDuration(t0.Add(27*24*time.Hour+time.Hour), v.UpdatedAt, time.Minute)
}

func (s *orderSuite) TestUpdateRacingTheTimer() {
	in := startInput(order.TypeService, order.BillingOneTime, true)
	s.update(order.UpdateDeliver, order.DeliveryRequest{Actor: sellerA, Note: "done"}, time.Hour, func(_ order.View, err error) { s.NoError(err) })
	// The acceptance window ends at 7 days + 1 hour; the buyer accepts at that instant.
	s.update(order.UpdateAccept, act(buyer), 7*24*time.Hour+time.Hour, func(v order.View, err error) {
		if err == nil {
			s.Equal(order.Status(order.PhaseCompleted), v.Status)
			return
		}
		var appErr *temporal.ApplicationError
		s.ErrorAs(err, &appErr)
		s.Equal(order.ErrInvalidTransition, appErr.Type())
	})
	s.env.ExecuteWorkflow(Order, in)
	v := s.result()
	s.Equal(order.PhaseCompleted, v.Phase)
	s.Equal([]string{"post"}, s.money(), "accepted once, by one of them")
}

func (s *orderSuite) TestUpdatesArrivingTogether() {
	in := startInput(order.TypeService, order.BillingOneTime, true)
	s.update(order.UpdateDeliver, order.DeliveryRequest{Actor: sellerA, Note: "done"}, time.Hour, func(_ order.View, err error) { s.NoError(err) })
	var okCount, refused int
	for _, u := range []struct {
		name string
		arg  any
	}{
		{order.UpdateAccept, act(buyer)},
		{order.UpdateReject, order.ActionRequest{Actor: buyer, Reason: "no"}},
		{order.UpdateAppeal, order.AppealRequest{Actor: buyer, Reason: "x"}},
	} {
		s.update(u.name, u.arg, 2*time.Hour, func(_ order.View, err error) {
			if err == nil {
				okCount++
			} else {
				refused++
			}
		})
	}
	s.env.ExecuteWorkflow(Order, in)
	s.result()
	s.Equal(1, okCount, "exactly one of accept, reject and appeal at the same instant wins")
	s.Equal(2, refused)
}

func (s *orderSuite) TestAsyncProvisioningPolls() {
	s.instance = activities.Instance{InstanceID: "inst-1", Ready: false}
	in := startInput(order.TypeSaaS, order.BillingOneTime, false)
	s.env.ExecuteWorkflow(Order, in)
	v := s.result()
	s.Equal(order.PhaseCompleted, v.Phase)
	s.Equal(1, s.count("queryInstance"))
	s.Equal([]string{"placed", "instance_pending", "instance_created", "delivered", "accepted"}, s.events())
}

func (s *orderSuite) TestRefusalThenOpsRetry() {
	s.sellerErr["newInstance"] = temporal.NewNonRetryableApplicationError("sold out", sellerapi.ClassRefused.ErrorType(), nil)
	in := startInput(order.TypeSaaS, order.BillingOneTime, false)
	s.env.RegisterDelayedCallback(func() {
		s.mu.Lock()
		delete(s.sellerErr, "newInstance")
		s.mu.Unlock()
	}, time.Hour)
	s.update(order.UpdateRetry, act(buyer), 2*time.Hour, s.wantRefused(order.ErrInvalidTransition))
	s.update(order.UpdateRetry, act(opsA), 2*time.Hour, func(_ order.View, err error) { s.NoError(err) })
	s.env.ExecuteWorkflow(Order, in)
	v := s.result()
	s.Equal(order.PhaseCompleted, v.Phase)
	s.Equal([]string{"placed", "provision_failed", "needs_attention", "retry_requested", "instance_created", "delivered", "accepted"}, s.events())
}

func (s *orderSuite) TestRefundWhenNobodyRetriesReleasesNothingMade() {
	s.sellerErr["newInstance"] = temporal.NewNonRetryableApplicationError("sold out", sellerapi.ClassRefused.ErrorType(), nil)
	s.env.ExecuteWorkflow(Order, startInput(order.TypeSaaS, order.BillingOneTime, false))
	v := s.result()
	s.Equal(order.PhaseCancelled, v.Phase)
	s.Equal(order.SettlementRefunded, v.Settlement.Status)
	s.Equal(0, s.count("release"))
	s.Equal([]string{"refund"}, s.money())
}

func (s *orderSuite) TestReleaseFailureNeedsOpsThenRetry() {
	s.sellerErr["release"] = temporal.NewNonRetryableApplicationError("window spent", sellerapi.ClassInternalError.ErrorType(), nil)
	in := startInput(order.TypeSaaS, order.BillingMonthly, false)
	s.env.RegisterDelayedCallback(func() {
		val, _ := s.env.QueryWorkflow(order.QueryState)
		var v order.View
		s.NoError(val.Get(&v))
		s.True(v.NeedsAttention)
		s.Equal(order.WaitOps, v.WaitingOn)
		s.mu.Lock()
		delete(s.sellerErr, "release")
		s.mu.Unlock()
		s.env.UpdateWorkflow(order.UpdateRetry, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { s.Fail("refused", err) }, OnComplete: func(any, error) {},
		}, act(opsA))
	}, 60*24*time.Hour)
	s.env.ExecuteWorkflow(Order, in)
	v := s.result()
	s.Equal(order.PhaseReleased, v.Phase)
	s.False(v.NeedsAttention)
	s.Equal(2, s.count("release"))
}

func licenseRef(l string) *order.LicenseRef {
	return &order.LicenseRef{SHA256: strings.Repeat("a", 63) + string(rune('0'+len(l)%10)), Masked: "L-12…9ABC", Via: "answer"}
}

func opsReq(action order.OpsActionKind) order.OpsRequest {
	return order.OpsRequest{Actor: opsA, Action: action, Reason: "the buyer called"}
}

func (s *orderSuite) TestOpsForceAcceptThenCancelInPart() {
	in := startInput(order.TypeService, order.BillingMonthly, true)
	s.update(order.UpdateDeliver, order.DeliveryRequest{Actor: sellerA, Note: "delivered"}, time.Minute,
		s.wantOK(order.Status(order.PhaseAwaitingAcceptance)))
	s.update(order.UpdateOps, order.OpsRequest{Actor: buyer, Action: order.OpsForceAccept, Reason: "me"}, 2*time.Minute,
		s.wantRefused(order.ErrInvalidTransition))
	s.update(order.UpdateOps, opsReq(order.OpsForceAccept), 3*time.Minute, s.wantOK(order.Status(order.PhaseInService)))
	cancel := opsReq(order.OpsCancel)
	cancel.Refund = &order.Money{Value: 1000, Currency: in.Amount.Currency}
	s.update(order.UpdateOps, cancel, 4*time.Minute, s.wantOK(order.Status(order.PhaseCancelled)))
	s.env.ExecuteWorkflow(Order, in)
	v := s.result()
	s.Equal(order.PhaseCancelled, v.Phase)
	s.Equal([]string{"placed", "delivered", "ops_action", "accepted", "ops_action", "refunded"}, s.events())
	s.Equal([]string{"post", "refund_part"}, s.money())
}

func (s *orderSuite) TestOpsUnfreezeTellsTheAccount() {
	in := startInput(order.TypeSaaS, order.BillingPayPerUse, false)
	var told []order.HoldOverride
	s.env.OnSignalExternalWorkflow(mock.Anything, order.AccountWorkflowID(in.CustomerID), "", order.SignalHoldOverride, mock.Anything).
		Return(func(_, _, _, _ string, arg any) error { told = append(told, arg.(order.HoldOverride)); return nil })
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(order.SignalArrears, order.ArrearsSignal{Action: order.ArrearsFreeze, CaseID: "AR1",
			Actor: order.Actor{Kind: order.ActorTimer}})
	}, time.Hour)
	s.update(order.UpdateOps, opsReq(order.OpsUnfreeze), 2*time.Hour, s.wantOK(order.Status(order.PhaseInService)))
	s.update(order.UpdateUnsubscribe, order.UnsubscribeRequest{Actor: order.Actor{Kind: order.ActorBilling, ID: "billing"},
		Reason: "done", UnsubscribeOrderID: "U-1", UnsubscribeOrderLineID: "U-1-1"}, 3*time.Hour, func(_ order.View, err error) { s.NoError(err) })
	s.env.ExecuteWorkflow(Order, in)
	v := s.result()
	s.Equal(order.PhaseReleased, v.Phase)
	s.Require().Len(told, 1)
	s.False(told[0].Held)
	s.Equal(opsA, told[0].Actor)
	s.Equal(1, s.count("FREEZE"))
	s.Equal(1, s.count("UNFREEZE"))
}

// TestStuckCallRetriedByOps: a FREEZE failing on our side (it never reaches the seller) is
// flagged call_failing_our_side after its window; ops' retry abandons the running attempt
// and sends it afresh, which goes through.
func (s *orderSuite) TestStuckCallRetriedByOps() {
	s.sellerErr[string(sellerapi.StatusFreeze)] = temporal.NewApplicationError("seller s-1 not in the catalogue", activities.ErrTypeOurFault)
	in := startInput(order.TypeSaaS, order.BillingPayPerUse, false)
	// Hourly attempts, flagged 1 min past the whole window (7 attempts): before the test
	// environment's cap of 10 attempts ends the call.
	in.Windows.SellerCall.Interval, in.Windows.OurSideAfter = time.Hour, time.Minute
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(order.SignalArrears, order.ArrearsSignal{Action: order.ArrearsFreeze, CaseID: "AR1",
			Actor: order.Actor{Kind: order.ActorTimer}})
	}, time.Hour)
	s.env.RegisterDelayedCallback(func() {
		val, err := s.env.QueryWorkflow(order.QueryState)
		s.Require().NoError(err)
		var v order.View
		s.NoError(val.Get(&v))
		s.Equal("call_failing_our_side", v.AttentionCause, v.Attention)
		s.mu.Lock()
		delete(s.sellerErr, string(sellerapi.StatusFreeze))
		s.mu.Unlock()
	}, 8*time.Hour+30*time.Minute)
	s.update(order.UpdateRetry, act(opsA), 8*time.Hour+31*time.Minute, func(v order.View, err error) {
		s.NoError(err)
		s.False(v.NeedsAttention)
	})
	s.update(order.UpdateUnsubscribe, order.UnsubscribeRequest{Actor: order.Actor{Kind: order.ActorBilling, ID: "billing"},
		Reason: "done", UnsubscribeOrderID: "U-1", UnsubscribeOrderLineID: "U-1-1"}, 9*time.Hour, func(_ order.View, err error) { s.NoError(err) })
	s.env.ExecuteWorkflow(Order, in)
	v := s.result()
	s.Equal(order.PhaseReleased, v.Phase)
	s.Contains(s.events(), "retry_requested")
	s.Greater(s.count(string(sellerapi.StatusFreeze)), 1)
}
