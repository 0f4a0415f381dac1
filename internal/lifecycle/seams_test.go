package lifecycle

import (
	"slices"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// The rules of 2026-12 (RulesSeams), where features meet: each test is one decision of
// issue 13, event by event. The simulation (internal/sim) explores their interleavings.

// seams starts an order under RulesSeams.
func seams(t *testing.T, typ order.ProductType, mode order.BillingMode, supervised bool) *machine {
	m := &machine{t: t, s: State{In: startInput(typ, mode, supervised), Rules: RulesSeams}, now: t0}
	m.apply(Event{Kind: EvStart})
	return m
}

func appealBy(a order.Actor) Event {
	return Event{Kind: EvAppeal, Actor: a, Appeal: order.AppealRequest{Actor: a, Reason: "not as described", Evidence: []order.Evidence{}}}
}

func resolve(m *machine, outcome order.AppealOutcome) Event {
	return Event{Kind: EvResolve, Actor: opsA, Resolution: order.AppealResolution{Actor: opsA, AppealID: m.s.Appeal.AppealID,
		Outcome: outcome, Note: "decided"}}
}

func unsubscription(refund int64) Event {
	return Event{Kind: EvUnsubscribe, Actor: billing, Unsubscribe: order.UnsubscribeRequest{Actor: billing, Reason: "leaving",
		UnsubscribeOrderID: "U-1", UnsubscribeOrderLineID: "U-1-1", Refund: &order.Money{Value: refund, Currency: "CNY"}}}
}

// TestAppealOutlivesTheUnsubscription: billing ends the order while its appeal is open; the
// release goes ahead, the order stays open (released, appeal open) until ops resolve it,
// and a refund then gives back what is left of every line, the unsubscription's part once.
func TestAppealOutlivesTheUnsubscription(t *testing.T) {
	m := seams(t, order.TypeSaaS, order.BillingMonthly, false)
	m.provisioned()
	m.apply(renewal("R-1", t0.Add(60*day)))
	m.result(ok(CallRefresh, ""))
	m.apply(appealBy(buyer))
	m.apply(unsubscription(3000)) // billing's events are not supervision: taken during the appeal
	m.result(ok(CallRelease, ""))
	m.status(order.Status(order.PhaseReleased)) // a final phase shows itself, appeal or not
	if !m.s.AppealOpen() || m.s.Done() {
		t.Fatalf("released with the appeal open: done %v, appeal open %v", m.s.Done(), m.s.AppealOpen())
	}
	if !m.s.Clocks.Has(ClockEscalate) || len(m.s.Clocks) != 1 {
		t.Fatalf("the appeal's clock should run on alone: %v", m.s.Clocks)
	}
	m.refused(renewal("R-2", t0.Add(90*day)), order.ErrInvalidTransition)
	m.postings = nil
	m.apply(resolve(m, order.OutcomeRefund))
	// 3000 of the renewal was refunded at the unsubscription: what is left of it is
	// reversed now, and the order's own line in full.
	if want := []string{"refund renewal R-1", "refund order"}; !slices.Equal(m.postings, want) {
		t.Fatalf("postings %v, want %v", m.postings, want)
	}
	if !m.s.Done() || m.s.Phase != order.PhaseReleased {
		t.Fatalf("resolved: done %v, phase %s", m.s.Done(), m.s.Phase)
	}
	if r := m.s.Renewals[0].Settlement; r.Status != order.SettlementRefunded || r.Refunded != r.Gross {
		t.Fatalf("renewal line %+v", r)
	}
}

// TestUnsubscriptionRefundTakesFromTheLatestLines: a part refund reverses only what was
// posted, latest line first, and the appeal's refund later reverses only what is left.
func TestUnsubscriptionRefundTakesFromTheLatestLines(t *testing.T) {
	m := seams(t, order.TypeSaaS, order.BillingMonthly, false)
	m.provisioned()
	amount := order.Money{Value: 5000, Currency: "CNY"}
	r := renewal("R-1", t0.Add(60*day))
	r.Renewal.Amount = &amount
	m.apply(r)
	m.postings = nil
	m.apply(unsubscription(7000)) // 5000 of the renewal, 2000 of the order's 10000
	want := []string{"refund_part unsubscribe U-1/renewal/R-1", "refund_part unsubscribe U-1/order"}
	if !slices.Equal(m.postings[:2], want) {
		t.Fatalf("postings %v, want %v", m.postings, want)
	}
	if got := m.s.Settlement.Refunded; got != 2000 {
		t.Fatalf("order line refunded %d, want 2000", got)
	}
	if got := m.s.paid(); got != 8000 {
		t.Fatalf("paid less refunded %d, want 8000", got)
	}
	again := unsubscription(1)
	again.Unsubscribe.UnsubscribeOrderID = "U-2"
	m.refused(again, order.ErrInvalidTransition) // once
}

// TestRenewalBeforeAcceptanceIsPayableAtAcceptance: a renewal of an order not accepted yet
// is recorded but posts nothing; the acceptance posts it with the order's own line.
func TestRenewalBeforeAcceptanceIsPayableAtAcceptance(t *testing.T) {
	m := seams(t, order.TypeService, order.BillingMonthly, true)
	m.apply(renewal("R-1", t0.Add(60*day)))
	if got := m.s.Renewals[0].Settlement.Status; got != order.SettlementNotDue || !slices.Equal(m.postings, []string{"block renewal R-1"}) {
		t.Fatalf("renewal line %s, postings %v", got, m.postings)
	}
	m.apply(Event{Kind: EvDeliver, Actor: sellerA, Note: "done"})
	m.postings = nil
	m.apply(Event{Kind: EvAccept, Actor: buyer})
	if want := []string{"post order", "post renewal R-1"}; !slices.Equal(m.postings, want) {
		t.Fatalf("postings %v, want %v", m.postings, want)
	}
}

// TestArrearsHoldReachesAnOrderNotInService: held while it is delivered, frozen at the
// seller the moment it enters service; released before it ever did, it is cancelled,
// refunded, and what the seller made is released.
func TestArrearsHoldReachesAnOrderNotInService(t *testing.T) {
	m := seams(t, order.TypeSaaS, order.BillingPayPerUse, true)
	m.apply(arrears(order.ArrearsFreeze))
	if !slices.Contains(m.s.Holds, HoldArrears) || m.s.Status() != order.Status(order.PhaseProvisioning) {
		t.Fatalf("holds %v, status %s", m.s.Holds, m.s.Status())
	}
	m.provisioned()
	m.calls = nil
	m.apply(Event{Kind: EvAccept, Actor: buyer})
	m.status(order.StatusFrozen)
	if !slices.Equal(m.calls, []CallKind{CallFreeze}) {
		t.Fatalf("calls at acceptance %v, want a FREEZE", m.calls)
	}

	n := seams(t, order.TypeSaaS, order.BillingPayPerUse, true)
	n.provisioned() // awaiting acceptance, the instance made
	n.apply(arrears(order.ArrearsFreeze))
	n.calls = nil
	n.apply(arrears(order.ArrearsRelease))
	n.status(order.Status(order.PhaseCancelled))
	if !slices.Equal(n.calls, []CallKind{CallRelease}) || n.s.Settlement.Status != order.SettlementRefunded {
		t.Fatalf("calls %v, settlement %s", n.calls, n.s.Settlement.Status)
	}
	if !slices.Contains(n.postings, "refund usage *") {
		t.Fatalf("usage not refunded: %v", n.postings)
	}
}

// TestValidityCountsFromAcceptance: paid Jan 1 for a month, accepted Feb 1: valid Feb 1
// to Mar 1, and the seller is told; an actual open time reported with the delivery counts
// instead of the acceptance; one in the future is refused.
func TestValidityCountsFromAcceptance(t *testing.T) {
	jan1 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	start := func(t *testing.T) *machine {
		in := startInput(order.TypeSaaS, order.BillingMonthly, true)
		feb1 := jan1.AddDate(0, 1, 0)
		in.PlacedAt, in.ExpireTime = jan1, &feb1
		m := &machine{t: t, s: State{In: in, Rules: RulesSeams}, now: jan1}
		m.apply(Event{Kind: EvStart})
		m.provisioned()
		return m
	}
	t.Run("from the acceptance", func(t *testing.T) {
		m := start(t)
		m.now = jan1.AddDate(0, 1, 0) // Feb 1 (the window is paused by nothing: accept before it ends)
		m.s.Clocks.Set(ClockAutoAccept, m.now.Add(day))
		m.apply(Event{Kind: EvAccept, Actor: buyer})
		if want := jan1.AddDate(0, 2, 0); !m.s.currentExpire().Equal(want) || !m.s.Expiry.Equal(want) {
			t.Fatalf("expires %v (clock %v), want %v", m.s.currentExpire(), m.s.Expiry, want)
		}
		if m.s.Refresh == nil || m.s.Refresh.RenewalOrderID != "O-1" || !slices.Contains(m.calls, CallRefresh) {
			t.Fatalf("the seller is not told: refresh %+v, calls %v", m.s.Refresh, m.calls)
		}
	})
	t.Run("from the actual open time", func(t *testing.T) {
		in := startInput(order.TypeService, order.BillingMonthly, true)
		feb1 := jan1.AddDate(0, 1, 0)
		in.PlacedAt, in.ExpireTime = jan1, &feb1
		m := &machine{t: t, s: State{In: in, Rules: RulesSeams}, now: jan1}
		m.apply(Event{Kind: EvStart})
		m.now = jan1.AddDate(0, 0, 20)
		future := m.now.Add(2 * day)
		m.refused(Event{Kind: EvDeliver, Actor: sellerA, Note: "done", OpenedAt: &future, At: m.now}, order.ErrInvalidTransition)
		before := jan1.Add(-time.Hour)
		m.refused(Event{Kind: EvDeliver, Actor: sellerA, Note: "done", OpenedAt: &before, At: m.now}, order.ErrInvalidTransition)
		opened := jan1.AddDate(0, 0, 10)
		m.apply(Event{Kind: EvDeliver, Actor: sellerA, Note: "done", OpenedAt: &opened})
		m.apply(Event{Kind: EvAccept, Actor: buyer})
		if want := opened.AddDate(0, 1, 0); !m.s.currentExpire().Equal(want) {
			t.Fatalf("expires %v, want %v", m.s.currentExpire(), want)
		}
	})
	t.Run("accepted at once: the expiry stands", func(t *testing.T) {
		m := start(t)
		m.now = jan1.Add(30 * time.Second)
		m.apply(Event{Kind: EvAccept, Actor: buyer})
		if !m.s.currentExpire().Equal(jan1.AddDate(0, 1, 0)) || m.s.Refresh != nil {
			t.Fatalf("expires %v, refresh %+v", m.s.currentExpire(), m.s.Refresh)
		}
	})
}

// TestEveryFirstDeliveryHasAnSLA: a service nobody delivers, hardware nobody ships or nobody
// signs for, each flags the order; the delivery clears the flag.
func TestEveryFirstDeliveryHasAnSLA(t *testing.T) {
	w := startInput(order.TypeService, order.BillingOneTime, true).Windows
	tests := []struct {
		typ   order.ProductType
		clock ClockName
		after func(m *machine)
	}{
		{order.TypeService, ClockFirstDelivery, nil},
		{order.TypeHardware, ClockShipment, nil},
		{order.TypeHardware, ClockSignoff, func(m *machine) {
			m.apply(Event{Kind: EvShip, Actor: sellerA, Shipment: order.ShipmentRequest{Actor: sellerA, Carrier: "SF", TrackingNumber: "T1"}})
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.clock), func(t *testing.T) {
			m := seams(t, tt.typ, order.BillingOneTime, true)
			if tt.after != nil {
				tt.after(m)
			}
			if !m.s.Clocks.Has(tt.clock) {
				t.Fatalf("no %s clock: %v", tt.clock, m.s.Clocks)
			}
			m.advance(w.SignoffSLA + day)
			if m.s.AttentionCause != string(tt.clock) || ForeverWait(&m.s) != WaitFlagged {
				t.Fatalf("attention %q (%s)", m.s.Attention, m.s.AttentionCause)
			}
			switch tt.typ {
			case order.TypeService:
				m.apply(Event{Kind: EvDeliver, Actor: sellerA, Note: "done"})
			default:
				if m.s.Shipment == nil {
					m.apply(Event{Kind: EvShip, Actor: sellerA, Shipment: order.ShipmentRequest{Actor: sellerA, Carrier: "SF", TrackingNumber: "T1"}})
				}
				m.apply(Event{Kind: EvSignoff, Actor: buyer, SignedAt: m.now})
			}
			if m.s.Attention != "" {
				t.Fatalf("still flagged after delivery: %q", m.s.Attention)
			}
		})
	}
}

// TestLastAppealTierFlagsAndAppealsAreCapped: the last tier's SLA flags the order (and the
// resolution clears it, not an earlier SLA's flag); a fourth appeal is refused.
func TestLastAppealTierFlagsAndAppealsAreCapped(t *testing.T) {
	m := seams(t, order.TypeService, order.BillingOneTime, true)
	w := m.s.In.Windows
	m.advance(w.FirstDeliverySLA + time.Hour) // the delivery is late: flagged
	m.apply(appealBy(buyer))
	m.advance(w.AppealTiers[0] + w.AppealTiers[1] + w.LastTierSLA + time.Hour)
	if m.s.AttentionCause != string(ClockLastTier) || len(m.s.Flags) != 2 {
		t.Fatalf("flags %+v", m.s.Flags)
	}
	m.apply(resolve(m, order.OutcomeContinue))
	if m.s.AttentionCause != string(ClockFirstDelivery) {
		t.Fatalf("the resolution cleared %q, the late delivery's flag should stand", m.s.AttentionCause)
	}
	for range w.AppealLimit - 1 {
		m.apply(appealBy(sellerA))
		m.apply(resolve(m, order.OutcomeContinue))
	}
	m.refused(appealBy(buyer), order.ErrAppealLimit)
}

// TestHardwareAcceptanceCountsFromSignedAt: the window runs from when the carrier says the
// buyer signed, not from when the web tier relayed it; a sign-off in the future or before
// the shipment is refused.
func TestHardwareAcceptanceCountsFromSignedAt(t *testing.T) {
	m := seams(t, order.TypeHardware, order.BillingOneTime, true)
	m.apply(Event{Kind: EvShip, Actor: sellerA, Shipment: order.ShipmentRequest{Actor: sellerA, Carrier: "SF", TrackingNumber: "T1"}})
	m.now = m.now.Add(5 * day)
	m.refused(Event{Kind: EvSignoff, Actor: buyer, SignedAt: m.now.Add(2 * time.Hour), At: m.now}, order.ErrInvalidTransition)
	m.refused(Event{Kind: EvSignoff, Actor: buyer, SignedAt: t0.Add(-2 * time.Hour), At: m.now}, order.ErrInvalidTransition)
	signed := t0.Add(2 * day)
	m.apply(Event{Kind: EvSignoff, Actor: buyer, SignedAt: signed})
	c, _ := m.s.Clocks.Get(ClockAutoAccept)
	if want := signed.Add(m.s.In.Windows.AcceptanceWindow); !c.At.Equal(want) {
		t.Fatalf("auto-accept at %v, want %v", c.At, want)
	}
}

// TestNoCallIsStartedTwice: ops' retry while newInstance still runs does not start a
// second one; a licence delivered by callback is not undone by newInstance failing later.
func TestNoCallIsStartedTwice(t *testing.T) {
	m := seams(t, order.TypeLicense, order.BillingOneTime, true)
	m.advance(m.s.In.Windows.LicenseWait + time.Minute) // the licence clock fails the order, newInstance still runs
	m.status(order.Status(order.PhaseProvisionFailed))
	m.calls = nil
	m.apply(Event{Kind: EvRetry, Actor: opsA})
	if len(m.calls) != 0 || !m.s.Calls.Running(CallNewInstance) {
		t.Fatalf("the retry started %v while newInstance runs", m.calls)
	}

	n := seams(t, order.TypeLicense, order.BillingMonthly, false)
	n.apply(Event{Kind: EvLicense, Actor: sellerA, License: *licenseRef("L-1")})
	n.status(order.Status(order.PhaseInService))
	n.result(CallResult{Call: CallNewInstance, ErrorType: "WindowExhausted"})
	n.status(order.Status(order.PhaseInService))
	if !n.s.ProvisionUncertain {
		t.Fatal("the instance the failed newInstance may have made is forgotten")
	}
	n.calls = nil
	n.apply(unsubscription(0))
	if !slices.Equal(n.calls, []CallKind{CallRecover}) {
		t.Fatalf("release of an uncertain instance: calls %v, want recover", n.calls)
	}
	n.result(CallResult{Call: CallRecover, OK: true}) // nothing was made
	n.status(order.Status(order.PhaseReleased))
}

// TestEveryEventIsAppliedOrRefused: the repeats the machine takes say why nothing changed.
func TestEveryEventIsAppliedOrRefused(t *testing.T) {
	m := seams(t, order.TypeSaaS, order.BillingPayPerUse, false)
	m.provisioned()
	m.apply(arrears(order.ArrearsFreeze))
	if out := m.apply(arrears(order.ArrearsFreeze)); out.Noop == "" || len(out.Steps) > 0 {
		t.Fatalf("a repeated freeze: %+v", out)
	}
	if out := m.apply(arrears(order.ArrearsUnfreeze)); len(out.Steps) != 1 {
		t.Fatalf("unfreeze: %+v", out)
	}
	if out := m.apply(arrears(order.ArrearsUnfreeze)); out.Noop == "" {
		t.Fatalf("a repeated unfreeze: %+v", out)
	}
}

// TestAnAppealThatOutlivesTheOrderWaitsOnOps: released by billing with its appeal open, the
// order waits on ops (WaitingOn), not on nobody.
func TestAnAppealThatOutlivesTheOrderWaitsOnOps(t *testing.T) {
	m := seams(t, order.TypeSaaS, order.BillingMonthly, false)
	m.provisioned()
	m.apply(appealBy(buyer))
	m.apply(unsubscription(0))
	m.result(ok(CallRelease, ""))
	if got := View(&m.s, m.now).WaitingOn; got != order.WaitOps {
		t.Fatalf("waiting on %s, want ops", got)
	}
	m.apply(resolve(m, order.OutcomeContinue))
	if got := View(&m.s, m.now).WaitingOn; got != order.WaitNone || !m.s.Done() {
		t.Fatalf("resolved: waiting on %s, done %v", got, m.s.Done())
	}
}
