package sim

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/cloudmarket/orders/internal/lifecycle"
	"github.com/cloudmarket/orders/internal/order"
)

// evAppealByOps is the simulation's name for an appeal ops open on a party's behalf (the
// order sees an EvAppeal by ops).
const evAppealByOps lifecycle.EventKind = "appeal_by_ops"

const (
	hour = time.Hour
	day  = 24 * time.Hour
)

// event builds the update or signal an action stands for. The variant's low two bits pick
// who acts (0 and 3: the party the action belongs to; 1: another party of the same kind;
// 2: a party of another kind); the bits above pick what it says.
func (w *World) event(o *simOrder, a Action) (lifecycle.Event, bool) {
	s := &o.st
	buyer := order.Actor{Kind: order.ActorBuyer, ID: s.In.CustomerID}
	seller := sellerOf(s)
	ops := order.Actor{Kind: order.ActorOps, ID: "alice"}
	billing := order.Actor{Kind: order.ActorBilling, ID: "billing"}
	who := func(right order.Actor) order.Actor {
		switch a.V & 3 {
		case 1:
			return order.Actor{Kind: right.Kind, ID: right.ID + "-other"}
		case 2:
			if right.Kind == order.ActorBuyer {
				return seller
			}
			return buyer
		}
		return right
	}
	v := a.V >> 2
	ev := lifecycle.Event{Kind: a.Ev}
	switch a.Ev {
	case lifecycle.EvAccept, lifecycle.EvRetry:
		ev.Actor = who(buyer)
		if a.Ev == lifecycle.EvRetry {
			ev.Actor = who(ops)
		}
	case lifecycle.EvReject:
		ev.Actor, ev.Reason = who(buyer), "it does not work"
		if v%4 == 3 {
			ev.Reason = ""
		}
	case lifecycle.EvDeliver:
		ev.Actor, ev.Note = who(seller), "delivered by hand"
		ev.OpenedAt = w.openedAt(o, v)
	case lifecycle.EvDeploy:
		ev.Actor = who(seller)
		ev.Deploy = order.DeploymentReport{Actor: ev.Actor, Phase: order.DeploymentPhases[v%3],
			State: []order.DeploymentState{order.DeploymentRunning, order.DeploymentDone, order.DeploymentFailed}[(v/3)%3]}
		if ev.Deploy.Phase == order.PhaseVerify && ev.Deploy.State == order.DeploymentDone {
			ev.OpenedAt = w.openedAt(o, v/9)
		}
	case lifecycle.EvShip:
		ev.Actor = who(seller)
		ev.Shipment = order.ShipmentRequest{Actor: ev.Actor, Carrier: "SF", TrackingNumber: "T" + strconv.Itoa(v%10)}
	case lifecycle.EvSignoff:
		ev.Actor = who(buyer)
		switch v % 4 {
		case 0:
			ev.SignedAt = w.now
		case 1:
			ev.SignedAt = w.now.Add(-2 * day)
		case 2:
			ev.SignedAt = w.now.Add(2 * day) // in the future
		case 3:
			ev.SignedAt = s.In.PlacedAt.Add(-hour) // before the order
		}
	case lifecycle.EvLicense:
		ev.Actor = who(seller)
		sum := "a"
		if v%4 == 3 {
			sum = "b" // a different licence
		}
		ev.License = *licence(sum, "callback", w.now)
		ev.OpenedAt = w.openedAt(o, v/4)
	case lifecycle.EvActivate:
		ev.Actor = who(seller)
		if s.License != nil {
			ev.CodeSHA256 = s.License.SHA256
		}
		if v%4 == 3 {
			ev.CodeSHA256 = licence("b", "generated", w.now).SHA256 // another code
		}
	case lifecycle.EvAppeal:
		right := buyer
		if v%2 == 1 {
			right = seller
		}
		ev.Actor = who(right)
		ev.Appeal = order.AppealRequest{Actor: ev.Actor, Reason: "not as described", Evidence: []order.Evidence{}}
	case evAppealByOps:
		// Ops open the appeal on the party's behalf (or on someone else's).
		right := buyer
		if v%2 == 1 {
			right = seller
		}
		party := who(right)
		ev.Kind, ev.Actor = lifecycle.EvAppeal, ops
		ev.Appeal = order.AppealRequest{Actor: ops, Reason: "the party phoned", Evidence: []order.Evidence{}, OnBehalfOf: &party}
	case lifecycle.EvResolve:
		ev.Actor = who(ops)
		id := "AP-none"
		if s.Appeal != nil {
			id = s.Appeal.AppealID
		}
		if (v/3)%5 == 4 {
			id = "AP-wrong"
		}
		ev.Resolution = order.AppealResolution{Actor: ev.Actor, AppealID: id,
			Outcome: []order.AppealOutcome{order.OutcomeContinue, order.OutcomeAccept, order.OutcomeRefund}[v%3], Note: "decided"}
	case lifecycle.EvRenew:
		ev.Actor = who(billing)
		cur := s.In.PlacedAt.AddDate(0, 1, 0)
		if x := lifecycle.View(s, w.now).ExpireTime; x != nil {
			cur = *x
		}
		exp := cur.AddDate(0, 1, 0)
		if (v/4)%4 == 3 {
			exp = cur // does not move the expiry
		}
		n := renewalNumber(o, v)
		if n == o.renewals { // the last renewal again, as it was sent
			for _, r := range s.Renewals {
				if r.RenewalOrderID == o.id+"-R"+strconv.Itoa(n) {
					exp = r.ExpireTime
				}
			}
		}
		ev.Renewal = order.RenewalRequest{Actor: ev.Actor, RenewalOrderID: o.id + "-R" + strconv.Itoa(n), RenewalOrderLineID: o.id + "-R" + strconv.Itoa(n) + "-1",
			ExpireTime: exp}
		if (v/16)%2 == 1 {
			ev.Renewal.Amount = &order.Money{Value: 5000, Currency: currency}
		}
		if !w.cfg.Legacy && (v/32)%4 == 3 { // a renewal with a change (the seller agreed: the loop asks it first)
			ev.Renewal.Change = &order.RenewalChange{ProductID: "p-renewed-pro", SKUCode: "sku-2", Quantity: 2}
		}
	case lifecycle.EvUnsubscribe:
		ev.Actor = who(billing)
		u := order.UnsubscribeRequest{Actor: ev.Actor, Reason: "no longer needed", UnsubscribeOrderID: o.id + "-U", UnsubscribeOrderLineID: o.id + "-U-1"}
		u.Refund = refundOf(o, v)
		ev.Unsubscribe = u
	case lifecycle.EvOps:
		ev.Actor = who(ops)
		ev.Ops = w.opsRequest(o, ev.Actor, v)
	case lifecycle.EvChange:
		// Billing's change order: an upgrade (a new product), a scale-up, again, or nothing.
		ev.Actor = who(billing)
		n := len(s.Changes)
		if v%4 == 3 && n > 0 {
			n-- // the last one again
		}
		ev.Change = order.ChangeRequest{Actor: ev.Actor, ChangeOrderID: o.id + "-C" + strconv.Itoa(n), ChangeOrderLineID: o.id + "-C" + strconv.Itoa(n) + "-1",
			Quantity: 1 + v%3, Amount: order.Money{Value: []int64{3000, 0, 1200}[v%3], Currency: currency}}
		if v%2 == 0 {
			ev.Change.ProductID = "p-upgraded"
		}
	case lifecycle.EvConvert:
		// Billing's trial-to-formal order: a month from now (mostly), already past, or again.
		ev.Actor = who(billing)
		exp := w.now.AddDate(0, 1, 0)
		if v%5 == 4 {
			exp = w.now.Add(-time.Hour)
		}
		ev.Convert = order.ConversionRequest{Actor: ev.Actor, FormalOrderID: o.id + "-F", FormalOrderLineID: o.id + "-F-1",
			ExpireTime: exp, Amount: order.Money{Value: 9900, Currency: currency}}
	case lifecycle.EvWithdraw:
		// Billing takes back its latest renewal (mostly), an older one, or one never made.
		ev.Actor = who(billing)
		id := o.id + "-R-none"
		if n := len(s.Renewals); n > 0 {
			id = s.Renewals[n-1].RenewalOrderID
			if v%4 == 3 {
				id = s.Renewals[0].RenewalOrderID
			}
		}
		ev.Withdraw = order.RenewalWithdrawal{Actor: ev.Actor, RenewalOrderID: id, UnsubscribeOrderID: id + "-W", UnsubscribeOrderLineID: id + "-W-1"}
	default:
		return ev, false
	}
	return ev, true
}

