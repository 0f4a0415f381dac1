package order

import (
	"encoding/json"
	"time"
)

// WorkflowType is the registered name of the order workflow new orders run on: the event
// loop of package workflows/orderflow around the order machine (internal/lifecycle).
const WorkflowType = "OrderV2"

// WorkflowTypeV1 is the first order workflow (SaaS only, a straight script). New orders no
// longer start on it, but it stays registered, unchanged, while orders placed before the
// change still run on it; its recorded histories keep being replayed.
const WorkflowTypeV1 = "Order"

// WorkflowID derives the workflow ID from the marketplace orderId, so that a repeated start of
// the same order finds the same workflow. Order IDs are [A-Za-z0-9_-]{1,64}, so the prefix
// cannot collide with another order's ID.
func WorkflowID(orderID string) string { return "order-" + orderID }

// StartInput is everything the order workflow needs to run, fixed when the order is placed.
// It carries IDs and figures only: never a seller's access key (activities look that up by
// SellerID) and never a document.
type StartInput struct {
	OrderID     string      `json:"orderId"`
	OrderLineID string      `json:"orderLineId"`
	CustomerID  string      `json:"customerId"`
	ProductID   string      `json:"productId"`
	SellerID    string      `json:"sellerId"`
	ProductType ProductType `json:"productType"`
	BillingMode BillingMode `json:"billingMode"`
	// Supervised: the buyer must accept delivery (else it is accepted when produced).
	Supervised    bool       `json:"supervised"`
	Quantity      int        `json:"quantity"`
	Amount        Money      `json:"amount"`
	CommissionBps int        `json:"commissionBps"`
	ExpireTime    *time.Time `json:"expireTime,omitempty"`
	// AcceptanceCriteria is the product's delivery template as listed when the order was
	// placed: what the buyer accepts against.
	AcceptanceCriteria string `json:"acceptanceCriteria,omitempty"`
	// UnitPrice is a pay-per-use product's price per unit of usage when the order was
	// placed (minor units per unit): what its usage records are priced at.
	UnitPrice *Money    `json:"unitPrice,omitempty"`
	PlacedAt  time.Time `json:"placedAt"`
	// OrderType is the marketplace's order type ("" or NEW; TRIAL: a free trial, converted
	// by billing's trial-to-formal order or released after the retention when it ends).
	OrderType string `json:"orderType,omitempty"`
	// NotifyOrders: the product asks to be told of every paid order (orderNotify), snapshot
	// from the catalogue when the order is placed.
	NotifyOrders bool `json:"notifyOrders,omitempty"`
	// LicenseCode is the reference (never the text) of the licence code the marketplace
	// generated for an order of a licence-code product (License 2.0); nil for every other
	// order. Such an order takes the licence-code path: no newInstance, activation by the
	// seller's software, and the licence-code calls for renewal, freeze and release.
	LicenseCode *LicenseRef `json:"licenseCode,omitempty"`
	// Fingerprint is a hash of the order request, kept so that a repeated POST with a
	// different body can be told apart from a retry.
	Fingerprint string `json:"fingerprint"`
	// Windows is the policy in force when the order was placed, already scaled.
	Windows Windows `json:"windows"`
	// Rules is the generation of the order's rules (lifecycle.Rules*), chosen when it is
	// placed. The workflow takes it from here, with no version marker, since each marker
	// costs an order two history events and a visibility write; 0 for orders placed
	// before inputs carried it, whose workflow reads the generation from version markers.
	Rules int `json:"rules,omitempty"`
	// Resume is set only when a run continues as new: the workflow's own state, carried
	// over (opaque here; package workflows/orderflow owns its shape).
	Resume json.RawMessage `json:"resume,omitempty"`
}

// RetryWindow is a retry schedule: one attempt every Interval until Window has passed.
// Attempts is the same window counted in calls the seller answered (or failed to answer):
// Window/Interval + 1 in the unscaled policy. OrderV2 spends the window in attempts, so
// time the seller was never asked (our worker or database down) never uses it up.
type RetryWindow struct {
	Interval time.Duration `json:"interval"`
	Window   time.Duration `json:"window"`
	Attempts int           `json:"attempts,omitempty"`
}

// CallTimeout bounds one attempt of a workflow's call (a seller call, SELLER_TIMEOUT, 5 s by
// default, with room for its bookkeeping; a PostgreSQL write): the loops' activity options
// use it, and the order machine counts it into how long provisioning may take.
const CallTimeout = 30 * time.Second

// MinRetryInterval is the shortest interval between two attempts of a seller call, however
// far a demo time scale shrinks the policy's: a seller is never hammered.
const MinRetryInterval = time.Second

