package lifecycle

import (
	"slices"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// Billing's part of the order through the pure state machine: renewals, unsubscription,
// arrears holds, what the seller is told, and the money each moves.

var billing = order.Actor{Kind: order.ActorBilling, ID: "billing"}

const day = 24 * time.Hour

// inService takes an unsupervised SaaS order (monthly, expiring 30 days after t0, or
// pay-per-use) to in_service.
func inService(t *testing.T, mode order.BillingMode) *machine {
	m := newMachineBilled(t, order.TypeSaaS, mode, false)
	m.provisioned()
	m.status(order.Status(order.PhaseInService))
	return m
}

func renewal(id string, exp time.Time) Event {
	return Event{Kind: EvRenew, Actor: billing, Renewal: order.RenewalRequest{RenewalOrderID: id, RenewalOrderLineID: id + "-1", ExpireTime: exp}}
}

// frozenByExpiry runs a monthly order past expiry and grace (levels answered 1 day each).
func frozenByExpiry(t *testing.T) *machine {
	m := inService(t, order.BillingMonthly)
	m.advance(30 * day)
	m.result(CallResult{Call: CallLevel, OK: true, Grace: day, Retention: day})
	m.advance(day)
	m.result(CallResult{Call: CallLevel, OK: true, Grace: day, Retention: day})
	m.status(order.StatusFrozen)
	m.result(ok(CallFreeze, ""))
	if !m.s.SellerFrozen {
		t.Fatal("the seller's FREEZE is not remembered")
	}
	return m
}

func TestRenewalMovesTheExpiry(t *testing.T) {
	m := inService(t, order.BillingMonthly)
	exp := t0.Add(60 * day)
	m.apply(renewal("R-1", exp))
	m.lastSteps("renewed")
	if c, _ := m.s.Clocks.Get(ClockExpire); !c.At.Equal(exp) {
		t.Fatalf("expiry clock at %v, want %v", c.At, exp)
	}
	if !m.s.Calls.Running(CallRefresh) || m.s.RefreshSent != "R-1" {
		t.Fatalf("no refreshInstance for R-1: %v", m.s.Calls)
	}
	if got := m.posted(); !slices.Equal(got, []string{"post order", "post renewal R-1"}) {
		t.Fatalf("postings %v", got)
	}
	n := len(m.steps)
	m.apply(renewal("R-1", exp)) // billing sends it again
	if len(m.steps) != n || len(m.s.Renewals) != 1 {
		t.Fatal("a repeated renewal did something")
	}
	m.refused(renewal("R-1", exp.Add(day)), order.ErrInvalidTransition)
	m.refused(renewal("R-0", exp.Add(-day)), order.ErrInvalidTransition) // backwards
	m.refused(renewal("R-2", exp), order.ErrInvalidTransition)           // not forwards
	m.refused(Event{Kind: EvRenew, Actor: buyer, Renewal: order.RenewalRequest{RenewalOrderID: "R-3", ExpireTime: exp.Add(day)}}, order.ErrInvalidTransition)

	// A second renewal while the first is still being told: the seller learns the latest
	// once the first answer is in.
	m.apply(renewal("R-2", exp.Add(30*day)))
	m.result(ok(CallRefresh, ""))
	if !m.s.Calls.Running(CallRefresh) || m.s.RefreshSent != "R-2" {
		t.Fatalf("the latest renewal is not told: %v, sent %q", m.s.Calls, m.s.RefreshSent)
	}
	m.result(ok(CallRefresh, ""))
	if m.s.Refresh != nil || !m.s.Calls.Empty() {
		t.Fatalf("refresh %+v calls %v", m.s.Refresh, m.s.Calls)
	}
	v := View(&m.s, m.now)
	if v.RenewalCount != 2 || !v.ExpireTime.Equal(exp.Add(30*day)) {
		t.Fatalf("view: %d renewals, expireTime %v", v.RenewalCount, v.ExpireTime)
	}
}

func TestRenewalWhileFrozenUnfreezes(t *testing.T) {
	m := frozenByExpiry(t)
	m.apply(renewal("R-1", m.s.In.ExpireTime.Add(30*day)))
	m.status(order.Status(order.PhaseInService))
	if !m.s.Calls.Running(CallUnfreeze) || !m.s.Calls.Running(CallRefresh) {
		t.Fatalf("calls %v: want UNFREEZE and refreshInstance", m.s.Calls)
	}
	if m.s.Clocks.Has(ClockRelease) {
		t.Fatal("the retention clock still runs")
	}
	m.result(ok(CallUnfreeze, ""))
	m.result(ok(CallRefresh, ""))
	if m.s.SellerFrozen || !m.s.Calls.Empty() {
		t.Fatalf("frozen %v calls %v", m.s.SellerFrozen, m.s.Calls)
	}
}

func TestRenewalDuringGraceCancelsTheFreeze(t *testing.T) {
	m := inService(t, order.BillingMonthly)
	m.advance(30 * day)
	m.result(CallResult{Call: CallLevel, OK: true, Grace: day, Retention: day})
	m.apply(renewal("R-1", m.s.In.ExpireTime.Add(30*day)))
	if m.s.Clocks.Has(ClockFreeze) {
		t.Fatal("the freeze still comes")
	}
	m.result(ok(CallRefresh, ""))
	m.advance(29 * day)
	if len(m.s.Holds) > 0 || m.s.Calls.Has(CallFreeze) {
		t.Fatal("frozen although renewed")
	}
}

func TestRenewalRacingTheLevelLookup(t *testing.T) {
	m := inService(t, order.BillingMonthly)
	m.advance(30 * day) // expired: the lookup of the grace runs
	m.apply(renewal("R-1", m.s.In.ExpireTime.Add(30*day)))
	m.result(CallResult{Call: CallLevel, OK: true, Grace: day, Retention: day})
	if m.s.Clocks.Has(ClockFreeze) || slices.Contains(m.steps, "expired") {
		t.Fatal("the lookup for the old expiry still started a grace")
	}
}

// TestFreezeOvertakenByRelease: the retention ends while the FREEZE still waits for its
// turn at the seller; the release gets there first and the FREEZE then fails with 000003.
// The order is released, the failure is moot: no flag for ops, and the workflow ends.
func TestFreezeOvertakenByRelease(t *testing.T) {
	m := inService(t, order.BillingMonthly)
	m.advance(30 * day)
	m.result(CallResult{Call: CallLevel, OK: true, Grace: day, Retention: day})
	m.advance(day)
	m.result(CallResult{Call: CallLevel, OK: true, Grace: day, Retention: day})
	if !m.s.Calls.Running(CallFreeze) {
		t.Fatalf("calls %v: no FREEZE at the end of grace", m.s.Calls)
	}
	m.advance(day) // retention over, the FREEZE still running
	if !m.s.Calls.Running(CallRelease) {
		t.Fatalf("calls %v: no release at the end of retention", m.s.Calls)
	}
	m.result(ok(CallRelease, ""))
	m.result(CallResult{Call: CallFreeze, ErrorType: "SellerInstanceNotFound"})
	m.status(order.Status(order.PhaseReleased))
	if m.s.Attention != "" || !m.s.Done() {
		t.Fatalf("attention %q, done %v, calls %v: a moot FREEZE failure must not hold the order", m.s.Attention, m.s.Done(), m.s.Calls)
	}
}

func TestRenewalAfterReleaseIsRefused(t *testing.T) {
	m := frozenByExpiry(t)
	m.advance(day)
	m.result(ok(CallRelease, ""))
	m.status(order.Status(order.PhaseReleased))
	m.refused(renewal("R-late", m.s.In.ExpireTime.Add(30*day)), order.ErrInvalidTransition)
}

func TestUnsubscriptionWhileFrozen(t *testing.T) {
	m := frozenByExpiry(t)
	refund := order.Money{Value: 4000, Currency: "CNY"}
	ev := Event{Kind: EvUnsubscribe, Actor: billing, Unsubscribe: order.UnsubscribeRequest{
		Reason: "customer left", UnsubscribeOrderID: "U-1", UnsubscribeOrderLineID: "U-1-1", Refund: &refund}}
	m.refused(Event{Kind: EvUnsubscribe, Actor: billing, Unsubscribe: order.UnsubscribeRequest{Reason: "x",
		Refund: &order.Money{Value: 999999, Currency: "CNY"}}}, order.ErrInvalidTransition) // more than paid
	m.apply(ev)
	if !m.s.Calls.Running(CallRelease) || m.s.Clocks.Has(ClockRelease) {
		t.Fatalf("calls %v clocks %v: want the release now", m.s.Calls, m.s.Clocks)
	}
	if got := m.posted(); got[len(got)-1] != "refund_part unsubscribe U-1" {
		t.Fatalf("postings %v", got)
	}
	if u := m.s.Unsubscription; u.Refund.Commission != 600 || u.Refund.Net != 3400 {
		t.Fatalf("refund split %+v", u.Refund)
	}
	m.apply(ev) // a repeat
	m.refused(renewal("R-1", m.s.In.ExpireTime.Add(30*day)), order.ErrInvalidTransition)
	m.result(ok(CallRelease, ""))
	m.status(order.Status(order.PhaseReleased))
	m.lastSteps("released")
	if !m.s.Done() {
		t.Fatal("not done")
	}
}

func arrears(action order.ArrearsAction) Event {
	return Event{Kind: EvArrears, Actor: order.Actor{Kind: order.ActorTimer}, Arrears: order.ArrearsSignal{Action: action, CaseID: "A-1"}}
}

func TestArrearsHoldOfAPayPerUseOrder(t *testing.T) {
	m := inService(t, order.BillingPayPerUse)
	if len(m.s.Clocks) != 0 {
		t.Fatalf("a pay-per-use order has clocks %v", m.s.Clocks)
	}
	m.apply(arrears(order.ArrearsFreeze))
	m.status(order.StatusFrozen)
	if !m.s.Calls.Running(CallFreeze) || waitingOn(&m.s) != order.WaitBilling {
		t.Fatalf("calls %v waiting on %s", m.s.Calls, waitingOn(&m.s))
	}
	// The payment comes while FREEZE is still on its way: UNFREEZE follows its answer.
	m.apply(arrears(order.ArrearsUnfreeze))
	m.status(order.Status(order.PhaseInService))
	if m.s.Calls.Running(CallUnfreeze) {
		t.Fatal("UNFREEZE sent while FREEZE runs")
	}
	m.result(ok(CallFreeze, ""))
	if !m.s.Calls.Running(CallUnfreeze) {
		t.Fatal("no UNFREEZE after the FREEZE")
	}
	m.result(ok(CallUnfreeze, ""))
	if m.s.SellerFrozen || !m.s.Calls.Empty() {
		t.Fatal("the seller is left frozen")
	}
	n := len(m.steps)
	m.apply(arrears(order.ArrearsUnfreeze)) // a repeat
	if len(m.steps) != n {
		t.Fatal("a repeated unfreeze made a step")
	}
	// Arrears again, not paid: frozen, then released.
	m.apply(arrears(order.ArrearsFreeze))
	m.result(ok(CallFreeze, ""))
	m.apply(arrears(order.ArrearsRelease))
	m.result(ok(CallRelease, ""))
	m.status(order.Status(order.PhaseReleased))
	if by := m.actors[len(m.actors)-1]; by.Kind != order.ActorTimer {
		t.Fatalf("released by %+v", by)
	}

	monthly := inService(t, order.BillingMonthly)
	monthly.refused(arrears(order.ArrearsFreeze), order.ErrInvalidTransition)
}

func TestAFailedFreezeNoLongerWantedIsDropped(t *testing.T) {
	m := inService(t, order.BillingPayPerUse)
	m.apply(arrears(order.ArrearsFreeze))
	m.result(CallResult{Call: CallFreeze, ErrorType: "SellerInternalError"})
	if m.s.Attention == "" {
		t.Fatal("a failed freeze does not need ops")
	}
	m.apply(arrears(order.ArrearsUnfreeze))
	if !m.s.Calls.Running(CallUnfreeze) || slices.Contains(m.s.Calls.Failed(), CallFreeze) || m.s.Attention != "" {
		t.Fatalf("calls %v attention %q: want the failed FREEZE dropped and UNFREEZE sent", m.s.Calls, m.s.Attention)
	}
}

func TestSettlementBlockedWhileAnAppealIsOpen(t *testing.T) {
	m := newMachine(t, order.TypeSaaS, false)
	out := m.apply(Event{Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Reason: "ordered the wrong plan"}})
	m.provisioned() // unsupervised: accepted when produced, during the appeal
	if m.s.Settlement.Status != order.SettlementBlocked {
		t.Fatalf("settlement %+v during the appeal", m.s.Settlement)
	}
	m.apply(renewal("R-1", m.s.In.ExpireTime.Add(30*day)))
	if m.s.Renewals[0].Settlement.Status != order.SettlementBlocked {
		t.Fatal("the renewal's line is not blocked")
	}
	m.apply(Event{Kind: EvResolve, Actor: opsA, Resolution: order.AppealResolution{AppealID: out.Appeal.Appeal.AppealID, Outcome: order.OutcomeContinue}})
	if m.s.Settlement.Status != order.SettlementPending || m.s.Renewals[0].Settlement.Status != order.SettlementPending {
		t.Fatal("not posted when the appeal closed")
	}
	want := []string{"block order", "block renewal R-1", "post order", "post renewal R-1"}
	if got := m.posted(); !slices.Equal(got, want) {
		t.Fatalf("postings %v, want %v", got, want)
	}
}

func TestAppealRefundRefundsEveryLine(t *testing.T) {
	m := inService(t, order.BillingMonthly)
	m.apply(renewal("R-1", m.s.In.ExpireTime.Add(30*day)))
	m.result(ok(CallRefresh, ""))
	out := m.apply(Event{Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Reason: "never worked"}})
	m.apply(Event{Kind: EvResolve, Actor: opsA, Resolution: order.AppealResolution{AppealID: out.Appeal.Appeal.AppealID, Outcome: order.OutcomeRefund}})
	want := []string{"post order", "post renewal R-1", "refund order", "refund renewal R-1"}
	if got := m.posted(); !slices.Equal(got, want) {
		t.Fatalf("postings %v, want %v", got, want)
	}
}

func TestPayPerUseOrderPostsItsFeeAndStaysInService(t *testing.T) {
	m := inService(t, order.BillingPayPerUse)
	if got := m.posted(); !slices.Equal(got, []string{"post order"}) || m.s.Expiry != nil {
		t.Fatalf("postings %v expiry %v", got, m.s.Expiry)
	}
	m.advance(400 * day)
	m.status(order.Status(order.PhaseInService))
	m.refused(renewal("R-1", t0.Add(400*day)), order.ErrInvalidTransition)
}
