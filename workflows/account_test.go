package workflows

import (
	"context"
	"slices"
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

// The account workflow: its pure rules in table-like tests, then the workflow in the SDK's
// test environment with time skipping, for every level's pay-per-use timeline and the
// payment that races the grace deadline.

var cny = func(v int64) order.Money { return order.Money{Value: v, Currency: "CNY"} }

// acct drives an Account through events, as the loop would.
type acct struct {
	t     *testing.T
	a     Account
	now   time.Time
	steps []string
	tells []order.ArrearsAction
	// lookup: a level lookup is pending.
	lookup bool
}

func newAcct(t *testing.T) *acct {
	return &acct{t: t, a: Account{In: order.AccountInput{CustomerID: "cust-1"}, State: order.AccountNone}, now: t0}
}

func (x *acct) apply(ev AccountEvent) {
	x.t.Helper()
	if err := CheckAccount(&x.a, ev); err != nil {
		x.t.Fatalf("%s refused: %v", ev.Kind, err)
	}
	ev.At = x.now
	out := ApplyAccount(&x.a, ev)
	for _, s := range out.Steps {
		x.steps = append(x.steps, s.Event)
	}
	if out.Tell != "" {
		x.tells = append(x.tells, out.Tell)
	}
	x.lookup = x.lookup || out.LevelLookup
}

func (x *acct) report(v int64) {
	x.apply(AccountEvent{Kind: AccReported, Report: order.ArrearsReport{Amount: cny(v), Since: x.now}})
}
func (x *acct) pay(v int64) {
	x.apply(AccountEvent{Kind: AccPaid, Payment: order.Payment{Amount: cny(v)}})
}

// level answers the pending lookup.
func (x *acct) level(grace, retention time.Duration) {
	x.t.Helper()
	if !x.lookup {
		x.t.Fatal("no level lookup pending")
	}
	x.lookup = false
	x.apply(AccountEvent{Kind: AccLevel, Grace: grace, Retention: retention})
}

// deadline runs to the account's deadline and fires it.
func (x *acct) deadline() {
	x.t.Helper()
	at, ok := x.a.Deadline()
	if !ok {
		x.t.Fatalf("no deadline in state %s", x.a.State)
	}
	x.now = at
	x.apply(AccountEvent{Kind: AccDeadline})
}

func (x *acct) told() { x.apply(AccountEvent{Kind: AccTold}) }

func (x *acct) state(want order.AccountState) {
	x.t.Helper()
	if x.a.State != want {
		x.t.Fatalf("state %s, want %s (steps %v)", x.a.State, want, x.steps)
	}
}

func (x *acct) wantTells(want ...order.ArrearsAction) {
	x.t.Helper()
	if !slices.Equal(x.tells, want) {
		x.t.Fatalf("orders told %v, want %v", x.tells, want)
	}
}

func TestAccountUnpaidToRelease(t *testing.T) {
	x := newAcct(t)
	x.report(500)
	x.state(order.AccountGrace)
	x.level(day, 7*day)
	if at, _ := x.a.Deadline(); !at.Equal(t0.Add(day)) {
		t.Fatalf("grace ends %v", at)
	}
	x.deadline()
	x.level(day, 7*day) // the retention is read when it starts
	x.state(order.AccountFrozen)
	x.wantTells(order.ArrearsFreeze)
	x.told()
	if at, _ := x.a.Deadline(); !at.Equal(t0.Add(8 * day)) {
		t.Fatalf("retention ends %v", at)
	}
	x.deadline()
	x.state(order.AccountReleased)
	x.wantTells(order.ArrearsFreeze, order.ArrearsRelease)
	x.told()
	// A payment after release: recorded; released orders stay released.
	x.pay(500)
	x.state(order.AccountNone)
	x.wantTells(order.ArrearsFreeze, order.ArrearsRelease)
	want := []string{"arrears_reported", "grace_started", "frozen", "released", "arrears_paid"}
	if !slices.Equal(x.steps, want) {
		t.Fatalf("steps %v, want %v", x.steps, want)
	}
}

func TestAccountPaymentDuringGraceFreezesNothing(t *testing.T) {
	x := newAcct(t)
	x.report(500)
	x.level(day, 7*day)
	x.report(200) // adds up
	if x.a.Outstanding.Value != 700 {
		t.Fatalf("outstanding %d", x.a.Outstanding.Value)
	}
	x.pay(300) // partial
	x.state(order.AccountGrace)
	x.pay(400)
	x.state(order.AccountNone)
	if _, ok := x.a.Deadline(); ok {
		t.Fatal("a deadline runs after payment")
	}
	x.wantTells()
}

func TestAccountPaymentDuringRetentionUnfreezes(t *testing.T) {
	x := newAcct(t)
	x.report(500)
	x.level(0, 7*day) // grace 0: frozen at once
	x.level(0, 7*day)
	x.state(order.AccountFrozen)
	x.told()
	x.pay(500)
	x.state(order.AccountNone)
	x.wantTells(order.ArrearsFreeze, order.ArrearsUnfreeze)
	x.told()
	// The next case: a new case ID, frozen again.
	x.report(100)
	if x.a.CaseID != "AR2" {
		t.Fatalf("case %s", x.a.CaseID)
	}
	x.level(0, 7*day)
	x.level(0, 7*day)
	x.wantTells(order.ArrearsFreeze, order.ArrearsUnfreeze, order.ArrearsFreeze)
}

// A payment that comes while the freeze is being told: the orders are freed right after.
func TestAccountPaymentRacingTheGraceDeadline(t *testing.T) {
	x := newAcct(t)
	x.report(500)
	x.level(day, 7*day)
	x.deadline()
	x.level(day, 7*day)
	x.wantTells(order.ArrearsFreeze) // in flight
	x.pay(500)
	x.state(order.AccountNone)
	x.wantTells(order.ArrearsFreeze) // one at a time
	x.told()
	x.wantTells(order.ArrearsFreeze, order.ArrearsUnfreeze)
	x.told()
	if x.a.Told != order.ArrearsUnfreeze || x.a.Telling != "" {
		t.Fatalf("told %s telling %s", x.a.Told, x.a.Telling)
	}
}

func TestAccountPaymentBeforeTheLevelAnswers(t *testing.T) {
	x := newAcct(t)
	x.report(500)
	x.pay(500)
	x.level(day, 7*day) // moot
	x.state(order.AccountNone)
	if _, ok := x.a.Deadline(); ok {
		t.Fatal("a moot lookup started a grace")
	}
}

func TestAccountRefusals(t *testing.T) {
	x := newAcct(t)
	x.report(500)
	for _, ev := range []AccountEvent{
		{Kind: AccReported, Report: order.ArrearsReport{Amount: order.Money{Value: 5, Currency: "USD"}}},
		{Kind: AccPaid, Payment: order.Payment{Amount: order.Money{Value: 5, Currency: "USD"}}},
		{Kind: AccPaid, Payment: order.Payment{Amount: cny(0)}},
	} {
		if CheckAccount(&x.a, ev) == nil {
			t.Errorf("%+v taken", ev)
		}
	}
}

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
