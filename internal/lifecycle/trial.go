package lifecycle

import (
	"slices"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// Trials (issue 14): a trial order (StartInput.OrderType TRIAL) is paid nothing and pays
// out nothing. When its trial period ends unconverted it has no grace: it is frozen at once
// and released after the customer level's retention (expired). Billing's trial-to-formal
// order converts it: the seller is told (refreshInstance, scene TRIAL_TO_FORMAL, with the
// formal order's IDs and expiry), the formal order's money is a line settled like any other,
// and from then on the order renews as a formal subscription.

// trial reports whether the order is a trial not converted yet.
func (s *State) trial() bool {
	return s.In.OrderType == order.OrderTypeTrial && s.ConvertedBy == ""
}

func checkConversion(s *State, ev Event) error {
	if err := actorIs(ev.Actor, order.ActorBilling); err != nil {
		return err
	}
	c := ev.Convert
	if s.In.OrderType != order.OrderTypeTrial {
		return invalid("only a trial is converted; this order is not one")
	}
	if s.ConvertedBy != "" {
		if s.ConvertedBy == c.FormalOrderID {
			return nil // a repeat: nothing happens twice
		}
		return invalid("the trial was converted already by %s", s.ConvertedBy)
	}
	if c.FormalOrderID == "" {
		return invalid("a conversion names billing's trial-to-formal order")
	}
	if s.Unsubscription != nil || s.Calls.Has(CallRelease) {
		return invalid("the trial is being released: it can no longer be converted")
	}
	if c.Amount.Value < 0 || c.Amount.Currency != s.In.Amount.Currency {
		return invalid("a conversion's amount must be in %s and not negative", s.In.Amount.Currency)
	}
	if now := businessAt(s.In, ev.At); !c.ExpireTime.After(now) {
		return invalid("expireTime %s is not in the future", c.ExpireTime.UTC().Format(time.RFC3339))
	}
	return nil
}

// convert turns the trial into a formal subscription: the expiry moves to the formal one's,
// an expiry hold goes (UNFREEZE), the billing clocks restart, the seller is told, and the
// formal order's line is due (posted once the trial was accepted).
func (s *State) convert(ev Event, o *Outcome) {
	c := ev.Convert
	if s.ConvertedBy != "" {
		o.Noop = "converted already"
		return
	}
	exp := c.ExpireTime.UTC()
	line := order.Renewal{RenewalOrderID: c.FormalOrderID, RenewalOrderLineID: c.FormalOrderLineID, ExpireTime: exp, At: ev.At,
		Settlement: s.split(c.Amount), Scene: order.RefreshSceneConversion}
	if prev := s.currentExpire(); prev != nil {
		p := prev.UTC()
		line.PreviousExpire = &p
	}
	detail := map[string]string{"formalOrderId": c.FormalOrderID, "expireTime": exp.Format(time.RFC3339)}
	s.record(o, order.StepConverted, ev.Actor, detail, func() {
		s.ConvertedBy = c.FormalOrderID
		s.moveExpiry(exp)
		s.Holds = slices.DeleteFunc(s.Holds, func(h HoldReason) bool { return h == HoldExpiry })
		line.Settlement.Status = s.due(o, order.LineRenewal, c.FormalOrderID, line.Settlement)
		s.Renewals = append(s.Renewals, line)
		if s.hasInstance() {
			s.Refresh = &line
		}
	})
}

// formalAmount is what a converted trial's formal order was paid: a renewal billing reports
// without an amount is paid that much (a trial's own amount is nothing).
func (s *State) formalAmount() order.Money {
	for _, r := range s.Renewals {
		if r.RenewalOrderID == s.ConvertedBy {
			return order.Money{Value: r.Settlement.Gross, Currency: r.Settlement.Currency}
		}
	}
	return s.In.Amount
}
