package lifecycle

// The product types' paths, each through the pure state machine (machine_test.go).

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

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
	// Found by the soak: the licence came by callback while queryInstance was still being
	// retried, the buyer accepted, and the query's late answer released the buyer's instance.
	t.Run("by callback, accepted before queryInstance answers", func(t *testing.T) {
		for _, keep := range []bool{true, false} {
			m := newMachineBilled(t, order.TypeLicense, order.BillingOneTime, true)
			m.result(CallResult{Call: CallNewInstance, OK: true}) // the instance ID comes with the query
			m.apply(Event{Kind: EvLicense, Actor: sellerA, License: *licenseRef("L-1")})
			m.apply(Event{Kind: EvAccept, Actor: buyer})
			m.status(order.Status(order.PhaseCompleted))
			m.calls = nil
			m.apply(Event{Kind: EvResult, Result: ok(CallQuery, "inst-1"), KeepLateInstance: keep})
			if !keep { // histories recorded before the change replay as they ran
				if !slices.Equal(m.calls, []CallKind{CallRelease}) {
					t.Fatalf("without the version marker: calls %v, want the old release", m.calls)
				}
				continue
			}
			m.status(order.Status(order.PhaseCompleted))
			m.lastSteps("instance_created")
			if len(m.calls) != 0 || m.s.InstanceID != "inst-1" || !m.s.Done() {
				t.Fatalf("calls %v, instance %q, done %v: the buyer's instance must stay", m.calls, m.s.InstanceID, m.s.Done())
			}
		}
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
