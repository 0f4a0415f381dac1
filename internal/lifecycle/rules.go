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
	worst := func(r order.RetryWindow) time.Duration {
		return time.Duration(max(r.Attempts, 1)) * (max(r.Interval, order.MinRetryInterval) + order.CallTimeout)
	}
	return worst(w.NewInstance) + worst(w.Poll)
}
