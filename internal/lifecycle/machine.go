package lifecycle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// refuse and invalid build the machine's refusals (order.Refusal, with a stable code).
var refuse = order.Refuse

func invalid(format string, args ...any) *order.Refusal {
	return order.Refuse(order.ErrInvalidTransition, format, args...)
}

// Check says whether ev may happen to s now: nil, or an *order.Refusal. It is the one source of
// every refusal: the update validators call it before an update is accepted, and the loop
// calls it again when it takes the event (the order may have moved in between).
func Check(s *State, ev Event) error {
	switch ev.Kind {
	case EvStart, EvClock, EvResult:
		return nil
	case EvOps:
		return checkOps(s, ev)
	case EvRetry:
		// Also on a final order: a cancelled order whose release (or recovery) call failed
		// is final for the buyer, yet its workflow waits for ops to get the seller to clean
		// up; refusing the retry there would leave it flagged for ever.
		if err := actorIs(ev.Actor, order.ActorOps); err != nil {
			return err
		}
		if s.Phase != order.PhaseProvisionFailed && len(s.Calls.Failed()) == 0 && len(s.stuckCalls()) == 0 {
			return invalid("nothing to retry: the order is %s and no seller call failed or is stuck", s.Status())
		}
		return nil
	}
	if s.Phase.Final() && !(ev.Kind == EvResolve && s.rules(RulesSeams)) {
		// An appeal outlives billing's end of the order (RulesSeams): ops still resolve it.
		return invalid("the order is %s", s.Status())
	}
	switch ev.Kind {
	case EvAppeal:
		return checkAppeal(s, ev)
	case EvResolve:
		return checkResolution(s, ev)
	}
	// A licence is the seller's production, not supervision: taken during an appeal too
	// (the seller's system would not send it again). Billing's events neither.
	switch ev.Kind {
	case EvLicense:
		return pathOf(s).check(s, ev)
	case EvRenew:
		return checkRenewal(s, ev)
	case EvUnsubscribe:
		return checkUnsubscribe(s, ev)
	case EvWithdraw:
		return checkWithdrawal(s, ev)
	case EvConvert:
		return checkConversion(s, ev)
	case EvChange:
		return checkChange(s, ev)
	case EvArrears:
		return checkArrears(s, ev)
	}
	// Everything else is supervision: refused while an appeal is open.
	if s.AppealOpen() {
		return refuse(order.ErrAppealOpen, "appeal %s is open: ops decide first", s.Appeal.AppealID)
	}
	switch ev.Kind {
	case EvAccept:
		if err := isBuyer(s, ev.Actor); err != nil {
			return err
		}
		if s.Phase != order.PhaseAwaitingAcceptance && !pathOf(s).canAccept(s) {
			return invalid("cannot accept an order that is %s", s.Status())
		}
		return nil
	case EvReject:
		if err := isBuyer(s, ev.Actor); err != nil {
			return err
		}
		if s.Phase != order.PhaseAwaitingAcceptance {
			return invalid("cannot reject an order that is %s", s.Status())
		}
		if s.licenseCode() {
			return invalid("a licence code is not redelivered: appeal instead (POST /v1/orders/%s/appeals)", s.In.OrderID)
		}
		if s.Rejections >= s.In.Windows.RejectionLimit {
			return refuse(order.ErrRejectionLimit, "%d rejections is the limit: appeal instead (POST /v1/orders/%s/appeals)",
				s.In.Windows.RejectionLimit, s.In.OrderID)
		}
		return checkText("reason", ev.Reason, 1, 2000)
	}
	return pathOf(s).check(s, ev)
}