// renewalNumber is the renewal a renew action names: the last one again (variant bits say
// so, once there is one), else the next.
func renewalNumber(o *simOrder, v int) int {
	if v%4 == 3 && o.renewals > 0 {
		return o.renewals
	}
	return o.renewals + 1
}

// openedAt is the actual open time a seller reports with a delivery: none, the placing,
// an hour ago, or a day ahead (refused).
func (w *World) openedAt(o *simOrder, v int) *time.Time {
	var t time.Time
	switch v % 4 {
	case 0:
		return nil
	case 1:
		t = o.st.In.PlacedAt
	case 2:
		t = w.now.Add(-hour)
	case 3:
		t = w.now.Add(day)
	}
	return &t
}

// generate picks the next action: mostly what moves an order on from where it stands (so
// runs reach deep states), with adversarial actions, time jumps and the world's own moves
// mixed in.
func (w *World) generate(r *rand.Rand) Action {
	n := r.IntN(100)
	v := r.IntN(1 << 12)
	if len(w.orders) == 0 || (n < 6 && len(w.orders) < w.cfg.MaxOrders) {
		return Action{Kind: ActPlace, C: r.IntN(customers), V: v}
	}
	// Mostly an order that is still open: actions on ended ones are refused at once.
	var open []int
	for i, x := range w.orders {
		if !x.st.Done() {
			open = append(open, i)
		}
	}
	if len(open) == 0 && len(w.orders) < w.cfg.MaxOrders {
		return Action{Kind: ActPlace, C: r.IntN(customers), V: v}
	}
	oi := r.IntN(len(w.orders))
	if len(open) > 0 && r.IntN(10) > 0 {
		oi = open[r.IntN(len(open))]
	}
	o := w.orders[oi]
	switch {
	case n < 40:
		// Something that moves the order on, by the party it waits on.
		if len(o.inflight) > 0 && r.IntN(2) == 0 {
			return Action{Kind: ActAnswer, O: oi, V: v, Out: pickOutcome(r)}
		}
		ev := progress(o, r)
		switch ev {
		case "":
			if _, ok := w.nextDeadline(); !ok {
				return Action{Kind: ActAdvance, D: []time.Duration{hour, day, 10 * day}[r.IntN(3)]}
			}
			return Action{Kind: ActNext, V: r.IntN(3)}
		case lifecycle.EvDeploy:
			// The next phase not done, mostly reported done.
			phase := 0
			for i, p := range o.st.Deployment {
				if p.State != order.DeploymentDone {
					phase = i
					break
				}
			}
			state := 1
			if r.IntN(5) == 0 {
				state = r.IntN(3)
			}
			return Action{Kind: ActUpdate, O: oi, Ev: ev, V: (phase + 3*state + 9*r.IntN(4)) << 2}
		}
		return Action{Kind: ActUpdate, O: oi, Ev: ev, V: v &^ 3}
	case n < 52:
		if len(o.inflight) > 0 {
			return Action{Kind: ActAnswer, O: oi, V: v, Out: pickOutcome(r)}
		}
		if _, ok := w.nextDeadline(); ok {
			return Action{Kind: ActNext, V: r.IntN(3)}
		}
		return Action{Kind: ActAdvance, D: day}
	case n < 62:
		if _, ok := w.nextDeadline(); ok && r.IntN(2) == 0 {
			return Action{Kind: ActNext, V: r.IntN(3)}
		}
		return Action{Kind: ActAdvance, D: []time.Duration{time.Minute, hour, 6 * hour, day, 3 * day, 10 * day, 40 * day}[r.IntN(7)]}
	case n < 70:
		// Any event from anyone: most are refused, each with its code.
		kinds := []lifecycle.EventKind{lifecycle.EvAccept, lifecycle.EvReject, lifecycle.EvDeliver, lifecycle.EvDeploy, lifecycle.EvShip,
			lifecycle.EvSignoff, lifecycle.EvLicense, lifecycle.EvAppeal, lifecycle.EvResolve, lifecycle.EvRetry, lifecycle.EvRenew,
			lifecycle.EvUnsubscribe, lifecycle.EvOps, lifecycle.EvWithdraw, lifecycle.EvConvert, lifecycle.EvChange, lifecycle.EvActivate}
		return Action{Kind: ActUpdate, O: oi, Ev: kinds[r.IntN(len(kinds))], V: v}
	case n < 75:
		if r.IntN(5) == 0 {
			return Action{Kind: ActUpdate, O: oi, Ev: evAppealByOps, V: v &^ 3}
		}
		return Action{Kind: ActUpdate, O: oi, Ev: lifecycle.EvAppeal, V: v &^ 3}
	case n < 79:
		return Action{Kind: ActUpdate, O: oi, Ev: lifecycle.EvResolve, V: v &^ 3}
	case n < 82:
		return Action{Kind: ActArrears, C: r.IntN(customers), V: v}
	case n < 85:
		return Action{Kind: ActPay, C: r.IntN(customers), V: v}
	case n < 89:
		c := r.IntN(customers)
		if acc := w.accounts[c]; acc != nil && acc.level {
			return Action{Kind: ActLevel, C: c, V: v}
		}
		return Action{Kind: ActTell, C: c}
	case n < 93:
		// Usage comes for a pay-per-use order with an instance, mostly.
		var ppu []int
		for i, x := range w.orders {
			if x.st.In.BillingMode == order.BillingPayPerUse && x.st.InstanceID != "" {
				ppu = append(ppu, i)
			}
		}
		if len(ppu) > 0 && r.IntN(5) > 0 {
			oi = ppu[r.IntN(len(ppu))]
		}
		return Action{Kind: ActUsage, O: oi, V: v, D: time.Duration(r.IntN(240)) * hour}
	case n < 95:
		return Action{Kind: ActStatement}
	case n < 97:
		if r.IntN(4) == 0 {
			return Action{Kind: ActCAN, O: -1, C: r.IntN(customers)}
		}
		return Action{Kind: ActCAN, O: oi}
	default:
		ev := []lifecycle.EventKind{lifecycle.EvRenew, lifecycle.EvUnsubscribe, lifecycle.EvOps, lifecycle.EvOps, lifecycle.EvWithdraw,
			lifecycle.EvConvert, lifecycle.EvChange}[r.IntN(7)]
		return Action{Kind: ActUpdate, O: oi, Ev: ev, V: v &^ 3}
	}
}

