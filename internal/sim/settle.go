package sim

import (
	"encoding/json"

	"github.com/cloudmarket/orders/internal/arrears"
	"github.com/cloudmarket/orders/internal/lifecycle"
	"github.com/cloudmarket/orders/internal/order"
)

// settleLimit bounds the actions a run may take to come to rest.
const settleLimit = 5000

// settleNext is the next action that brings a run to rest, as the parties would once the
// chaos stops: every call answers, the accounts' lookups and hold activities finish, ops
// resolve every appeal (continue) and retry every failed call, sellers deliver, buyers
// accept, and time runs to the next deadline. No more (false): every order has ended or
// waits where it may wait for ever.
func (w *World) settleNext() (Action, bool) {
	for i, o := range w.orders {
		if len(o.inflight) > 0 {
			return Action{Kind: ActAnswer, O: i, Out: "ok"}, true // a licence comes in the answer
		}
	}
	for c, acc := range w.accounts {
		switch {
		case acc == nil:
		case acc.level:
			return Action{Kind: ActLevel, C: c, V: 4}, true
		case acc.telling:
			return Action{Kind: ActTell, C: c}, true
		}
	}
	for i, o := range w.orders {
		s := &o.st
		if s.Done() {
			continue
		}
		var ev lifecycle.EventKind
		v := 0
		switch {
		case s.AppealOpen():
			ev = lifecycle.EvResolve // continue
		case len(s.Calls.Failed()) > 0 || (s.Phase == order.PhaseProvisionFailed && !(s.In.ProductType == order.TypeLicense && s.InstanceID != "")):
			ev = lifecycle.EvRetry
		case s.Phase == order.PhaseDeploying || (s.Phase == order.PhaseRejected && s.In.ProductType == order.TypePackage):
			ev = lifecycle.EvDeploy
			phase := 0
			for j, p := range s.Deployment {
				if p.State != order.DeploymentDone {
					phase = j
					break
				}
			}
			v = (phase + 3) << 2 // done
		case s.Phase == order.PhaseShipping && s.Shipment == nil,
			s.Phase == order.PhaseRejected && s.In.ProductType == order.TypeHardware:
			ev = lifecycle.EvShip
		case s.Phase == order.PhaseShipping:
			ev = lifecycle.EvSignoff
		case s.Phase == order.PhaseDelivering, s.Phase == order.PhaseRejected:
			ev = lifecycle.EvDeliver
		case s.Phase == order.PhaseAwaitingAcceptance:
			ev = lifecycle.EvAccept
		case s.In.ProductType == order.TypeLicense && s.License == nil:
			ev = lifecycle.EvLicense // the seller's licence callback
		}
		if ev == "" {
			continue
		}
		a := Action{Kind: ActUpdate, O: i, Ev: ev, V: v}
		if w.wouldChange(o, a) {
			return a, true
		}
	}
	if _, ok := w.nextDeadline(); ok {
		return Action{Kind: ActNext, V: 1}, true
	}
	return Action{}, false
}

// wouldChange reports whether the machine would take the action's event now (so the
// settling never loops on a refusal).
func (w *World) wouldChange(o *simOrder, a Action) bool {
	ev, ok := w.event(o, a)
	if !ok {
		return false
	}
	ev.At = w.now
	return lifecycle.Check(&o.st, ev) == nil
}

// accountContinueAsNew is the account loop's: the state goes through JSON into a new run.
func (w *World) accountContinueAsNew(c int) {
	acc := w.accounts[c]
	raw, err := json.Marshal(&acc.a)
	if err != nil {
		w.violate("continue-as-new", "account c%d: state does not encode: %v", c, err)
		return
	}
	var next arrears.Account
	if err := json.Unmarshal(raw, &next); err != nil {
		w.violate("continue-as-new", "account c%d: state does not decode: %v", c, err)
		return
	}
	if again, _ := json.Marshal(&next); string(again) != string(raw) {
		w.violate("continue-as-new", "account c%d: state changes across continue-as-new", c)
	}
	acc.a = next
	// The new run starts again what the last left running.
	if acc.a.LevelFor != "" {
		acc.level = true
	}
	if acc.a.Telling != "" {
		acc.telling, acc.listed, acc.targets, acc.next = true, false, nil, 0
	}
	w.stats.ContinuedAsNew++
}