// Apply applies ev, which Check allowed, to s, and says what follows.
func Apply(s *State, ev Event) Outcome {
	var o Outcome
	s.now = ev.At
	switch ev.Kind {
	case EvOps:
		s.opsAction(ev, &o)
	case EvStart:
		s.start(ev, &o)
	case EvAccept:
		s.accept(ev, &o, ev.Actor)
	case EvReject:
		s.reject(ev, &o)
	case EvAppeal:
		s.openAppeal(ev, &o)
	case EvResolve:
		s.resolveAppeal(ev, &o)
	case EvRetry:
		s.retry(ev, &o)
	case EvClock:
		s.clockRanOut(ev, &o)
	case EvResult:
		s.callFinished(ev, &o)
	case EvRenew:
		s.renew(ev, &o)
	case EvUnsubscribe:
		s.unsubscribe(ev, &o)
	case EvWithdraw:
		s.withdrawRenewal(ev, &o)
	case EvConvert:
		s.convert(ev, &o)
	case EvChange:
		s.change(ev, &o)
	case EvArrears:
		s.arrears(ev, &o)
	default:
		pathOf(s).apply(s, ev, &o)
	}
	if s.AppealOpen() {
		// A supervision clock started during the appeal (the seller's answer delivered the
		// order meanwhile) waits for the appeal too, with its whole window.
		s.Clocks.Pause(TagSupervision, ev.At)
	}
	s.reconcileSeller(&o)
	s.armOurSide()
	return o
}

// record runs change and appends the audit step it makes, with the status before and after.
func (s *State) record(o *Outcome, name order.StepName, actor order.Actor, detail map[string]string, change func()) {
	from := s.Status()
	if change != nil {
		change()
	}
	o.Steps = append(o.Steps, order.Step{Event: name, Actor: actor, From: from, To: s.Status(), Detail: detail})
}

var (
	timer  = order.Actor{Kind: order.ActorTimer}
	system = order.Actor{Kind: order.ActorSystem}
)

func (s *State) sellerActor() order.Actor {
	return order.Actor{Kind: order.ActorSeller, ID: s.In.SellerID}
}

func (s *State) start(ev Event, o *Outcome) {
	s.Phase = order.FirstPhase(s.In.ProductType)
	s.Settlement = order.Settlement{Status: order.SettlementNotDue, Currency: s.In.Amount.Currency}
	s.Expiry = expiry(s.In)
	pathOf(s).start(s, ev, o)
	if s.In.NotifyOrders {
		s.startCall(o, CallNotify) // any product type: the seller asked to hear of paid orders
	}
}

// delivered moves a delivered order on: to the buyer's acceptance when the product is
// supervised, else straight to accepted.
func (s *State) delivered(ev Event, o *Outcome, name order.StepName, actor order.Actor, detail map[string]string) {
	s.Clocks.Stop(ClockDeploymentSLA, ClockRedelivery, ClockLicenseDue, ClockProvisionLate, ClockFirstDelivery, ClockShipment, ClockSignoff)
	if s.rules(RulesSeams) {
		s.clearFlags(deliveryLate) // what was late has come
	} else if s.Attention != "" && s.Calls.Empty() {
		s.Attention, s.AttentionCause = "", "" // what was late has come
	}
	if s.rules(RulesSeams) {
		s.OpenedAt = ev.OpenedAt // the delivery the buyer accepts says when the service opened
		if ev.OpenedAt != nil {
			if detail == nil {
				detail = map[string]string{}
			}
			detail["openedAt"] = ev.OpenedAt.UTC().Format(time.RFC3339)
		}
	}
	if !s.In.Supervised {
		s.record(o, name, actor, detail, nil)
		s.accept(ev, o, system)
		return
	}
	s.record(o, name, actor, detail, func() {
		s.Phase = order.PhaseAwaitingAcceptance
		s.Clocks.Set(ClockAutoAccept, ev.At.Add(s.In.Windows.AcceptanceWindow))
	})
}

