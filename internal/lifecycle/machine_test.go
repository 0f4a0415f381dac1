package lifecycle

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/policy"
)

// The pure parts of the order: Check and Apply on plain State values, no Temporal.

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

var (
	buyer   = order.Actor{Kind: order.ActorBuyer, ID: "cust-1"}
	other   = order.Actor{Kind: order.ActorBuyer, ID: "cust-2"}
	sellerA = order.Actor{Kind: order.ActorSeller, ID: "seller-1"}
	opsA    = order.Actor{Kind: order.ActorOps, ID: "alice"}
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

// machine drives a State through events, as the loop would, without Temporal.
type machine struct {
	t        *testing.T
	s        State
	now      time.Time
	steps    []string
	actors   []order.Actor // who made each step
	calls    []CallKind
	postings []string
}

func newMachine(t *testing.T, typ order.ProductType, supervised bool) *machine {
	return newMachineBilled(t, typ, order.BillingMonthly, supervised)
}

func newMachineBilled(t *testing.T, typ order.ProductType, mode order.BillingMode, supervised bool) *machine {
	m := &machine{t: t, s: State{In: startInput(typ, mode, supervised)}, now: t0}
	m.apply(Event{Kind: EvStart})
	return m
}

// postings lists the postings of every outcome so far, as "action kind key".
func (m *machine) posted() []string { return m.postings }

// apply checks and applies ev at the machine's time; it fails the test on a refusal.
func (m *machine) apply(ev Event) Outcome {
	m.t.Helper()
	if ev.At.IsZero() {
		ev.At = m.now // as the loop does, before it checks
	}
	if err := m.try(ev); err != nil {
		m.t.Fatalf("%s refused in %s: %v", ev.Kind, m.s.Status(), err)
	}
	out := Apply(&m.s, ev)
	for _, st := range out.Steps {
		m.steps = append(m.steps, string(st.Event))
		m.actors = append(m.actors, st.Actor)
	}
	m.calls = append(m.calls, out.Calls...)
	for _, p := range out.Postings {
		m.postings = append(m.postings, strings.TrimSpace(string(p.Action)+" "+string(p.Kind)+" "+p.Key))
	}
	return out
}

func (m *machine) try(ev Event) error { return Check(&m.s, ev) }

// refused asserts that ev is refused with code.
func (m *machine) refused(ev Event, code string) {
	m.t.Helper()
	if ev.At.IsZero() {
		ev.At = m.now
	}
	err := m.try(ev)
	var r *order.Refusal
	if !errors.As(err, &r) || r.Code != code {
		m.t.Fatalf("%s in %s: %v, want a refusal %s", ev.Kind, m.s.Status(), err, code)
	}
}

func (m *machine) result(r CallResult) Outcome { return m.apply(Event{Kind: EvResult, Result: r}) }

// advance moves time d later, running out each clock at its deadline on the way, as the
// loop's timer would.
func (m *machine) advance(d time.Duration) {
	m.t.Helper()
	end := m.now.Add(d)
	for {
		next, ok := m.s.Clocks.Next()
		if !ok || next.At.After(end) {
			break
		}
		m.now = later(m.now, next.At)
		for _, name := range m.s.Clocks.Due(m.now) {
			if m.s.Clocks.Has(name) {
				m.apply(Event{Kind: EvClock, Clock: name})
			}
		}
	}
	m.now = end
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (m *machine) status(want order.Status) {
	m.t.Helper()
	if got := m.s.Status(); got != want {
		m.t.Fatalf("status %s, want %s (steps %v)", got, want, m.steps)
	}
}

func (m *machine) lastSteps(want ...string) {
	m.t.Helper()
	if len(m.steps) < len(want) || !slices.Equal(m.steps[len(m.steps)-len(want):], want) {
		m.t.Fatalf("steps %v, want them to end with %v", m.steps, want)
	}
}

func ok(k CallKind, instance string) CallResult {
	return CallResult{Call: k, OK: true, InstanceID: instance}
}

// provisioned takes a SaaS or licence order through a sync newInstance.
func (m *machine) provisioned() {
	m.t.Helper()
	m.result(ok(CallNewInstance, "inst-1"))
}

func TestStartOfEveryPath(t *testing.T) {
	tests := []struct {
		typ    order.ProductType
		phase  order.Phase
		calls  []CallKind
		clocks []ClockName
	}{
		{order.TypeSaaS, order.PhaseProvisioning, []CallKind{CallNewInstance}, []ClockName{ClockProvisionLate}},
		{order.TypeLicense, order.PhaseProvisioning, []CallKind{CallNewInstance}, []ClockName{ClockLicenseDue, ClockProvisionLate}},
		{order.TypePackage, order.PhaseDeploying, nil, []ClockName{ClockDeploymentSLA}},
		{order.TypeHardware, order.PhaseShipping, nil, nil},
		{order.TypeService, order.PhaseDelivering, nil, nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.typ), func(t *testing.T) {
			m := newMachine(t, tt.typ, true)
			if m.s.Phase != tt.phase || !slices.Equal(m.calls, tt.calls) || !slices.Equal(m.steps, []string{"placed"}) {
				t.Fatalf("phase %s calls %v steps %v", m.s.Phase, m.calls, m.steps)
			}
			var names []ClockName
			for _, c := range m.s.Clocks {
				names = append(names, c.Name)
			}
			if !slices.Equal(names, tt.clocks) {
				t.Fatalf("clocks %v, want %v", names, tt.clocks)
			}
		})
	}
}

func TestSaaSSupervisedToInServiceAndReleased(t *testing.T) {
	m := newMachine(t, order.TypeSaaS, true)
	m.provisioned()
	m.status(order.Status(order.PhaseAwaitingAcceptance))
	m.lastSteps("instance_created", "delivered")
	m.refused(Event{Kind: EvAccept, Actor: other}, order.ErrInvalidTransition)
	out := m.apply(Event{Kind: EvAccept, Actor: buyer})
	if len(out.Postings) != 1 || out.Postings[0].Action != order.PostingPost || out.Postings[0].Kind != order.LineOrder ||
		m.s.Settlement.Commission != 1500 || m.s.Settlement.Net != 8500 || m.s.Settlement.Status != order.SettlementPending {
		t.Fatalf("postings %+v settlement %+v", out.Postings, m.s.Settlement)
	}
	m.status(order.Status(order.PhaseInService))
	m.refused(Event{Kind: EvAccept, Actor: buyer}, order.ErrInvalidTransition)
	// Expiry: the level lookup, grace, freeze, retention, release.
	m.advance(30 * 24 * time.Hour)
	if !m.s.Calls.Running(CallLevel) {
		t.Fatal("no level lookup at expiry")
	}
	m.result(CallResult{Call: CallLevel, OK: true, Grace: 7 * 24 * time.Hour, Retention: 15 * 24 * time.Hour})
	m.lastSteps("expired")
	m.advance(7 * 24 * time.Hour)
	if !m.s.Calls.Running(CallLevel) {
		t.Fatal("no level lookup at the end of grace: the retention is the level's when it starts")
	}
	m.result(CallResult{Call: CallLevel, OK: true, Grace: 7 * 24 * time.Hour, Retention: 15 * 24 * time.Hour})
	m.status(order.StatusFrozen)
	if !m.s.Calls.Running(CallFreeze) {
		t.Fatal("no FREEZE at the end of grace")
	}
	// The freeze call is still retrying at the sellerA: the retention clock runs anyway.
	m.advance(15 * 24 * time.Hour)
	if !m.s.Calls.Running(CallRelease) {
		t.Fatalf("no release at the end of retention: calls %v", m.s.Calls)
	}
	m.result(ok(CallFreeze, ""))
	m.result(ok(CallRelease, ""))
	m.status(order.Status(order.PhaseReleased))
	if !m.s.Done() {
		t.Fatal("a released order with nothing owed is not done")
	}
	m.lastSteps("released")
}

func TestUnsupervisedSaaSIsAcceptedWhenProduced(t *testing.T) {
	m := newMachine(t, order.TypeSaaS, false)
	m.provisioned()
	m.status(order.Status(order.PhaseInService))
	m.lastSteps("instance_created", "delivered", "accepted")
	if m.s.AcceptedBy.Kind != order.ActorSystem {
		t.Fatalf("accepted by %+v", m.s.AcceptedBy)
	}
}

func TestAcceptanceWindowRunsOut(t *testing.T) {
	m := newMachine(t, order.TypeService, true)
	m.apply(Event{Kind: EvDeliver, Actor: sellerA, Note: "installed on site"})
	m.advance(7*24*time.Hour - time.Second)
	m.status(order.Status(order.PhaseAwaitingAcceptance))
	m.advance(time.Second)
	m.status(order.Status(order.PhaseInService))
	if m.s.AcceptedBy.Kind != order.ActorTimer {
		t.Fatalf("accepted by %+v, want the timer", m.s.AcceptedBy)
	}
}

func TestRejectionLoopToTheLimit(t *testing.T) {
	for _, tt := range []struct {
		typ       order.ProductType
		redeliver func(m *machine)
		back      order.Phase // where the redelivery starts again
	}{
		{order.TypeService, func(m *machine) { m.apply(Event{Kind: EvDeliver, Actor: sellerA, Note: "again"}) }, order.PhaseAwaitingAcceptance},
		{order.TypeSaaS, func(m *machine) { m.apply(Event{Kind: EvDeliver, Actor: sellerA, Note: "fixed"}) }, order.PhaseAwaitingAcceptance},
		{order.TypePackage, func(m *machine) { deploy(m, order.PhaseInstall, order.DeploymentRunning) }, order.PhaseDeploying},
		{order.TypeHardware, func(m *machine) {
			m.apply(Event{Kind: EvShip, Actor: sellerA, Shipment: order.ShipmentRequest{Carrier: "SF", TrackingNumber: "SF2"}})
		}, order.PhaseShipping},
	} {
		t.Run(string(tt.typ), func(t *testing.T) {
			m := newMachine(t, tt.typ, true)
			deliverOnce(m)
			for i := 1; i <= 3; i++ {
				m.apply(Event{Kind: EvReject, Actor: buyer, Reason: "not as described"})
				m.status(order.Status(order.PhaseRejected))
				if m.s.Rejections != i || !m.s.Clocks.Has(ClockRedelivery) {
					t.Fatalf("after rejection %d: %d rejections, clocks %v", i, m.s.Rejections, m.s.Clocks)
				}
				tt.redeliver(m)
				if m.s.Phase != tt.back {
					t.Fatalf("redelivery went to %s, want %s", m.s.Phase, tt.back)
				}
				deliverRest(m)
				m.status(order.Status(order.PhaseAwaitingAcceptance))
			}
			m.refused(Event{Kind: EvReject, Actor: buyer, Reason: "still wrong"}, order.ErrRejectionLimit)
			m.refused(Event{Kind: EvReject, Actor: buyer, Reason: ""}, order.ErrRejectionLimit)
		})
	}
}

func TestRefundReleasesWhatTheSellerMade(t *testing.T) {
	t.Run("known instance", func(t *testing.T) {
		m := newMachine(t, order.TypeSaaS, true)
		deliverOnce(m)
		m.apply(Event{Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Reason: "never worked"}})
		m.apply(Event{Kind: EvResolve, Actor: opsA, Resolution: order.AppealResolution{AppealID: m.s.Appeal.AppealID, Outcome: order.OutcomeRefund}})
		if !m.s.Calls.Running(CallRelease) || m.s.Done() {
			t.Fatalf("calls %v, done %v: the instance is not released", m.s.Calls, m.s.Done())
		}
		// 000003 counts as done (the activity answers ok).
		m.result(ok(CallRelease, ""))
		if !m.s.Done() {
			t.Fatal("not done after the release")
		}
		m.lastSteps("instance_released")
	})
	t.Run("an answer lost", func(t *testing.T) {
		m := newMachine(t, order.TypeSaaS, true)
		m.result(CallResult{Call: CallNewInstance, ErrorType: "SellerTransportError"}) // window spent
		m.status(order.Status(order.PhaseProvisionFailed))
		m.advance(72 * time.Hour)
		m.status(order.Status(order.PhaseCancelled))
		if !m.s.Calls.Running(CallRecover) {
			t.Fatalf("calls %v: an uncertain instance is not looked for", m.s.Calls)
		}
		m.result(ok(CallRecover, "inst-9"))
		if !m.s.Calls.Running(CallRelease) || m.s.InstanceID != "inst-9" {
			t.Fatalf("calls %v: the found instance is not released", m.s.Calls)
		}
	})
	t.Run("a definite refusal made nothing", func(t *testing.T) {
		m := newMachine(t, order.TypeSaaS, true)
		m.result(CallResult{Call: CallNewInstance, Refused: true, ErrorType: "SellerRefused"})
		m.advance(72 * time.Hour)
		if !m.s.Done() {
			t.Fatalf("calls %v: a refused order should end", m.s.Calls)
		}
	})
}

