package sim

import (
	"slices"

	"github.com/cloudmarket/orders/internal/books"
	"github.com/cloudmarket/orders/internal/lifecycle"
	"github.com/cloudmarket/orders/internal/order"
)

// The invariants: the specification of money, cases, holds, clocks and events where the
// features meet. check runs after every step; checkStatement after a statement run;
// checkEnd once a run has settled.

// usagePaid is what the buyer was charged for an order's usage: its priced usage lines.
func (w *World) usagePaid(orderID string) int64 {
	var total int64
	for _, r := range w.books.Rows() {
		if r.OrderID == orderID && r.Kind == order.LineUsage && r.Key != books.UsageRefundKey {
			total += r.Gross
		}
	}
	return total
}

func (w *World) check() {
	for c, b := range w.books.CurrencyBalance() {
		if b != 0 {
			w.violate("money", "the books are unbalanced in %s by %d", c, b)
		}
	}
	bal := w.books.Balances()
	for _, o := range w.orders {
		w.checkCases(o)
		w.checkClocks(o)
		w.checkMoney(o, bal[o.id])
	}
	for c := range w.accounts {
		w.checkHolds(c)
	}
}

// checkCases: an order that has ended has no open appeal, hold, clock or call left, and
// shows a final status; every appeal resolved says who resolved it and how; appeals stay
// within the policy's cap.
func (w *World) checkCases(o *simOrder) {
	s := &o.st
	if s.Done() {
		switch {
		case s.AppealOpen():
			w.violate("cases", "order %s ended with appeal %s open", o.id, s.Appeal.AppealID)
		case len(s.Holds) > 0:
			w.violate("cases", "order %s ended held (%v)", o.id, s.Holds)
		case len(s.Clocks) > 0:
			w.violate("cases", "order %s ended with clocks armed (%v)", o.id, s.Clocks)
		case len(o.inflight) > 0:
			w.violate("cases", "order %s ended with calls running (%v)", o.id, o.inflight)
		case !s.Status().Final():
			w.violate("cases", "order %s ended showing %s", o.id, s.Status())
		}
	}
	if s.AppealOpen() && s.Rules >= lifecycle.RulesSeams {
		if v := lifecycle.View(s, w.now); v.WaitingOn != order.WaitOps {
			w.violate("cases", "order %s: appeal %s open, yet the order waits on %s, not ops", o.id, s.Appeal.AppealID, v.WaitingOn)
		}
	}
	if a := s.Appeal; a != nil && a.State == order.AppealStateResolved && (a.ResolvedBy == nil || a.Outcome == "") {
		w.violate("cases", "order %s: appeal %s resolved without who or how", o.id, a.AppealID)
	}
	if s.Rules >= lifecycle.RulesSeams && s.In.Windows.AppealLimit > 0 && s.Appeals > s.In.Windows.AppealLimit {
		w.violate("cases", "order %s: %d appeals, the cap is %d", o.id, s.Appeals, s.In.Windows.AppealLimit)
	}
}

// checkClocks: every wait of an open order has a clock (running, or paused by an appeal),
// a call in flight, or is on the documented list of waits that may last for ever; an open
// appeal pauses the supervision clocks and only those.
func (w *World) checkClocks(o *simOrder) {
	s := &o.st
	if s.Done() {
		return
	}
	_, running := s.Clocks.Next()
	if !running && len(o.inflight) == 0 && !o.draining && lifecycle.ForeverWait(s) == "" {
		w.violate("clocks", "order %s waits in %s (%s) with no clock, no call and no flag", o.id, s.Status(), s.Phase)
	}
	for _, c := range s.Clocks {
		switch {
		case s.AppealOpen() && c.Name.Tag() == lifecycle.TagSupervision && !c.Paused:
			w.violate("clocks", "order %s: supervision clock %s runs during appeal", o.id, c.Name)
		case c.Paused && (c.Name.Tag() != lifecycle.TagSupervision || !s.AppealOpen()):
			w.violate("clocks", "order %s: clock %s paused with no appeal to pause it", o.id, c.Name)
		}
	}
}

