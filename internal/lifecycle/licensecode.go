package lifecycle

import (
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// Licence codes (License 2.0, issue 14 item 5). An order of a licence-code product
// (StartInput.LicenseCode set) carries the code the marketplace generated when it was placed,
// by reference only. It asks the seller for nothing to begin with: the code is issued at once
// and the order waits for the buyer to use it. The seller's software activates it through the
// seller open API (EvActivate): that passes supervision (the order is accepted by the
// seller's software, actor seller) and the actual open time is the activation time, so a
// period product's validity counts from it. A code not activated within the policy's
// activation window flags the order for ops (CauseLicenseCodeNotActivated); it goes on
// waiting (ops may force the acceptance, or cancel).
//
// From then on the order is like any licence order, except what the seller is told: the
// code stands for the instance, so freezes, unfreezes, renewals and the release are sent
// as updateLicenseCodeStatus, refreshLicenseCode and releaseLicenseCode (the workflow
// picks the wire call; the machine's call kinds are the same). A code never activated is
// unknown to the seller: nothing is sent for it, and a release releases at once.
//
// No version marker: a licence-code order is a new product kind that orders placed before
// it never take (their StartInput has no LicenseCode), and every rule below only applies
// when it is set; an order that is not a licence-code order answers atSeller exactly as
// before (InstanceID != "").

// EvActivate is the seller's software activating the order's licence code.
const EvActivate EventKind = order.UpdateActivateLicenseCode

// ClockActivation runs from the code's issue for the policy's activation window; when it
// runs out the order is flagged (a supervision clock: an appeal pauses it, an acceptance
// stops it).
const ClockActivation ClockName = "license_code_activation"

// CauseLicenseCodeNotActivated is the attention cause of a licence code never activated
// within the policy's window.
const CauseLicenseCodeNotActivated = "license_code_not_activated"

// licenseCode reports whether the order is of a licence-code product.
func (s *State) licenseCode() bool { return s.In.LicenseCode != nil }

// atSeller reports whether the seller holds something of the order to freeze, refresh or
// release: an instance, or (licence codes) a code its software has activated.
func (s *State) atSeller() bool {
	if s.licenseCode() {
		return s.CodeActivatedAt != nil
	}
	return s.InstanceID != ""
}

// licenseCodePath is the path of licence-code orders.
type licenseCodePath struct{}

func (licenseCodePath) start(s *State, ev Event, o *Outcome) {
	s.placed(o, nil)
	ref := *s.In.LicenseCode
	s.record(o, order.StepLicenseCodeIssued, system, map[string]string{"sha256": ref.SHA256, "masked": ref.Masked}, func() {
		s.License = &ref
		s.Phase = order.PhaseAwaitingAcceptance
		s.Clocks.Set(ClockActivation, ev.At.Add(s.In.Windows.ActivationWindow))
	})
}

func (licenseCodePath) check(s *State, ev Event) error {
	if ev.Kind != EvActivate {
		return refuseOther(s, ev)
	}
	if err := isSeller(s, ev.Actor); err != nil {
		return err
	}
	switch {
	case s.License == nil || ev.CodeSHA256 != s.License.SHA256:
		return invalid("that is not this order's licence code")
	case s.CodeActivatedAt != nil:
		return refuse(order.ErrLicenseCodeActivated, "the licence code was activated already, at %s",
			s.CodeActivatedAt.UTC().Format(time.RFC3339))
	case s.Phase != order.PhaseAwaitingAcceptance && s.Phase != order.PhaseInService:
		return invalid("cannot activate the licence code of an order that is %s", s.Status())
	}
	return nil
}

func (licenseCodePath) apply(s *State, ev Event, o *Outcome) {
	if ev.Kind == EvClock && ev.Clock == ClockActivation {
		s.needsAttention(o, timer, "licence code "+s.License.Masked+" not activated within the activation window: "+
			"ask the buyer, or force the acceptance (POST /v1/orders/"+s.In.OrderID+"/forced-acceptance) or cancel",
			CauseLicenseCodeNotActivated, nil)
		return
	}
	if ev.Kind != EvActivate {
		return
	}
	at := businessAt(s.In, ev.At)
	s.record(o, order.StepLicenseCodeActivated, ev.Actor, map[string]string{"activatedAt": at.Format(time.RFC3339)}, func() {
		s.CodeActivatedAt = &at
		s.Clocks.Stop(ClockActivation)
		s.clearFlags(func(cause string) bool { return cause == CauseLicenseCodeNotActivated })
	})
	if s.Phase == order.PhaseAwaitingAcceptance {
		// Activation passes supervision; the actual open time is the activation time.
		s.OpenedAt = &at
		s.accept(ev, o, ev.Actor)
	}
}

func (licenseCodePath) canAccept(*State) bool { return false }
func (licenseCodePath) rejected(*State)       {}

// sentAs is the name ops read for a call in the order's last error and attention text: the
// seller activity that was actually sent. A licence-code order's refresh, freeze, unfreeze
// and release go out as the licence-code calls, and saying "refreshInstance failed" would
// send ops to look for an instance that does not exist.
func (s *State) sentAs(k CallKind) string {
	if s.In.LicenseCode == nil {
		return string(k)
	}
	switch k {
	case CallRefresh:
		return "refreshLicenseCode"
	case CallFreeze, CallUnfreeze:
		return "updateLicenseCodeStatus"
	case CallRelease:
		return "releaseLicenseCode"
	}
	return string(k)
}
