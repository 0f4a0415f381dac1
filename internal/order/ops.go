package order

import "time"

// UpdateOps is the order workflow's update for ops' case handling (POST /v1/orders/{id}/ops-actions):
// one update for every action, so that the authorisation (ops only), the reason and the audit
// line that names the ops person are the same for all of them.
const UpdateOps = "ops"

// SignalHoldOverride is the order workflow's word to its customer's account workflow that ops
// lifted or put back a hold on the order by hand: the account owns arrears holds, and its
// trail must say why an order it froze is running.
const SignalHoldOverride = "hold_override"

// OpsActionKind names an ops action on an order.
type OpsActionKind string

// The ops actions on an order (issue 16). Appeals opened on a party's behalf and appeals
// closed by ops go through the appeal updates (AppealRequest.OnBehalfOf, AppealResolution).
const (
	// OpsCancel cancels the order from any phase that is not final, refunding the buyer in
	// full or in part (Refund); the seller releases whatever it made.
	OpsCancel OpsActionKind = "cancel"
	// OpsForceAccept accepts the order for the buyer once delivery has started.
	OpsForceAccept OpsActionKind = "force_accept"
	// OpsUnfreeze lifts every hold on the order (expiry, arrears, ops), overriding the
	// account's arrears hold until the arrears case ends or ops re-freeze.
	OpsUnfreeze OpsActionKind = "unfreeze"
	// OpsRefreeze puts the order on hold again (reason ops), and ends an override.
	OpsRefreeze OpsActionKind = "refreeze"
	// OpsExtendClock moves a supervision clock (Clock) later by By; a clock that ran out and
	// flagged the order runs again from now, and its flag clears.
	OpsExtendClock OpsActionKind = "extend_clock"
)

// OpsActionKinds lists the ops actions, for validation and docs.
var OpsActionKinds = []OpsActionKind{OpsCancel, OpsForceAccept, OpsUnfreeze, OpsRefreeze, OpsExtendClock}

// OpsRequest is the argument of UpdateOps: who (an ops person), what, and why.
type OpsRequest struct {
	Actor  Actor         `json:"actor"`
	Action OpsActionKind `json:"action"`
	// Reason is why ops act (1-2000 characters): it goes into the audit line.
	Reason string `json:"reason"`
	// Refund is the part refunded by OpsCancel; nil refunds everything paid.
	Refund *Money `json:"refund,omitempty"`
	// Clock and By are OpsExtendClock's: the clock's name (as in the order's deadlines) and
	// how much later, in real time (the workflow scales it like its policy).
	Clock string        `json:"clock,omitempty"`
	By    time.Duration `json:"by,omitempty"`
}

// HoldOverride is SignalHoldOverride's payload.
type HoldOverride struct {
	OrderID string `json:"orderId"`
	// Held: ops put a hold back (re-freeze); false: ops lifted the order's holds.
	Held   bool   `json:"held"`
	Actor  Actor  `json:"actor"`
	Reason string `json:"reason"`
}

// MaxClockExtension bounds one extension of a clock: a clock moved by a typo of months would
// leave an order unwatched for that long.
const MaxClockExtension = 90 * 24 * time.Hour
