package lifecycle

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// Ops' case handling (issue 16): the actions an ops person takes on an order by hand, each
// with a reason, each leaving an ops_action audit line that names the person before what it
// does. Appeals opened on a party's behalf and closed by ops go through the appeal events.

// HoldOps is a hold ops put on the order by hand (re-freeze): it lasts until ops lift it.
const HoldOps HoldReason = "ops"

// extendable are the clocks ops may move: supervision and appeal clocks. Billing's clocks
// (expiry, grace, retention) are billing's and the account's to move.
func extendable(n ClockName) bool {
	_, known := clockInfo[n]
	return known && (n.Tag() == TagSupervision || n.Tag() == TagAppeal)
}

func checkOps(s *State, ev Event) error {
	r := ev.Ops
	if err := actorIs(ev.Actor, order.ActorOps); err != nil {
		return err
	}
	if !slices.Contains(order.OpsActionKinds, r.Action) {
		return invalid("unknown ops action %q", r.Action)
	}
	if err := checkText("reason", r.Reason, 1, 2000); err != nil {
		return err
	}
	if !s.rules(RulesSeams) {
		return invalid("the order was placed under the rules before 2026-12: act through an appeal")
	}
	if s.Phase.Final() {
		return invalid("the order is %s", s.Status())
	}
	switch r.Action {
	case order.OpsCancel:
		if r.Refund == nil {
			return nil
		}
		if r.Refund.Currency != s.In.Amount.Currency || r.Refund.Value < 0 {
			return invalid("a refund must be in %s and not negative", s.In.Amount.Currency)
		}
		if paid := s.refundable(); r.Refund.Value > paid {
			return invalid("a refund of %d is more than the %d paid and not refunded", r.Refund.Value, paid)
		}
		if r.Refund.Value < s.refundable() && s.AcceptedBy == nil {
			// Nothing is paid to a seller before acceptance: what the buyer is not refunded
			// would have to be. Force-accept first to pay the seller its part.
			return invalid("an order not accepted yet is refunded in full: force-accept it first to pay the seller a part")
		}
	case order.OpsForceAccept:
		if s.AppealOpen() {
			return refuse(order.ErrAppealOpen, "appeal %s is open: resolve it with outcome accept", s.Appeal.AppealID)
		}
		if !slices.Contains(deliveryStarted, s.Phase) {
			return invalid("an order that is %s cannot be accepted: delivery has not started", s.Phase)
		}
	case order.OpsUnfreeze:
		if len(s.Holds) == 0 {
			return invalid("the order is not held")
		}
	case order.OpsRefreeze:
		if s.Phase != order.PhaseInService {
			return invalid("only an order in service can be frozen; it is %s", s.Status())
		}
		if slices.Contains(s.Holds, HoldOps) {
			return invalid("the order is held by ops already")
		}
		if s.Calls.Has(CallRelease) {
			return invalid("the order is being released")
		}
	case order.OpsExtendClock:
		n := ClockName(r.Clock)
		if !extendable(n) {
			return invalid("clock %q cannot be extended: only supervision and appeal clocks can", r.Clock)
		}
		if r.By <= 0 || r.By > order.MaxClockExtension {
			return invalid("an extension must be more than 0 and at most %s", order.MaxClockExtension)
		}
		if !s.Clocks.Has(n) && !s.flagged(string(n)) {
			return invalid("clock %s neither runs nor ran out on this order", n)
		}
		if (n == ClockEscalate || n == ClockLastTier) && !s.AppealOpen() {
			return invalid("no appeal is open")
		}
	}
	return nil
}

// refundable is what the buyer paid for the order and its renewals and was not refunded: a
// line never made due counts at the order's amount.
func (s *State) refundable() int64 {
	var total int64
	for _, l := range s.lines() {
		switch {
		case l.st.Status == order.SettlementRefunded:
		case l.kind == order.LineOrder && l.st.Status == order.SettlementNotDue && l.st.Gross == 0:
			total += s.In.Amount.Value
		default:
			total += l.st.Gross - l.st.Refunded
		}
	}
	return total
}

// flagged reports whether a cause stands among the order's flags.
func (s *State) flagged(cause string) bool {
	return slices.ContainsFunc(s.Flags, func(f Flag) bool { return f.Cause == cause })
}

