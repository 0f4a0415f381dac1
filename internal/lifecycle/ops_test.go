package lifecycle

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// Ops' case handling and attention with causes (RulesOps, issue 16), action by action.

// opsRules starts an order under RulesOps.
func opsRules(t *testing.T, typ order.ProductType, mode order.BillingMode, supervised bool) *machine {
	m := &machine{t: t, s: State{In: startInput(typ, mode, supervised), Rules: RulesOps}, now: t0}
	m.apply(Event{Kind: EvStart})
	return m
}

func opsEv(action order.OpsActionKind, f ...func(*order.OpsRequest)) Event {
	r := order.OpsRequest{Actor: opsA, Action: action, Reason: "the buyer called"}
	for _, fn := range f {
		fn(&r)
	}
	return Event{Kind: EvOps, Actor: r.Actor, Ops: r}
}

func refund(v int64) func(*order.OpsRequest) {
	return func(r *order.OpsRequest) { r.Refund = &order.Money{Value: v, Currency: "CNY"} }
}

// inService takes a supervised SaaS order into service (accepted by the buyer).
func opsInService(t *testing.T, mode order.BillingMode) *machine {
	m := opsRules(t, order.TypeSaaS, mode, true)
	m.provisioned()
	m.apply(Event{Kind: EvAccept, Actor: buyer})
	m.status(order.Status(order.PhaseInService))
	return m
}

func TestOpsRefusals(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) *machine
		ev    Event
		code  string
	}{
		{"not ops", func(t *testing.T) *machine { return opsInService(t, order.BillingMonthly) },
			func() Event { e := opsEv(order.OpsCancel); e.Actor = buyer; return e }(), order.ErrInvalidTransition},
		{"no reason", func(t *testing.T) *machine { return opsInService(t, order.BillingMonthly) },
			opsEv(order.OpsCancel, func(r *order.OpsRequest) { r.Reason = "" }), order.ErrInvalidTransition},
		{"unknown action", func(t *testing.T) *machine { return opsInService(t, order.BillingMonthly) },
			opsEv("delete"), order.ErrInvalidTransition},
		{"refund more than paid", func(t *testing.T) *machine { return opsInService(t, order.BillingMonthly) },
			opsEv(order.OpsCancel, refund(10001)), order.ErrInvalidTransition},
		{"refund in another currency", func(t *testing.T) *machine { return opsInService(t, order.BillingMonthly) },
			opsEv(order.OpsCancel, func(r *order.OpsRequest) { r.Refund = &order.Money{Value: 1, Currency: "USD"} }), order.ErrInvalidTransition},
		{"part refund before acceptance", func(t *testing.T) *machine { return opsRules(t, order.TypeService, order.BillingOneTime, true) },
			opsEv(order.OpsCancel, refund(100)), order.ErrInvalidTransition},
		{"force-accept before delivery started", func(t *testing.T) *machine { return opsRules(t, order.TypeSaaS, order.BillingMonthly, true) },
			opsEv(order.OpsForceAccept), order.ErrInvalidTransition},
		{"force-accept with an appeal open", func(t *testing.T) *machine {
			m := opsRules(t, order.TypeService, order.BillingOneTime, true)
			m.apply(Event{Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Actor: buyer, Reason: "late", Evidence: []order.Evidence{}}})
			return m
		}, opsEv(order.OpsForceAccept), order.ErrAppealOpen},
		{"unfreeze an order not held", func(t *testing.T) *machine { return opsInService(t, order.BillingMonthly) },
			opsEv(order.OpsUnfreeze), order.ErrInvalidTransition},
		{"refreeze an order not in service", func(t *testing.T) *machine { return opsRules(t, order.TypeSaaS, order.BillingMonthly, true) },
			opsEv(order.OpsRefreeze), order.ErrInvalidTransition},
		{"extend a billing clock", func(t *testing.T) *machine { return opsInService(t, order.BillingMonthly) },
			opsEv(order.OpsExtendClock, func(r *order.OpsRequest) { r.Clock, r.By = string(ClockExpire), time.Hour }), order.ErrInvalidTransition},
		{"extend a clock that is not there", func(t *testing.T) *machine { return opsInService(t, order.BillingMonthly) },
			opsEv(order.OpsExtendClock, func(r *order.OpsRequest) { r.Clock, r.By = string(ClockAutoAccept), time.Hour }), order.ErrInvalidTransition},
		{"extend by too much", func(t *testing.T) *machine { return opsRules(t, order.TypeService, order.BillingOneTime, true) },
			opsEv(order.OpsExtendClock, func(r *order.OpsRequest) { r.Clock, r.By = string(ClockFirstDelivery), 91*24*time.Hour }), order.ErrInvalidTransition},
		{"an order placed before 2026-12", func(t *testing.T) *machine { return newMachine(t, order.TypeService, true) },
			opsEv(order.OpsForceAccept), order.ErrInvalidTransition},
		{"a final order", func(t *testing.T) *machine {
			m := opsInService(t, order.BillingMonthly)
			m.apply(opsEv(order.OpsCancel))
			return m
		}, opsEv(order.OpsCancel), order.ErrInvalidTransition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.setup(t)
			m.refused(tt.ev, tt.code)
		})
	}
}

