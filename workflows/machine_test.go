package workflows

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
	if mode.Subscribed() {
		exp := t0.Add(30 * 24 * time.Hour)
		in.ExpireTime = &exp
	}
	return in
}

// machine drives a State through events, as the loop would, without Temporal.
type machine struct {
	t      *testing.T
	s      State
	now    time.Time
	steps  []string
	actors []order.Actor // who made each step
	calls  []CallKind
}

func newMachine(t *testing.T, typ order.ProductType, supervised bool) *machine {
	m := &machine{t: t, s: State{In: startInput(typ, order.BillingMonthly, supervised)}, now: t0}
	m.apply(Event{Kind: EvStart})
	return m
}

// apply checks and applies ev at the machine's time; it fails the test on a refusal.
func (m *machine) apply(ev Event) Outcome {
	m.t.Helper()
	if err := m.try(ev); err != nil {
		m.t.Fatalf("%s refused in %s: %v", ev.Kind, m.s.Status(), err)
	}
	ev.At = m.now
	out := Apply(&m.s, ev)
	for _, st := range out.Steps {
		m.steps = append(m.steps, st.Event)
		m.actors = append(m.actors, st.Actor)
	}
	m.calls = append(m.calls, out.Calls...)
	return out
}

func (m *machine) try(ev Event) error { return Check(&m.s, ev) }

