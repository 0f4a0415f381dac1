package order

import "time"

// Billing's messages to the order workflow. Renewal and unsubscription are Updates (the
// order's state can refuse them: a renewal after release is 409); arrears holds come from
// the customer's account workflow as a signal (nobody waits for an answer, and a repeat is
// a no-op).
const (
	UpdateRenew       = "renew"       // billing: a renewal order moved the expiry
	UpdateUnsubscribe = "unsubscribe" // billing: the subscription ends now
	// UpdateWithdrawRenewal: billing takes back a renewal period that has not begun
	// (UNSUBSCRIBE_RENEWAL_PERIOD).
	UpdateWithdrawRenewal = "withdraw_renewal"
	// UpdateConvert: billing's trial-to-formal order converts a trial (TRIAL_TO_FORMAL).
	UpdateConvert = "convert"
	// UpdateChange: billing's paid change order (upgrade, scale-up) of an order in service.
	UpdateChange  = "change"
	SignalArrears = "arrears" // the account workflow: freeze, unfreeze or release for arrears
)

// RenewalRequest is billing's renewal of a subscription (yearly, monthly): the renewal
// order's IDs, the new expireTime (counted by billing from the previous expiry; it may not
// be earlier), and what the renewal was paid (the order's amount when nil).
type RenewalRequest struct {
	Actor              Actor     `json:"actor"`
	RenewalOrderID     string    `json:"renewalOrderId"`
	RenewalOrderLineID string    `json:"renewalOrderLineId"`
	ExpireTime         time.Time `json:"expireTime"`
	Amount             *Money    `json:"amount,omitempty"`
	// Change is a renewal with a change (downgrade, shrink, upgrade, expand): the seller is
	// asked first (changeInstanceCheck), then told with scene RENEWAL_CHANGE.
	Change *RenewalChange `json:"change,omitempty"`
}

// RenewalChange is the target of a renewal with a change.
type RenewalChange struct {
	ProductID string `json:"productId"`
	SKUCode   string `json:"skuCode,omitempty"`
	Quantity  int    `json:"quantity"`
}

// RefreshSceneChange is the refreshInstance scene of a renewal with a change.
const RefreshSceneChange = "RENEWAL_CHANGE"

// UnsubscribeRequest ends a subscription (or a pay-per-use order) now: the seller releases
// the instance at once, and the refund billing reports is recorded (reversing lines).
type UnsubscribeRequest struct {
	Actor                  Actor  `json:"actor"`
	Reason                 string `json:"reason"`
	UnsubscribeOrderID     string `json:"unsubscribeOrderId,omitempty"`
	UnsubscribeOrderLineID string `json:"unsubscribeOrderLineId,omitempty"`
	Refund                 *Money `json:"refund,omitempty"`
}

// ArrearsAction is what the account workflow asks of a pay-per-use order.
type ArrearsAction string

// The arrears actions (order-states.md, section 4).
const (
	ArrearsFreeze   ArrearsAction = "freeze"   // grace over: hold the order (seller FREEZE)
	ArrearsUnfreeze ArrearsAction = "unfreeze" // arrears paid: drop the hold (seller UNFREEZE)
	ArrearsRelease  ArrearsAction = "release"  // retention over: release at the seller
)

// ArrearsSignal is the account workflow's message to one of the customer's orders. CaseID
// names the arrears case, for the audit trail.
type ArrearsSignal struct {
	Action ArrearsAction `json:"action"`
	CaseID string        `json:"caseId"`
	Actor  Actor         `json:"actor"`
}

// Renewal is one renewal of an order as the order view shows it.
type Renewal struct {
	RenewalOrderID     string     `json:"renewalOrderId"`
	RenewalOrderLineID string     `json:"renewalOrderLineId,omitempty"`
	ExpireTime         time.Time  `json:"expireTime"`
	At                 time.Time  `json:"at"`
	Settlement         Settlement `json:"settlement"`
	// PreviousExpire is the expiry the renewal moved (the start of its period): taking the
	// renewal back restores it. Unset on renewals recorded before withdrawals existed.
	PreviousExpire *time.Time `json:"previousExpire,omitempty"`
	// Withdrawal says billing took the renewal period back before it began.
	Withdrawal *RenewalWithdrawn `json:"withdrawal,omitempty"`
	// Scene is the refreshInstance scene the seller is told with (empty: RENEWAL): a
	// withdrawal's refresh is UNSUBSCRIBE_RENEWAL_PERIOD.
	Scene string `json:"scene,omitempty"`
	// Change is the target of a renewal with a change (scene RENEWAL_CHANGE).
	Change *RenewalChange `json:"change,omitempty"`
}

