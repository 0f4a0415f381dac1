package order

import "time"

// Message names of the order workflow (WorkflowType). Each is an Update: the action of a
// person or a party that the order's state can refuse, so the API can answer 409 at once
// (the validator) and, once done, the order as recorded (the handler returns after the
// transition is in PostgreSQL).
const (
	UpdateAccept  = "accept"  // buyer: accept delivery
	UpdateReject  = "reject"  // buyer: reject delivery, with a reason
	UpdateDeliver = "deliver" // seller: service delivered, or redelivered after a rejection
	UpdateDeploy  = "deploy"  // seller: a lifecycle phase of a package deployment
	UpdateShip    = "ship"    // seller: hardware shipped (carrier, tracking number)
	UpdateSignoff = "signoff" // web tier: the carrier reports the buyer signed for it
	UpdateLicense = "license" // seller open API: an asynchronously produced licence
	UpdateAppeal  = "appeal"  // buyer or seller: open an appeal
	UpdateResolve = "resolve" // ops: resolve the open appeal
	UpdateRetry   = "retry"   // ops: retry a failed seller call
	QueryState    = "state"   // the View
)

// Problem codes the order workflow refuses an action with; the API answers 409 with the
// same string as its problem code.
const (
	ErrInvalidTransition = "invalid_transition"
	ErrAppealOpen        = "appeal_open"
	ErrRejectionLimit    = "rejection_limit_reached"
	ErrLicenseMismatch   = "license_mismatch"
	ErrAppealLimit       = "appeal_limit_reached"
	// ErrChangeRefused: the seller answered changeInstanceCheck that a renewal's change is
	// not feasible (its reason is the message).
	ErrChangeRefused = "change_refused"
)

// ActionRequest is the argument of an update without fields of its own (accept, retry),
// and the common part of the others: who acts.
type ActionRequest struct {
	Actor  Actor  `json:"actor"`
	Reason string `json:"reason,omitempty"`
}

// DeploymentPhaseName is a lifecycle phase of a software package (its scripts/).
type DeploymentPhaseName string

// The lifecycle phases, in the order they run.
const (
	PhaseInstall DeploymentPhaseName = "install"
	PhaseStart   DeploymentPhaseName = "start"
	PhaseVerify  DeploymentPhaseName = "verify"
)

// DeploymentPhases lists the phases in the order they must complete.
var DeploymentPhases = []DeploymentPhaseName{PhaseInstall, PhaseStart, PhaseVerify}

// DeploymentState is where one phase stands.
type DeploymentState string

// Phase states a seller reports (pending: not reported yet).
const (
	DeploymentPending DeploymentState = "pending"
	DeploymentRunning DeploymentState = "running"
	DeploymentDone    DeploymentState = "done"
	DeploymentFailed  DeploymentState = "failed"
)

// DeploymentReport is the seller's report of one phase (POST .../deployment).
type DeploymentReport struct {
	Actor  Actor               `json:"actor"`
	Phase  DeploymentPhaseName `json:"phase"`
	State  DeploymentState     `json:"state"`
	Detail string              `json:"detail,omitempty"`
	// OpenedAt is the actual open time the seller reports with verify done (optional).
	OpenedAt *time.Time `json:"openedAt,omitempty"`
}

// DeploymentPhase is one phase as the order shows it.
type DeploymentPhase struct {
	Phase     DeploymentPhaseName `json:"phase"`
	State     DeploymentState     `json:"state"`
	Detail    string              `json:"detail,omitempty"`
	UpdatedAt *time.Time          `json:"updatedAt,omitempty"`
}

// ShipmentRequest is the seller's shipment of hardware (POST .../shipment).
type ShipmentRequest struct {
	Actor          Actor  `json:"actor"`
	Carrier        string `json:"carrier"`
	TrackingNumber string `json:"trackingNumber"`
}

// Shipment is the hardware shipment as the order shows it.
type Shipment struct {
	Carrier        string     `json:"carrier"`
	TrackingNumber string     `json:"trackingNumber"`
	ShippedAt      time.Time  `json:"shippedAt"`
	SignedAt       *time.Time `json:"signedAt,omitempty"`
}

// SignoffRequest is the carrier's sign-off relayed by the web tier (POST .../shipment/signoff).
type SignoffRequest struct {
	Actor    Actor     `json:"actor"`
	SignedAt time.Time `json:"signedAt"`
}

