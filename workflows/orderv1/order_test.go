package orderv1

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/policy"
	"github.com/cloudmarket/orders/internal/sellerapi"
)

// orderSuite runs the order workflow in the SDK's test environment with time skipping: the
// days of an order's life pass in milliseconds. Activities are replaced by recorders here;
// the integration tests run the same workflow against the real stack.
type orderSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment

	mu          sync.Mutex
	transitions []activities.Transition
	settlements int
	refunds     int
	calls       map[string]int
	// releaseFailures is how many releaseInstance attempts fail before one succeeds.
	releaseFailures int
}

func TestOrderWorkflow(t *testing.T) { suite.Run(t, new(orderSuite)) }

func (s *orderSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.RegisterWorkflow(Order)
	s.env.RegisterActivity(&activities.Store{})
	s.env.RegisterActivity(&activities.Seller{})
	s.transitions, s.settlements, s.refunds, s.releaseFailures = nil, 0, 0, 0
	s.calls = map[string]int{}
	s.env.OnActivity(store.RecordTransition, mock.Anything, mock.Anything).Return(
		func(_ context.Context, t activities.Transition) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.transitions = append(s.transitions, t)
			return nil
		})
	s.env.OnActivity(store.PostSettlement, mock.Anything, mock.Anything).Return(
		func(_ context.Context, r activities.SettlementRequest) (order.Settlement, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.settlements++
			c, n, err := order.Split(r.Gross.Value, r.CommissionBps)
			return order.Settlement{Status: order.SettlementPending, Currency: r.Gross.Currency, Gross: r.Gross.Value, Commission: c, Net: n}, err
		})
	s.env.OnActivity(store.RecordRefund, mock.Anything, mock.Anything).Return(
		func(_ context.Context, r activities.RefundRequest) (order.Settlement, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.refunds++
			return order.Settlement{Status: order.SettlementRefunded, Currency: r.Amount.Currency, Gross: r.Amount.Value}, nil
		})
	s.env.OnActivity(store.CustomerClocks, mock.Anything, mock.Anything, mock.Anything).Return(
		activities.Clocks{Grace: 15 * 24 * time.Hour, Retention: 15 * 24 * time.Hour}, nil)
	s.env.OnActivity(seller.UpdateInstanceStatus, mock.Anything, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.SellerCall, sellerapi.InstanceStatus) error {
			s.count("freeze")
			return nil
		})
	s.env.OnActivity(seller.ReleaseInstance, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.SellerCall) error {
			if s.count("release") <= s.releaseFailures {
				return temporal.NewApplicationError("seller down", sellerapi.ClassInternalError.ErrorType())
			}
			return nil
		})
}

func (s *orderSuite) count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[name]++
	return s.calls[name]
}

func (s *orderSuite) events() []string {
	var out []string
	for _, t := range s.transitions {
		out = append(out, t.Event)
	}
	return out
}

// input is a monthly SaaS order of 100.00 CNY at 15% commission, expiring in 30 days.
func input(supervised bool) order.StartInput {
	placed := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	expire := placed.Add(30 * 24 * time.Hour)
	return order.StartInput{
		OrderID: "CS1", OrderLineID: "CS1-1", CustomerID: "cust-1", ProductID: "prod-1", SellerID: "seller-1",
		ProductType: order.TypeSaaS, BillingMode: order.BillingMonthly, Supervised: supervised, Quantity: 1,
		Amount: order.Money{Value: 10000, Currency: "CNY"}, CommissionBps: 1500, ExpireTime: &expire,
		PlacedAt: placed, Fingerprint: "fp", Windows: policy.Default().Windows(order.TypeSaaS),
	}
}

func (s *orderSuite) newInstanceOK(ready bool) {
	s.env.OnActivity(seller.NewInstance, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.SellerCall) (activities.Instance, error) {
			s.count("newInstance")
			return activities.Instance{InstanceID: "inst-1", Ready: ready, FrontEndURL: "https://x"}, nil
		})
}

func (s *orderSuite) update(name string, actor order.Actor, after time.Duration, check func(order.View, error)) {
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(name, "upd-"+name+"-"+after.String(), &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { check(order.View{}, err) },
			OnComplete: func(v any, err error) {
				view, _ := v.(order.View)
				check(view, err)
			},
		}, order.ActionRequest{Actor: actor})
	}, after)
}

func (s *orderSuite) result() order.View {
	s.True(s.env.IsWorkflowCompleted())
	s.NoError(s.env.GetWorkflowError())
	var v order.View
	s.NoError(s.env.GetWorkflowResult(&v))
	return v
}

