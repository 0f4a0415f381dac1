package lifecycle

import (
	"slices"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// Wait names a wait of an open order that has no clock of its own and may last for ever:
// the short, documented list of order-states.md ("No waiting state is without a clock unless
// it is on the short documented list of waits that may last for ever"). Every other wait of
// an open order has a running clock, a paused one (an appeal) or a call in flight; the
// simulation checks it after every step.
type Wait string

// The waits that may last for ever, each with who ends it.
const (
	// WaitPayPerUse: a pay-per-use order in service has no expiry; billing ends it
	// (unsubscription) or the customer's account does (arrears release).
	WaitPayPerUse Wait = "pay_per_use_in_service"
	// WaitNoExpiry: a subscription placed without an expireTime (orders of the first
	// workflow; the API requires one now) runs until billing ends it.
	WaitNoExpiry Wait = "subscription_without_expiry"
	// WaitFlagged: the order is flagged needsAttention (an SLA ran out, a call failed for
	// good, the last appeal tier's SLA ran out): ops see it in the attention list and the
	// Temporal UI (NeedsAttention = true) and act; nothing is timed any more.
	WaitFlagged Wait = "flagged_for_ops"
	// WaitArrears: the order is held for its customer's arrears; the account workflow's
	// grace and retention clocks decide what happens next.
	WaitArrears Wait = "held_for_arrears"
)

// ForeverWait says which documented wait an open order is in, or "" if none: then it must
// have a clock running (or paused by an appeal) or a call in flight.
func ForeverWait(s *State) Wait {
	switch {
	case s.Attention != "" || len(s.Calls.Failed()) > 0:
		return WaitFlagged
	case slices.Contains(s.Holds, HoldArrears):
		return WaitArrears
	case s.Phase == order.PhaseInService && s.In.BillingMode == order.BillingPayPerUse:
		return WaitPayPerUse
	case s.Phase == order.PhaseInService && s.Expiry == nil:
		return WaitNoExpiry
	}
	return ""
}

// Flag is one standing cause of an order needing ops (RulesSeams): a clock that ran out
// (its name) or a call that failed for good (call:<kind>), and what ops read.
type Flag struct {
	Cause string `json:"cause"`
	Why   string `json:"why"`
	// Since is when the cause was raised (RulesOps; zero before).
	Since time.Time `json:"since,omitzero"`
}

// deliveryLate are the causes a delivery clears: what was late has come.
func deliveryLate(cause string) bool {
	switch ClockName(cause) {
	case ClockFirstDelivery, ClockShipment, ClockSignoff, ClockDeploymentSLA, ClockRedelivery, ClockProvisionLate:
		return true
	}
	return false
}

// clearFlags drops the flags whose cause matches; Attention then shows the latest left.
func (s *State) clearFlags(match func(cause string) bool) {
	s.Flags = slices.DeleteFunc(s.Flags, func(f Flag) bool { return match(f.Cause) })
	if n := len(s.Flags); n > 0 {
		s.Attention, s.AttentionCause = s.Flags[n-1].Why, s.Flags[n-1].Cause
	} else {
		s.Attention, s.AttentionCause = "", ""
	}
}
