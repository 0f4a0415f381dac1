package lifecycle

import (
	"slices"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// Billing's part of the order (order-states.md, sections 2 and 5): renewals and
// unsubscription of subscriptions, the arrears hold of pay-per-use orders, what the seller
// is told of holds and expiry, and the money each of these moves. Billing events are not
// supervision: an open appeal neither refuses nor pauses them.

// HoldReason is why the service is held (frozen at the seller).
type HoldReason string

// Hold reasons.
const (
	HoldExpiry  HoldReason = "expiry"
	HoldArrears HoldReason = "arrears"
)

// What a level lookup is for.
const (
	levelForGrace     = "grace"
	levelForRetention = "retention"
)

func checkRenewal(s *State, ev Event) error {
	if err := actorIs(ev.Actor, order.ActorBilling); err != nil {
		return err
	}
	if !s.In.BillingMode.Periodic() {
		return invalid("a %s order does not renew", s.In.BillingMode)
	}
	if s.trial() {
		return invalid("a trial is converted (POST /v1/orders/%s/conversion), not renewed", s.In.OrderID)
	}
	if s.Unsubscription != nil || s.Calls.Has(CallRelease) {
		return invalid("the order is being released: it can no longer be renewed")
	}
	r := ev.Renewal
	if r.RenewalOrderID == "" {
		return invalid("a renewal needs the renewal order's ID")
	}
	if c := r.Change; c != nil && (c.ProductID == "" || c.SKUCode == "" || c.Quantity < 1 || !s.hasInstance() || s.InstanceID == "") {
		return invalid("a renewal with a change names the target product, SKU and a quantity of at least 1, for an order with an instance")
	}
	if r.Amount != nil && (r.Amount.Value < 0 || r.Amount.Currency != s.In.Amount.Currency) {
		return invalid("a renewal's amount must be in %s and not negative", s.In.Amount.Currency)
	}
	for _, x := range s.Renewals {
		if x.RenewalOrderID == r.RenewalOrderID {
			if x.ExpireTime.Equal(r.ExpireTime) {
				return nil // a repeat: nothing happens twice
			}
			return invalid("renewal %s was applied already, with expireTime %s", x.RenewalOrderID, x.ExpireTime.Format(time.RFC3339))
		}
	}
	if cur := s.currentExpire(); cur != nil && !r.ExpireTime.After(*cur) {
		return invalid("expireTime %s does not move the expiry (%s) forward: a renewal counts from the previous expiry",
			r.ExpireTime.UTC().Format(time.RFC3339), cur.UTC().Format(time.RFC3339))
	}
	return nil
}

// moveExpiry sets the subscription's expiry (billing's time) and, in service, restarts the
// billing clocks from it; a level lookup for the old expiry's grace or retention no longer
// applies. Renewals, conversions and withdrawals move it.
func (s *State) moveExpiry(exp time.Time) {
	s.ExpireTime = &exp
	s.Expiry = scaledAt(s.In, exp)
	if s.Phase == order.PhaseInService {
		s.Clocks.Stop(ClockExpire, ClockFreeze, ClockRelease)
		s.Clocks.Set(ClockExpire, *s.Expiry)
	}
	s.LevelFor = ""
}

// renew moves the expiry: the expiry hold goes (UNFREEZE if the seller froze the order),
// the billing clocks restart from the new expiry, the seller is told (refreshInstance), and
// the renewal's own settlement line is due.
func (s *State) renew(ev Event, o *Outcome) {
	r := ev.Renewal
	for _, x := range s.Renewals {
		if x.RenewalOrderID == r.RenewalOrderID {
			o.Noop = "renewal applied already"
			return
		}
	}
	amount := s.In.Amount
	if s.ConvertedBy != "" {
		amount = s.formalAmount() // a converted trial renews at what its formal order was paid
	}
	if r.Amount != nil {
		amount = *r.Amount
	}
	exp := r.ExpireTime.UTC()
	line := order.Renewal{RenewalOrderID: r.RenewalOrderID, RenewalOrderLineID: r.RenewalOrderLineID, ExpireTime: exp, At: ev.At,
		Settlement: s.split(amount)}
	if prev := s.currentExpire(); prev != nil && s.rules(RulesOps) {
		p := prev.UTC()
		line.PreviousExpire = &p // what taking it back restores
	}
	if r.Change != nil {
		line.Scene, line.Change = order.RefreshSceneChange, r.Change
	}
	s.record(o, order.StepRenewed, ev.Actor, map[string]string{"renewalOrderId": r.RenewalOrderID, "expireTime": exp.Format(time.RFC3339)}, func() {
		s.moveExpiry(exp)
		s.Holds = slices.DeleteFunc(s.Holds, func(h HoldReason) bool { return h == HoldExpiry })
		line.Settlement.Status = s.due(o, order.LineRenewal, r.RenewalOrderID, line.Settlement)
		s.Renewals = append(s.Renewals, line)
		if s.hasInstance() {
			s.Refresh = &line
		}
	})
}

func checkUnsubscribe(s *State, ev Event) error {
	if err := actorIs(ev.Actor, order.ActorBilling); err != nil {
		return err
	}
	if !s.In.BillingMode.Subscribed() {
		return invalid("a %s order has no subscription to end", s.In.BillingMode)
	}
	u := ev.Unsubscribe
	if s.Unsubscription != nil {
		if s.Unsubscription.UnsubscribeOrderID == u.UnsubscribeOrderID {
			return nil // a repeat
		}
		return invalid("the order was unsubscribed already")
	}
	if s.Phase != order.PhaseInService {
		return invalid("only an order in service can be unsubscribed; it is %s", s.Status())
	}
	if s.Calls.Has(CallRelease) {
		return invalid("the order is being released already")
	}
	if err := checkText("reason", u.Reason, 1, 2000); err != nil {
		return err
	}
	if u.Refund != nil {
		if u.Refund.Currency != s.In.Amount.Currency || u.Refund.Value < 0 {
			return invalid("a refund must be in %s and not negative", s.In.Amount.Currency)
		}
		if paid := s.paid(); u.Refund.Value > paid {
			return invalid("a refund of %d is more than the %d paid for the order and its renewals", u.Refund.Value, paid)
		}
	}
	return nil
}

// unsubscribe ends the subscription now: the billing clocks stop, the refund billing
// reports is recorded (its own settlement line, reversing lines), and the seller releases
// the instance (naming the unsubscribe order).
func (s *State) unsubscribe(ev Event, o *Outcome) {
	if s.Unsubscription != nil {
		o.Noop = "unsubscribed already"
		return
	}
	u := ev.Unsubscribe
	var refund order.Money
	if u.Refund != nil {
		refund = *u.Refund
	}
	detail := map[string]string{"reason": u.Reason, "unsubscribeOrderId": u.UnsubscribeOrderID}
	s.record(o, order.StepUnsubscribed, ev.Actor, detail, func() {
		s.Unsubscription = &order.Unsubscription{UnsubscribeOrderID: u.UnsubscribeOrderID, UnsubscribeOrderLineID: u.UnsubscribeOrderLineID,
			Reason: u.Reason, At: ev.At, Refund: s.split(refund)}
		s.Clocks.Stop(ClockExpire, ClockFreeze, ClockRelease)
		s.LevelFor = ""
		if refund.Value > 0 {
			s.Unsubscription.Refund.Status = order.SettlementRefunded
			key := u.UnsubscribeOrderID
			if key == "" {
				key = "unsubscribe"
			}
			if s.rules(RulesSeams) {
				s.refundPart(o, key, refund.Value)
			} else {
				o.Postings = append(o.Postings, s.posting(order.LineUnsubscribe, key, order.PostingRefundPart, s.Unsubscription.Refund))
			}
		}
	})
	s.release(ev, o, ev.Actor, "unsubscribed")
}

func checkArrears(s *State, ev Event) error {
	if err := actorIs(ev.Actor, order.ActorBilling, order.ActorTimer, order.ActorSystem); err != nil {
		return err
	}
	if s.In.BillingMode != order.BillingPayPerUse {
		return invalid("arrears hold only pay-per-use orders")
	}
	switch ev.Arrears.Action {
	case order.ArrearsFreeze, order.ArrearsRelease:
		// RulesSeams: every order of the customer, whatever its phase (one not in service
		// is held until it enters service, frozen at once; released, it is cancelled).
		if s.Phase != order.PhaseInService && !s.rules(RulesSeams) {
			return invalid("only an order in service is held for arrears; it is %s", s.Status())
		}
	case order.ArrearsUnfreeze:
	default:
		return invalid("unknown arrears action %q", ev.Arrears.Action)
	}
	return nil
}

// arrears applies the account workflow's word: hold the order, drop the hold, or release it
// at the end of the retention period. A repeat changes nothing.
func (s *State) arrears(ev Event, o *Outcome) {
	a := ev.Arrears
	held := slices.Contains(s.Holds, HoldArrears)
	detail := map[string]string{"reason": string(HoldArrears), "caseId": a.CaseID}
	switch a.Action {
	case order.ArrearsFreeze:
		if held {
			o.Noop = "held for arrears already"
			return
		}
		if s.HoldOverride {
			o.Noop = "ops lifted the arrears hold by hand"
			return
		}
		s.record(o, order.StepFrozen, ev.Actor, detail, func() { s.Holds = append(s.Holds, HoldArrears) })
	case order.ArrearsUnfreeze:
		if !held {
			if s.HoldOverride {
				s.HoldOverride = false // the case ended: a new one holds the order again
			}
			o.Noop = "not held for arrears"
			return
		}
		s.record(o, order.StepUnfrozen, ev.Actor, detail, func() {
			s.Holds = slices.DeleteFunc(s.Holds, func(h HoldReason) bool { return h == HoldArrears })
			s.HoldOverride = false
		})
	case order.ArrearsRelease:
		if s.Calls.Has(CallRelease) || (s.ReleaseBy != nil && s.Calls.Has(CallRecover)) {
			o.Noop = "being released already"
			return
		}
		if s.Phase != order.PhaseInService && s.rules(RulesSeams) {
			// Not in service yet: it never will be. Cancelled and refunded; the seller
			// releases whatever it made.
			s.refund(ev, o, ev.Actor, "arrears")
			return
		}
		s.release(ev, o, ev.Actor, string(HoldArrears))
	}
}

// release ends the order's service: the seller releases the instance (the released step
// follows its answer), or, without one, the order is released at once.
func (s *State) release(ev Event, o *Outcome, by order.Actor, reason string) {
	if s.Calls.Has(CallRelease) || s.Phase.Final() {
		return
	}
	s.Clocks.Stop(ClockExpire, ClockFreeze, ClockRelease)
	s.ReleaseBy, s.ReleaseReason = &by, reason
	if s.hasInstance() && s.atSeller() {
		s.startCall(o, CallRelease)
		return
	}
	if s.hasInstance() && s.ProvisionUncertain && s.rules(RulesSeams) {
		// The seller may have made an instance we never learnt of: find it, release it.
		s.startCall(o, CallRecover)
		return
	}
	s.released(ev, o)
}

// released records the end of the service.
func (s *State) released(ev Event, o *Outcome) {
	by := timer
	if s.ReleaseBy != nil {
		by = *s.ReleaseBy
	}
	s.record(o, order.StepReleased, by, map[string]string{"reason": s.ReleaseReason}, func() {
		s.serviceEnded(ev.At)
		s.Phase, s.Holds = order.PhaseReleased, nil
		s.stopClocksButAppeal()
	})
}

// expired starts the grace of the customer's level (read now: the lookup's answer sets
// the freeze clock).
func (s *State) expired(o *Outcome) {
	if s.trial() {
		// A trial has no grace: frozen at once, released after the level's retention.
		s.record(o, order.StepExpired, timer, map[string]string{"trial": "true"}, nil)
		s.lookUpLevel(o, levelForRetention)
		return
	}
	s.lookUpLevel(o, levelForGrace)
}

// graceOver reads the level's retention (it starts now), then freezes.
func (s *State) graceOver(o *Outcome) {
	s.lookUpLevel(o, levelForRetention)
}

func (s *State) lookUpLevel(o *Outcome, what string) {
	s.LevelFor = what
	if !s.Calls.Running(CallLevel) {
		s.Calls.Start(CallLevel)
		o.LevelLookup = true
	}
}

// levelRead applies a level lookup, unless a renewal or an unsubscription made it moot.
func (s *State) levelRead(ev Event, o *Outcome) {
	r := ev.Result
	what := s.LevelFor
	s.LevelFor = ""
	if s.Phase != order.PhaseInService || s.Unsubscription != nil {
		return
	}
	switch what {
	case levelForGrace:
		s.Grace = r.Grace
		s.record(o, order.StepExpired, timer, map[string]string{"grace": order.FormatDuration(r.Grace)}, func() {
			s.Clocks.Set(ClockFreeze, ev.At.Add(r.Grace))
		})
	case levelForRetention:
		s.Retention = r.Retention
		s.record(o, order.StepFrozen, timer, map[string]string{"reason": string(HoldExpiry), "retention": order.FormatDuration(r.Retention)}, func() {
			s.Holds = appendOnce(s.Holds, HoldExpiry)
			s.Clocks.Set(ClockRelease, ev.At.Add(r.Retention))
		})
	}
}

// reconcileSeller makes what the seller was told match the order: FREEZE while a hold
// remains, UNFREEZE once none does, and the latest renewal's expiry. One call of each kind
// at a time; the next follows the answer of the last, so a payment that races a freeze
// ends with the order unfrozen.
func (s *State) reconcileSeller(o *Outcome) {
	if !s.hasInstance() || !s.atSeller() || s.Phase.Final() || s.Calls.Has(CallRelease) ||
		s.Calls.Running(CallNewInstance) || s.Calls.Running(CallQuery) || s.Calls.Running(CallRecover) {
		return
	}
	want := s.frozen() // RulesSeams: held orders are frozen at the seller once in service
	if !s.Calls.Running(CallFreeze) && !s.Calls.Running(CallUnfreeze) {
		// A failed call the order no longer wants is dropped; the other one is sent
		// instead (both are idempotent at the seller, so an uncertain state is safe).
		if want && slices.Contains(s.Calls.Failed(), CallUnfreeze) {
			s.Calls.Finish(CallUnfreeze)
			s.SellerFrozen = false
			s.attentionCleared(o, CallUnfreeze)
		}
		if !want && slices.Contains(s.Calls.Failed(), CallFreeze) {
			s.Calls.Finish(CallFreeze)
			s.SellerFrozen = true
			s.attentionCleared(o, CallFreeze)
		}
		switch {
		case want && !s.SellerFrozen && !s.Calls.Has(CallFreeze):
			s.startCall(o, CallFreeze)
		case !want && s.SellerFrozen && !s.Calls.Has(CallUnfreeze):
			s.startCall(o, CallUnfreeze)
		}
	}
	if s.Refresh != nil && !s.Calls.Has(CallRefresh) {
		s.startCall(o, CallRefresh)
	}
}

// sellerCallDone applies the answer of a freeze, unfreeze or refresh.
func (s *State) sellerCallDone(o *Outcome, r CallResult) {
	if !r.OK {
		if s.Phase.Final() || s.Calls.Has(CallRelease) {
			// The instance is being or has been released: a FREEZE, UNFREEZE or refresh
			// that failed meanwhile (typically 000003, the release got there first while
			// this call waited for its turn at the seller) no longer matters, and must not
			// keep a released order's workflow open, flagged for ops.
			return
		}
		s.callFailed(o, r)
		return
	}
	switch r.Call {
	case CallFreeze:
		s.SellerFrozen = true
	case CallUnfreeze:
		s.SellerFrozen = false
	case CallRefresh:
		if s.Refresh != nil && s.Refresh.RenewalOrderID == s.RefreshSent {
			s.Refresh = nil
		}
	}
	s.attentionCleared(o, r.Call)
}

// split is the settlement of an amount at the order's commission rate.
func (s *State) split(m order.Money) order.Settlement {
	commission, net, _ := order.Split(m.Value, s.In.CommissionBps)
	return order.Settlement{Status: order.SettlementPending, Currency: m.Currency, Gross: m.Value, Commission: commission, Net: net}
}

// due makes a settlement line due: posted at once, or blocked while an appeal is open
// (posted when it is resolved). It returns the line's status.
func (s *State) due(o *Outcome, kind order.LineKind, key string, st order.Settlement) order.SettlementStatus {
	if s.AcceptedBy == nil && s.rules(RulesSeams) {
		// Not accepted yet (a renewal before acceptance): payable at acceptance.
		o.Postings = append(o.Postings, s.posting(kind, key, order.PostingBlock, st))
		return order.SettlementNotDue
	}
	if s.AppealOpen() {
		o.Postings = append(o.Postings, s.posting(kind, key, order.PostingBlock, st))
		return order.SettlementBlocked
	}
	o.Postings = append(o.Postings, s.posting(kind, key, order.PostingPost, st))
	return order.SettlementPending
}

// unblock posts the lines an appeal held back.
func (s *State) unblock(o *Outcome) {
	if s.rules(RulesSeams) {
		s.postLines(o, order.SettlementBlocked)
		return
	}
	if s.Settlement.Status == order.SettlementBlocked {
		s.Settlement.Status = order.SettlementPending
		o.Postings = append(o.Postings, s.posting(order.LineOrder, "", order.PostingPost, s.Settlement))
	}
	for i := range s.Renewals {
		if r := &s.Renewals[i]; r.Settlement.Status == order.SettlementBlocked {
			r.Settlement.Status = order.SettlementPending
			o.Postings = append(o.Postings, s.posting(order.LineRenewal, r.RenewalOrderID, order.PostingPost, r.Settlement))
		}
	}
}

// refundAll refunds every line of the order: its own and its renewals' (RulesSeams: what is
// left of each, and its usage).
func (s *State) refundAll(o *Outcome) {
	if s.rules(RulesSeams) {
		s.refundLines(o)
		return
	}
	s.Settlement.Status = order.SettlementRefunded
	if s.Settlement.Gross == 0 {
		s.Settlement.Gross = s.In.Amount.Value
	}
	o.Postings = append(o.Postings, s.posting(order.LineOrder, "", order.PostingRefund, s.Settlement))
	for i := range s.Renewals {
		if r := &s.Renewals[i]; r.Settlement.Status != order.SettlementRefunded {
			r.Settlement.Status = order.SettlementRefunded
			o.Postings = append(o.Postings, s.posting(order.LineRenewal, r.RenewalOrderID, order.PostingRefund, r.Settlement))
		}
	}
}

func (s *State) posting(kind order.LineKind, key string, action order.PostingAction, st order.Settlement) order.Posting {
	return order.Posting{Kind: kind, Key: key, Action: action, Currency: st.Currency,
		Gross: st.Gross, Commission: st.Commission, Net: st.Net, CommissionBps: s.In.CommissionBps}
}

// paid is what the order and its renewals were paid, less what was refunded.
func (s *State) paid() int64 {
	if s.rules(RulesSeams) {
		var total int64
		for _, l := range s.lines() {
			if l.st.Status != order.SettlementRefunded {
				total += l.st.Gross - l.st.Refunded
			}
		}
		return total
	}
	var total int64
	if s.Settlement.Status != order.SettlementRefunded {
		total += s.Settlement.Gross
	}
	for _, r := range s.Renewals {
		if r.Settlement.Status != order.SettlementRefunded {
			total += r.Settlement.Gross
		}
	}
	return total
}

// currentExpire is the subscription's expireTime as billing last set it.
func (s *State) currentExpire() *time.Time {
	if s.ExpireTime != nil {
		return s.ExpireTime
	}
	return s.In.ExpireTime
}

// stopClocksButAppeal stops every clock of an order that has ended; an open appeal's clocks
// run on (RulesSeams: the appeal outlives the order's end, and ops still owe it a decision).
func (s *State) stopClocksButAppeal() {
	if s.rules(RulesSeams) {
		s.Clocks.KeepTag(TagAppeal)
		return
	}
	s.Clocks = nil
}

// line is one settlement line of the order the machine keeps: its own, or a renewal's.
type line struct {
	kind order.LineKind
	key  string
	st   *order.Settlement
}

// lines are the order's settlement lines, newest first (the renewals, latest first, then
// the order's own): the order in which a part refund takes from them.
func (s *State) lines() []line {
	out := make([]line, 0, len(s.Renewals)+len(s.Changes)+1)
	for i := len(s.Changes) - 1; i >= 0; i-- {
		if c := &s.Changes[i]; c.State == order.ChangeApplied {
			out = append(out, line{order.LineChange, c.ChangeOrderID, &c.Settlement})
		}
	}
	for i := len(s.Renewals) - 1; i >= 0; i-- {
		r := &s.Renewals[i]
		out = append(out, line{order.LineRenewal, r.RenewalOrderID, &r.Settlement})
	}
	return append(out, line{order.LineOrder, "", &s.Settlement})
}

// left is what is left of a line after the part refunded from it, split afresh.
func (s *State) left(st *order.Settlement) order.Settlement {
	l := s.split(order.Money{Value: st.Gross - st.Refunded, Currency: st.Currency})
	l.Status, l.Refunded = st.Status, st.Refunded
	return l
}

// postLines posts every line in status from (blocked, not_due) at what is left of it: due
// now (posted, or blocked while an appeal is open).
func (s *State) postLines(o *Outcome, from order.SettlementStatus) {
	for _, l := range slices.Backward(s.lines()) {
		if l.st.Status != from || (l.kind == order.LineOrder && s.In.OrderType == order.OrderTypeTrial) {
			continue // (a trial's own line is never due)
		}
		l.st.Status = s.due(o, l.kind, l.key, s.left(l.st))
	}
}

// payableAtAcceptance makes the lines that waited for the acceptance (renewals paid before
// it) due.
func (s *State) payableAtAcceptance(o *Outcome) {
	s.postLines(o, order.SettlementNotDue)
}

// refundPart refunds amount of what was paid, latest lines first: from a posted line with
// reversing lines (a row of its own, kind unsubscribe); from a line not posted yet (not
// due, blocked) by making it smaller, recorded as a refunded row without lines. Never more
// than a line has left, so the seller is never clawed back what it was not paid.
func (s *State) refundPart(o *Outcome, key string, amount int64) {
	for _, l := range s.lines() {
		if amount <= 0 {
			return
		}
		if l.st.Status == order.SettlementRefunded || l.st.Gross-l.st.Refunded <= 0 {
			continue
		}
		part := min(amount, l.st.Gross-l.st.Refunded)
		before, after := s.left(l.st), s.split(order.Money{Value: l.st.Gross - l.st.Refunded - part, Currency: l.st.Currency})
		share := order.Settlement{Currency: l.st.Currency, Gross: part, Commission: before.Commission - after.Commission, Net: before.Net - after.Net}
		rowKey := key + "/" + string(l.kind)
		if l.key != "" {
			rowKey += "/" + l.key
		}
		action := order.PostingRefund // not posted: a record, no reversing lines
		if l.st.Status == order.SettlementPending {
			action = order.PostingRefundPart
		}
		o.Postings = append(o.Postings, s.posting(order.LineUnsubscribe, rowKey, action, share))
		l.st.Refunded += part
		if l.st.Refunded == l.st.Gross {
			l.st.Status = order.SettlementRefunded
		}
		amount -= part
	}
}

// refundLines refunds what is left of every line, and the order's usage: the buyer gets
// back everything it paid, the seller's payout is reversed (the next statement claws it
// back).
func (s *State) refundLines(o *Outcome) {
	if s.Settlement.Gross == 0 && s.Settlement.Status == order.SettlementNotDue {
		s.Settlement.Gross = s.In.Amount.Value // never due: refunded before it was split
	}
	for _, l := range s.lines() {
		if l.st.Status == order.SettlementRefunded {
			continue
		}
		left := s.left(l.st)
		if l.st.Status == order.SettlementNotDue && l.kind == order.LineOrder {
			left = order.Settlement{Currency: l.st.Currency, Gross: l.st.Gross - l.st.Refunded}
		}
		o.Postings = append(o.Postings, s.posting(l.kind, l.key, order.PostingRefund, left))
		l.st.Status, l.st.Refunded = order.SettlementRefunded, l.st.Gross
	}
	if s.In.BillingMode == order.BillingPayPerUse {
		o.Postings = append(o.Postings, order.Posting{Kind: order.LineUsage, Key: order.AllUsageKey, Action: order.PostingRefund,
			Currency: s.In.Amount.Currency, CommissionBps: s.In.CommissionBps})
	}
}

// validityTolerance is how much later than the purchase a service may open before its
// expiry moves (and the seller is told): an acceptance within a minute of the purchase
// leaves the paid period as it is.
const validityTolerance = time.Minute

// validityFromAcceptance moves a supervised period product's expiry so that its validity
// counts from the acceptance, or from the actual open time the seller reported with the
// delivery (RulesSeams; paid Jan 1, accepted Feb 1: a month runs Feb 1 to Mar 1). The
// seller hears the new expiry through refreshInstance. It returns the new expireTime, or
// nil when it does not move.
func (s *State) validityFromAcceptance(ev Event) *time.Time {
	cur := s.currentExpire()
	if !s.rules(RulesSeams) || !s.In.Supervised || !s.In.BillingMode.Periodic() || cur == nil || s.AcceptedBy != nil {
		return nil
	}
	start := businessAt(s.In, ev.At)
	if s.OpenedAt != nil {
		start = s.OpenedAt.UTC()
	}
	exp := shiftPeriod(s.In.PlacedAt.UTC(), cur.UTC(), start)
	if exp.Sub(cur.UTC()) < validityTolerance {
		return nil // opened when it was paid for (or about then): the expiry stands
	}
	s.ExpireTime = &exp
	s.Expiry = scaledAt(s.In, exp)
	if s.hasInstance() && s.InstanceID != "" {
		s.Refresh = &order.Renewal{RenewalOrderID: s.In.OrderID, RenewalOrderLineID: s.In.OrderLineID, ExpireTime: exp, At: ev.At}
	}
	return &exp
}
