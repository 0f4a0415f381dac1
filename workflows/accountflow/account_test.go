package accountflow

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/testsuite"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/policy"
)

// The account workflow in the SDK's test environment with time skipping, for every level's
// pay-per-use timeline and the payment that races the grace deadline (its pure rules are
// tested in internal/arrears).

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

var cny = func(v int64) order.Money { return order.Money{Value: v, Currency: "CNY"} }

// accountSuite runs the account workflow with time skipping.
type accountSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment

	mu      sync.Mutex
	clocks  activities.Clocks
	tells   []order.ArrearsAction
	tellAt  []time.Time
	records []activities.AccountRecord
}

func TestAccountWorkflow(t *testing.T) { suite.Run(t, new(accountSuite)) }

func (s *accountSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.SetStartTime(t0)
	s.env.RegisterWorkflow(AccountWorkflow)
	s.env.RegisterActivity(&activities.Store{})
	s.env.RegisterActivity(&activities.Accounts{})
	s.tells, s.tellAt, s.records = nil, nil, nil
	s.env.OnActivity(accounts.RecordAccount, mock.Anything, mock.Anything).Return(func(_ context.Context, r activities.AccountRecord) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.records = append(s.records, r)
		return nil
	})
	s.env.OnActivity(store.PayPerUseClocks, mock.Anything, mock.Anything, mock.Anything).Return(
		func(context.Context, string, float64) (activities.Clocks, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.clocks, nil
		})
	s.env.OnActivity(accounts.HoldOrders, mock.Anything, mock.Anything).Return(
		func(_ context.Context, r activities.HoldRequest) (int, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.tells = append(s.tells, r.Action)
			s.tellAt = append(s.tellAt, s.env.Now().UTC())
			return 3, nil
		})
}

func (s *accountSuite) signal(name string, arg any, after time.Duration) {
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(name, arg) }, after)
}

// state queries the account after d.
func (s *accountSuite) stateAt(d time.Duration, want order.AccountState) {
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(order.QueryAccount)
		s.Require().NoError(err)
		var view order.AccountView
		s.Require().NoError(v.Get(&view))
		s.Equal(want, view.State, "state after %v", d)
	}, d)
}

// TestEveryLevelsPayPerUseTimeline: arrears reported and never paid: the level's
// pay-per-use grace, then the orders frozen, then after the retention released.
func (s *accountSuite) TestEveryLevelsPayPerUseTimeline() {
	p := policy.Default()
	for _, level := range policy.Levels {
		s.Run(level, func() {
			s.SetupTest()
			grace, retention := p.LevelClocks(level, policy.PayPerUseClocks)
			s.clocks = activities.Clocks{Grace: grace, Retention: retention}
			s.signal(order.SignalArrearsReported, order.ArrearsReport{Amount: cny(900), Since: t0}, time.Minute)
			s.stateAt(time.Minute+grace+retention+time.Hour, order.AccountReleased)
			s.env.RegisterDelayedCallback(func() { s.env.CancelWorkflow() }, 100*day)
			s.env.ExecuteWorkflow(AccountWorkflow, order.AccountInput{CustomerID: "cust-1"})
			s.Equal([]order.ArrearsAction{order.ArrearsFreeze, order.ArrearsRelease}, s.tells)
			s.Equal(t0.Add(time.Minute+grace), s.tellAt[0], "frozen when the grace ends")
			s.Equal(t0.Add(time.Minute+grace+retention), s.tellAt[1], "released when the retention ends")
		})
	}
}

func (s *accountSuite) TestPaymentsDuringGraceRetentionAndAfterRelease() {
	s.clocks = activities.Clocks{Grace: day, Retention: 7 * day}
	s.signal(order.SignalArrearsReported, order.ArrearsReport{Amount: cny(900), Since: t0}, time.Hour)
	s.signal(order.SignalPayment, order.Payment{Amount: cny(900)}, 2*time.Hour) // during grace
	s.stateAt(3*time.Hour, order.AccountNone)
	s.signal(order.SignalArrearsReported, order.ArrearsReport{Amount: cny(100), Since: t0}, 3*day)
	s.signal(order.SignalPayment, order.Payment{Amount: cny(100)}, 6*day) // during retention
	s.stateAt(6*day+time.Hour, order.AccountNone)
	s.signal(order.SignalArrearsReported, order.ArrearsReport{Amount: cny(50), Since: t0}, 10*day)
	s.signal(order.SignalPayment, order.Payment{Amount: cny(50)}, 20*day) // after release
	s.stateAt(20*day+time.Hour, order.AccountNone)
	s.env.RegisterDelayedCallback(func() { s.env.CancelWorkflow() }, 30*day)
	s.env.ExecuteWorkflow(AccountWorkflow, order.AccountInput{CustomerID: "cust-1"})
	s.Equal([]order.ArrearsAction{order.ArrearsFreeze, order.ArrearsUnfreeze, order.ArrearsFreeze, order.ArrearsRelease}, s.tells)
}

// TestPaymentAtTheGraceDeadline: the payment and the deadline at the same moment, in either
// order: no order is left frozen once the account has taken the payment.
func (s *accountSuite) TestPaymentAtTheGraceDeadline() {
	s.clocks = activities.Clocks{Grace: day, Retention: 7 * day}
	s.signal(order.SignalArrearsReported, order.ArrearsReport{Amount: cny(900), Since: t0}, 0)
	s.signal(order.SignalPayment, order.Payment{Amount: cny(900)}, day)
	s.stateAt(day+time.Minute, order.AccountNone)
	s.env.RegisterDelayedCallback(func() { s.env.CancelWorkflow() }, 10*day)
	s.env.ExecuteWorkflow(AccountWorkflow, order.AccountInput{CustomerID: "cust-1"})
	if len(s.tells) > 0 {
		s.Equal([]order.ArrearsAction{order.ArrearsFreeze, order.ArrearsUnfreeze}, s.tells, "a freeze told is undone")
	}
}