func TestOpsCancelInFull(t *testing.T) {
	m := opsInService(t, order.BillingMonthly)
	m.apply(opsEv(order.OpsCancel))
	m.status(order.Status(order.PhaseCancelled))
	m.lastSteps("ops_action", "refunded")
	if m.actors[len(m.actors)-2] != opsA {
		t.Fatalf("the ops_action line names %v, want the ops person", m.actors[len(m.actors)-2])
	}
	if !slices.Contains(m.calls, CallRelease) {
		t.Fatalf("calls %v: the seller must release the instance", m.calls)
	}
	if got := m.posted(); got[len(got)-1] != "refund order" {
		t.Fatalf("postings %v", got)
	}
}

func TestOpsCancelInPart(t *testing.T) {
	m := opsInService(t, order.BillingMonthly)
	m.apply(opsEv(order.OpsCancel, refund(4000)))
	m.status(order.Status(order.PhaseCancelled))
	if got := m.posted(); got[len(got)-1] != "refund_part unsubscribe cancel/order" {
		t.Fatalf("postings %v", got)
	}
	if m.s.Settlement.Refunded != 4000 || m.s.Settlement.Status != order.SettlementPending {
		t.Fatalf("settlement %+v: 4000 refunded, the rest still the seller's", m.s.Settlement)
	}
	if !m.s.Calls.Has(CallRelease) {
		t.Fatal("the seller must release the instance")
	}
}

func TestOpsForceAccept(t *testing.T) {
	m := opsRules(t, order.TypeService, order.BillingOneTime, true)
	m.apply(Event{Kind: EvDeliver, Actor: sellerA, Note: "done"})
	m.apply(opsEv(order.OpsForceAccept))
	m.status(order.Status(order.PhaseCompleted))
	m.lastSteps("ops_action", "accepted")
	if *m.s.AcceptedBy != opsA {
		t.Fatalf("accepted by %v", m.s.AcceptedBy)
	}
}

func TestOpsUnfreezeOverridesArrearsUntilTheCaseEnds(t *testing.T) {
	m := opsInService(t, order.BillingPayPerUse)
	freeze := Event{Kind: EvArrears, Actor: order.Actor{Kind: order.ActorTimer},
		Arrears: order.ArrearsSignal{Action: order.ArrearsFreeze, CaseID: "AR1", Actor: order.Actor{Kind: order.ActorTimer}}}
	m.apply(freeze)
	m.result(ok(CallFreeze, ""))
	m.status(order.Status("frozen"))
	out := m.apply(opsEv(order.OpsUnfreeze))
	m.status(order.Status(order.PhaseInService))
	if out.TellAccount == nil || out.TellAccount.Held || out.TellAccount.Actor != opsA {
		t.Fatalf("the account must be told of the override: %+v", out.TellAccount)
	}
	if !slices.Contains(out.Calls, CallUnfreeze) {
		t.Fatalf("calls %v: UNFREEZE at the seller", out.Calls)
	}
	if out := m.apply(freeze); out.Noop == "" {
		t.Fatal("a freeze of the same case must pass the overridden order by")
	}
	m.status(order.Status(order.PhaseInService))
	// Ops put it back: held again, the override ends, the account is told.
	out = m.apply(opsEv(order.OpsRefreeze))
	m.status(order.Status("frozen"))
	if out.TellAccount == nil || !out.TellAccount.Held {
		t.Fatalf("the account must be told: %+v", out.TellAccount)
	}
	if m.s.HoldOverride {
		t.Fatal("a re-freeze ends the override")
	}
}