// accept records the acceptance (by the buyer, ops or the timer), makes the settlement due
// (posted, or blocked while an appeal is open), and puts the order in service (or completes
// a one-time order).
func (s *State) accept(ev Event, o *Outcome, by order.Actor) {
	var detail map[string]string
	if exp := s.validityFromAcceptance(ev); exp != nil {
		detail = map[string]string{"expireTime": exp.Format(time.RFC3339)}
	}
	s.record(o, order.StepAccepted, by, detail, func() {
		s.Clocks.StopTag(TagSupervision)
		s.AcceptedBy = &by
		if s.In.OrderType == order.OrderTypeTrial {
			// A trial pays nothing and pays out nothing: its own line is never due (the
			// formal order's line is, once converted).
			s.Settlement = order.Settlement{Status: order.SettlementNotDue, Currency: s.In.Amount.Currency}
		} else {
			s.Settlement = s.split(s.In.Amount)
			s.Settlement.Status = s.due(o, order.LineOrder, "", s.Settlement)
		}
		if s.rules(RulesSeams) {
			s.payableAtAcceptance(o)
		}
		if !s.In.BillingMode.Subscribed() {
			s.Phase = order.PhaseCompleted
			return
		}
		s.Phase = order.PhaseInService
		at := ev.At
		s.InServiceAt = &at
		if s.Expiry != nil {
			s.Clocks.Set(ClockExpire, *s.Expiry)
		}
	})
}

func (s *State) reject(ev Event, o *Outcome) {
	s.record(o, order.StepRejected, ev.Actor, map[string]string{"reason": ev.Reason}, func() {
		s.Rejections++
		s.LastRejection = &order.Rejection{Reason: ev.Reason, At: ev.At}
		s.Phase = order.PhaseRejected
		s.Clocks.Stop(ClockAutoAccept)
		s.Clocks.Set(ClockRedelivery, ev.At.Add(s.In.Windows.RedeliverySLA))
		pathOf(s).rejected(s)
	})
}

// refund cancels the order, refunds the buyer (reversing the posting if there was one) and
// tells the seller to release whatever it made.
func (s *State) refund(ev Event, o *Outcome, by order.Actor, reason string) {
	s.record(o, order.StepRefunded, by, map[string]string{"reason": reason}, func() {
		s.cancelled(ev.At)
		s.refundAll(o)
		s.cleanUp(o)
	})
}

// cancelled ends the order as cancelled: its service, its clocks (an open appeal's run on)
// and its holds. RulesOps: what was late or failed ended with it; its calls' and appeal's
// flags stand.
func (s *State) cancelled(at time.Time) {
	s.serviceEnded(at)
	s.stopClocksButAppeal()
	s.Phase = order.PhaseCancelled
	s.Holds = nil
	if s.rules(RulesOps) {
		s.HoldOverride = false
		s.clearFlags(func(cause string) bool { return cause != string(ClockLastTier) && !isCallCause(cause) })
	}
}

// cleanUp asks the seller to release an instance a cancelled order may have: the one it
// knows, or the one an uncertain newInstance may have made.
func (s *State) cleanUp(o *Outcome) {
	if !s.hasInstance() || s.Calls.Running(CallNewInstance) || s.Calls.Running(CallQuery) {
		return // a running provisioning call's result is released when it comes
	}
	if s.rules(RulesSeams) && (s.Calls.Has(CallRelease) || s.Calls.Has(CallRecover)) {
		return // under way already (or failed, waiting for ops' retry)
	}
	switch {
	case s.atSeller():
		s.startCall(o, CallRelease)
	case s.ProvisionUncertain:
		s.startCall(o, CallRecover)
	}
}

// serviceEnded records when the order's time in service ended (it leaves in_service).
func (s *State) serviceEnded(at time.Time) {
	if s.Phase == order.PhaseInService && s.ServiceEndedAt == nil {
		s.ServiceEndedAt = &at
	}
}

// startCall starts a call. A call of a kind already running is not started twice
// (RulesSeams): its answer is still to come, and a second activity would outlive the one
// the order counts.
func (s *State) startCall(o *Outcome, k CallKind) {
	if s.rules(RulesSeams) && s.Calls.Running(k) {
		return
	}
	if k == CallRefresh && s.Refresh != nil {
		s.RefreshSent = s.Refresh.RenewalOrderID
	}
	s.Calls.Start(k)
	if s.rules(RulesOps) {
		s.Calls[len(s.Calls)-1].Since = s.now
	}
	o.Calls = append(o.Calls, k)
}

