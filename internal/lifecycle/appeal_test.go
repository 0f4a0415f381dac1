package lifecycle

// Appeals through the pure state machine (machine_test.go): from every state, each outcome,
// clocks paused and resumed, validation.

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

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
				if out.Appeal == nil || out.Appeal.Kind != order.AppealRaised || m.s.Appeal.AppealID == "" {
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

func TestAppealIDs(t *testing.T) {
	a, b, c := appealID("O-1", 1), appealID("O-1", 2), appealID("O-2", 1)
	if a == b || a == c || len(a) != 22 || a != appealID("O-1", 1) {
		t.Fatalf("appeal IDs %s %s %s", a, b, c)
	}
}
