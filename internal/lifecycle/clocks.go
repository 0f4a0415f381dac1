package lifecycle

import (
	"fmt"
	"slices"
	"time"
)

// ClockName names a deadline of an order, and says what happens when it runs out.
type ClockName string

// The clocks of an order (order-states.md). Each is an absolute deadline.
const (
	// Supervision clocks: an open appeal pauses them.
	ClockAutoAccept    ClockName = "auto_accept"        // acceptance window: accepted by the timer
	ClockDeploymentSLA ClockName = "deployment_sla"     // deployment not verified: needs attention
	ClockRedelivery    ClockName = "redelivery_sla"     // no redelivery after a rejection: needs attention
	ClockLicenseDue    ClockName = "license_due"        // no licence: provision failed
	ClockRefund        ClockName = "refund"             // a failure nobody retried: buyer refunded
	ClockProvisionLate ClockName = "provision_late"     // provisioning outlived every seller attempt: our side, attention
	ClockFirstDelivery ClockName = "first_delivery_sla" // a service not delivered: needs attention (RulesSeams)
	ClockShipment      ClockName = "shipment_sla"       // hardware not shipped: needs attention (RulesSeams)
	ClockSignoff       ClockName = "signoff_sla"        // shipped, no carrier sign-off: needs attention (RulesSeams)
	// Billing clocks: nothing pauses them.
	ClockExpire  ClockName = "expire"  // subscription expired: grace starts
	ClockFreeze  ClockName = "freeze"  // grace over: FREEZE at the seller
	ClockRelease ClockName = "release" // retention over: release at the seller
	// The appeal's own clocks: its tier's SLA; the last tier's, which flags the order
	// (RulesSeams).
	ClockEscalate ClockName = "appeal_escalation"
	ClockLastTier ClockName = "appeal_last_tier_sla"
	// ClockOurSide: the earliest time a running seller call is past its whole seller window
	// and the policy's attention.ourSideAfter (RulesOps): failing on our side, flagged.
	ClockOurSide ClockName = "call_failing_our_side"
)

// ClockTag is the kind of a clock, which decides what an appeal does to it.
type ClockTag string

// Clock tags.
const (
	TagSupervision ClockTag = "supervision"
	TagBilling     ClockTag = "billing"
	TagAppeal      ClockTag = "appeal"
	// TagCalls: the clock of the calls in flight; nothing pauses it.
	TagCalls ClockTag = "calls"
)

// clockInfo is what each clock is, for tags and for the summaries people read in the
// Temporal UI and in the order's deadlines.
var clockInfo = map[ClockName]struct {
	tag     ClockTag
	summary string
}{
	ClockAutoAccept:    {TagSupervision, "auto-accept"},
	ClockDeploymentSLA: {TagSupervision, "deployment SLA: needs attention"},
	ClockRedelivery:    {TagSupervision, "redelivery SLA: needs attention"},
	ClockLicenseDue:    {TagSupervision, "licence due: provision failed"},
	ClockRefund:        {TagSupervision, "refund hold ends: refund the buyer"},
	ClockProvisionLate: {TagSupervision, "provisioning late: needs attention"},
	ClockFirstDelivery: {TagSupervision, "first-delivery SLA: needs attention"},
	ClockShipment:      {TagSupervision, "shipment SLA: needs attention"},
	ClockSignoff:       {TagSupervision, "sign-off SLA: needs attention"},
	ClockActivation:    {TagSupervision, "licence code activation window: needs attention"},
	ClockExpire:        {TagBilling, "expiry: grace starts"},
	ClockFreeze:        {TagBilling, "grace ends: freeze"},
	ClockRelease:       {TagBilling, "retention ends: release"},
	ClockEscalate:      {TagAppeal, "appeal tier SLA: escalate"},
	ClockLastTier:      {TagAppeal, "last appeal tier SLA: needs attention"},
	ClockOurSide:       {TagCalls, "a seller call failing on our side: needs attention"},
}

// Summary is what a person reads for the clock.
func (n ClockName) Summary() string { return clockInfo[n].summary }

