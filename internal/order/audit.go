package order

import "fmt"

// StepName names a line of an order's audit trail (order_events.event): what happened.
// The machine emits only these; the activities and the API read them; a typo is a compile
// error rather than a trail nobody can query.
type StepName string

// The audit steps of an order (order workflow OrderV2).
const (
	StepPlaced             StepName = "placed"
	StepInstancePending    StepName = "instance_pending"
	StepInstanceCreated    StepName = "instance_created"
	StepInstanceReleased   StepName = "instance_released"
	StepLicenseReceived    StepName = "license_received"
	StepDeploymentReported StepName = "deployment_reported"
	StepShipped            StepName = "shipped"
	StepReshipped          StepName = "reshipped"
	StepSignedOff          StepName = "signed_off"
	StepDelivered          StepName = "delivered"
	StepRedelivered        StepName = "redelivered"
	StepAccepted           StepName = "accepted"
	StepRejected           StepName = "rejected"
	StepProvisionFailed    StepName = "provision_failed"
	StepRetryRequested     StepName = "retry_requested"
	StepRefunded           StepName = "refunded"
	StepNeedsAttention     StepName = "needs_attention"
	StepAttentionCleared   StepName = "attention_cleared"
	StepAppealOpened       StepName = "appeal_opened"
	StepAppealEscalated    StepName = "appeal_escalated"
	StepAppealResolved     StepName = "appeal_resolved"
	StepRenewed            StepName = "renewed"
	// StepChangeRequested, StepChanged and StepChangeFailed: a paid change order sent to the
	// seller (upgradeInstance), applied, or failed and refunded.
	StepChangeRequested StepName = "change_requested"
	StepChanged         StepName = "changed"
	StepChangeFailed    StepName = "change_failed"
	// StepConverted: billing's trial-to-formal order converted a trial.
	StepConverted StepName = "converted"
	// StepSellerNotified: the seller confirmed the orderNotify of a paid order.
	StepSellerNotified StepName = "seller_notified"
	// StepRenewalWithdrawn: billing took back a renewal period that had not begun.
	StepRenewalWithdrawn StepName = "renewal_withdrawn"
	StepUnsubscribed     StepName = "unsubscribed"
	StepExpired          StepName = "expired"
	StepFrozen           StepName = "frozen"
	StepUnfrozen         StepName = "unfrozen"
	StepReleased         StepName = "released"
	// StepLicenseCodeIssued: the marketplace generated the order's licence code (License
	// 2.0; its reference only: sha256 and the masked form) and it waits for activation.
	StepLicenseCodeIssued StepName = "license_code_issued"
	// StepLicenseCodeActivated: the seller's software activated the licence code.
	StepLicenseCodeActivated StepName = "license_code_activated"
	// StepOpsAction is ops' action by hand (who, what, why), before what it does.
	StepOpsAction StepName = "ops_action"
	// StepRestarted is written by the API, not the machine: ops started the order's lost
	// workflow again from the read model (the line names them and their reason).
	StepRestarted StepName = "restarted"
)

// Step is one line of the audit trail a transition leaves: what happened, who did it, the
// status before and after, and why.
type Step struct {
	Event  StepName          `json:"event"`
	Actor  Actor             `json:"actor"`
	From   Status            `json:"from"`
	To     Status            `json:"to"`
	Detail map[string]string `json:"detail,omitempty"`
}

// AppealEventKind is what happened to an appeal (appeal_events.kind).
type AppealEventKind string

// Appeal events, kept in PostgreSQL with the appeal.
const (
	AppealRaised    AppealEventKind = "raised"
	AppealEscalated AppealEventKind = "escalated"
	AppealResolved  AppealEventKind = "resolved"
)

// AppealChange records an appeal event with the transition that caused it: the appeal
// after it, written with the transition's audit lines.
type AppealChange struct {
	Kind   AppealEventKind `json:"kind"`
	Actor  Actor           `json:"actor"`
	Appeal Appeal          `json:"appeal"`
}

// AccountStepName names a line of a customer's arrears trail (arrears_events.event).
type AccountStepName string

// The audit steps of an account (account workflow).
const (
	AccountStepReported       AccountStepName = "arrears_reported"
	AccountStepAdded          AccountStepName = "arrears_added"
	AccountStepPaymentNoDebt  AccountStepName = "payment_without_arrears"
	AccountStepPaymentPartial AccountStepName = "payment_partial"
	AccountStepPaid           AccountStepName = "arrears_paid"
	AccountStepGraceStarted   AccountStepName = "grace_started"
	AccountStepFrozen         AccountStepName = "frozen"
	AccountStepReleased       AccountStepName = "released"
	// AccountStepOrderOverride: ops lifted an order's arrears hold by hand, or put it back
	// (the order and the ops person in the detail); the account's state does not change.
	AccountStepOrderOverride AccountStepName = "order_hold_overridden"
)

// AccountStep is one line of an account's arrears trail.
type AccountStep struct {
	Event  AccountStepName `json:"event"`
	From   AccountState    `json:"from"`
	To     AccountState    `json:"to"`
	Amount Money           `json:"amount"`
	Actor  Actor           `json:"actor"`
	// Detail says more where the step needs it (an override: orderId, held, reason).
	Detail map[string]string `json:"detail,omitempty"`
}

// Refusal is why a machine refuses an event now: Code is the stable problem code the API
// answers 409 with (the Err* constants), Msg says why, for the caller. The order and
// account machines refuse only with these, so every refusal has a code a client can
// branch on.
type Refusal struct {
	Code string
	Msg  string
}

// Error says the code and why.
func (r *Refusal) Error() string { return r.Code + ": " + r.Msg }

// Refuse builds a refusal with a formatted message.
func Refuse(code, format string, args ...any) *Refusal {
	return &Refusal{Code: code, Msg: fmt.Sprintf(format, args...)}
}