// refused asserts that ev is refused with code.
func (m *machine) refused(ev Event, code string) {
	m.t.Helper()
	err := m.try(ev)
	var r *Refusal
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
	if out.Money != MoneyPost || m.s.Settlement.Commission != 1500 || m.s.Settlement.Net != 8500 {
		t.Fatalf("money %s settlement %+v", out.Money, m.s.Settlement)
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

func deploy(m *machine, p order.DeploymentPhaseName, st order.DeploymentState) {
	m.apply(Event{Kind: EvDeploy, Actor: sellerA, Deploy: order.DeploymentReport{Actor: sellerA, Phase: p, State: st}})
}

// deliverOnce takes any order to awaiting_acceptance.
func deliverOnce(m *machine) {
	switch m.s.In.ProductType {
	case order.TypeSaaS, order.TypeLicense:
		m.result(CallResult{Call: CallNewInstance, OK: true, InstanceID: "inst-1", License: licenseRef("L-1234567890ABC")})
	case order.TypeService:
		m.apply(Event{Kind: EvDeliver, Actor: sellerA, Note: "done"})
	case order.TypePackage:
		deploy(m, order.PhaseInstall, order.DeploymentRunning)
		deliverRest(m)
	case order.TypeHardware:
		m.apply(Event{Kind: EvShip, Actor: sellerA, Shipment: order.ShipmentRequest{Carrier: "SF", TrackingNumber: "SF1"}})
		deliverRest(m)
	}
}

// deliverRest completes a delivery that has begun (package phases, hardware sign-off).
func deliverRest(m *machine) {
	switch m.s.In.ProductType {
	case order.TypePackage:
		for _, p := range order.DeploymentPhases {
			deploy(m, p, order.DeploymentDone)
		}
	case order.TypeHardware:
		m.apply(Event{Kind: EvSignoff, Actor: buyer, SignedAt: m.now})
	}
}

func licenseRef(l string) *order.LicenseRef {
	return &order.LicenseRef{SHA256: strings.Repeat("a", 63) + string(rune('0'+len(l)%10)), Masked: "L-12…9ABC", Via: "answer"}
}

func TestLicensePaths(t *testing.T) {
	t.Run("in the answer", func(t *testing.T) {
		m := newMachine(t, order.TypeLicense, true)
		m.result(CallResult{Call: CallNewInstance, OK: true, InstanceID: "inst-1", License: licenseRef("L-1")})
		m.status(order.Status(order.PhaseAwaitingAcceptance))
		m.lastSteps("instance_created", "license_received", "delivered")
	})
	t.Run("in queryInstance info", func(t *testing.T) {
		m := newMachine(t, order.TypeLicense, true)
		m.result(CallResult{Call: CallNewInstance, OK: true, Pending: true, InstanceID: "inst-1"})
		m.lastSteps("instance_pending")
		m.result(CallResult{Call: CallQuery, OK: true, InstanceID: "inst-1", License: licenseRef("L-1")})
		m.status(order.Status(order.PhaseAwaitingAcceptance))
		m.lastSteps("instance_created", "license_received", "delivered")
	})
	t.Run("by the sellerA's callback, resent, then another", func(t *testing.T) {
		m := newMachine(t, order.TypeLicense, true)
		m.provisioned()
		if !m.s.Calls.Running(CallQuery) {
			t.Fatal("no queryInstance to look for the licence")
		}
		m.result(ok(CallQuery, "inst-1"))
		m.status(order.Status(order.PhaseProvisioning))
		l := *licenseRef("L-1")
		m.refused(Event{Kind: EvLicense, Actor: order.Actor{Kind: order.ActorSeller, ID: "sellerA-2"}, License: l}, order.ErrInvalidTransition)
		m.apply(Event{Kind: EvLicense, Actor: sellerA, License: l})
		m.status(order.Status(order.PhaseAwaitingAcceptance))
		n := len(m.steps)
		m.apply(Event{Kind: EvLicense, Actor: sellerA, License: l}) // the same again: nothing happens
		if len(m.steps) != n {
			t.Fatalf("a resend of the same licence made steps %v", m.steps[n:])
		}
		l2 := l
		l2.SHA256 = strings.Repeat("b", 64)
		m.refused(Event{Kind: EvLicense, Actor: sellerA, License: l2}, order.ErrLicenseMismatch)
	})
	t.Run("never comes", func(t *testing.T) {
		m := newMachine(t, order.TypeLicense, true)
		m.provisioned()
		m.result(ok(CallQuery, "inst-1"))
		m.advance(24 * time.Hour)
		m.status(order.Status(order.PhaseProvisionFailed))
		m.lastSteps("provision_failed")
		m.advance(72 * time.Hour) // refund hold
		m.status(order.Status(order.PhaseCancelled))
		if !slices.Contains(m.calls, CallRelease) {
			t.Fatalf("the instance made is not released: calls %v", m.calls)
		}
	})
	t.Run("late, during the refund hold", func(t *testing.T) {
		m := newMachine(t, order.TypeLicense, true)
		m.provisioned()
		m.result(ok(CallQuery, "inst-1"))
		m.advance(25 * time.Hour)
		m.status(order.Status(order.PhaseProvisionFailed))
		m.apply(Event{Kind: EvLicense, Actor: sellerA, License: *licenseRef("L-1")})
		m.status(order.Status(order.PhaseAwaitingAcceptance))
		m.lastSteps("license_received", "delivered")
		if m.s.Clocks.Has(ClockRefund) || m.s.LastError != "" {
			t.Fatalf("the rescued order still has refund clock %v, error %q", m.s.Clocks.Has(ClockRefund), m.s.LastError)
		}
	})
	t.Run("refused after a refusal: nothing was made", func(t *testing.T) {
		m := newMachine(t, order.TypeLicense, true)
		m.result(CallResult{Call: CallNewInstance, Refused: true, ErrorType: "SellerRefused"})
		m.refused(Event{Kind: EvLicense, Actor: sellerA, License: *licenseRef("L-1")}, order.ErrInvalidTransition)
	})
	t.Run("during an appeal: taken, its acceptance window waits", func(t *testing.T) {
		m := newMachine(t, order.TypeLicense, true)
		m.provisioned()
		m.result(ok(CallQuery, "inst-1"))
		out := m.apply(Event{Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Reason: "no licence yet"}})
		m.apply(Event{Kind: EvLicense, Actor: sellerA, License: *licenseRef("L-1")})
		m.status(order.StatusAppealing)
		if m.s.Phase != order.PhaseAwaitingAcceptance {
			t.Fatalf("phase %s under the appeal", m.s.Phase)
		}
		c, _ := m.s.Clocks.Get(ClockAutoAccept)
		if !c.Paused || c.Left != 7*24*time.Hour {
			t.Fatalf("the acceptance window started during the appeal: %+v", c)
		}
		m.advance(30 * 24 * time.Hour) // the appeal's last tier has no SLA: nothing runs out
		m.status(order.StatusAppealing)
		m.apply(Event{Kind: EvResolve, Actor: opsA, Resolution: order.AppealResolution{AppealID: out.Appeal.Appeal.AppealID, Outcome: order.OutcomeContinue}})
		m.status(order.Status(order.PhaseAwaitingAcceptance))
		m.advance(7 * 24 * time.Hour)
		m.status(order.Status(order.PhaseInService))
	})
}

// An instance made during an appeal (the seller's answer came meanwhile) starts its
// acceptance window paused: the timer accepts nothing while ops decide.
func TestDeliveredDuringAnAppealWaitsForIt(t *testing.T) {
	m := newMachine(t, order.TypeSaaS, true)
	m.apply(Event{Kind: EvAppeal, Actor: sellerA, Appeal: order.AppealRequest{Reason: "wrong region ordered"}})
	m.result(ok(CallNewInstance, "inst-1"))
	m.status(order.StatusAppealing)
	m.advance(60 * 24 * time.Hour)
	if m.s.Phase != order.PhaseAwaitingAcceptance || m.s.AcceptedBy != nil {
		t.Fatalf("phase %s, accepted by %+v during the appeal", m.s.Phase, m.s.AcceptedBy)
	}
}

func TestPackageDeployment(t *testing.T) {
	m := newMachine(t, order.TypePackage, true)
	m.refused(Event{Kind: EvDeploy, Actor: sellerA, Deploy: order.DeploymentReport{Phase: order.PhaseStart, State: order.DeploymentRunning}}, order.ErrInvalidTransition)
	deploy(m, order.PhaseInstall, order.DeploymentFailed)
	deploy(m, order.PhaseInstall, order.DeploymentRunning) // a failed phase may be reported again
	deploy(m, order.PhaseInstall, order.DeploymentDone)
	n := len(m.steps)
	deploy(m, order.PhaseInstall, order.DeploymentDone) // a repeat changes nothing
	if len(m.steps) != n {
		t.Fatal("a repeated report made a step")
	}
	m.refused(Event{Kind: EvDeploy, Actor: sellerA, Deploy: order.DeploymentReport{Phase: order.PhaseInstall, State: order.DeploymentFailed}}, order.ErrInvalidTransition)
	// The deployment SLA flags the order without changing its phase.
	m.advance(3 * 24 * time.Hour)
	m.status(order.Status(order.PhaseDeploying))
	if m.s.Attention == "" {
		t.Fatal("the deployment SLA did not flag the order")
	}
	m.lastSteps("needs_attention")
	if by := m.actors[len(m.actors)-1]; by != timer {
		t.Fatalf("the SLA's flag is by %+v, want the timer", by)
	}
	deploy(m, order.PhaseStart, order.DeploymentDone)
	deploy(m, order.PhaseVerify, order.DeploymentDone)
	m.status(order.Status(order.PhaseAwaitingAcceptance))
	if m.s.Attention != "" {
		t.Fatal("attention not cleared on delivery")
	}
	m.refused(Event{Kind: EvShip, Actor: sellerA}, order.ErrInvalidTransition)
}

func TestHardwareAcceptedOnShipmentOrAfterSignoff(t *testing.T) {
	m := newMachine(t, order.TypeHardware, true)
	m.refused(Event{Kind: EvAccept, Actor: buyer}, order.ErrInvalidTransition)
	m.refused(Event{Kind: EvSignoff, Actor: buyer, SignedAt: m.now}, order.ErrInvalidTransition)
	m.apply(Event{Kind: EvShip, Actor: sellerA, Shipment: order.ShipmentRequest{Carrier: "SF", TrackingNumber: "SF1"}})
	if err := m.try(Event{Kind: EvAccept, Actor: buyer}); err != nil {
		t.Fatalf("the buyer may accept once a shipment is recorded: %v", err)
	}
	m.now = m.now.Add(time.Hour)
	m.apply(Event{Kind: EvSignoff, Actor: buyer, SignedAt: m.now})
	c, _ := m.s.Clocks.Get(ClockAutoAccept)
	if !c.At.Equal(m.now.Add(10 * 24 * time.Hour)) {
		t.Fatalf("hardware acceptance window ends %v, want 10 days after sign-off", c.At)
	}
	m.advance(10 * 24 * time.Hour)
	m.status(order.Status(order.PhaseInService))
}

// TestAppealFromEveryNonFinalState opens an appeal in each state an order can be in and
// resolves it with each outcome.
func TestAppealFromEveryNonFinalState(t *testing.T) {
	states := []struct {
		name string
		typ  order.ProductType
		to   func(m *machine)
	}{
		{"provisioning", order.TypeSaaS, func(*machine) {}},
		{"provision_failed", order.TypeSaaS, func(m *machine) {
			m.result(CallResult{Call: CallNewInstance, Refused: true, ErrorType: "SellerRefused"})
		}},
		{"deploying", order.TypePackage, func(*machine) {}},
		{"shipping", order.TypeHardware, func(*machine) {}},
		{"delivering", order.TypeService, func(*machine) {}},
		{"awaiting_acceptance", order.TypeService, deliverOnce},
		{"rejected", order.TypeService, func(m *machine) {
			deliverOnce(m)
			m.apply(Event{Kind: EvReject, Actor: buyer, Reason: "broken"})
		}},
		{"in_service", order.TypeSaaS, func(m *machine) { deliverOnce(m); m.apply(Event{Kind: EvAccept, Actor: buyer}) }},
	}
	for _, st := range states {
		for _, outcome := range []order.AppealOutcome{order.OutcomeContinue, order.OutcomeAccept, order.OutcomeRefund} {
			t.Run(st.name+"/"+string(outcome), func(t *testing.T) {
				m := newMachine(t, st.typ, true)
				st.to(m)
				before := m.s.Phase
				out := m.apply(Event{Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Reason: "seller unreachable"}})
				m.status(order.StatusAppealing)
				if out.Appeal == nil || out.Appeal.Kind != AppealRaised || m.s.Appeal.AppealID == "" {
					t.Fatalf("appeal record %+v", out.Appeal)
				}
				m.refused(Event{Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Reason: "again"}}, order.ErrAppealOpen)
				m.refused(Event{Kind: EvAccept, Actor: buyer}, order.ErrAppealOpen)
				m.refused(Event{Kind: EvDeliver, Actor: sellerA, Note: "x"}, order.ErrAppealOpen)
				res := Event{Kind: EvResolve, Actor: opsA, Resolution: order.AppealResolution{AppealID: m.s.Appeal.AppealID, Outcome: outcome}}
				started := slices.Contains(deliveryStarted, before)
				if outcome == order.OutcomeAccept && !started {
					m.refused(res, order.ErrInvalidTransition)
					return
				}
				m.apply(res)
				switch outcome {
				case order.OutcomeContinue:
					if m.s.Phase != before || m.s.AppealOpen() {
						t.Fatalf("continue: phase %s, appeal open %v", m.s.Phase, m.s.AppealOpen())
					}
				case order.OutcomeAccept:
					m.status(order.Status(order.PhaseInService))
				case order.OutcomeRefund:
					m.status(order.Status(order.PhaseCancelled))
					if m.s.Settlement.Status != order.SettlementRefunded {
						t.Fatalf("settlement %+v", m.s.Settlement)
					}
				}
			})
		}
	}
}

