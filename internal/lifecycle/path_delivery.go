package lifecycle

import (
	"slices"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// packagePath: the seller deploys the software package through its lifecycle phases
// (install, start, verify) and reports each; verify done is delivery. A failed phase keeps
// the order deploying (the seller may report it again); the deployment SLA flags the order
// for ops without changing the phase. A rejection is answered by a redeployment.
type packagePath struct{}

func (packagePath) start(s *State, ev Event, o *Outcome) {
	s.placed(o, func() {
		s.Deployment = freshPhases()
		s.Clocks.Set(ClockDeploymentSLA, ev.At.Add(s.In.Windows.DeploymentSLA))
	})
}

func freshPhases() []order.DeploymentPhase {
	out := make([]order.DeploymentPhase, len(order.DeploymentPhases))
	for i, p := range order.DeploymentPhases {
		out[i] = order.DeploymentPhase{Phase: p, State: order.DeploymentPending}
	}
	return out
}

func (packagePath) check(s *State, ev Event) error {
	if ev.Kind != EvDeploy {
		return refuseOther(s, ev)
	}
	if err := isSeller(s, ev.Actor); err != nil {
		return err
	}
	if s.Phase != order.PhaseDeploying && s.Phase != order.PhaseRejected {
		return invalid("cannot report a deployment of an order that is %s", s.Status())
	}
	r := ev.Deploy
	i := slices.Index(order.DeploymentPhases, r.Phase)
	if i < 0 {
		return invalid("phase must be install, start or verify")
	}
	switch r.State {
	case order.DeploymentRunning, order.DeploymentDone, order.DeploymentFailed:
	default:
		return invalid("state must be running, done or failed")
	}
	for _, before := range s.Deployment[:i] {
		if before.State != order.DeploymentDone {
			return invalid("%s cannot be reported before %s is done", r.Phase, before.Phase)
		}
	}
	if s.Deployment[i].State == order.DeploymentDone && r.State != order.DeploymentDone {
		return invalid("%s is done already", r.Phase)
	}
	if r.Phase == order.PhaseVerify && r.State == order.DeploymentDone {
		if err := checkOpenedAt(s, ev); err != nil {
			return err
		}
	}
	return checkText("detail", r.Detail, 0, 2000)
}

func (packagePath) apply(s *State, ev Event, o *Outcome) {
	if ev.Kind != EvDeploy {
		return
	}
	r := ev.Deploy
	i := slices.Index(order.DeploymentPhases, r.Phase)
	cur := s.Deployment[i]
	if cur.State == r.State && cur.Detail == r.Detail && s.Phase == order.PhaseDeploying {
		o.Noop = "a repeat of the last report"
		return
	}
	s.record(o, order.StepDeploymentReported, ev.Actor, map[string]string{"phase": string(r.Phase), "state": string(r.State)}, func() {
		if s.Phase == order.PhaseRejected {
			s.Phase = order.PhaseDeploying // the redeployment has begun
			s.Clocks.Stop(ClockRedelivery)
			if s.rules(RulesSeams) {
				// A redeployment that stalls is as late as a first one.
				s.Clocks.Set(ClockDeploymentSLA, ev.At.Add(s.In.Windows.DeploymentSLA))
			}
		}
		at := ev.At
		s.Deployment[i] = order.DeploymentPhase{Phase: r.Phase, State: r.State, Detail: r.Detail, UpdatedAt: &at}
	})
	if r.Phase == order.PhaseVerify && r.State == order.DeploymentDone {
		s.delivered(ev, o, order.StepDelivered, ev.Actor, nil)
	}
}

func (packagePath) canAccept(*State) bool { return false }

func (packagePath) rejected(s *State) { s.Deployment = freshPhases() }

// hardwarePath: the seller ships (carrier, tracking number), the web tier relays the
// carrier's sign-off, and the acceptance window (10 days by default) runs from then. The
// buyer may accept as soon as a shipment is recorded. A rejection is answered by a
// reshipment.
type hardwarePath struct{}

func (hardwarePath) start(s *State, ev Event, o *Outcome) {
	s.placed(o, func() {
		if sla := s.In.Windows.ShipmentSLA; s.rules(RulesSeams) && sla > 0 {
			s.Clocks.Set(ClockShipment, ev.At.Add(sla))
		}
	})
}

func (hardwarePath) check(s *State, ev Event) error {
	switch ev.Kind {
	case EvShip:
		if err := isSeller(s, ev.Actor); err != nil {
			return err
		}
		if s.Phase != order.PhaseShipping && s.Phase != order.PhaseRejected {
			return invalid("cannot ship an order that is %s", s.Status())
		}
		if err := checkText("carrier", ev.Shipment.Carrier, 1, 100); err != nil {
			return err
		}
		return checkText("trackingNumber", ev.Shipment.TrackingNumber, 1, 100)
	case EvSignoff:
		if ev.Actor.Kind != order.ActorBuyer && ev.Actor.Kind != order.ActorSeller {
			return invalid("the sign-off is relayed by the web tier for the buyer or the seller")
		}
		if (ev.Actor.Kind == order.ActorBuyer && isBuyer(s, ev.Actor) != nil) ||
			(ev.Actor.Kind == order.ActorSeller && isSeller(s, ev.Actor) != nil) {
			return invalid("only the order's buyer or seller may relay its sign-off")
		}
		if s.Phase != order.PhaseShipping || s.Shipment == nil {
			return invalid("cannot sign off an order that is %s without a shipment", s.Status())
		}
		if ev.SignedAt.IsZero() {
			return invalid("signedAt is required")
		}
		if s.rules(RulesSeams) {
			// The acceptance window counts from the carrier's signedAt: it must be a time
			// the carrier can have reported, after the shipment and not in the future.
			switch t := ev.SignedAt.UTC(); {
			case t.After(businessAt(s.In, ev.At).Add(openedAtSkew)):
				return invalid("signedAt %s is in the future", t.Format(time.RFC3339))
			case t.Before(businessAt(s.In, s.Shipment.ShippedAt).Add(-openedAtSkew)):
				return invalid("signedAt %s is before the shipment", t.Format(time.RFC3339))
			}
		}
		return nil
	}
	return refuseOther(s, ev)
}

func (hardwarePath) apply(s *State, ev Event, o *Outcome) {
	switch ev.Kind {
	case EvShip:
		name := order.StepShipped
		if s.Phase == order.PhaseRejected {
			name = order.StepReshipped
		}
		s.record(o, name, ev.Actor, map[string]string{"carrier": ev.Shipment.Carrier, "trackingNumber": ev.Shipment.TrackingNumber}, func() {
			s.Phase = order.PhaseShipping
			s.Clocks.Stop(ClockRedelivery)
			s.Shipment = &order.Shipment{Carrier: ev.Shipment.Carrier, TrackingNumber: ev.Shipment.TrackingNumber, ShippedAt: ev.At}
			if s.rules(RulesSeams) {
				s.Clocks.Stop(ClockShipment)
				if sla := s.In.Windows.SignoffSLA; sla > 0 {
					s.Clocks.Set(ClockSignoff, ev.At.Add(sla))
				}
			}
		})
	case EvSignoff:
		signed := ev.SignedAt
		s.Shipment.SignedAt = &signed
		s.delivered(ev, o, order.StepSignedOff, ev.Actor, map[string]string{"signedAt": signed.UTC().Format("2006-01-02T15:04:05Z")})
		if s.rules(RulesSeams) && s.Phase == order.PhaseAwaitingAcceptance {
			// The window counts from the carrier's signedAt, not from when it was relayed.
			s.Clocks.Set(ClockAutoAccept, scaledAt(s.In, signed).Add(s.In.Windows.AcceptanceWindow))
		}
	}
}

func (hardwarePath) canAccept(s *State) bool {
	return s.Phase == order.PhaseShipping && s.Shipment != nil
}

func (hardwarePath) rejected(*State) {}

// servicePath: the seller delivers the service by hand and reports it with a note; a
// rejection is answered by a redelivery.
type servicePath struct{}

func (servicePath) start(s *State, ev Event, o *Outcome) {
	s.placed(o, func() {
		if sla := s.In.Windows.FirstDeliverySLA; s.rules(RulesSeams) && sla > 0 {
			s.Clocks.Set(ClockFirstDelivery, ev.At.Add(sla))
		}
	})
}

func (servicePath) check(s *State, ev Event) error {
	if ev.Kind != EvDeliver {
		return refuseOther(s, ev)
	}
	return checkDelivery(s, ev, order.PhaseDelivering)
}

func (servicePath) apply(s *State, ev Event, o *Outcome) {
	if ev.Kind == EvDeliver {
		s.deliveredBySeller(ev, o)
	}
}

func (servicePath) canAccept(*State) bool { return false }
func (servicePath) rejected(*State)       {}
