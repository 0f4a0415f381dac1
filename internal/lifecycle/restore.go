package lifecycle

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// Restoring an order whose workflow was lost (terminated by hand, failed, gone with a
// Temporal restore). The workflow's State is gone with it; what PostgreSQL still holds is
// the order's view (the read model, as of its last recorded transition), the start input the
// API placed it with, the number of its audit lines and appeals, and the cause of the flag
// it shows. Restore rebuilds a State from those that a new run of the order workflow can
// resume (the continue-as-new path), so the order goes on where the read model says it
// stands. It is pure, like the machine: the API gathers the snapshot, Restore decides.
//
// What the view does not carry is rebuilt on the safe side, and said so (Restored.Guessed):
//   - Seller calls: a call that may have been in flight is started again (newInstance or
//     queryInstance while provisioning, FREEZE while held, the latest renewal's
//     refreshInstance, the release of a cancelled or released order still owed one, a call
//     shown failed): every seller call is idempotent by the protocol, so asking again is
//     safe where not asking could leave the seller out of step.
//   - Clocks: every deadline the view shows is set again as it was; one already past fires as
//     soon as the workflow resumes. Supervision clocks an open appeal had paused are not in
//     the view: they are set paused with their whole window (the party waited on gets at
//     least the time it had). An expired subscription whose grace had not begun yet (the
//     level lookup was in flight) expires again at once.
//   - Ends in flight: a release the order had begun (an unsubscription recorded, an expiry
//     hold past its retention, a failed release) or that the customer's account ordered
//     (held for arrears, the account released) is sent again; an arrears hold whose account
//     no longer owes is lifted (UNFREEZE), as the account's lost signal would have.
//   - Flags: a view shows the latest cause only. The flags of SLA clocks that ran out (a
//     phase without its clock, an appeal at the last tier without the last tier's) are
//     inferred; an older failed call behind the latest flag is lost (the next seller call
//     that succeeds clears call flags anyway). Renewals: the view lists the latest
//     order.MaxViewRenewals only.
//   - Rules: the order runs under the current rules (RulesCurrent) from the restart on; the
//     view does not say which it ran under, and a new execution has no marker to replay.

// Snapshot is what PostgreSQL holds of an order whose workflow was lost.
type Snapshot struct {
	// In is the order's start input: as placed (orders.start_input), or rebuilt with
	// RebuildInput for orders placed before it was kept.
	In order.StartInput
	// View is the read model's view of the order (orders.view).
	View order.View
	// Appeals counts the appeals the order opened (the appeals table); the cap on appeals
	// counts them.
	Appeals int
	// AttentionCause is the cause (detail.cause) of the needs_attention audit line that
	// raised the view's attention, if any: a clock's name or call:<kind>.
	AttentionCause string
	// InputRebuilt says In was rebuilt rather than kept: the order is flagged for ops.
	InputRebuilt bool
	// Arrears is the state of the customer's arrears account (arrears_accounts.state; ""
	// when the customer never had arrears). The account tells its orders to release or
	// unfreeze by a signal the order records only once it acts: an order held for arrears
	// whose account released it, or no longer owes, lost that signal with its workflow.
	Arrears order.AccountState
	// Restarter names who restarts the order, for the flag ops read.
	Restarter order.Actor
}

// Restored is a rebuilt state and what Restore had to guess for it.
type Restored struct {
	State State
	// Guessed lists what the snapshot did not say and Restore chose (paused clocks set
	// anew, the start input rebuilt, renewals beyond those the view lists): empty when the
	// view said everything the order goes on with.
	Guessed []string
}

// ErrNotRestorable is what Restore answers for a view it cannot rebuild an order from (a
// phase, clock or hold it does not know, another order's view).
var ErrNotRestorable = errors.New("order not restorable")