func TestAppealPausesSupervisionClocksOnly(t *testing.T) {
	m := newMachine(t, order.TypeService, true)
	deliverOnce(m)
	m.advance(5 * 24 * time.Hour) // 2 days of the 7-day acceptance window left
	m.apply(Event{Kind: EvAppeal, Actor: order.Actor{Kind: order.ActorSeller, ID: "seller-1"}, Appeal: order.AppealRequest{Reason: "buyer unreachable"}})
	c, _ := m.s.Clocks.Get(ClockAutoAccept)
	if !c.Paused || c.Left != 2*24*time.Hour {
		t.Fatalf("auto-accept %+v, want paused with 2 days left", c)
	}
	// Ten days pass: the tier-1 SLA (2 days) and tier-2 SLA (3 days) escalate, the last
	// tier stays open; the paused acceptance window does not run out.
	m.advance(10 * 24 * time.Hour)
	m.status(order.StatusAppealing)
	if m.s.Appeal.Tier != 3 || m.s.Clocks.Has(ClockEscalate) {
		t.Fatalf("tier %d, escalation clock %v; want the last tier, no clock", m.s.Appeal.Tier, m.s.Clocks.Has(ClockEscalate))
	}
	m.lastSteps("appeal_escalated", "appeal_escalated")
	m.apply(Event{Kind: EvResolve, Actor: opsA, Resolution: order.AppealResolution{AppealID: m.s.Appeal.AppealID, Outcome: order.OutcomeContinue}})
	c, _ = m.s.Clocks.Get(ClockAutoAccept)
	if c.Paused || !c.At.Equal(m.now.Add(2*24*time.Hour)) {
		t.Fatalf("auto-accept %+v, want it to resume with its 2 days", c)
	}
	m.advance(2 * 24 * time.Hour)
	m.status(order.Status(order.PhaseInService))
}

