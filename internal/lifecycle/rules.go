package lifecycle

import (
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cloudmarket/orders/internal/order"
)

// actorIs refuses an action by an actor kind not allowed to take it. The API enforces who
// may call what; the workflow does not rely on it.
func actorIs(a order.Actor, allowed ...order.ActorKind) error {
	for _, k := range allowed {
		if a.Kind == k {
			return nil
		}
	}
	return invalid("a %s may not do this", a.Kind)
}

func isBuyer(s *State, a order.Actor) error {
	if a.Kind != order.ActorBuyer || a.ID != s.In.CustomerID {
		return invalid("only the order's buyer may do this")
	}
	return nil
}

func isSeller(s *State, a order.Actor) error {
	if a.Kind != order.ActorSeller || a.ID != s.In.SellerID {
		return invalid("only the seller of the order's product may do this")
	}
	return nil
}

// checkText refuses a text outside minLen-maxLen characters or with control characters
// other than line breaks and tabs.
func checkText(field, v string, minLen, maxLen int) error {
	n := utf8.RuneCountInString(v)
	if n < minLen || n > maxLen {
		return invalid("%s must be %d-%d characters", field, minLen, maxLen)
	}
	for _, r := range v {
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' {
			return invalid("%s must not contain control characters", field)
		}
	}
	return nil
}

// expiry is when the order expires on the workflow's clock (scaledAt its expireTime).
func expiry(in order.StartInput) *time.Time {
	if in.ExpireTime == nil || !in.BillingMode.Periodic() {
		return nil
	}
	return scaledAt(in, *in.ExpireTime)
}

// scaledAt maps a real time to the workflow's clock: the time from placing to t divided by
// the order's time scale, so a demo watches a month pass in minutes.
func scaledAt(in order.StartInput, t time.Time) *time.Time {
	scale := in.Windows.TimeScale
	if scale <= 0 {
		scale = 1
	}
	at := in.PlacedAt.Add(time.Duration(float64(t.Sub(in.PlacedAt)) / scale))
	return &at
}

// provisionLate is how long provisioning may run before it can only be our side that holds
// it up: every attempt the seller's window allows, each at its interval (at least the
// minimum) plus one whole call.
func provisionLate(w order.Windows) time.Duration {
	return worstCase(w.NewInstance) + worstCase(w.Poll)
}

// worstCase is how long a call may take spending its whole retry window at the seller: every
// attempt at its interval (at least MinRetryInterval) and timing out.
func worstCase(r order.RetryWindow) time.Duration {
	return time.Duration(max(r.Attempts, 1)) * (max(r.Interval, order.MinRetryInterval) + order.CallTimeout)
}

// businessAt maps a time of the workflow's clock back to the business time it stands for
// (the inverse of scaledAt): at time scale 1 they are the same.
func businessAt(in order.StartInput, t time.Time) time.Time {
	scale := in.Windows.TimeScale
	if scale <= 0 {
		scale = 1
	}
	return in.PlacedAt.Add(time.Duration(float64(t.Sub(in.PlacedAt)) * scale)).UTC()
}

// shiftPeriod moves the period [from, to) so that it starts at start, counting whole
// calendar months as months (Jan 1 to Feb 1, started Feb 1, ends Mar 1) and the rest as a
// duration, at the second (expireTime's resolution at the seller).
func shiftPeriod(from, to, start time.Time) time.Time {
	from, to, start = from.Truncate(time.Second), to.Truncate(time.Second), start.Truncate(time.Second)
	months := (to.Year()-from.Year())*12 + int(to.Month()-from.Month())
	for months > 0 && from.AddDate(0, months, 0).After(to) {
		months--
	}
	rest := to.Sub(from.AddDate(0, months, 0))
	return start.AddDate(0, months, 0).Add(rest)
}

// openedAtSkew is how far ahead of the order's clock an actual open time may be before it
// counts as in the future (the seller's clock drifts; the API allows as much).
const openedAtSkew = time.Hour

// checkOpenedAt refuses an actual open time before the order was placed or in the future
// (RulesSeams; before, the field was not read).
func checkOpenedAt(s *State, ev Event) error {
	if ev.OpenedAt == nil || !s.rules(RulesSeams) {
		return nil
	}
	switch t := ev.OpenedAt.UTC(); {
	case t.Before(s.In.PlacedAt.UTC()):
		return invalid("openedAt %s is before the order was placed", t.Format(time.RFC3339))
	case t.After(businessAt(s.In, ev.At).Add(openedAtSkew)):
		return invalid("openedAt %s is in the future", t.Format(time.RFC3339))
	}
	return nil
}