func pickOutcome(r *rand.Rand) string {
	n := r.IntN(100)
	switch {
	case n < 55:
		return "ok"
	case n < 65:
		return "pending"
	case n < 75:
		return "refused"
	case n < 85:
		return "failed"
	case n < 93:
		return "lost"
	}
	return "gone"
}

// progress is the event that moves the order on from where it stands (what its party
// would do next), or "" when it waits on no party.
func progress(o *simOrder, r *rand.Rand) lifecycle.EventKind {
	s := &o.st
	if s.AppealOpen() {
		return lifecycle.EvResolve
	}
	if len(s.Calls.Failed()) > 0 || s.Phase == order.PhaseProvisionFailed {
		return lifecycle.EvRetry
	}
	switch s.Phase {
	case order.PhaseProvisioning:
		if s.In.ProductType == order.TypeLicense && r.IntN(3) == 0 {
			return lifecycle.EvLicense
		}
	case order.PhaseDeploying:
		return lifecycle.EvDeploy
	case order.PhaseShipping:
		if s.Shipment == nil || r.IntN(3) == 0 {
			return lifecycle.EvShip
		}
		return lifecycle.EvSignoff
	case order.PhaseDelivering:
		return lifecycle.EvDeliver
	case order.PhaseAwaitingAcceptance:
		if s.In.LicenseCode != nil && r.IntN(4) > 0 {
			return lifecycle.EvActivate // the seller's software activates the code
		}
		if r.IntN(4) == 0 {
			return lifecycle.EvReject
		}
		return lifecycle.EvAccept
	case order.PhaseRejected:
		switch s.In.ProductType {
		case order.TypePackage:
			return lifecycle.EvDeploy
		case order.TypeHardware:
			return lifecycle.EvShip
		}
		return lifecycle.EvDeliver
	case order.PhaseInService:
		if s.In.LicenseCode != nil && s.CodeActivatedAt == nil && r.IntN(3) == 0 {
			return lifecycle.EvActivate // accepted by hand, used later
		}
		switch r.IntN(4) {
		case 0:
			return lifecycle.EvUnsubscribe
		case 1, 2:
			if s.In.BillingMode.Periodic() {
				return lifecycle.EvRenew
			}
		}
	}
	return ""
}