func TestAppealLeavesBillingClocksRunning(t *testing.T) {
	m := newMachine(t, order.TypeSaaS, true)
	deliverOnce(m)
	m.apply(Event{Kind: EvAccept, Actor: buyer})
	m.apply(Event{Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Reason: "down all week"}})
	m.advance(30 * 24 * time.Hour)
	if !m.s.Calls.Running(CallLevel) {
		t.Fatal("an appeal stopped the expiry clock")
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

func TestAppealValidation(t *testing.T) {
	m := newMachine(t, order.TypeService, true)
	good := order.Evidence{Name: "photo.jpg", ContentType: "image/jpeg", SHA256: strings.Repeat("ab", 32), Size: 1000}
	many := make([]order.Evidence, 11)
	for i := range many {
		many[i] = good
	}
	for name, ev := range map[string]Event{
		"ops appeals":       {Kind: EvAppeal, Actor: opsA, Appeal: order.AppealRequest{Reason: "x"}},
		"another buyer":     {Kind: EvAppeal, Actor: other, Appeal: order.AppealRequest{Reason: "x"}},
		"another sellerA":   {Kind: EvAppeal, Actor: order.Actor{Kind: order.ActorSeller, ID: "s9"}, Appeal: order.AppealRequest{Reason: "x"}},
		"no reason":         {Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{}},
		"long reason":       {Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Reason: strings.Repeat("x", 2001)}},
		"too much evidence": {Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Reason: "x", Evidence: many}},
		"bad hash": {Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Reason: "x",
			Evidence: []order.Evidence{{Name: "a", ContentType: "image/png", SHA256: "xyz", Size: 1}}}},
		"huge file": {Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Reason: "x",
			Evidence: []order.Evidence{{Name: "a", ContentType: "image/png", SHA256: good.SHA256, Size: 1 << 40}}}},
	} {
		t.Run(name, func(t *testing.T) { m.refused(ev, order.ErrInvalidTransition) })
	}
	m.apply(Event{Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Reason: "x", Evidence: []order.Evidence{good}}})
	m.refused(Event{Kind: EvResolve, Actor: opsA, Resolution: order.AppealResolution{AppealID: "AP-other", Outcome: order.OutcomeContinue}}, order.ErrInvalidTransition)
	m.refused(Event{Kind: EvResolve, Actor: buyer, Resolution: order.AppealResolution{AppealID: m.s.Appeal.AppealID, Outcome: order.OutcomeContinue}}, order.ErrInvalidTransition)
	m.refused(Event{Kind: EvResolve, Actor: opsA, Resolution: order.AppealResolution{AppealID: m.s.Appeal.AppealID, Outcome: "maybe"}}, order.ErrInvalidTransition)
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

func TestAppealIDs(t *testing.T) {
	a, b, c := appealID("O-1", 1), appealID("O-1", 2), appealID("O-2", 1)
	if a == b || a == c || len(a) != 22 || a != appealID("O-1", 1) {
		t.Fatalf("appeal IDs %s %s %s", a, b, c)
	}
}