func (s *orderSuite) TestHappyPathSupervisedToReleased() {
	s.newInstanceOK(true)
	var accepted order.View
	s.update(order.UpdateAccept, order.Actor{Kind: order.ActorBuyer, ID: "cust-1"}, time.Hour, func(v order.View, err error) {
		s.NoError(err)
		accepted = v
	})
	s.env.ExecuteWorkflow(Order, input(true))
	v := s.result()

	s.Equal(order.PhaseInService, accepted.Phase, "acceptance answers with the order in service")
	s.Equal(order.SettlementPending, accepted.Settlement.Status)
	s.Equal(int64(1500), accepted.Settlement.Commission)
	s.Equal(int64(8500), accepted.Settlement.Net)
	s.Equal(order.PhaseReleased, v.Phase)
	s.Equal(order.Status(order.PhaseReleased), v.Status)
	s.Equal([]string{"placed", "instance_created", "delivered", "accepted", "expired", "frozen", "released"}, s.events())
	s.Equal(1, s.settlements)
	s.Equal(1, s.calls["newInstance"])
	s.Equal(1, s.calls["freeze"])
	s.Equal(1, s.calls["release"])
	acc := s.transitions[3]
	s.Equal(order.ActorBuyer, acc.Actor.Kind)
	for i, t := range s.transitions {
		s.Equal(i+1, t.Seq, "transitions are numbered in order")
	}
	s.Equal(order.Status(""), s.transitions[0].From)
	s.Equal(order.StatusFrozen, s.transitions[5].View.Status)
}

func (s *orderSuite) TestAcceptanceByAnotherBuyerIsRefused() {
	s.newInstanceOK(true)
	var refused error
	s.update(order.UpdateAccept, order.Actor{Kind: order.ActorBuyer, ID: "someone-else"}, time.Hour, func(_ order.View, err error) {
		refused = err
	})
	s.env.ExecuteWorkflow(Order, input(true))
	s.result()
	s.Error(refused)
	s.Equal(order.ActorTimer, s.transitions[3].Actor.Kind, "nobody but the timer accepted")
}

func (s *orderSuite) TestUnsupervisedSaaSAcceptedWhenProduced() {
	s.newInstanceOK(true)
	s.env.ExecuteWorkflow(Order, input(false))
	s.Equal(order.PhaseReleased, s.result().Phase)
	s.Equal([]string{"placed", "instance_created", "accepted", "expired", "frozen", "released"}, s.events())
	s.Equal(order.ActorSystem, s.transitions[2].Actor.Kind)
}

func (s *orderSuite) TestAcceptanceWindowRunsOutAcceptedByTimer() {
	s.newInstanceOK(true)
	s.env.ExecuteWorkflow(Order, input(true))
	s.result()
	s.Equal("accepted", s.transitions[3].Event)
	s.Equal(order.ActorTimer, s.transitions[3].Actor.Kind)
	s.Equal(1, s.settlements)
}

func (s *orderSuite) TestAsyncProvisioningPollsUntilReady() {
	s.newInstanceOK(false)
	s.env.OnActivity(seller.QueryInstance, mock.Anything, mock.Anything).Return(
		func(_ context.Context, c activities.SellerCall) (activities.Instance, error) {
			if s.count("queryInstance") < 3 {
				return activities.Instance{}, temporal.NewApplicationError("pending", sellerapi.ClassPending.ErrorType())
			}
			return activities.Instance{InstanceID: c.InstanceID, Ready: true, FrontEndURL: "https://ready"}, nil
		})
	s.env.ExecuteWorkflow(Order, input(false))
	v := s.result()
	s.Equal(3, s.calls["queryInstance"])
	s.Equal("https://ready", v.FrontEndURL)
	s.Equal([]string{"placed", "instance_pending", "instance_created", "accepted", "expired", "frozen", "released"}, s.events())
}

func (s *orderSuite) failingNewInstance(err error, succeedFrom int) {
	s.env.OnActivity(seller.NewInstance, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.SellerCall) (activities.Instance, error) {
			if n := s.count("newInstance"); succeedFrom == 0 || n < succeedFrom {
				return activities.Instance{}, err
			}
			return activities.Instance{InstanceID: "inst-1", Ready: true}, nil
		})
}

func (s *orderSuite) TestWindowExhaustedThenRefunded() {
	s.failingNewInstance(temporal.NewApplicationError("seller down", sellerapi.ClassInternalError.ErrorType()), 0)
	s.env.ExecuteWorkflow(Order, input(true))
	v := s.result()
	s.Equal(order.PhaseCancelled, v.Phase)
	s.Equal(order.SettlementRefunded, v.Settlement.Status)
	s.Equal(1, s.refunds)
	s.Equal(0, s.settlements)
	// Hourly attempts for 3 hours: at 0, 1 h, 2 h, and the test environment also runs the one
	// that falls exactly on the window's end.
	s.Equal(4, s.calls["newInstance"], "hourly attempts for 3 hours")
	s.Equal([]string{"placed", "provision_failed", "refunded"}, s.events())
	s.Equal("window_exhausted", s.transitions[1].Detail["reason"])
	s.Equal(order.ActorTimer, s.transitions[2].Actor.Kind)
}