// RefreshSceneWithdrawal is the refreshInstance scene of a renewal period taken back, and
// RefreshSceneConversion that of a trial converted to a formal order.
const (
	RefreshSceneWithdrawal = "UNSUBSCRIBE_RENEWAL_PERIOD"
	RefreshSceneConversion = "TRIAL_TO_FORMAL"
)

// ConversionRequest is billing's trial-to-formal order: its IDs, the formal subscription's
// expireTime, and what it was paid (settled like any order's line).
type ConversionRequest struct {
	Actor             Actor     `json:"actor"`
	FormalOrderID     string    `json:"formalOrderId"`
	FormalOrderLineID string    `json:"formalOrderLineId"`
	ExpireTime        time.Time `json:"expireTime"`
	Amount            Money     `json:"amount"`
}

// RenewalWithdrawal is billing's taking back of a renewal period that has not begun: the
// renewal's IDs, and those of billing's un-renewal (unsubscribe) order the seller is told.
type RenewalWithdrawal struct {
	Actor                  Actor  `json:"actor"`
	RenewalOrderID         string `json:"renewalOrderId"`
	UnsubscribeOrderID     string `json:"unsubscribeOrderId"`
	UnsubscribeOrderLineID string `json:"unsubscribeOrderLineId,omitempty"`
}

// RenewalWithdrawn is a renewal taken back, as the order shows it.
type RenewalWithdrawn struct {
	UnsubscribeOrderID string    `json:"unsubscribeOrderId"`
	At                 time.Time `json:"at"`
}

// Unsubscription is how an order's subscription ended early.
type Unsubscription struct {
	UnsubscribeOrderID     string     `json:"unsubscribeOrderId,omitempty"`
	UnsubscribeOrderLineID string     `json:"unsubscribeOrderLineId,omitempty"`
	Reason                 string     `json:"reason"`
	At                     time.Time  `json:"at"`
	Refund                 Settlement `json:"refund"`
}

// ChangeRequest is billing's paid change order of an order in service: an upgrade to another
// product or SKU, or a scale-up (quantity), applied at the seller by upgradeInstance on the
// same instance.
type ChangeRequest struct {
	Actor             Actor  `json:"actor"`
	ChangeOrderID     string `json:"changeOrderId"`
	ChangeOrderLineID string `json:"changeOrderLineId"`
	ProductID         string `json:"productId,omitempty"`
	SKUCode           string `json:"skuCode,omitempty"`
	Quantity          int    `json:"quantity"`
	Amount            Money  `json:"amount"`
}

// ChangeState is where a change order stands.
type ChangeState string

// Change states: the seller is applying it; it was applied (its line is due); it failed
// (the seller refused or never answered within the window: its amount is refunded and the
// order goes on unchanged).
const (
	ChangePending ChangeState = "pending"
	ChangeApplied ChangeState = "applied"
	ChangeFailed  ChangeState = "failed"
)

// Change is a change order as the order shows it.
type Change struct {
	ChangeOrderID     string      `json:"changeOrderId"`
	ChangeOrderLineID string      `json:"changeOrderLineId,omitempty"`
	ProductID         string      `json:"productId,omitempty"`
	SKUCode           string      `json:"skuCode,omitempty"`
	Quantity          int         `json:"quantity"`
	State             ChangeState `json:"state"`
	At                time.Time   `json:"at"`
	DoneAt            *time.Time  `json:"doneAt,omitempty"`
	Reason            string      `json:"reason,omitempty"`
	Settlement        Settlement  `json:"settlement"`
}