func TestOpsExtendClock(t *testing.T) {
	t.Run("a running clock moves later", func(t *testing.T) {
		m := opsRules(t, order.TypeService, order.BillingOneTime, true)
		before, _ := m.s.Clocks.Get(ClockFirstDelivery)
		m.apply(opsEv(order.OpsExtendClock, func(r *order.OpsRequest) { r.Clock, r.By = string(ClockFirstDelivery), 48*time.Hour }))
		after, _ := m.s.Clocks.Get(ClockFirstDelivery)
		if got := after.At.Sub(before.At); got != 48*time.Hour {
			t.Fatalf("moved by %s", got)
		}
	})
	t.Run("a clock that ran out runs again and its flag clears", func(t *testing.T) {
		m := opsRules(t, order.TypeService, order.BillingOneTime, true)
		m.advance(m.s.In.Windows.FirstDeliverySLA + time.Second)
		if v := View(&m.s, m.now); !v.NeedsAttention || v.AttentionCause != CauseFirstDelivery || v.AttentionSince == nil {
			t.Fatalf("flag %q cause %q since %v", v.Attention, v.AttentionCause, v.AttentionSince)
		}
		m.apply(opsEv(order.OpsExtendClock, func(r *order.OpsRequest) { r.Clock, r.By = string(ClockFirstDelivery), 24*time.Hour }))
		if v := View(&m.s, m.now); v.NeedsAttention || !m.s.Clocks.Has(ClockFirstDelivery) {
			t.Fatalf("flag %q clocks %v", v.Attention, m.s.Clocks)
		}
		m.lastSteps("ops_action", "attention_cleared")
	})
}

func TestAttentionCauses(t *testing.T) {
	t.Run("a failed production is flagged, and a retry clears it", func(t *testing.T) {
		m := opsRules(t, order.TypeSaaS, order.BillingMonthly, true)
		m.result(CallResult{Call: CallNewInstance, Refused: true, ErrorType: "SellerRefused"})
		v := View(&m.s, m.now)
		if !v.NeedsAttention || v.AttentionCause != CauseProvisionFailed {
			t.Fatalf("provision_failed: flag %q cause %q", v.Attention, v.AttentionCause)
		}
		m.apply(Event{Kind: EvRetry, Actor: opsA})
		if View(&m.s, m.now).NeedsAttention {
			t.Fatal("the retry must clear the provision_failed flag")
		}
	})
	t.Run("a failed call shows its error text and clears when retried and done", func(t *testing.T) {
		m := opsInService(t, order.BillingPayPerUse)
		m.apply(Event{Kind: EvArrears, Actor: order.Actor{Kind: order.ActorTimer},
			Arrears: order.ArrearsSignal{Action: order.ArrearsFreeze, CaseID: "AR1", Actor: order.Actor{Kind: order.ActorTimer}}})
		text := "POST http://127.0.0.1:36067/instance: dial tcp 127.0.0.1:36067: connect: connection refused"
		m.result(CallResult{Call: CallFreeze, ErrorType: "SellerTransportError", ErrorText: text})
		v := View(&m.s, m.now)
		if v.AttentionCause != CauseSellerCall || !strings.Contains(v.LastError, text) || !strings.Contains(v.Attention, text) {
			t.Fatalf("cause %q lastError %q attention %q", v.AttentionCause, v.LastError, v.Attention)
		}
		if it := v.AttentionItems[len(v.AttentionItems)-1]; it.Call != string(CallFreeze) || it.Since == nil {
			t.Fatalf("item %+v", it)
		}
	})
	t.Run("a call failing on our side is flagged after its window, and cleared when it succeeds", func(t *testing.T) {
		m := opsInService(t, order.BillingPayPerUse)
		m.apply(Event{Kind: EvArrears, Actor: order.Actor{Kind: order.ActorTimer},
			Arrears: order.ArrearsSignal{Action: order.ArrearsFreeze, CaseID: "AR1", Actor: order.Actor{Kind: order.ActorTimer}}})
		if !m.s.Clocks.Has(ClockOurSide) {
			t.Fatalf("clocks %v: the freeze's our-side clock must run", m.s.Clocks)
		}
		m.advance(ourSideAfter(m.s.In.Windows, CallFreeze) + time.Second)
		v := View(&m.s, m.now)
		if v.AttentionCause != CauseOurSide {
			t.Fatalf("cause %q (%q)", v.AttentionCause, v.Attention)
		}
		m.result(ok(CallFreeze, ""))
		if View(&m.s, m.now).NeedsAttention || m.s.Clocks.Has(ClockOurSide) {
			t.Fatalf("flag %q clocks %v", m.s.Attention, m.s.Clocks)
		}
		m.lastSteps("attention_cleared")
	})
	t.Run("a cancelled order's failed release is a failed clean-up", func(t *testing.T) {
		m := opsInService(t, order.BillingMonthly)
		m.apply(opsEv(order.OpsCancel))
		m.result(CallResult{Call: CallRelease, ErrorType: "WindowExhausted"})
		if v := View(&m.s, m.now); v.AttentionCause != CauseCleanupFailed {
			t.Fatalf("cause %q", v.AttentionCause)
		}
	})
}