// opsAction records ops' action (who, what, why) and carries it out.
func (s *State) opsAction(ev Event, o *Outcome) {
	r := ev.Ops
	detail := map[string]string{"action": string(r.Action), "reason": r.Reason}
	switch r.Action {
	case order.OpsCancel:
		if r.Refund != nil {
			detail["refund"] = strconv.FormatInt(r.Refund.Value, 10)
		}
	case order.OpsExtendClock:
		detail["clock"], detail["by"] = r.Clock, order.FormatDuration(r.By)
	}
	s.record(o, order.StepOpsAction, ev.Actor, detail, nil)
	switch r.Action {
	case order.OpsCancel:
		s.opsCancel(ev, o)
	case order.OpsForceAccept:
		s.accept(ev, o, ev.Actor)
	case order.OpsUnfreeze:
		s.opsUnfreeze(ev, o)
	case order.OpsRefreeze:
		s.opsRefreeze(ev, o)
	case order.OpsExtendClock:
		s.extendClock(ev, o)
	}
}

// opsCancel cancels the order. In full: as an appeal's refund (every line and the usage).
// In part (an accepted order): the refund comes off the latest lines, as an unsubscription's
// does, the rest stays the seller's; the seller releases what it made either way.
func (s *State) opsCancel(ev Event, o *Outcome) {
	r := ev.Ops
	if r.Refund == nil || r.Refund.Value >= s.refundable() {
		s.refund(ev, o, ev.Actor, "ops_cancel")
		return
	}
	detail := map[string]string{"reason": "ops_cancel", "refund": strconv.FormatInt(r.Refund.Value, 10), "part": "true"}
	s.record(o, order.StepRefunded, ev.Actor, detail, func() {
		s.cancelled(ev.At)
		if r.Refund.Value > 0 {
			s.refundPart(o, "cancel", r.Refund.Value) // an order is cancelled once
		}
		s.cleanUp(o)
	})
}

// opsUnfreeze lifts every hold. An arrears hold lifted this way is overridden: the account's
// freezes of the case pass the order by until the case ends or ops re-freeze. An expiry
// hold lifted leaves the release at the end of the retention as it was: the buyer has the
// service back until billing renews or the retention ends.
func (s *State) opsUnfreeze(ev Event, o *Outcome) {
	arrears := slices.Contains(s.Holds, HoldArrears)
	reasons := make([]string, 0, len(s.Holds))
	for _, h := range s.Holds {
		reasons = append(reasons, string(h))
	}
	s.record(o, order.StepUnfrozen, ev.Actor, map[string]string{"reason": string(HoldOps), "lifted": strings.Join(reasons, ",")}, func() {
		s.Holds = nil
		s.HoldOverride = s.HoldOverride || arrears
	})
	if arrears && s.In.BillingMode == order.BillingPayPerUse {
		o.TellAccount = &order.HoldOverride{OrderID: s.In.OrderID, Held: false, Actor: ev.Actor, Reason: ev.Ops.Reason}
	}
}

// opsRefreeze holds the order by ops' hand until ops lift it, and ends an override.
func (s *State) opsRefreeze(ev Event, o *Outcome) {
	overridden := s.HoldOverride
	s.record(o, order.StepFrozen, ev.Actor, map[string]string{"reason": string(HoldOps)}, func() {
		s.Holds = appendOnce(s.Holds, HoldOps)
		s.HoldOverride = false
	})
	if overridden {
		o.TellAccount = &order.HoldOverride{OrderID: s.In.OrderID, Held: true, Actor: ev.Actor, Reason: ev.Ops.Reason}
	}
}

// extendClock moves a clock later. A paused clock keeps more time left; a clock that ran
// out and flagged the order runs again for By from now, and its flag clears.
func (s *State) extendClock(ev Event, o *Outcome) {
	n, by := ClockName(ev.Ops.Clock), scaledDuration(s.In, ev.Ops.By)
	if s.Clocks.Extend(n, by) {
		return
	}
	s.record(o, order.StepAttentionCleared, ev.Actor, map[string]string{"cause": string(n), "clock": string(n)}, func() {
		s.Clocks.Set(n, ev.At.Add(by))
		s.clearFlags(func(cause string) bool { return cause == string(n) })
	})
}

// scaledDuration is d on the workflow's clock (the policy's time scale).
func scaledDuration(in order.StartInput, d time.Duration) time.Duration {
	if in.Windows.TimeScale > 0 && in.Windows.TimeScale != 1 {
		return max(time.Duration(float64(d)/in.Windows.TimeScale), time.Millisecond)
	}
	return d
}