// provisionFailed ends provisioning in failure: the seller's answers (by the system) or the
// licence clock (by the timer). The refund hold starts.
func (s *State) provisionFailed(ev Event, o *Outcome, by order.Actor, reason, errorType string) {
	detail := map[string]string{"reason": reason}
	if errorType != "" {
		detail["errorType"] = errorType
	}
	s.record(o, order.StepProvisionFailed, by, detail, func() {
		s.Phase = order.PhaseProvisionFailed
		s.LastError = reason
		if errorType != "" {
			s.LastError += " (" + errorType + ")"
		}
		if text := ev.Result.ErrorText; s.rules(RulesOps) && text != "" {
			s.LastError += ": " + text
			detail["error"] = text
		}
		s.Clocks.Stop(ClockProvisionLate, ClockLicenseDue)
		s.Clocks.Set(ClockRefund, ev.At.Add(s.In.Windows.RefundHold))
	})
	if s.rules(RulesOps) {
		refundAt := ev.At.Add(s.In.Windows.RefundHold)
		s.needsAttention(o, by, "provisioning failed ("+s.LastError+"): retry with POST /v1/orders/"+s.In.OrderID+
			"/retry before "+refundAt.UTC().Format(time.RFC3339)+", or the buyer is refunded", CauseProvisionFailed,
			map[string]string{"refundAt": refundAt.UTC().Format(time.RFC3339)})
	}
}

func (s *State) retry(ev Event, o *Outcome) {
	stuck := s.stuckCalls() // before anything below starts a call afresh
	if s.Phase == order.PhaseProvisionFailed {
		s.record(o, order.StepRetryRequested, ev.Actor, map[string]string{"call": string(CallNewInstance)}, func() {
			s.Phase, s.LastError = order.PhaseProvisioning, ""
			if s.rules(RulesOps) {
				// Provisioning starts afresh: what failed or was late about the last try is moot.
				s.clearFlags(func(cause string) bool { return cause == CauseProvisionFailed || cause == CauseProvisionLate })
			}
			s.Clocks.Stop(ClockRefund)
			if !(s.rules(RulesOps) && s.Calls.Running(CallQuery)) {
				// (RulesOps: a queryInstance still polling the instance being produced goes on
				// instead: a second newInstance would race it, and hold up the seller's FREEZE.)
				s.startCall(o, CallNewInstance)
			}
			s.Clocks.Set(ClockProvisionLate, ev.At.Add(provisionLate(s.In.Windows)))
			if s.In.ProductType == order.TypeLicense && s.License == nil {
				s.Clocks.Set(ClockLicenseDue, ev.At.Add(s.In.Windows.LicenseWait))
			}
		})
	}
	for _, k := range s.Calls.Failed() {
		s.record(o, order.StepRetryRequested, ev.Actor, map[string]string{"call": string(k)}, func() { s.startCall(o, k) })
	}
	for _, k := range stuck {
		// Stuck on our side (RulesOps): the running attempt is abandoned and the call sent
		// afresh (every seller call is idempotent); its flag clears, its clock starts again.
		s.record(o, order.StepRetryRequested, ev.Actor, map[string]string{"call": string(k), "stuck": "true"}, func() {
			s.Calls.Start(k)
			s.Calls[len(s.Calls)-1].Since = s.now
			o.Restart = append(o.Restart, k)
			o.Calls = append(o.Calls, k)
			s.clearFlags(func(cause string) bool { return cause == ourSidePrefix+string(k) })
		})
	}
}

// stuckCalls are the running calls ops may retry (RulesOps): flagged as failing on our side,
// or the provisioning call behind a provision_late flag.
func (s *State) stuckCalls() []CallKind {
	if !s.rules(RulesOps) {
		return nil
	}
	var out []CallKind
	for _, c := range s.Calls {
		if c.State != CallRunning {
			continue
		}
		// Provisioning (newInstance, queryInstance) is not restarted: its calls hand over to
		// each other and the order's phase follows them; provision_late waits for our side.
		if s.flagged(ourSidePrefix+string(c.Kind)) && c.Kind != CallNewInstance && c.Kind != CallQuery {
			out = append(out, c.Kind)
		}
	}
	return out
}