func TestOpsAppealOnBehalf(t *testing.T) {
	appeal := func(onBehalf *order.Actor) Event {
		return Event{Kind: EvAppeal, Actor: opsA, Appeal: order.AppealRequest{Actor: opsA, Reason: "the buyer phoned",
			Evidence: []order.Evidence{}, OnBehalfOf: onBehalf}}
	}
	m := opsRules(t, order.TypeService, order.BillingOneTime, true)
	m.refused(appeal(nil), order.ErrInvalidTransition)
	m.refused(appeal(&other), order.ErrInvalidTransition)
	m.apply(appeal(&buyer))
	if m.s.Appeal.RaisedBy != buyer || m.actors[len(m.actors)-1] != opsA {
		t.Fatalf("raised by %v, audit line by %v: the appeal is the buyer's, the line names ops", m.s.Appeal.RaisedBy, m.actors[len(m.actors)-1])
	}
	// Ops close it with a note: the order goes on where it was.
	m.apply(Event{Kind: EvResolve, Actor: opsA, Resolution: order.AppealResolution{Actor: opsA, AppealID: m.s.Appeal.AppealID,
		Outcome: order.OutcomeContinue, Note: "resolved by phone"}})
	m.status(order.Status(order.PhaseDelivering))
}

func TestRetryOfAStuckCall(t *testing.T) {
	m := opsInService(t, order.BillingPayPerUse)
	m.refused(Event{Kind: EvRetry, Actor: opsA}, order.ErrInvalidTransition)
	m.apply(Event{Kind: EvArrears, Actor: order.Actor{Kind: order.ActorTimer},
		Arrears: order.ArrearsSignal{Action: order.ArrearsFreeze, CaseID: "AR1", Actor: order.Actor{Kind: order.ActorTimer}}})
	m.refused(Event{Kind: EvRetry, Actor: opsA}, order.ErrInvalidTransition) // running, not stuck yet
	m.advance(ourSideAfter(m.s.In.Windows, CallFreeze) + time.Second)
	out := m.apply(Event{Kind: EvRetry, Actor: opsA})
	if !slices.Equal(out.Restart, []CallKind{CallFreeze}) || !slices.Equal(out.Calls, []CallKind{CallFreeze}) {
		t.Fatalf("restart %v calls %v: the stuck FREEZE is sent afresh", out.Restart, out.Calls)
	}
	if View(&m.s, m.now).NeedsAttention || !m.s.Clocks.Has(ClockOurSide) {
		t.Fatalf("flag %q clocks %v: the flag clears, the clock starts again", m.s.Attention, m.s.Clocks)
	}
}

// TestDetailsSayTheCause: the Temporal UI's current details of a flagged order name the
// cause, since when, and where the list of its kind is.
func TestDetailsSayTheCause(t *testing.T) {
	m := opsRules(t, order.TypeService, order.BillingOneTime, true)
	m.advance(m.s.In.Windows.FirstDeliverySLA + time.Second)
	d := Details(&m.s, View(&m.s, m.now))
	if !strings.Contains(d, "Cause `first_delivery_sla` since ") || !strings.Contains(d, "GET /v1/attention?cause=first_delivery_sla") {
		t.Fatalf("details:\n%s", d)
	}
}
