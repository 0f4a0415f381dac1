package lifecycle

import (
	"github.com/cloudmarket/orders/internal/order"
)

// path is what differs between product types: how delivery starts, which seller actions
// move it, and how the seller's answers do. A new product type is a new path, chosen when
// the order starts; the loop and the common rules (acceptance, rejection, appeals, money,
// billing clocks) do not change.
type path interface {
	// start begins delivery; the phase is order.FirstPhase already.
	start(s *State, ev Event, o *Outcome)
	// check and apply the path's own events (deliver, deploy, ship, signoff, licence),
	// the results of provisioning calls, and the path's clocks.
	check(s *State, ev Event) error
	apply(s *State, ev Event, o *Outcome)
	// canAccept says whether the buyer may accept before delivery is reported complete
	// (hardware: once a shipment is recorded).
	canAccept(s *State) bool
	// rejected resets what a redelivery replaces.
	rejected(s *State)
}

func pathOf(s *State) path {
	if s.licenseCode() {
		return licenseCodePath{}
	}
	switch s.In.ProductType {
	case order.TypeLicense:
		return instancePath{license: true}
	case order.TypePackage:
		return packagePath{}
	case order.TypeHardware:
		return hardwarePath{}
	case order.TypeService:
		return servicePath{}
	}
	return instancePath{}
}

// refuseOther refuses an action of another product type's path.
func refuseOther(s *State, ev Event) error {
	return invalid("a %s order takes no %s", s.In.ProductType, ev.Kind)
}

// placed is the first step of every path.
func (s *State) placed(o *Outcome, change func()) {
	s.record(o, order.StepPlaced, system, nil, change)
	o.Steps[len(o.Steps)-1].From = ""
}

// redelivery checks a seller's delivery after a rejection, or the first delivery of a
// service (phase first).
func checkDelivery(s *State, ev Event, first order.Phase) error {
	if err := isSeller(s, ev.Actor); err != nil {
		return err
	}
	if s.Phase != order.PhaseRejected && s.Phase != first {
		return invalid("cannot deliver an order that is %s", s.Status())
	}
	if err := checkOpenedAt(s, ev); err != nil {
		return err
	}
	return checkText("note", ev.Note, 1, 2000)
}

func (s *State) deliveredBySeller(ev Event, o *Outcome) {
	name := order.StepDelivered
	if s.Phase == order.PhaseRejected {
		name = order.StepRedelivered
	}
	s.Delivery = &order.Delivery{Note: ev.Note, DeliveredAt: ev.At}
	s.delivered(ev, o, name, ev.Actor, nil)
}

// instancePath is saas and license: the marketplace asks the seller for an instance
// (newInstance, polled with queryInstance while the seller answers 000004); a licence comes
// in the answer, in queryInstance's info, or later through the seller's licence call. A
// rejection is answered by the seller's redelivery.
type instancePath struct{ license bool }

func (p instancePath) start(s *State, ev Event, o *Outcome) {
	s.placed(o, func() {
		s.startCall(o, CallNewInstance)
		s.Clocks.Set(ClockProvisionLate, ev.At.Add(provisionLate(s.In.Windows)))
		if p.license {
			s.Clocks.Set(ClockLicenseDue, ev.At.Add(s.In.Windows.LicenseWait))
		}
	})
}

func (p instancePath) check(s *State, ev Event) error {
	switch ev.Kind {
	case EvDeliver:
		if s.Phase != order.PhaseRejected {
			return invalid("cannot redeliver an order that is %s", s.Status())
		}
		return checkDelivery(s, ev, order.PhaseRejected)
	case EvLicense:
		if !p.license {
			return refuseOther(s, ev)
		}
		if err := isSeller(s, ev.Actor); err != nil {
			return err
		}
		if s.License != nil {
			if s.License.SHA256 != ev.License.SHA256 {
				return refuse(order.ErrLicenseMismatch, "a different licence was delivered for this order already")
			}
			return nil // a resend of the same licence
		}
		// A licence late for the licence clock still rescues the order during the refund
		// hold: the seller made the instance (provision_failed with an instance ID).
		if s.Phase != order.PhaseProvisioning && (s.Phase != order.PhaseProvisionFailed || s.InstanceID == "") {
			return invalid("cannot deliver a licence to an order that is %s", s.Status())
		}
		return checkOpenedAt(s, ev)
	}
	return refuseOther(s, ev)
}

func (p instancePath) apply(s *State, ev Event, o *Outcome) {
	switch ev.Kind {
	case EvDeliver:
		s.deliveredBySeller(ev, o)
	case EvLicense:
		if s.License != nil {
			o.Noop = "the same licence again"
			return
		}
		p.licenseReceived(s, ev, o, ev.License)
	case EvResult:
		p.provisioned(s, ev, o)
	}
}

// provisioned applies the seller's answer to newInstance or queryInstance.
func (p instancePath) provisioned(s *State, ev Event, o *Outcome) {
	r := ev.Result
	switch {
	case r.OK && r.Pending:
		s.record(o, order.StepInstancePending, s.sellerActor(), map[string]string{"instanceId": r.InstanceID}, func() {
			s.InstanceID = r.InstanceID
			s.startCall(o, CallQuery)
		})
	case r.OK:
		if r.FrontEndURL != "" {
			s.FrontEndURL = r.FrontEndURL
		}
		if !s.InstanceReady {
			s.record(o, order.StepInstanceCreated, s.sellerActor(), map[string]string{"instanceId": r.InstanceID}, func() {
				s.InstanceID, s.InstanceReady = r.InstanceID, true
			})
		}
		if s.Phase != order.PhaseProvisioning {
			return // delivered already (a licence came first)
		}
		switch {
		case !p.license:
			s.delivered(ev, o, order.StepDelivered, s.sellerActor(), nil)
		case r.License != nil:
			p.licenseReceived(s, ev, o, *r.License)
		case r.Call == CallNewInstance:
			s.startCall(o, CallQuery) // the licence may be in queryInstance's info
		default:
			// No licence in the answers: it comes through the seller's licence call, or
			// the licence_due clock fails the order.
		}
	case s.Phase != order.PhaseProvisioning && s.rules(RulesSeams):
		// Delivered meanwhile (a licence by callback), or failed already (the licence
		// clock): the order does not go back. What the seller made stays uncertain, for a
		// release to find (recover).
		s.ProvisionUncertain = s.ProvisionUncertain || (!r.Refused && s.InstanceID == "")
	case r.Refused:
		s.provisionFailed(ev, o, system, "seller_refused", r.ErrorType)
	default:
		s.ProvisionUncertain = s.InstanceID == ""
		s.provisionFailed(ev, o, system, "window_exhausted", r.ErrorType)
	}
}

func (p instancePath) licenseReceived(s *State, ev Event, o *Outcome, l order.LicenseRef) {
	s.record(o, order.StepLicenseReceived, s.sellerActor(), map[string]string{"via": l.Via, "sha256": l.SHA256}, func() {
		s.License = &l
		if s.Phase == order.PhaseProvisionFailed {
			s.Phase, s.LastError = order.PhaseProvisioning, ""
			s.Clocks.Stop(ClockRefund)
		}
	})
	if s.Phase == order.PhaseProvisioning {
		s.delivered(ev, o, order.StepDelivered, s.sellerActor(), nil)
	}
}

func (instancePath) canAccept(*State) bool { return false }
func (instancePath) rejected(*State)       {}