// needsAttention flags the order for ops: by the timer when an SLA clock ran out, by the
// system when a call failed. cause is a bounded name (a clock, or call:<kind>) for the
// metric; why is what ops read.
func (s *State) needsAttention(o *Outcome, by order.Actor, why, cause string, detail map[string]string) {
	if detail == nil {
		detail = map[string]string{}
	}
	detail["attention"], detail["cause"] = why, cause
	s.record(o, order.StepNeedsAttention, by, detail, func() {
		s.Attention, s.AttentionCause = why, cause
		if s.rules(RulesSeams) {
			f := Flag{Cause: cause, Why: why}
			if s.rules(RulesOps) {
				f.Since = s.now
			}
			s.Flags = slices.DeleteFunc(s.Flags, func(f Flag) bool { return f.Cause == cause })
			s.Flags = append(s.Flags, f)
		}
	})
}

func (s *State) clockRanOut(ev Event, o *Outcome) {
	s.Clocks.Stop(ev.Clock)
	switch ev.Clock {
	case ClockAutoAccept:
		s.accept(ev, o, timer)
	case ClockRefund:
		s.refund(ev, o, timer, "provision_failed")
	case ClockRedelivery:
		s.needsAttention(o, timer, "no redelivery within the redelivery SLA", string(ev.Clock), nil)
	case ClockDeploymentSLA:
		s.needsAttention(o, timer, "deployment not verified within the deployment SLA", string(ev.Clock), nil)
	case ClockProvisionLate:
		s.needsAttention(o, timer, "provisioning has outlasted every seller attempt: check the worker, PostgreSQL and the catalogue",
			string(ev.Clock), nil)
	case ClockLicenseDue:
		s.provisionFailed(ev, o, timer, "license_not_delivered", "")
	case ClockEscalate:
		s.escalateAppeal(ev, o)
	case ClockLastTier:
		if s.AppealOpen() {
			s.needsAttention(o, timer, fmt.Sprintf("appeal %s unresolved past the last tier's SLA: resolve it with POST /v1/appeals/%s/resolution",
				s.Appeal.AppealID, s.Appeal.AppealID), string(ev.Clock), map[string]string{"appealId": s.Appeal.AppealID})
		}
	case ClockFirstDelivery:
		s.needsAttention(o, timer, "not delivered within the first-delivery SLA", string(ev.Clock), nil)
	case ClockShipment:
		s.needsAttention(o, timer, "not shipped within the shipment SLA", string(ev.Clock), nil)
	case ClockSignoff:
		s.needsAttention(o, timer, "no carrier sign-off within the sign-off SLA after the shipment", string(ev.Clock), nil)
	case ClockOurSide:
		s.ourSideFired(o)
	case ClockExpire:
		s.expired(o)
	case ClockFreeze:
		s.graceOver(o)
	case ClockRelease:
		s.release(ev, o, timer, string(HoldExpiry))
	default:
		pathOf(s).apply(s, ev, o)
	}
}