// Restore rebuilds the order's State from a snapshot at now (the restart's time on the
// workflow's clock). Calls to resume are in State.Calls as running: the workflow starts them
// when it resumes. An order that guessed anything is flagged for ops with CauseRestarted.
func Restore(snap Snapshot, now time.Time) (Restored, error) {
	in, v := snap.In, snap.View
	in.Resume = nil
	if v.OrderID != in.OrderID {
		return Restored{}, fmt.Errorf("%w: the view is of order %q, the input of %q", ErrNotRestorable, v.OrderID, in.OrderID)
	}
	if !slices.Contains(knownPhases, v.Phase) {
		return Restored{}, fmt.Errorf("%w: phase %q", ErrNotRestorable, v.Phase)
	}
	s := State{
		In: in, Phase: v.Phase, Rules: RulesCurrent,
		InstanceID: v.InstanceID, FrontEndURL: v.FrontEndURL,
		License: v.License, Shipment: v.Shipment, Delivery: v.Delivery,
		Rejections: v.Rejections, LastRejection: v.LastRejection, AcceptedBy: v.AcceptedBy,
		Appeal: v.Appeal, Appeals: snap.Appeals, Settlement: v.Settlement,
		InServiceAt: v.InServiceSince, ServiceEndedAt: v.ServiceEndedAt,
		ExpireTime: v.ExpireTime, Unsubscription: v.Unsubscription, LastError: v.LastError,
	}
	var guessed []string
	if snap.InputRebuilt {
		guessed = append(guessed, "start input rebuilt from the view, the catalogue and the current policy")
	}
	if len(v.Deployment) > 0 {
		s.Deployment = append([]order.DeploymentPhase{}, v.Deployment...)
	}
	if v.Appeal != nil {
		s.Appeals = max(s.Appeals, 1)
	}
	s.ConvertedBy = v.ConvertedBy // a converted trial stays converted
	s.CodeActivatedAt = v.LicenseCodeActivatedAt
	if in.LicenseCode != nil && s.Phase == order.PhaseProvisioning {
		// Lost before its first step: the code was issued with the order; it waits for
		// activation with a whole window.
		ref := *in.LicenseCode
		s.License, s.Phase = &ref, order.PhaseAwaitingAcceptance
		s.Clocks.Set(ClockActivation, now.Add(in.Windows.ActivationWindow))
	}
	s.Changes = append([]order.Change(nil), v.Changes...)
	if len(v.Renewals) > 0 {
		s.Renewals = append([]order.Renewal{}, v.Renewals...)
		if v.RenewalCount > len(v.Renewals) {
			guessed = append(guessed, fmt.Sprintf("renewals: the %d latest of %d", len(v.Renewals), v.RenewalCount))
		}
	}
	if v.ExpireTime != nil && in.BillingMode.Periodic() {
		s.Expiry = scaledAt(in, *v.ExpireTime)
	}
	s.InstanceReady = s.InstanceID != "" && s.Phase != order.PhaseProvisioning
	for _, h := range v.Frozen {
		switch r := HoldReason(h); r {
		case HoldExpiry, HoldArrears, HoldOps:
			s.Holds = append(s.Holds, r)
		default:
			return Restored{}, fmt.Errorf("%w: hold %q", ErrNotRestorable, h)
		}
	}
	for _, d := range v.Deadlines {
		name := ClockName(d.Action)
		if _, ok := clockInfo[name]; !ok {
			return Restored{}, fmt.Errorf("%w: clock %q", ErrNotRestorable, d.Action)
		}
		s.Clocks.Set(name, d.At)
	}
	if s.AppealOpen() && !s.Phase.Final() {
		guessed = append(guessed, s.pausedClocks()...)
	}
	s.restoreBilling()
	s.restoreCalls(v, snap.AttentionCause, snap.Arrears)
	s.Flags = s.ranOut()
	if v.Attention != "" {
		cause := snap.AttentionCause
		if cause == "" {
			cause = "unknown"
		}
		s.Flags = slices.DeleteFunc(s.Flags, func(f Flag) bool { return f.Cause == cause })
		s.Flags = append(s.Flags, Flag{Cause: cause, Why: v.Attention}) // the latest
	}
	if n := len(s.Flags); n > 0 {
		s.Attention, s.AttentionCause = s.Flags[n-1].Why, s.Flags[n-1].Cause
	}
	for i := range s.Flags {
		if s.Flags[i].Since.IsZero() {
			s.Flags[i].Since = now // when the restart saw it (the view keeps the latest's only)
		}
	}
	if n := len(s.Flags); n > 0 && v.AttentionSince != nil {
		s.Flags[n-1].Since = *v.AttentionSince
	}
	for i := range s.Calls {
		if s.Calls[i].State == CallRunning {
			s.Calls[i].Since = now // sent again now: the our-side clock counts from the restart
		}
	}
	if !slices.ContainsFunc(s.Calls, func(c Call) bool { return c.State == CallRunning && ourSideAfter(s.In.Windows, c.Kind) > 0 }) {
		s.Clocks.Stop(ClockOurSide) // no call of its kind is sent again: nothing to watch
	}
	if len(guessed) > 0 {
		why := "restarted from the read model by " + snap.Restarter.ID + "; check it against the seller and the books (" +
			strings.Join(guessed, "; ") + ")"
		s.Attention, s.AttentionCause = why, CauseRestarted
		s.Flags = append(s.Flags, Flag{Cause: CauseRestarted, Why: why, Since: now})
	}
	return Restored{State: s, Guessed: guessed}, nil
}