// ClockSummary is the clock's summary for this order: the escalation clock names the tier
// whose SLA it is ("appeal tier 2 SLA: escalate").
func (s *State) ClockSummary(n ClockName) string {
	if n == ClockEscalate && s.Appeal != nil {
		return fmt.Sprintf("appeal tier %d SLA: escalate", s.Appeal.Tier)
	}
	return n.Summary()
}

// Tag is the clock's kind.
func (n ClockName) Tag() ClockTag { return clockInfo[n].tag }

// Clock is one running deadline. A paused clock has no At but the time it had left.
type Clock struct {
	Name   ClockName     `json:"name"`
	At     time.Time     `json:"at,omitzero"`
	Paused bool          `json:"paused,omitempty"`
	Left   time.Duration `json:"left,omitempty"`
}

// Clocks are an order's running deadlines, at most one per name, kept sorted by name so
// that every walk over them is deterministic.
type Clocks []Clock

// Set starts (or moves) a clock.
func (c *Clocks) Set(name ClockName, at time.Time) {
	c.Stop(name)
	*c = append(*c, Clock{Name: name, At: at})
	slices.SortFunc(*c, func(a, b Clock) int { return compareNames(a.Name, b.Name) })
}

func compareNames(a, b ClockName) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Stop removes a clock; stopping one that does not run is a no-op.
func (c *Clocks) Stop(names ...ClockName) {
	*c = slices.DeleteFunc(*c, func(x Clock) bool { return slices.Contains(names, x.Name) })
}

// StopTag removes every clock of a tag.
func (c *Clocks) StopTag(tag ClockTag) {
	*c = slices.DeleteFunc(*c, func(x Clock) bool { return x.Name.Tag() == tag })
}

// KeepTag removes every clock but those of a tag.
func (c *Clocks) KeepTag(tag ClockTag) {
	*c = slices.DeleteFunc(*c, func(x Clock) bool { return x.Name.Tag() != tag })
}

// Has reports whether the clock runs (paused or not).
func (c Clocks) Has(name ClockName) bool {
	return slices.ContainsFunc(c, func(x Clock) bool { return x.Name == name })
}

// Get returns the clock of that name.
func (c Clocks) Get(name ClockName) (Clock, bool) {
	i := slices.IndexFunc(c, func(x Clock) bool { return x.Name == name })
	if i < 0 {
		return Clock{}, false
	}
	return c[i], true
}

// Extend moves a clock d later: a running one's deadline, a paused one's time left. It
// reports whether the clock was there.
func (c Clocks) Extend(name ClockName, d time.Duration) bool {
	for i := range c {
		if c[i].Name == name {
			if c[i].Paused {
				c[i].Left += d
			} else {
				c[i].At = c[i].At.Add(d)
			}
			return true
		}
	}
	return false
}

// Pause stops the clocks of a tag where they are, keeping the time they had left.
func (c Clocks) Pause(tag ClockTag, now time.Time) {
	for i := range c {
		if c[i].Name.Tag() == tag && !c[i].Paused {
			c[i].Left = max(c[i].At.Sub(now), 0)
			c[i].At, c[i].Paused = time.Time{}, true
		}
	}
}

// Resume restarts the paused clocks of a tag with the time they had left.
func (c Clocks) Resume(tag ClockTag, now time.Time) {
	for i := range c {
		if c[i].Name.Tag() == tag && c[i].Paused {
			c[i].At, c[i].Paused, c[i].Left = now.Add(c[i].Left), false, 0
		}
	}
}

// Next is the earliest running (not paused) clock.
func (c Clocks) Next() (Clock, bool) {
	var best Clock
	found := false
	for _, x := range c {
		if x.Paused {
			continue
		}
		if !found || x.At.Before(best.At) {
			best, found = x, true
		}
	}
	return best, found
}

// Due lists the running clocks whose deadline is now or past, earliest first (ties by
// name), for the loop to fire one by one.
func (c Clocks) Due(now time.Time) []ClockName {
	var due []Clock
	for _, x := range c {
		if !x.Paused && !x.At.After(now) {
			due = append(due, x)
		}
	}
	slices.SortStableFunc(due, func(a, b Clock) int { return a.At.Compare(b.At) })
	out := make([]ClockName, len(due))
	for i, x := range due {
		out[i] = x.Name
	}
	return out
}