func appendOnce[T comparable](list []T, v T) []T {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// callFinished applies the result of a call; provisioning results are the path's.
func (s *State) callFinished(ev Event, o *Outcome) {
	r := ev.Result
	s.Calls.Finish(r.Call)
	if s.rules(RulesOps) {
		if r.OK {
			s.ourSideCleared(o, r.Call)
		} else {
			s.clearFlags(func(c string) bool { return c == ourSidePrefix+string(r.Call) }) // the seller's answer says more
		}
	}
	switch r.Call {
	case CallNewInstance, CallQuery:
		if s.Phase.Final() && ev.KeepLateInstance && s.Phase != order.PhaseCancelled {
			// Completed while the call ran (a licence came by callback before queryInstance
			// answered): the instance is the buyer's, never released. Released: released
			// already, unless the answer names one the release did not know.
			switch {
			case s.Phase == order.PhaseReleased && r.InstanceID != "" && r.InstanceID != s.InstanceID:
				s.InstanceID = r.InstanceID
				s.startCall(o, CallRelease)
			case s.InstanceID == "" && r.InstanceID != "":
				s.record(o, order.StepInstanceCreated, s.sellerActor(), map[string]string{"instanceId": r.InstanceID}, func() {
					s.InstanceID, s.InstanceReady = r.InstanceID, true
				})
			}
			return
		}
		if s.Phase.Final() {
			// The order was cancelled while the call ran: release what it made.
			if r.InstanceID != "" {
				s.InstanceID = r.InstanceID
			}
			s.ProvisionUncertain = s.ProvisionUncertain || (!r.OK && !r.Refused)
			s.cleanUp(o)
			return
		}
		pathOf(s).apply(s, ev, o)
	case CallLevel:
		s.levelRead(ev, o)
	case CallRecover:
		switch {
		case r.OK && r.InstanceID != "":
			s.InstanceID = r.InstanceID
			s.startCall(o, CallRelease)
		case r.OK || r.Refused: // nothing was made
			s.ProvisionUncertain = false
			if s.rules(RulesSeams) && s.ReleaseBy != nil && !s.Phase.Final() {
				s.released(ev, o) // the release waited to learn there was nothing to release
			}
		default:
			s.callFailed(o, r)
		}
	case CallFreeze, CallUnfreeze, CallRefresh:
		s.sellerCallDone(o, r)
	case CallUpgrade:
		s.upgradeDone(ev, o, r)
	case CallNotify:
		if !r.OK {
			s.callFailed(o, r) // retried by ops like any seller call: nothing is silently dropped
			return
		}
		s.attentionCleared(o, r.Call)
		s.record(o, order.StepSellerNotified, s.sellerActor(), nil, nil)
	case CallRelease:
		if !r.OK {
			s.callFailed(o, r)
			return
		}
		s.attentionCleared(o, r.Call)
		if s.Phase == order.PhaseCancelled {
			s.record(o, order.StepInstanceReleased, s.sellerActor(), map[string]string{"instanceId": s.InstanceID}, nil)
			return
		}
		s.released(ev, o)
	}
}

// callFailed keeps a seller call that ran out of its window for ops to retry: nothing is
// silently dropped (seller-protocol.md, retry windows).
func (s *State) callFailed(o *Outcome, r CallResult) {
	s.Calls.Start(r.Call)
	s.Calls.Fail(r.Call)
	name := s.sentAs(r.Call)
	s.LastError = name + " failed (" + r.ErrorType + ")"
	detail := map[string]string{"call": string(r.Call), "errorType": r.ErrorType}
	why := name + " failed: retry with POST /v1/orders/" + s.In.OrderID + "/retry"
	if s.rules(RulesOps) && r.ErrorText != "" {
		s.LastError += ": " + r.ErrorText
		detail["error"] = r.ErrorText
		why = name + " failed (" + r.ErrorText + "): retry with POST /v1/orders/" + s.In.OrderID + "/retry"
	}
	if s.rules(RulesOps) {
		s.clearFlags(func(cause string) bool { return cause == ourSidePrefix+string(r.Call) })
	}
	s.needsAttention(o, system, why, "call:"+string(r.Call), detail)
}

func (s *State) attentionCleared(o *Outcome, k CallKind) {
	if s.Attention == "" || len(s.Calls.Failed()) > 0 {
		return
	}
	if s.rules(RulesSeams) {
		if !slices.ContainsFunc(s.Flags, func(f Flag) bool { return strings.HasPrefix(f.Cause, "call:") }) {
			return // flagged for something else, which stands
		}
		s.record(o, order.StepAttentionCleared, system, map[string]string{"call": string(k)}, func() {
			s.LastError = ""
			s.clearFlags(func(cause string) bool { return strings.HasPrefix(cause, "call:") })
		})
		return
	}
	s.record(o, order.StepAttentionCleared, system, map[string]string{"call": string(k)}, func() {
		s.Attention, s.AttentionCause, s.LastError = "", "", ""
	})
}

// appealID derives the ID of the order's n-th appeal: deterministic (so replay and retries
// agree), unique across orders, and free of the order ID's length.
func appealID(orderID string, n int) string {
	sum := sha256.Sum256([]byte(orderID + "#appeal#" + strconv.Itoa(n)))
	return "AP" + hex.EncodeToString(sum[:10])
}
