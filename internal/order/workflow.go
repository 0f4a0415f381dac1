package order

import "time"

// WorkflowType is the registered name of the order workflow.
const WorkflowType = "Order"

// Message names of the order workflow. Updates carry a person's action that can be refused
// (the validator answers at once, so the API can say 409); the query returns the View.
const (
	UpdateAccept = "accept"
	UpdateRetry  = "retry"
	QueryState   = "state"
)

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
	PlacedAt      time.Time  `json:"placedAt"`
	// Fingerprint is a hash of the order request, kept so that a repeated POST with a
	// different body can be told apart from a retry.
	Fingerprint string `json:"fingerprint"`
	// Windows is the policy in force when the order was placed, already scaled.
	Windows Windows `json:"windows"`
}

// RetryWindow is a retry schedule: one attempt every Interval until Window has passed.
type RetryWindow struct {
	Interval time.Duration `json:"interval"`
	Window   time.Duration `json:"window"`
}

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
}

// ActionRequest is the argument of an update: who acts, and why.
type ActionRequest struct {
	Actor  Actor  `json:"actor"`
	Reason string `json:"reason,omitempty"`
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
	WaitingOn      WaitingOn   `json:"waitingOn"`
	Rejections     int         `json:"rejections"`
	LastError      string      `json:"lastError,omitempty"`
	Settlement     Settlement  `json:"settlement"`
	Deadlines      []Deadline  `json:"deadlines"`
	ExpireTime     *time.Time  `json:"expireTime,omitempty"`
	PlacedAt       time.Time   `json:"placedAt"`
	UpdatedAt      time.Time   `json:"updatedAt"`
}

// Application error types the order workflow's update validators and handlers return. The API
// maps each to 409 with the same string as its problem code.
const (
	ErrInvalidTransition = "invalid_transition"
	ErrAppealOpen        = "appeal_open"
	ErrRejectionLimit    = "rejection_limit_reached"
)

// Supported reports whether the order workflow can carry an order of this product type and
// billing mode today: SaaS billed yearly, monthly or one-time. The other production paths
// (licence, package, hardware, service) and pay-per-use billing come with later work; until
// then the API refuses such orders rather than run them down the SaaS path.
func Supported(t ProductType, m BillingMode) bool {
	return t == TypeSaaS && m != BillingPayPerUse
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
		Phase:       PhaseProvisioning,
		Supervised:  in.Supervised,
		Frozen:      []string{},
		WaitingOn:   WaitSeller,
		Settlement:  Settlement{Status: SettlementNotDue, Currency: in.Amount.Currency},
		Deadlines:   []Deadline{},
		ExpireTime:  in.ExpireTime,
		PlacedAt:    in.PlacedAt,
		UpdatedAt:   in.PlacedAt,
	}
	v.Status = DeriveStatus(v.Phase, false, false)
	return v
}
