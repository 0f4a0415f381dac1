package lifecycle

import (
	"regexp"
	"slices"

	"github.com/cloudmarket/orders/internal/order"
)

// Limits of an appeal's evidence metadata (the files themselves stay with the web tier).
const (
	maxEvidence     = 10
	maxEvidenceSize = 100 << 20 // bytes per file
)

var (
	sha256Pattern      = regexp.MustCompile(`^[0-9a-f]{64}$`)
	contentTypePattern = regexp.MustCompile(`^[a-z]+/[A-Za-z0-9.+-]+$`)
)

// deliveryStarted are the phases in which ops may force an acceptance: the seller has
// started to deliver (order-states.md, section 3).
var deliveryStarted = []order.Phase{order.PhaseDeploying, order.PhaseShipping, order.PhaseDelivering,
	order.PhaseAwaitingAcceptance, order.PhaseRejected}

func checkAppeal(s *State, ev Event) error {
	a := ev.Appeal
	switch ev.Actor.Kind {
	case order.ActorBuyer:
		if err := isBuyer(s, ev.Actor); err != nil {
			return err
		}
	case order.ActorSeller:
		if err := isSeller(s, ev.Actor); err != nil {
			return err
		}
	case order.ActorOps:
		// Ops open an appeal on a party's behalf (RulesSeams and later): the appeal is the
		// party's, the audit line names the ops person.
		p := a.OnBehalfOf
		switch {
		case !s.rules(RulesSeams):
			return invalid("the order was placed under the rules before 2026-12: only its buyer or seller may appeal")
		case p == nil:
			return invalid("ops open an appeal on behalf of the order's buyer or seller (onBehalfOf)")
		case p.Kind == order.ActorBuyer && p.ID == s.In.CustomerID, p.Kind == order.ActorSeller && p.ID == s.In.SellerID:
		default:
			return invalid("onBehalfOf must be the order's buyer or its seller")
		}
	default:
		return invalid("only the order's buyer or its seller may appeal")
	}
	if s.AppealOpen() {
		return refuse(order.ErrAppealOpen, "appeal %s is already open", s.Appeal.AppealID)
	}
	if limit := s.In.Windows.AppealLimit; s.rules(RulesSeams) && limit > 0 && s.Appeals >= limit {
		// Each appeal pauses the acceptance window: without a cap, an order appealed again
		// after every "continue" would never be accepted by the timer.
		return refuse(order.ErrAppealLimit, "%d appeals is the limit for an order", limit)
	}
	if err := checkText("reason", a.Reason, 1, 2000); err != nil {
		return err
	}
	if len(a.Evidence) > maxEvidence {
		return invalid("at most %d pieces of evidence", maxEvidence)
	}
	for _, e := range a.Evidence {
		switch {
		case checkText("evidence name", e.Name, 1, 200) != nil:
			return invalid("an evidence name must be 1-200 characters")
		case !contentTypePattern.MatchString(e.ContentType) || len(e.ContentType) > 100:
			return invalid("an evidence contentType must be a media type")
		case !sha256Pattern.MatchString(e.SHA256):
			return invalid("an evidence sha256 must be 64 lower-case hex characters")
		case e.Size < 1 || e.Size > maxEvidenceSize:
			return invalid("an evidence size must be 1-%d bytes", maxEvidenceSize)
		}
	}
	return nil
}

func checkResolution(s *State, ev Event) error {
	r := ev.Resolution
	if err := actorIs(ev.Actor, order.ActorOps); err != nil {
		return err
	}
	if !s.AppealOpen() || s.Appeal.AppealID != r.AppealID {
		return invalid("appeal %s is not open on this order", r.AppealID)
	}
	switch r.Outcome {
	case order.OutcomeContinue, order.OutcomeRefund:
	case order.OutcomeAccept:
		if !slices.Contains(deliveryStarted, s.Phase) {
			return invalid("an order that is %s cannot be accepted: delivery has not started", s.Phase)
		}
	default:
		return invalid("outcome must be continue, accept or refund")
	}
	return checkText("note", r.Note, 0, 2000)
}