// ranOut infers the flags of SLA clocks that ran out: a view shows one flag only (the
// latest), but a phase waiting on the seller without its SLA clock, or an appeal at the
// last tier without the last tier's clock, says the clock ran out and flagged the order.
// (During an open appeal the supervision clocks are paused and out of the view: nothing is
// inferred from their absence.)
func (s *State) ranOut() []Flag {
	var out []Flag
	w := s.In.Windows
	if s.AppealOpen() {
		if s.Appeal.Tier > len(w.AppealTiers) && w.LastTierSLA > 0 && !s.Clocks.Has(ClockLastTier) {
			out = append(out, Flag{Cause: string(ClockLastTier), Why: fmt.Sprintf(
				"appeal %s unresolved past the last tier's SLA: resolve it with POST /v1/appeals/%s/resolution",
				s.Appeal.AppealID, s.Appeal.AppealID)})
		}
		return out
	}
	if slices.ContainsFunc(s.Clocks, func(c Clock) bool { return c.Name.Tag() == TagSupervision }) {
		return out
	}
	var name ClockName
	switch {
	case s.Phase == order.PhaseProvisioning:
		name = ClockProvisionLate
	case (s.Phase == order.PhaseRejected || s.Phase == order.PhaseDeploying) && s.Rejections > 0 && w.RedeliverySLA > 0:
		name = ClockRedelivery
	case s.Phase == order.PhaseDeploying && w.DeploymentSLA > 0:
		name = ClockDeploymentSLA
	case s.Phase == order.PhaseDelivering && s.Delivery == nil && w.FirstDeliverySLA > 0:
		name = ClockFirstDelivery
	case s.Phase == order.PhaseShipping && s.Shipment == nil && w.ShipmentSLA > 0:
		name = ClockShipment
	case s.Phase == order.PhaseShipping && s.Shipment != nil && w.SignoffSLA > 0:
		name = ClockSignoff
	default:
		return out
	}
	return append(out, Flag{Cause: string(name), Why: name.Summary() + " (ran out before the restart)"})
}

// knownPhases are the phases Restore rebuilds.
var knownPhases = []order.Phase{
	order.PhaseProvisioning, order.PhaseProvisionFailed, order.PhaseDeploying, order.PhaseShipping,
	order.PhaseDelivering, order.PhaseAwaitingAcceptance, order.PhaseRejected, order.PhaseInService,
	order.PhaseCompleted, order.PhaseReleased, order.PhaseCancelled,
}