// DeliveryRequest is the seller's delivery of a service, or redelivery after a rejection
// (POST .../delivery).
type DeliveryRequest struct {
	Actor Actor  `json:"actor"`
	Note  string `json:"note"`
	// OpenedAt is the actual open time of the service the seller reports (optional): a
	// period product's validity counts from it rather than from the acceptance.
	OpenedAt *time.Time `json:"openedAt,omitempty"`
}

// Delivery is the last delivery note as the order shows it.
type Delivery struct {
	Note        string    `json:"note"`
	DeliveredAt time.Time `json:"deliveredAt"`
}

// LicenseRef is what the workflow knows of a licence: never the licence itself, which is
// stored sealed in PostgreSQL (order_licenses) and shown in full only to the order's buyer.
type LicenseRef struct {
	// SHA256 is the hex SHA-256 of the licence text: a resend must match it.
	SHA256 string `json:"sha256"`
	// Masked shows the licence's first and last characters only.
	Masked     string    `json:"masked"`
	ReceivedAt time.Time `json:"receivedAt"`
	// Via says how it came: answer (newInstance), query (queryInstance info), callback (the
	// seller's signed licence call).
	Via string `json:"via"`
	// Text is the licence in full. Only the API sets it, in the answer to the order's buyer;
	// the workflow, its history and the read model never hold it.
	Text string `json:"text,omitempty"`
}

// LicenseDelivery is the argument of UpdateLicense.
type LicenseDelivery struct {
	Actor   Actor      `json:"actor"`
	License LicenseRef `json:"license"`
	// OpenedAt is the actual open time the seller reports with the licence (optional).
	OpenedAt *time.Time `json:"openedAt,omitempty"`
}

// Rejection is the buyer's last rejection as the order shows it.
type Rejection struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Evidence is the metadata of a file supporting an appeal (the file itself is kept by the
// web tier's storage; the order keeps what identifies it).
type Evidence struct {
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	SHA256      string `json:"sha256"`
	Size        int64  `json:"size"`
}

// AppealRequest opens an appeal (POST .../appeals).
type AppealRequest struct {
	Actor    Actor      `json:"actor"`
	Reason   string     `json:"reason"`
	Evidence []Evidence `json:"evidence"`
	// OnBehalfOf is the party (the order's buyer or seller) an ops person opens the appeal
	// for, when Actor is ops: the appeal is the party's, the audit line names the ops person.
	OnBehalfOf *Actor `json:"onBehalfOf,omitempty"`
}

// AppealOutcome is how ops resolve an appeal.
type AppealOutcome string

// Appeal outcomes (order-states.md, section 3).
const (
	OutcomeContinue AppealOutcome = "continue"
	OutcomeAccept   AppealOutcome = "accept"
	OutcomeRefund   AppealOutcome = "refund"
)

// AppealResolution resolves the order's open appeal (POST /v1/appeals/{id}/resolution).
type AppealResolution struct {
	Actor    Actor         `json:"actor"`
	AppealID string        `json:"appealId"`
	Outcome  AppealOutcome `json:"outcome"`
	Note     string        `json:"note"`
}

// Appeal is an order's appeal as the order shows it.
type Appeal struct {
	AppealID   string        `json:"appealId"`
	State      string        `json:"state"` // open or resolved
	Tier       int           `json:"tier"`
	RaisedBy   Actor         `json:"raisedBy"`
	Reason     string        `json:"reason"`
	Evidence   []Evidence    `json:"evidence"`
	RaisedAt   time.Time     `json:"raisedAt"`
	EscalateAt *time.Time    `json:"escalateAt,omitempty"`
	Outcome    AppealOutcome `json:"outcome,omitempty"`
	ResolvedBy *Actor        `json:"resolvedBy,omitempty"`
	Note       string        `json:"note,omitempty"`
	ResolvedAt *time.Time    `json:"resolvedAt,omitempty"`
}

// Appeal states.
const (
	AppealStateOpen     = "open"
	AppealStateResolved = "resolved"
)

// AppealAnswer is what opening an appeal answers: its ID, and the order after it.
type AppealAnswer struct {
	AppealID string `json:"appealId"`
	Order    View   `json:"order"`
}