func TestFailedSellerCallWaitsForOps(t *testing.T) {
	m := newMachine(t, order.TypeSaaS, false)
	m.provisioned()
	m.advance(30 * 24 * time.Hour)
	m.result(CallResult{Call: CallLevel, OK: true, Grace: time.Hour, Retention: time.Hour})
	m.advance(time.Hour)
	m.result(CallResult{Call: CallLevel, OK: true, Grace: time.Hour, Retention: time.Hour})
	if !m.s.Calls.Running(CallFreeze) {
		t.Fatalf("no freeze at the end of grace: %v", m.s.Calls)
	}
	m.result(CallResult{Call: CallFreeze, ErrorType: "SellerInternalError"})
	if m.s.Attention == "" || waitingOn(&m.s) != order.WaitOps {
		t.Fatalf("a failed freeze does not need ops: %+v", m.s)
	}
	m.refused(Event{Kind: EvRetry, Actor: buyer}, order.ErrInvalidTransition)
	m.apply(Event{Kind: EvRetry, Actor: opsA})
	if !m.s.Calls.Running(CallFreeze) {
		t.Fatal("the retry did not start the freeze again")
	}
	m.result(ok(CallFreeze, ""))
	if m.s.Attention != "" {
		t.Fatal("attention not cleared")
	}
	m.lastSteps("retry_requested", "attention_cleared")
	m.refused(Event{Kind: EvRetry, Actor: opsA}, order.ErrInvalidTransition)
}