// pausedClocks sets, paused with its whole window, the supervision clock of the phase that
// an open appeal had paused (a paused clock is not among the view's deadlines), and says so.
func (s *State) pausedClocks() []string {
	w := s.In.Windows
	var want []Clock
	add := func(name ClockName, window time.Duration) {
		if window > 0 && !s.Clocks.Has(name) {
			want = append(want, Clock{Name: name, Paused: true, Left: window})
		}
	}
	switch s.Phase {
	case order.PhaseAwaitingAcceptance:
		add(ClockAutoAccept, w.AcceptanceWindow)
	case order.PhaseRejected:
		add(ClockRedelivery, w.RedeliverySLA)
	case order.PhaseDeploying:
		add(ClockDeploymentSLA, w.DeploymentSLA)
	case order.PhaseDelivering:
		if s.Delivery == nil {
			add(ClockFirstDelivery, w.FirstDeliverySLA)
		}
	case order.PhaseShipping:
		if s.Shipment == nil {
			add(ClockShipment, w.ShipmentSLA)
		} else {
			add(ClockSignoff, w.SignoffSLA)
		}
	case order.PhaseProvisioning:
		add(ClockProvisionLate, provisionLate(w))
		if s.In.ProductType == order.TypeLicense && s.License == nil {
			add(ClockLicenseDue, w.LicenseWait)
		}
	case order.PhaseProvisionFailed:
		add(ClockRefund, w.RefundHold)
	}
	var out []string
	for _, c := range want {
		s.Clocks = append(s.Clocks, c)
		out = append(out, fmt.Sprintf("%s paused by the appeal with its whole window (%s)", c.Name, c.Left))
	}
	slices.SortFunc(s.Clocks, func(a, b Clock) int { return compareNames(a.Name, b.Name) })
	return out
}

// restoreBilling puts back the subscription's expiry when the view shows it passed with
// nothing after it: the expire clock had fired and the grace's level lookup was in flight.
// The expiry then runs again at once, and the grace counts from the restart.
func (s *State) restoreBilling() {
	if s.Phase != order.PhaseInService || s.Expiry == nil || slices.Contains(s.Holds, HoldExpiry) {
		return
	}
	for _, c := range []ClockName{ClockExpire, ClockFreeze, ClockRelease} {
		if s.Clocks.Has(c) {
			return
		}
	}
	s.Clocks.Set(ClockExpire, *s.Expiry) // past: it fires as soon as the workflow resumes
}

// restoreRelease says whether the order's service was ending when its workflow was lost,
// and if so sets who ends it and why, as State.release does: a release that failed (failed
// names the call), an unsubscription recorded before the release was done, an expiry hold
// whose retention clock had already run out (the view shows no release deadline), or an
// arrears hold the customer's account has released.
func (s *State) restoreRelease(failed CallKind, arrears order.AccountState) bool {
	if s.Phase != order.PhaseInService {
		return false
	}
	by, reason := timer, ""
	switch {
	case s.Unsubscription != nil:
		by, reason = order.Actor{Kind: order.ActorBilling}, "unsubscribed"
	case slices.Contains(s.Holds, HoldArrears) && (arrears == order.AccountReleased || failed == CallRelease):
		by, reason = system, string(HoldArrears)
	case slices.Contains(s.Holds, HoldExpiry) && (!s.Clocks.Has(ClockRelease) || failed == CallRelease):
		reason = string(HoldExpiry)
	case failed == CallRelease:
		reason = "released"
	default:
		return false
	}
	s.Clocks.Stop(ClockExpire, ClockFreeze, ClockRelease)
	s.ReleaseBy, s.ReleaseReason = &by, reason
	return true
}