// Windows are the policy's clocks for one order, already divided by the time scale. They
// travel in the workflow input so that a policy change never alters a running order's
// history on replay.
type Windows struct {
	TimeScale        float64       `json:"timeScale"`
	NewInstance      RetryWindow   `json:"newInstance"`
	Poll             RetryWindow   `json:"poll"`
	SellerCall       RetryWindow   `json:"sellerCall"`
	AcceptanceWindow time.Duration `json:"acceptanceWindow"`
	RefundHold       time.Duration `json:"refundHold"`
	// The clocks and limits below arrived with OrderV2; orders of the first workflow have
	// them zero and never read them.
	RejectionLimit int           `json:"rejectionLimit,omitempty"`
	DeploymentSLA  time.Duration `json:"deploymentSla,omitempty"`
	RedeliverySLA  time.Duration `json:"redeliverySla,omitempty"`
	LicenseWait    time.Duration `json:"licenseWait,omitempty"`
	// AppealTiers are the SLAs of the appeal tiers below the last; an appeal not resolved
	// within its tier's SLA escalates to the next; the last tier stays open until resolved.
	AppealTiers []time.Duration `json:"appealTiers,omitempty"`
	// The clocks and limits below arrived with the rules of 2026-12 (lifecycle.RulesSeams):
	// FirstDeliverySLA (a service's first delivery), ShipmentSLA (hardware's first
	// shipment), SignoffSLA (the carrier's sign-off after a shipment) and LastTierSLA (the
	// last appeal tier) flag the order for ops when they run out; AppealLimit caps the
	// appeals of an order.
	FirstDeliverySLA time.Duration `json:"firstDeliverySla,omitempty"`
	ShipmentSLA      time.Duration `json:"shipmentSla,omitempty"`
	SignoffSLA       time.Duration `json:"signoffSla,omitempty"`
	LastTierSLA      time.Duration `json:"lastTierSla,omitempty"`
	AppealLimit      int           `json:"appealLimit,omitempty"`
	// OurSideAfter arrived with the ops rules (lifecycle.RulesOps): a seller call still
	// running this long after its whole seller window can only be failing on our side
	// (PostgreSQL, the catalogue, the worker): the order is flagged for ops, the call goes on.
	OurSideAfter time.Duration `json:"ourSideAfter,omitempty"`
	// ActivationWindow arrived with licence codes: a licence code not activated this long
	// after it was issued flags the order for ops (cause license_code_not_activated).
	ActivationWindow time.Duration `json:"activationWindow,omitempty"`
	// HistoryLimit is how many history events a run of the order workflow may reach before
	// it continues as new (carrying its state), so that a subscription renewed for years
	// keeps each run's history bounded. 0: Temporal's own suggestion only.
	HistoryLimit int `json:"historyLimit,omitempty"`
}

// Deadline is one running clock of an order: what happens when it runs out, and when.
type Deadline struct {
	Action string    `json:"action"`
	At     time.Time `json:"at"`
}

// Settlement is the money view of an order.
type Settlement struct {
	Status     SettlementStatus `json:"status"`
	Currency   string           `json:"currency"`
	Gross      int64            `json:"gross"`
	Commission int64            `json:"commission"`
	Net        int64            `json:"net"`
	// Refunded is the part of Gross refunded so far (an unsubscription's refund, taken
	// from the latest lines first); what is left is split afresh when the line is posted
	// or refunded.
	Refunded int64 `json:"refunded,omitempty"`
}

