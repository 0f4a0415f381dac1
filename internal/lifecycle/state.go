// Package lifecycle is the order machine: an order's whole state as plain values, the
// events any party can send it (buyer, seller, ops, billing, the account workflow, its own
// clocks and the answers of its calls), Check (may this event happen now? the one source
// of every refusal and its stable code) and Apply (what the event changes, and what follows:
// audit steps, postings for the books, the appeal record, calls to start). It follows
// order-states.md, with the later word of the issues where they differ (see Rules).
//
// It imports only the domain vocabulary (internal/order): no Temporal SDK, no database, no
// HTTP. The Temporal loop that runs it (workflows/orderflow) only waits for events, feeds
// them here and carries out the outcome; the simulation (internal/sim) feeds it random
// interleavings of every event and checks the invariants of money, cases, holds and clocks
// after each. Both see the same machine, so what the simulation proves is what runs.
package lifecycle

import (
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// State is the whole order as the workflow holds it: plain values, so it can be tested
// without Temporal and carried across continue-as-new.
type State struct {
	In    order.StartInput `json:"in"`
	Phase order.Phase      `json:"phase"`
	// Rules is the generation of rules the order runs under, fixed when it is placed (see
	// Rules*): an order keeps the rules it started with, as it keeps its policy windows,
	// so that a new rule never changes the commands of an order already running.
	Rules int `json:"rules,omitempty"`

	// What the seller produced or reported (by product type).
	InstanceID  string `json:"instanceId,omitempty"`
	FrontEndURL string `json:"frontEndUrl,omitempty"`
	// InstanceReady: the seller said the instance exists (not only that it is coming).
	InstanceReady bool                    `json:"instanceReady,omitempty"`
	License       *order.LicenseRef       `json:"license,omitempty"`
	Deployment    []order.DeploymentPhase `json:"deployment,omitempty"`
	Shipment      *order.Shipment         `json:"shipment,omitempty"`
	Delivery      *order.Delivery         `json:"delivery,omitempty"`

	// Supervision.
	Rejections    int              `json:"rejections"`
	LastRejection *order.Rejection `json:"lastRejection,omitempty"`
	AcceptedBy    *order.Actor     `json:"acceptedBy,omitempty"`

	// Hold: the reasons the service is frozen at the seller (expiry, arrears).
	Holds []HoldReason `json:"holds,omitempty"`

	// Appeal: the open one, or the last one resolved; Appeals counts those opened.
	Appeal  *order.Appeal `json:"appeal,omitempty"`
	Appeals int           `json:"appeals"`

	Settlement order.Settlement `json:"settlement"`
	Clocks     Clocks           `json:"clocks"`

	// Calls are the seller calls in flight, or failed and waiting for ops.
	Calls Calls `json:"calls"`
	// ProvisionUncertain: a newInstance may have made an instance whose ID we never
	// learnt (an answer lost, a window run out): a refund must find and release it.
	ProvisionUncertain bool `json:"provisionUncertain,omitempty"`

	// Attention says what needs ops ("" for nothing); LastError the last failure shown.
	Attention string `json:"attention,omitempty"`
	LastError string `json:"lastError,omitempty"`

	// InServiceAt and ServiceEndedAt bound the order's time in service (acceptance into
	// service; release or cancellation): the usage a seller reports must fall within.
	InServiceAt    *time.Time `json:"inServiceAt,omitempty"`
	ServiceEndedAt *time.Time `json:"serviceEndedAt,omitempty"`

	// Expiry is when the subscription expires on the workflow's clock (scaled).
	Expiry *time.Time `json:"expiry,omitempty"`
	// Grace and Retention are the customer level's, read when each period started.
	Grace     time.Duration `json:"grace,omitempty"`
	Retention time.Duration `json:"retention,omitempty"`

	// Billing (billing.go). ExpireTime is the subscription's expireTime as billing last
	// set it (real time; In.ExpireTime until a renewal).
	ExpireTime     *time.Time            `json:"expireTime,omitempty"`
	Renewals       []order.Renewal       `json:"renewals,omitempty"`
	Unsubscription *order.Unsubscription `json:"unsubscription,omitempty"`
	// SellerFrozen: the seller confirmed FREEZE and has not been told UNFREEZE since.
	SellerFrozen bool `json:"sellerFrozen,omitempty"`
	// Refresh is the latest renewal the seller has not confirmed yet; RefreshSent the one
	// the running (or failed) refreshInstance carries.
	Refresh     *order.Renewal `json:"refresh,omitempty"`
	RefreshSent string         `json:"refreshSent,omitempty"`
	// LevelFor is what a running level lookup is for (grace or retention); "" makes its
	// answer moot.
	LevelFor string `json:"levelFor,omitempty"`
	// ReleaseBy and ReleaseReason say who ended the service and why (expiry, arrears,
	// unsubscribed), for the released step.
	ReleaseBy     *order.Actor `json:"releaseBy,omitempty"`
	ReleaseReason string       `json:"releaseReason,omitempty"`

	// OpenedAt is the actual open time the seller reported with the delivery the buyer
	// accepts (RulesSeams): a supervised period product's validity counts from it, or from
	// the acceptance when the seller reported none.
	OpenedAt *time.Time `json:"openedAt,omitempty"`
	// AttentionCause is what raised Attention (a clock's name, call:<kind>); Flags are all
	// the causes still standing, oldest first (RulesSeams): what resolves a cause clears its
	// flag, and Attention shows the latest left. One SLA that ran out is not forgotten when
	// another flag comes and goes.
	AttentionCause string `json:"attentionCause,omitempty"`
	Flags          []Flag `json:"flags,omitempty"`

	// Changes are the order's change orders (upgrades, scale-ups), oldest first.
	Changes []order.Change `json:"changes,omitempty"`

	// ConvertedBy is billing's trial-to-formal order, once a trial was converted.
	ConvertedBy string `json:"convertedBy,omitempty"`

	// HoldOverride: ops lifted the order's arrears hold by hand (RulesOps); the account's
	// freezes of the same case pass it by until the case ends or ops re-freeze.
	HoldOverride bool `json:"holdOverride,omitempty"`

	// CodeActivatedAt is when the seller's software activated the order's licence code
	// (licence-code orders, licensecode.go), in business time.
	CodeActivatedAt *time.Time `json:"codeActivatedAt,omitempty"`

	// now is the time of the event being applied (set by Apply; never carried).
	now time.Time
}

// AppealOpen reports whether an appeal is open.
func (s *State) AppealOpen() bool {
	return s.Appeal != nil && s.Appeal.State == order.AppealStateOpen
}

// Status is the API status derived from the three parts (order-states.md): appealing while
// an appeal is open on an order whose phase is not final; frozen while the service is held
// (RulesSeams: an order not in service yet may be held for arrears, and shows its phase
// until it enters service, frozen at once); else the phase.
func (s *State) Status() order.Status {
	if !s.rules(RulesSeams) {
		return order.DeriveStatus(s.Phase, len(s.Holds) > 0, s.AppealOpen())
	}
	return order.DeriveStatus(s.Phase, s.frozen(), s.AppealOpen() && !s.Phase.Final())
}

// frozen reports whether the service is held at the seller's (or would be, once made).
func (s *State) frozen() bool {
	return len(s.Holds) > 0 && (s.Phase == order.PhaseInService || !s.rules(RulesSeams))
}

// Done reports whether the workflow may end: a final phase, no seller call left to make (a
// release after a refund, say) and (RulesSeams) no appeal left for ops to resolve: an
// appeal outlives billing's end of the order.
func (s *State) Done() bool {
	return s.Phase.Final() && s.Calls.Empty() && (!s.rules(RulesSeams) || !s.AppealOpen())
}

// hasInstance reports whether the product type keeps an instance at the seller, which
// freezes, unfreezes and releases apply to.
func (s *State) hasInstance() bool {
	return s.In.ProductType == order.TypeSaaS || s.In.ProductType == order.TypeLicense
}

// EventKind names what happened.
type EventKind string

// Event kinds. The update kinds are named as the updates are.
const (
	EvStart   EventKind = "start"
	EvAccept  EventKind = order.UpdateAccept
	EvReject  EventKind = order.UpdateReject
	EvDeliver EventKind = order.UpdateDeliver
	EvDeploy  EventKind = order.UpdateDeploy
	EvShip    EventKind = order.UpdateShip
	EvSignoff EventKind = order.UpdateSignoff
	EvLicense EventKind = order.UpdateLicense
	EvAppeal  EventKind = order.UpdateAppeal
	EvResolve EventKind = order.UpdateResolve
	EvRetry   EventKind = order.UpdateRetry
	EvOps     EventKind = order.UpdateOps // ops' case handling (ops.go)
	// Billing's events.
	EvRenew       EventKind = order.UpdateRenew
	EvUnsubscribe EventKind = order.UpdateUnsubscribe
	EvWithdraw    EventKind = order.UpdateWithdrawRenewal
	EvConvert     EventKind = order.UpdateConvert
	EvChange      EventKind = order.UpdateChange
	EvArrears     EventKind = order.SignalArrears
	EvClock       EventKind = "clock"  // a clock ran out
	EvResult      EventKind = "result" // a seller call or a lookup finished
)

// Event is one thing that happened to an order: a party's action (an update), a clock
// running out, or an effect finishing. At is the workflow's time when it is applied.
type Event struct {
	Kind  EventKind
	Actor order.Actor
	At    time.Time

	Reason string // reject
	Note   string // deliver
	// OpenedAt is the actual open time a seller reports with its delivery (deliver, the
	// deployment's verify done, a licence): validity counts from it (RulesSeams).
	OpenedAt   *time.Time
	Deploy     order.DeploymentReport
	Shipment   order.ShipmentRequest
	SignedAt   time.Time
	License    order.LicenseRef
	Appeal     order.AppealRequest
	Resolution order.AppealResolution
	Ops        order.OpsRequest
	Clock      ClockName
	Result     CallResult
	// Billing.
	Renewal     order.RenewalRequest
	Unsubscribe order.UnsubscribeRequest
	Withdraw    order.RenewalWithdrawal
	Convert     order.ConversionRequest
	Change      order.ChangeRequest
	Arrears     order.ArrearsSignal
	// CodeSHA256 is the SHA-256 of the licence code an activation presents (EvActivate).
	CodeSHA256 string
	// KeepLateInstance is set by the workflow (behind the ChangeLateResultKept version
	// marker) on a provisioning result that comes after the order ended other than by
	// cancellation: what it names is the buyer's (completed) or was released already.
	KeepLateInstance bool
}

// Outcome is what applying an event produced: the audit steps (none: nothing to record),
// money and appeal records written with them, and seller calls to start.
type Outcome struct {
	Steps []order.Step
	// Postings are the money moves, written with the steps (internal/books).
	Postings []order.Posting
	Appeal   *order.AppealChange
	Calls    []CallKind
	// LevelLookup asks for the customer level's grace and retention (at expiry).
	LevelLookup bool
	// Restart are calls still running that ops retried (RulesOps: stuck on our side): the
	// loop abandons the running attempt (cancels its activity, drops its answer) before it
	// starts the same kind again (in Calls).
	Restart []CallKind
	// TellAccount is the word for the customer's account workflow when ops lifted or put
	// back a hold by hand (the account owns arrears holds).
	TellAccount *order.HoldOverride
	// Noop says why an event the order took changed nothing (a repeat of what it did
	// already): every event is applied, refused with a code, or a no-op that says so.
	Noop string
}
