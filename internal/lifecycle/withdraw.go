package lifecycle

import (
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// Un-renewal (issue 14): billing takes back a renewal period that has not begun. The expiry
// goes back to what the renewal moved, the seller is told (refreshInstance with scene
// UNSUBSCRIBE_RENEWAL_PERIOD and the restored expiry), and the renewal's line is reversed
// (refunded in full). Once the period has begun it is refused: billing unsubscribes instead.

func checkWithdrawal(s *State, ev Event) error {
	if err := actorIs(ev.Actor, order.ActorBilling); err != nil {
		return err
	}
	w := ev.Withdraw
	if w.RenewalOrderID == "" || w.UnsubscribeOrderID == "" {
		return invalid("a withdrawal names the renewal order and billing's un-renewal order")
	}
	i := s.renewalIndex(w.RenewalOrderID)
	if i < 0 {
		return invalid("renewal %s is not one of this order's", w.RenewalOrderID)
	}
	r := s.Renewals[i]
	if r.Withdrawal != nil {
		if r.Withdrawal.UnsubscribeOrderID == w.UnsubscribeOrderID {
			return nil // a repeat: nothing happens twice
		}
		return invalid("renewal %s was taken back already", w.RenewalOrderID)
	}
	if s.Unsubscription != nil || s.Calls.Has(CallRelease) {
		return invalid("the order is being released: nothing is left to take back")
	}
	if r.Scene == order.RefreshSceneConversion {
		return invalid("%s converted the trial: it is not taken back (unsubscribe instead)", w.RenewalOrderID)
	}
	if r.PreviousExpire == nil {
		return invalid("renewal %s was recorded before renewals could be taken back", w.RenewalOrderID)
	}
	if last := s.lastLiveRenewal(); last != i {
		return invalid("only the latest renewal can be taken back; take back %s first", s.Renewals[last].RenewalOrderID)
	}
	if cur := s.currentExpire(); cur == nil || !cur.Equal(r.ExpireTime) {
		return invalid("the expiry has moved since renewal %s: it can no longer be taken back", w.RenewalOrderID)
	}
	if now := businessAt(s.In, ev.At); !now.Before(*r.PreviousExpire) {
		return invalid("the period of renewal %s began at %s: unsubscribe instead", w.RenewalOrderID,
			r.PreviousExpire.UTC().Format(time.RFC3339))
	}
	return nil
}

// renewalIndex finds a renewal by its order ID (-1: none).
func (s *State) renewalIndex(id string) int {
	for i, r := range s.Renewals {
		if r.RenewalOrderID == id {
			return i
		}
	}
	return -1
}

// lastLiveRenewal is the index of the latest renewal not taken back (-1: none).
func (s *State) lastLiveRenewal() int {
	for i := len(s.Renewals) - 1; i >= 0; i-- {
		if s.Renewals[i].Withdrawal == nil {
			return i
		}
	}
	return -1
}

func (s *State) withdrawRenewal(ev Event, o *Outcome) {
	w := ev.Withdraw
	r := &s.Renewals[s.renewalIndex(w.RenewalOrderID)]
	if r.Withdrawal != nil {
		o.Noop = "taken back already"
		return
	}
	prev := *r.PreviousExpire
	detail := map[string]string{"renewalOrderId": w.RenewalOrderID, "unsubscribeOrderId": w.UnsubscribeOrderID,
		"expireTime": prev.Format(time.RFC3339)}
	s.record(o, order.StepRenewalWithdrawn, ev.Actor, detail, func() {
		r.Withdrawal = &order.RenewalWithdrawn{UnsubscribeOrderID: w.UnsubscribeOrderID, At: ev.At}
		// The renewal's money goes back: reversed if posted, a refunded record if not due yet.
		if r.Settlement.Status != order.SettlementRefunded {
			o.Postings = append(o.Postings, s.posting(order.LineRenewal, r.RenewalOrderID, order.PostingRefund, s.left(&r.Settlement)))
			r.Settlement.Status, r.Settlement.Refunded = order.SettlementRefunded, r.Settlement.Gross
		}
		s.moveExpiry(prev)
		if s.hasInstance() {
			s.Refresh = &order.Renewal{RenewalOrderID: w.UnsubscribeOrderID, RenewalOrderLineID: w.UnsubscribeOrderLineID,
				ExpireTime: prev, At: ev.At, Scene: order.RefreshSceneWithdrawal}
		}
	})
}