// opsRequest is an ops action by hand (issue 16), picked by v: cancel (refunding nothing
// said, nothing, a part, everything left or more), force-accept, unfreeze, re-freeze, or
// extend a clock (one that runs, one that flagged the order, or one that is not there).
func (w *World) opsRequest(o *simOrder, by order.Actor, v int) order.OpsRequest {
	s := &o.st
	req := order.OpsRequest{Actor: by, Action: order.OpsActionKinds[v%len(order.OpsActionKinds)], Reason: "by hand"}
	v /= len(order.OpsActionKinds)
	if v%11 == 10 {
		req.Reason = ""
	}
	switch req.Action {
	case order.OpsCancel:
		req.Refund = refundOf(o, v)
	case order.OpsExtendClock:
		req.By = []time.Duration{hour, day, 0, 100 * day}[v%4]
		var names []string
		for _, c := range s.Clocks {
			names = append(names, string(c.Name))
		}
		for _, f := range s.Flags {
			names = append(names, f.Cause)
		}
		names = append(names, string(lifecycle.ClockAutoAccept), string(lifecycle.ClockExpire))
		req.Clock = names[(v/4)%len(names)]
	}
	return req
}

// refundOf is a refund billing or ops ask for, picked by v: none said, nothing, a part,
// everything paid and not refunded, or more than that.
func refundOf(o *simOrder, v int) *order.Money {
	left := o.paid - o.unsubRefund
	switch v % 5 {
	case 1:
		return &order.Money{Value: 0, Currency: currency}
	case 2:
		return &order.Money{Value: 1000, Currency: currency}
	case 3:
		return &order.Money{Value: left, Currency: currency}
	case 4:
		return &order.Money{Value: left + 1, Currency: currency}
	}
	return nil
}
