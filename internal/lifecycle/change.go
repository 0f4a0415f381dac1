package lifecycle

import (
	"slices"
	"strconv"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// Upgrades and scale-ups (issue 14): billing reports a paid change order of an order in
// service; the seller applies it on the same instance (upgradeInstance, retried like
// newInstance, about hourly for 3 hours). Applied, the change's own line is due and the order
// runs as the new product and quantity. Failed (refused, or the window spent), the change's
// amount is refunded and the order goes on unchanged. One change at a time.

func checkChange(s *State, ev Event) error {
	if err := actorIs(ev.Actor, order.ActorBilling); err != nil {
		return err
	}
	c := ev.Change
	for _, x := range s.Changes {
		if x.ChangeOrderID == c.ChangeOrderID {
			return nil // a repeat: nothing happens twice
		}
	}
	switch {
	case c.ChangeOrderID == "":
		return invalid("a change names billing's change order")
	case !s.hasInstance() || s.InstanceID == "":
		return invalid("only an order with an instance at the seller can be changed")
	case s.Phase != order.PhaseInService:
		return invalid("only an order in service can be changed; it is %s", s.Status())
	case s.Unsubscription != nil || s.Calls.Has(CallRelease):
		return invalid("the order is being released: it can no longer be changed")
	case s.pendingChange() != nil:
		return invalid("change %s is still being applied: one change at a time", s.pendingChange().ChangeOrderID)
	case c.Quantity < 1:
		return invalid("a change's quantity must be at least 1")
	case c.Amount.Value < 0 || c.Amount.Currency != s.In.Amount.Currency:
		return invalid("a change's amount must be in %s and not negative", s.In.Amount.Currency)
	}
	return nil
}

// pendingChange is the change the seller is applying, if any.
func (s *State) pendingChange() *order.Change {
	for i := range s.Changes {
		if s.Changes[i].State == order.ChangePending {
			return &s.Changes[i]
		}
	}
	return nil
}

// productNow is the product and quantity the order runs as: its own, then each change
// applied in turn.
func (s *State) productNow() (string, int) {
	type step struct {
		at       time.Time
		product  string
		quantity int
	}
	var steps []step
	for _, c := range s.Changes {
		if c.State == order.ChangeApplied && c.DoneAt != nil {
			steps = append(steps, step{*c.DoneAt, c.ProductID, c.Quantity})
		}
	}
	for _, r := range s.Renewals {
		if r.Change != nil && r.Withdrawal == nil {
			steps = append(steps, step{r.At, r.Change.ProductID, r.Change.Quantity}) // (from its period, billing's word)
		}
	}
	slices.SortStableFunc(steps, func(a, b step) int { return a.at.Compare(b.at) })
	product, qty := s.In.ProductID, s.In.Quantity
	for _, x := range steps {
		if x.product != "" {
			product = x.product
		}
		qty = x.quantity
	}
	return product, qty
}

func (s *State) change(ev Event, o *Outcome) {
	c := ev.Change
	for _, x := range s.Changes {
		if x.ChangeOrderID == c.ChangeOrderID {
			o.Noop = "change received already"
			return
		}
	}
	ch := order.Change{ChangeOrderID: c.ChangeOrderID, ChangeOrderLineID: c.ChangeOrderLineID, ProductID: c.ProductID,
		SKUCode: c.SKUCode, Quantity: c.Quantity, State: order.ChangePending, At: ev.At, Settlement: s.split(c.Amount)}
	ch.Settlement.Status = order.SettlementNotDue
	detail := map[string]string{"changeOrderId": c.ChangeOrderID, "quantity": strconv.Itoa(c.Quantity)}
	if c.ProductID != "" {
		detail["productId"] = c.ProductID
	}
	s.record(o, order.StepChangeRequested, ev.Actor, detail, func() {
		s.Changes = append(s.Changes, ch)
		s.startCall(o, CallUpgrade)
	})
}

// upgradeDone applies upgradeInstance's answer to the pending change. A change whose order
// ended or is being released meanwhile fails: the buyer gets its money back.
func (s *State) upgradeDone(ev Event, o *Outcome, r CallResult) {
	ch := s.pendingChange()
	if ch == nil {
		return
	}
	at := ev.At
	if r.OK && !s.Phase.Final() && !s.Calls.Has(CallRelease) && s.Unsubscription == nil {
		s.record(o, order.StepChanged, s.sellerActor(), map[string]string{"changeOrderId": ch.ChangeOrderID}, func() {
			ch.State, ch.DoneAt = order.ChangeApplied, &at
			ch.Settlement.Status = order.SettlementPending
			ch.Settlement.Status = s.due(o, order.LineChange, ch.ChangeOrderID, ch.Settlement)
		})
		return
	}
	reason := "the order ended while the change was applied"
	if !r.OK {
		reason = "the seller did not apply it"
		if r.ErrorType != "" {
			reason += " (" + r.ErrorType + ")"
		}
		if r.ErrorText != "" {
			reason += ": " + r.ErrorText
		}
	}
	s.record(o, order.StepChangeFailed, system, map[string]string{"changeOrderId": ch.ChangeOrderID, "reason": reason}, func() {
		ch.State, ch.DoneAt, ch.Reason = order.ChangeFailed, &at, reason
		o.Postings = append(o.Postings, s.posting(order.LineChange, ch.ChangeOrderID, order.PostingRefund, ch.Settlement))
		ch.Settlement.Status, ch.Settlement.Refunded = order.SettlementRefunded, ch.Settlement.Gross
	})
}