func (s *orderSuite) TestSellerRefusalFailsAtOnce() {
	s.failingNewInstance(temporal.NewNonRetryableApplicationError("sold out", sellerapi.ClassRefused.ErrorType(), nil), 0)
	s.env.ExecuteWorkflow(Order, input(true))
	v := s.result()
	s.Equal(order.PhaseCancelled, v.Phase)
	s.Equal(1, s.calls["newInstance"], "a refusal is not retried")
	s.Equal("seller_refused", s.transitions[1].Detail["reason"])
	s.Equal(sellerapi.ClassRefused.ErrorType(), s.transitions[1].Detail["errorType"])
	s.Equal(1, s.refunds)
}

func (s *orderSuite) TestOpsRetryAfterFailure() {
	// Fails the whole first window, succeeds on the first attempt after the retry.
	s.failingNewInstance(temporal.NewApplicationError("seller down", sellerapi.ClassInternalError.ErrorType()), 5)
	var retried order.View
	s.update(order.UpdateRetry, order.Actor{Kind: order.ActorOps, ID: "alice"}, 5*time.Hour, func(v order.View, err error) {
		s.NoError(err)
		retried = v
	})
	s.env.ExecuteWorkflow(Order, input(false))
	v := s.result()
	s.Equal(order.PhaseProvisioning, retried.Phase)
	s.Equal(order.PhaseReleased, v.Phase)
	s.Equal(0, s.refunds)
	s.Equal(1, s.settlements)
	s.Equal([]string{"placed", "provision_failed", "retry_requested", "instance_created", "accepted", "expired", "frozen", "released"}, s.events())
	s.Equal("alice", s.transitions[2].Actor.ID)
}

func (s *orderSuite) TestAcceptInWrongStateIsRejected() {
	s.env.OnActivity(seller.NewInstance, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.SellerCall) (activities.Instance, error) {
			return activities.Instance{}, temporal.NewApplicationError("slow", sellerapi.ClassInternalError.ErrorType())
		})
	var rejected error
	s.update(order.UpdateAccept, order.Actor{Kind: order.ActorBuyer, ID: "cust-1"}, time.Minute, func(_ order.View, err error) {
		rejected = err
	})
	s.update(order.UpdateRetry, order.Actor{Kind: order.ActorOps, ID: "bob"}, 2*time.Minute, func(_ order.View, err error) {
		s.Error(err, "retry while provisioning is refused too")
	})
	s.env.ExecuteWorkflow(Order, input(true))
	s.True(s.env.IsWorkflowCompleted())
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(rejected, &appErr), "rejection is an application error: %v", rejected)
	s.Equal(order.ErrInvalidTransition, appErr.Type())
	s.NotContains(s.events(), "accepted")
}

func (s *orderSuite) TestReleaseFailureNeedsOpsAttention() {
	s.newInstanceOK(true)
	s.releaseFailures = 8 // more than fit in the hour's window (one attempt every 10 minutes)
	// Expiry at 30 days, grace 15, retention 15: the release window ends 60 days + 1 h in.
	s.update(order.UpdateRetry, order.Actor{Kind: order.ActorOps, ID: "carol"}, 62*24*time.Hour, func(v order.View, err error) {
		s.NoError(err)
	})
	// A second retry while the first one's call is still running is refused, rather than
	// queued to answer some later failure without ops deciding anything.
	var second error
	s.update(order.UpdateRetry, order.Actor{Kind: order.ActorOps, ID: "carol"}, 62*24*time.Hour+5*time.Minute, func(_ order.View, err error) {
		second = err
	})
	s.env.ExecuteWorkflow(Order, input(false))
	v := s.result()
	s.Equal(order.PhaseReleased, v.Phase)
	s.False(v.NeedsAttention)
	s.Equal([]string{"placed", "instance_created", "accepted", "expired", "frozen", "needs_attention", "retry_requested", "seller_call_succeeded", "released"}, s.events())
	s.True(s.transitions[5].View.NeedsAttention)
	s.Error(second, "a retry with nothing waiting for it is refused")
}

func TestSellerFailure(t *testing.T) {
	d := sellerFailure(temporal.NewNonRetryableApplicationError("no", "SellerRefused", nil))
	require.Equal(t, "seller_refused", d["reason"])
	d = sellerFailure(errors.New("boom"))
	require.Equal(t, "window_exhausted", d["reason"])
}