// View is the order as the API shows it: the workflow's query answer and the JSON document
// of the orders read model.
type View struct {
	OrderID        string      `json:"orderId"`
	OrderLineID    string      `json:"orderLineId"`
	CustomerID     string      `json:"customerId"`
	ProductID      string      `json:"productId"`
	SellerID       string      `json:"sellerId"`
	ProductType    ProductType `json:"productType"`
	BillingMode    BillingMode `json:"billingMode"`
	Quantity       int         `json:"quantity"`
	Amount         Money       `json:"amount"`
	Status         Status      `json:"status"`
	Phase          Phase       `json:"phase"`
	Supervised     bool        `json:"supervised"`
	InstanceID     string      `json:"instanceId,omitempty"`
	FrontEndURL    string      `json:"frontEndUrl,omitempty"`
	Frozen         []string    `json:"frozen"`
	NeedsAttention bool        `json:"needsAttention"`
	// Attention says what needs ops when NeedsAttention is set.
	Attention string `json:"attention,omitempty"`
	// AttentionCause is the stable code of the latest standing cause (lifecycle.CauseCodes),
	// AttentionSince when it was raised; AttentionItems are every standing cause, oldest
	// first. Orders placed before causes show "other" and no since.
	AttentionCause string          `json:"attentionCause,omitempty"`
	AttentionSince *time.Time      `json:"attentionSince,omitempty"`
	AttentionItems []AttentionItem `json:"attentionItems,omitempty"`
	// OrderType is TRIAL for a free trial; ConvertedBy names billing's trial-to-formal order
	// once the trial was converted.
	OrderType   string `json:"orderType,omitempty"`
	ConvertedBy string `json:"convertedBy,omitempty"`
	// ProductNow and QuantityNow are what the order runs as after the change orders applied
	// (the product and quantity it was placed with until one is); Changes their history.
	ProductNow  string     `json:"productNow,omitempty"`
	QuantityNow int        `json:"quantityNow,omitempty"`
	Changes     []Change   `json:"changes,omitempty"`
	WaitingOn   WaitingOn  `json:"waitingOn"`
	Rejections  int        `json:"rejections"`
	LastError   string     `json:"lastError,omitempty"`
	Settlement  Settlement `json:"settlement"`
	Deadlines   []Deadline `json:"deadlines"`
	ExpireTime  *time.Time `json:"expireTime,omitempty"`
	// InServiceSince and ServiceEndedAt bound the order's time in service: the usage a
	// seller reports must fall within.
	InServiceSince *time.Time `json:"inServiceSince,omitempty"`
	ServiceEndedAt *time.Time `json:"serviceEndedAt,omitempty"`
	PlacedAt       time.Time  `json:"placedAt"`
	UpdatedAt      time.Time  `json:"updatedAt"`
	// What the product type's path shows (OrderV2).
	AcceptanceCriteria string            `json:"acceptanceCriteria,omitempty"`
	UnitPrice          *Money            `json:"unitPrice,omitempty"`
	License            *LicenseRef       `json:"license,omitempty"`
	Deployment         []DeploymentPhase `json:"deployment,omitempty"`
	Shipment           *Shipment         `json:"shipment,omitempty"`
	Delivery           *Delivery         `json:"delivery,omitempty"`
	LastRejection      *Rejection        `json:"lastRejection,omitempty"`
	Appeal             *Appeal           `json:"appeal,omitempty"`
	AcceptedBy         *Actor            `json:"acceptedBy,omitempty"`
	// Billing: the renewals (the latest MaxViewRenewals; RenewalCount counts them all) and
	// an unsubscription.
	Renewals       []Renewal       `json:"renewals,omitempty"`
	RenewalCount   int             `json:"renewalCount,omitempty"`
	Unsubscription *Unsubscription `json:"unsubscription,omitempty"`
	// LicenseCodeActivatedAt is when the seller's software activated the order's licence
	// code (licence-code products only; the code itself is License, masked).
	LicenseCodeActivatedAt *time.Time `json:"licenseCodeActivatedAt,omitempty"`
}

// MaxViewRenewals bounds the renewals an order view lists (the audit trail keeps them all).
const MaxViewRenewals = 12

// Supported reports whether the order workflow can carry an order of this product type and
// billing mode: every product type with every billing mode.
func Supported(t ProductType, m BillingMode) bool {
	return t.Valid() && m.Valid()
}

// FirstPhase is where delivery of a product type starts (order-states.md, section 1).
func FirstPhase(t ProductType) Phase {
	switch t {
	case TypePackage:
		return PhaseDeploying
	case TypeHardware:
		return PhaseShipping
	case TypeService:
		return PhaseDelivering
	}
	return PhaseProvisioning
}

// InitialView is the order as it stands the moment it is placed, before the workflow has run
// a step: what the API answers to a new order, and the workflow's starting state.
func InitialView(in StartInput) View {
	v := View{
		OrderID:     in.OrderID,
		OrderLineID: in.OrderLineID,
		CustomerID:  in.CustomerID,
		ProductID:   in.ProductID,
		SellerID:    in.SellerID,
		ProductType: in.ProductType,
		BillingMode: in.BillingMode,
		Quantity:    in.Quantity,
		Amount:      in.Amount,
		Phase:       FirstPhase(in.ProductType),
		Supervised:  in.Supervised,
		Frozen:      []string{},
		WaitingOn:   WaitSeller,
		Settlement:  Settlement{Status: SettlementNotDue, Currency: in.Amount.Currency},
		Deadlines:   []Deadline{},
		ExpireTime:  in.ExpireTime,
		PlacedAt:    in.PlacedAt,
		UpdatedAt:   in.PlacedAt,

		AcceptanceCriteria: in.AcceptanceCriteria,
		UnitPrice:          in.UnitPrice,
	}
	v.Status = DeriveStatus(v.Phase, false, false)
	return v
}

// AttentionItem is one standing cause of an order needing ops: its code, what ops read
// (with the underlying error and the endpoint called, when a call failed), since when, and
// the call it is about.
type AttentionItem struct {
	Cause string     `json:"cause"`
	Why   string     `json:"why"`
	Since *time.Time `json:"since,omitempty"`
	Call  string     `json:"call,omitempty"`
}

// Order types the marketplace knows (seller-protocol.md): the order workflow distinguishes
// trials; the others arrive as their own updates (renewal, unsubscription, change).
const (
	OrderTypeNew   = "NEW"
	OrderTypeTrial = "TRIAL"
)