// TestCancelledOrderCleanupRetry: a refunded order is final, but when the call that asks the
// seller to release what it made fails, ops can still retry it; then the workflow ends.
func TestCancelledOrderCleanupRetry(t *testing.T) {
	m := newMachine(t, order.TypeSaaS, true)
	m.provisioned()
	m.apply(Event{Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Reason: "never worked"}})
	m.apply(Event{Kind: EvResolve, Actor: opsA, Resolution: order.AppealResolution{AppealID: m.s.Appeal.AppealID, Outcome: order.OutcomeRefund}})
	m.status(order.Status(order.PhaseCancelled))
	if !m.s.Calls.Running(CallRelease) {
		t.Fatalf("calls %v: the refunded order's instance is not released", m.s.Calls)
	}
	m.result(CallResult{Call: CallRelease, ErrorType: "SellerInternalError"})
	if m.s.Done() || m.s.Attention == "" {
		t.Fatalf("a failed clean-up must wait for ops, flagged: done %v attention %q", m.s.Done(), m.s.Attention)
	}
	m.refused(Event{Kind: EvRetry, Actor: buyer}, order.ErrInvalidTransition)
	m.refused(Event{Kind: EvAccept, Actor: buyer}, order.ErrInvalidTransition) // final for everything else
	m.apply(Event{Kind: EvRetry, Actor: opsA})
	if !m.s.Calls.Running(CallRelease) {
		t.Fatalf("calls %v: the retry did not start the release again", m.s.Calls)
	}
	m.result(ok(CallRelease, ""))
	if !m.s.Done() || m.s.Attention != "" {
		t.Fatalf("after the release: done %v attention %q", m.s.Done(), m.s.Attention)
	}
	m.refused(Event{Kind: EvRetry, Actor: opsA}, order.ErrInvalidTransition)
}