// openAppeal opens an appeal: the order is appealing, its supervision clocks stop where they
// are, its billing clocks run on, and the appeal's first tier SLA starts.
func (s *State) openAppeal(ev Event, o *Outcome) {
	s.Appeals++
	raisedBy := ev.Actor
	detail := map[string]string{"appealId": "", "reason": ev.Appeal.Reason}
	if p := ev.Appeal.OnBehalfOf; ev.Actor.Kind == order.ActorOps && p != nil {
		raisedBy = *p
		detail["onBehalfOf"] = string(p.Kind)
	}
	a := &order.Appeal{
		AppealID: appealID(s.In.OrderID, s.Appeals), State: order.AppealStateOpen, Tier: 1,
		RaisedBy: raisedBy, Reason: ev.Appeal.Reason, Evidence: ev.Appeal.Evidence, RaisedAt: ev.At,
	}
	detail["appealId"] = a.AppealID
	if a.Evidence == nil {
		a.Evidence = []order.Evidence{}
	}
	s.record(o, order.StepAppealOpened, ev.Actor, detail, func() {
		s.Appeal = a
		s.Clocks.Pause(TagSupervision, ev.At)
		s.setEscalation(ev)
	})
	o.Appeal = &order.AppealChange{Kind: order.AppealRaised, Actor: ev.Actor, Appeal: *s.Appeal}
}

// setEscalation starts the SLA clock of the appeal's tier. The last tier does not escalate:
// under RulesSeams its own SLA flags the order for ops instead.
func (s *State) setEscalation(ev Event) {
	tiers := s.In.Windows.AppealTiers
	if s.Appeal.Tier > len(tiers) {
		s.Appeal.EscalateAt = nil
		if sla := s.In.Windows.LastTierSLA; s.rules(RulesSeams) && sla > 0 {
			s.Clocks.Set(ClockLastTier, ev.At.Add(sla))
		}
		return
	}
	at := ev.At.Add(tiers[s.Appeal.Tier-1])
	s.Appeal.EscalateAt = &at
	s.Clocks.Set(ClockEscalate, at)
}

func (s *State) escalateAppeal(ev Event, o *Outcome) {
	if !s.AppealOpen() {
		return
	}
	s.record(o, order.StepAppealEscalated, timer, map[string]string{"appealId": s.Appeal.AppealID}, func() {
		s.Appeal.Tier++
		s.setEscalation(ev)
	})
	o.Appeal = &order.AppealChange{Kind: order.AppealEscalated, Actor: timer, Appeal: *s.Appeal}
}

// resolveAppeal closes the appeal with ops' outcome: continue where the order was (its
// supervision clocks resume with the time they had left), accept it, or refund it.
func (s *State) resolveAppeal(ev Event, o *Outcome) {
	r := ev.Resolution
	s.record(o, order.StepAppealResolved, ev.Actor, map[string]string{"appealId": r.AppealID, "outcome": string(r.Outcome)}, func() {
		actor, at := ev.Actor, ev.At
		s.Appeal.State, s.Appeal.Outcome, s.Appeal.Note = order.AppealStateResolved, r.Outcome, r.Note
		s.Appeal.ResolvedBy, s.Appeal.ResolvedAt, s.Appeal.EscalateAt = &actor, &at, nil
		s.Clocks.Stop(ClockEscalate, ClockLastTier)
		s.Clocks.Resume(TagSupervision, ev.At)
		s.clearFlags(func(cause string) bool { return cause == string(ClockLastTier) }) // the appeal it flagged is resolved
	})
	o.Appeal = &order.AppealChange{Kind: order.AppealResolved, Actor: ev.Actor, Appeal: *s.Appeal}
	switch r.Outcome {
	case order.OutcomeContinue:
		s.unblock(o)
	case order.OutcomeAccept:
		s.accept(ev, o, ev.Actor)
		s.unblock(o)
	case order.OutcomeRefund:
		if s.Phase.Final() && s.rules(RulesSeams) {
			// Ended by billing meanwhile (released): the phase stands, the money goes back.
			s.record(o, order.StepRefunded, ev.Actor, map[string]string{"reason": "appeal"}, func() { s.refundAll(o) })
			return
		}
		s.refund(ev, o, ev.Actor, "appeal")
	}
}