// checkMoney: what the books took from the buyer for an order never exceeds what the buyer
// paid less what was refunded; nothing is taken before acceptance; the seller is never
// clawed back more than it was paid; a refunded order is reversed in full.
func (w *World) checkMoney(o *simOrder, b books.Balance) {
	s := &o.st
	taken := b[books.AccountBuyerFunds]
	paidOut := -b[books.AccountPaidOut]
	paid := o.paid + w.usagePaid(o.id)
	refunded := o.unsubRefund
	if o.refundedAll {
		refunded = paid
	}
	switch {
	case taken > paid-refunded:
		w.violate("money", "order %s: the books took %d from the buyer, who paid %d less %d refunded", o.id, taken, paid, refunded)
	case paidOut < 0:
		w.violate("money", "order %s: the seller was clawed back %d more than it was paid", o.id, -paidOut)
	case s.AcceptedBy == nil && (taken != 0 || paidOut != 0):
		w.violate("money", "order %s: not accepted, yet %d taken and %d paid out", o.id, taken, paidOut)
	case o.refundedAll && taken != 0:
		w.violate("money", "order %s: refunded, yet %d still taken from the buyer", o.id, taken)
	}
}

// checkStatement: a statement pays out nothing of an order whose appeal is open or that
// was not accepted, and settles each order it states in full (the seller owed nothing).
func (w *World) checkStatement() {
	bal := w.books.Balances()
	for _, o := range w.orders {
		if !w.stated[o.id] {
			continue
		}
		b := bal[o.id]
		switch {
		case o.st.AppealOpen():
			w.violate("money", "order %s: paid out while appeal %s is open", o.id, o.st.Appeal.AppealID)
		case o.st.AcceptedBy == nil:
			w.violate("money", "order %s: paid out before acceptance", o.id)
		case b[books.AccountPayable] != 0:
			w.violate("money", "order %s: stated, yet %d left payable", o.id, -b[books.AccountPayable])
		}
	}
}

// checkHolds: once an account's freeze (or release) has been told to every order, each
// pay-per-use order of the customer is held (frozen at the seller once in service, or on
// its way there) or released (or on its way); and where no call is pending, what the
// machine believes of the seller is what the seller did.
func (w *World) checkHolds(c int) {
	acc := w.accounts[c]
	if acc == nil || acc.telling {
		return
	}
	for _, o := range w.orders {
		s := &o.st
		if o.customer != c || s.In.BillingMode != order.BillingPayPerUse || s.Done() {
			continue
		}
		hasInstance := (s.In.ProductType == order.TypeSaaS || s.In.ProductType == order.TypeLicense) &&
			(s.InstanceID != "" || s.CodeActivatedAt != nil) // (a licence code: once activated)
		switch {
		case acc.a.State == order.AccountFrozen && acc.a.Told == order.ArrearsFreeze && !s.Phase.Final() && !s.HoldOverride:
			// (an order whose arrears hold ops lifted by hand runs until the case ends)
			if !slices.Contains(s.Holds, lifecycle.HoldArrears) {
				w.violate("holds", "order %s (%s) of frozen customer c%d is not held", o.id, s.Phase, c)
			} else if s.Phase == order.PhaseInService && hasInstance && !o.seller.frozen &&
				!s.Calls.Has(lifecycle.CallFreeze) && !s.Calls.Has(lifecycle.CallRelease) {
				w.violate("holds", "order %s of frozen customer c%d is in service and not frozen at the seller", o.id, c)
			}
		case acc.a.State == order.AccountReleased && acc.a.Told == order.ArrearsRelease:
			if !s.Phase.Final() && !s.Calls.Has(lifecycle.CallRelease) {
				w.violate("holds", "order %s (%s) of released customer c%d is neither released nor being released", o.id, s.Phase, c)
			}
		}
	}
}

// checkEnd runs once a run has settled: every order has ended or waits where it may wait
// for ever; every appeal has been resolved; a last statement settles every order in full,
// a refunded one at nothing.
func (w *World) checkEnd() *Violation {
	w.violations = w.violations[:0]
	for _, o := range w.orders {
		s := &o.st
		if s.AppealOpen() {
			w.violate("cases", "order %s: appeal %s still open at the end", o.id, s.Appeal.AppealID)
		}
		if !s.Done() && lifecycle.ForeverWait(s) == "" {
			w.violate("clocks", "order %s did not come to rest: %s (%s), clocks %v, calls %v", o.id, s.Status(), s.Phase, s.Clocks, s.Calls)
		}
	}
	if len(w.violations) == 0 {
		w.statement()
		bal := w.books.Balances()
		for _, o := range w.orders {
			b := bal[o.id]
			if o.refundedAll && (b[books.AccountPaidOut] != 0 || b[books.AccountBuyerFunds] != 0 || b[books.AccountCommission] != 0) {
				w.violate("money", "order %s: refunded, yet after the last statement %v", o.id, b)
			}
		}
	}
	if len(w.violations) > 0 {
		v := w.violations[0]
		return &v
	}
	return nil
}