func TestProvisionFailureRetryAndRefund(t *testing.T) {
	m := newMachine(t, order.TypeSaaS, true)
	m.result(CallResult{Call: CallNewInstance, Refused: true, ErrorType: "SellerRefused"})
	m.status(order.Status(order.PhaseProvisionFailed))
	m.apply(Event{Kind: EvRetry, Actor: opsA})
	m.status(order.Status(order.PhaseProvisioning))
	if !m.s.Calls.Running(CallNewInstance) || m.s.Clocks.Has(ClockRefund) {
		t.Fatalf("retry: calls %v clocks %v", m.s.Calls, m.s.Clocks)
	}
	m.provisioned()
	m.status(order.Status(order.PhaseAwaitingAcceptance))
}

func TestProvisioningLateIsOurSide(t *testing.T) {
	m := newMachine(t, order.TypeSaaS, true)
	m.advance(provisionLate(m.s.In.Windows))
	if m.s.Phase != order.PhaseProvisioning || m.s.Attention == "" {
		t.Fatalf("phase %s attention %q: a stuck provisioning must flag ops and not fail the order", m.s.Phase, m.s.Attention)
	}
	m.provisioned()
	if m.s.Attention != "" {
		t.Fatal("attention stays after the instance came")
	}
}

func TestFinalOrdersRefuseEverything(t *testing.T) {
	m := newMachine(t, order.TypeService, true)
	deliverOnce(m)
	m.apply(Event{Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Reason: "x"}})
	m.apply(Event{Kind: EvResolve, Actor: opsA, Resolution: order.AppealResolution{AppealID: m.s.Appeal.AppealID, Outcome: order.OutcomeRefund}})
	for _, ev := range []Event{
		{Kind: EvAccept, Actor: buyer}, {Kind: EvReject, Actor: buyer, Reason: "x"}, {Kind: EvDeliver, Actor: sellerA, Note: "x"},
		{Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Reason: "x"}}, {Kind: EvRetry, Actor: opsA},
	} {
		m.refused(ev, order.ErrInvalidTransition)
	}
}

func TestClocksPauseAndResume(t *testing.T) {
	var c Clocks
	c.Set(ClockAutoAccept, t0.Add(time.Hour))
	c.Set(ClockExpire, t0.Add(2*time.Hour))
	c.Pause(TagSupervision, t0.Add(20*time.Minute))
	next, _ := c.Next()
	if next.Name != ClockExpire {
		t.Fatalf("next = %v: a paused clock still counts", next)
	}
	if due := c.Due(t0.Add(3 * time.Hour)); !slices.Equal(due, []ClockName{ClockExpire}) {
		t.Fatalf("due = %v", due)
	}
	c.Resume(TagSupervision, t0.Add(5*time.Hour))
	got, _ := c.Get(ClockAutoAccept)
	if !got.At.Equal(t0.Add(5*time.Hour + 40*time.Minute)) {
		t.Fatalf("resumed at %v, want with its 40 minutes left", got.At)
	}
}