// restoreCalls marks as running the seller calls the order may have had in flight or
// failed (v is the view it was restored from): the workflow starts them when it resumes.
func (s *State) restoreCalls(v order.View, attentionCause string, arrears order.AccountState) {
	if !s.hasInstance() {
		return // the other product types' sellers report; the order calls nobody
	}
	start := func(k CallKind) {
		if !s.Calls.Has(k) {
			s.Calls = append(s.Calls, Call{Kind: k, State: CallRunning})
		}
	}
	if s.pendingChange() != nil {
		start(CallUpgrade) // the change being applied is sent again (the seller applies it once)
	}
	refresh := func() {
		switch n := len(s.Renewals); {
		case n > 0:
			r := s.Renewals[n-1]
			s.Refresh = &r
		case s.ExpireTime != nil: // the validity moved at acceptance
			s.Refresh = &order.Renewal{RenewalOrderID: s.In.OrderID, RenewalOrderLineID: s.In.OrderLineID, ExpireTime: *s.ExpireTime}
		default:
			return
		}
		s.RefreshSent = s.Refresh.RenewalOrderID
		start(CallRefresh)
	}
	failed, _ := strings.CutPrefix(attentionCause, "call:")
	if v.Attention == "" {
		failed = ""
	}
	switch {
	case s.Phase == order.PhaseProvisioning && s.InstanceID == "":
		s.ProvisionUncertain = true
		start(CallNewInstance)
	case s.Phase == order.PhaseProvisioning:
		start(CallQuery)
	case s.Phase.Final():
		// A released or cancelled order whose view still waits on someone may be owed its
		// release: sent again (000003, released already, counts as done). Without an
		// instance ID only a recovery that failed is asked again.
		switch {
		case CallKind(failed) == CallRecover:
			s.ProvisionUncertain = true
			start(CallRecover)
		case v.WaitingOn != order.WaitNone && s.Phase != order.PhaseCompleted && s.atSeller():
			start(CallRelease)
		}
	case s.atSeller() && s.restoreRelease(CallKind(failed), arrears):
		start(CallRelease) // nothing else is sent to an instance (or code) being released
	case s.atSeller():
		if slices.Contains(s.Holds, HoldArrears) && arrears == order.AccountNone {
			// Paid meanwhile: the account's UNFREEZE was lost with the workflow.
			s.Holds = slices.DeleteFunc(s.Holds, func(h HoldReason) bool { return h == HoldArrears })
			if !s.frozen() && s.Phase == order.PhaseInService {
				s.SellerFrozen = true
				start(CallUnfreeze)
			}
		}
		switch CallKind(failed) {
		case CallUnfreeze:
			if !s.frozen() {
				s.SellerFrozen = true // the seller may still hold it: UNFREEZE again
				start(CallUnfreeze)
			}
		case CallRefresh:
			refresh()
		}
		if s.frozen() {
			start(CallFreeze) // SellerFrozen stays false until the seller confirms
		}
		if len(s.Renewals) > 0 && !s.Calls.Has(CallRefresh) {
			refresh()
		}
	}
}

// RebuildInput makes the start input of an order placed before the read model kept it
// (orders.start_input) from what is left: the view (IDs, type, billing mode, supervision,
// quantity, amount, acceptance criteria, unit price, placing time, the current expireTime),
// the product's commission rate as the catalogue has it now, and the current policy's
// windows for the product type. What the order was placed under and has changed since (a
// commission rate, a policy window, an expireTime a renewal moved) is not recoverable: the
// restored order is flagged for ops (Snapshot.InputRebuilt).
func RebuildInput(v order.View, commissionBps int, w order.Windows, fingerprint string) order.StartInput {
	return order.StartInput{
		OrderID: v.OrderID, OrderLineID: v.OrderLineID, CustomerID: v.CustomerID, ProductID: v.ProductID,
		SellerID: v.SellerID, ProductType: v.ProductType, BillingMode: v.BillingMode, Supervised: v.Supervised,
		Quantity: v.Quantity, Amount: v.Amount, CommissionBps: commissionBps, ExpireTime: v.ExpireTime,
		AcceptanceCriteria: v.AcceptanceCriteria, UnitPrice: v.UnitPrice, PlacedAt: v.PlacedAt,
		Fingerprint: fingerprint, Windows: w,
	}
}
