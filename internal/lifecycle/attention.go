package lifecycle

import (
	"fmt"
	"strings"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// Attention with causes (RulesOps): every flag says what raised it and since when, and maps
// to one stable cause code that the API lists (GET /v1/attention?cause=), the AttentionCause
// search attribute carries and the attention gauge counts. docs/operations.md gives, per
// code, the saved Temporal UI query and the call that clears it.

// Cause codes: the stable, public names of why an order needs ops.
const (
	CauseFirstDelivery   = string(ClockFirstDelivery) // a service not delivered in time
	CauseRedelivery      = string(ClockRedelivery)    // no redelivery after a rejection
	CauseDeployment      = string(ClockDeploymentSLA) // a package not verified in time
	CauseShipment        = string(ClockShipment)      // hardware not shipped in time
	CauseSignoff         = string(ClockSignoff)       // no carrier sign-off in time
	CauseProvisionLate   = string(ClockProvisionLate) // provisioning outlived every attempt
	CauseLastTier        = string(ClockLastTier)      // an appeal unresolved past the last tier
	CauseSellerCall      = "seller_call_failed"       // a seller call failed at the seller
	CauseOurSide         = "call_failing_our_side"    // a call failing on our side, still retrying
	CauseProvisionFailed = "provision_failed"         // the seller did not produce: refund hold runs
	CauseCleanupFailed   = "cleanup_failed"           // a cancelled order's release failed
	// CauseRestarted: an order restarted from the read model when the restore had to guess
	// what the view does not say (Restored.Guessed): ops check it against the seller and the books.
	CauseRestarted = "restarted"
	// CauseLicenseCodeNotActivated (licensecode.go): a licence code never activated.
	CauseOther = "other" // a flag of an order placed before causes
)

// CauseCodes lists every cause code, for validation of ?cause= and the gauge's labels.
var CauseCodes = []string{CauseFirstDelivery, CauseRedelivery, CauseDeployment, CauseShipment, CauseSignoff,
	CauseProvisionLate, CauseLastTier, CauseSellerCall, CauseOurSide, CauseProvisionFailed, CauseCleanupFailed,
	CauseRestarted, CauseLicenseCodeNotActivated, CauseOther}

// ourSidePrefix starts the internal cause of a call failing on our side (our_side:<kind>);
// callPrefix that of a call failed at the seller (call:<kind>).
const (
	ourSidePrefix = "our_side:"
	callPrefix    = "call:"
)

// isCallCause reports whether an internal cause is about a call (failed or failing): such
// a flag clears when the call succeeds, not when the order ends.
func isCallCause(cause string) bool {
	return strings.HasPrefix(cause, callPrefix) || strings.HasPrefix(cause, ourSidePrefix)
}

// CauseCode maps an internal cause (a clock's name, call:<kind>, our_side:<kind>) to its
// public code: a release or recovery failing after a cancellation is a failed clean-up.
func (s *State) CauseCode(cause string) string {
	switch {
	case cause == "":
		return ""
	case strings.HasPrefix(cause, ourSidePrefix):
		return CauseOurSide
	case strings.HasPrefix(cause, callPrefix):
		k := CallKind(strings.TrimPrefix(cause, callPrefix))
		if s.Phase == order.PhaseCancelled && (k == CallRelease || k == CallRecover) {
			return CauseCleanupFailed
		}
		return CauseSellerCall
	}
	for _, c := range CauseCodes {
		if c == cause {
			return c
		}
	}
	return CauseOther
}

// AttentionItems are the order's standing flags as ops see them, oldest first.
func (s *State) AttentionItems() []order.AttentionItem {
	if len(s.Flags) == 0 {
		if s.Attention == "" {
			return nil
		}
		return []order.AttentionItem{{Cause: s.CauseCode(s.AttentionCause), Why: s.Attention}}
	}
	out := make([]order.AttentionItem, 0, len(s.Flags))
	for _, f := range s.Flags {
		it := order.AttentionItem{Cause: s.CauseCode(f.Cause), Why: f.Why}
		if !f.Since.IsZero() {
			since := f.Since
			it.Since = &since
		}
		if isCallCause(f.Cause) {
			it.Call = f.Cause[strings.Index(f.Cause, ":")+1:]
		}
		out = append(out, it)
	}
	return out
}

// ourSideAfter is how long a call of kind k may run before it can only be failing on our
// side: its whole seller window spent, and the policy's margin (0: not watched).
func ourSideAfter(w order.Windows, k CallKind) time.Duration {
	if w.OurSideAfter <= 0 {
		return 0
	}
	switch k {
	case CallNewInstance, CallQuery, CallLevel:
		return 0 // provisioning has provision_late; the level lookup is a local read
	case CallRecover, CallUpgrade:
		return worstCase(w.NewInstance) + w.OurSideAfter // retried like newInstance
	}
	return worstCase(w.SellerCall) + w.OurSideAfter
}

// armOurSide sets the clock of calls failing on our side to the earliest running call's
// limit not flagged yet, or stops it (RulesOps).
func (s *State) armOurSide() {
	if !s.rules(RulesOps) {
		return
	}
	var next time.Time
	for _, c := range s.Calls {
		after := ourSideAfter(s.In.Windows, c.Kind)
		if c.State != CallRunning || after == 0 || c.Since.IsZero() || s.flagged(ourSidePrefix+string(c.Kind)) {
			continue
		}
		if at := c.Since.Add(after); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	if next.IsZero() {
		s.Clocks.Stop(ClockOurSide)
		return
	}
	if c, ok := s.Clocks.Get(ClockOurSide); !ok || !c.At.Equal(next) {
		s.Clocks.Set(ClockOurSide, next)
	}
}

// ourSideFired flags each running call past its limit: it never got an answer from the
// seller in all that time, so it fails before the seller (PostgreSQL, the catalogue, the
// keys, the worker). The call goes on retrying; the flag clears when it succeeds.
func (s *State) ourSideFired(o *Outcome) {
	for _, c := range s.Calls {
		after := ourSideAfter(s.In.Windows, c.Kind)
		if c.State != CallRunning || after == 0 || c.Since.IsZero() || s.flagged(ourSidePrefix+string(c.Kind)) ||
			s.now.Before(c.Since.Add(after)) {
			continue
		}
		why := fmt.Sprintf("%s has been failing on our side since %s (it never reached the seller): check the worker log, "+
			"PostgreSQL, the seller in the catalogue and the keys; it retries by itself, or POST /v1/orders/%s/retry",
			c.Kind, c.Since.UTC().Format(time.RFC3339), s.In.OrderID)
		s.needsAttention(o, system, why, ourSidePrefix+string(c.Kind), map[string]string{"call": string(c.Kind)})
	}
}

// ourSideCleared clears the flag of a call that was failing on our side once it succeeds.
func (s *State) ourSideCleared(o *Outcome, k CallKind) {
	cause := ourSidePrefix + string(k)
	if !s.flagged(cause) {
		return
	}
	s.record(o, order.StepAttentionCleared, system, map[string]string{"call": string(k), "cause": CauseOurSide}, func() {
		s.clearFlags(func(c string) bool { return c == cause })
	})
}
