// Package order holds the vocabulary of an order that the workflow, the activities, the API
// and the database share: phases and statuses, product types, billing modes, the workflow's
// message names and its input and view types. Defining them once, as closed sets with
// validation, is what keeps a status from meaning one thing in the API and another in the
// workflow (order-states.md is the model).
package order

// Phase is where delivery of an order stands (order-states.md, section 1).
type Phase string

// Phases of an order.
const (
	PhaseProvisioning       Phase = "provisioning"
	PhaseProvisionFailed    Phase = "provision_failed"
	PhaseDeploying          Phase = "deploying"
	PhaseShipping           Phase = "shipping"
	PhaseDelivering         Phase = "delivering"
	PhaseAwaitingAcceptance Phase = "awaiting_acceptance"
	PhaseRejected           Phase = "rejected"
	PhaseInService          Phase = "in_service"
	PhaseCompleted          Phase = "completed"
	PhaseReleased           Phase = "released"
	PhaseCancelled          Phase = "cancelled"
)

// Final reports whether no event can move the order out of this phase.
func (p Phase) Final() bool {
	return p == PhaseCompleted || p == PhaseReleased || p == PhaseCancelled
}

// Status is the order status the API shows: the phase, unless an appeal is open or the
// service is frozen (order-states.md, "Derived status").
type Status string

// Statuses that are not phases.
const (
	StatusFrozen    Status = "frozen"
	StatusAppealing Status = "appealing"
)

// DeriveStatus computes the API status from the three independent parts of an order.
func DeriveStatus(p Phase, frozen, appealOpen bool) Status {
	switch {
	case appealOpen:
		return StatusAppealing
	case frozen:
		return StatusFrozen
	default:
		return Status(p)
	}
}

// Final reports whether the status is a final phase's.
func (s Status) Final() bool { return Phase(s).Final() }

// Statuses lists every valid API status, for validating list filters.
var Statuses = []Status{
	Status(PhaseProvisioning), Status(PhaseProvisionFailed), Status(PhaseDeploying),
	Status(PhaseShipping), Status(PhaseDelivering), Status(PhaseAwaitingAcceptance),
	Status(PhaseRejected), Status(PhaseInService), Status(PhaseCompleted), StatusFrozen,
	StatusAppealing, Status(PhaseReleased), Status(PhaseCancelled),
}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if v == s {
			return true
		}
	}
	return false
}

// ProductType says how a product is delivered, and so which production path an order takes.
type ProductType string

// Product types (api.md).
const (
	TypeSaaS     ProductType = "saas"
	TypeLicense  ProductType = "license"
	TypePackage  ProductType = "package"
	TypeHardware ProductType = "hardware"
	TypeService  ProductType = "service"
)

// Valid reports whether t is a known product type.
func (t ProductType) Valid() bool {
	switch t {
	case TypeSaaS, TypeLicense, TypePackage, TypeHardware, TypeService:
		return true
	}
	return false
}

// SupervisedByDefault says whether the buyer must accept delivery unless the product says
// otherwise: on for everything but SaaS (order-states.md).
func (t ProductType) SupervisedByDefault() bool { return t != TypeSaaS }

// BillingMode says how an order is charged, which decides what follows acceptance.
type BillingMode string

// Billing modes (api.md).
const (
	BillingYearly    BillingMode = "yearly"
	BillingMonthly   BillingMode = "monthly"
	BillingOneTime   BillingMode = "one_time"
	BillingPayPerUse BillingMode = "pay_per_use"
)

// Valid reports whether m is a known billing mode.
func (m BillingMode) Valid() bool {
	switch m {
	case BillingYearly, BillingMonthly, BillingOneTime, BillingPayPerUse:
		return true
	}
	return false
}

// Subscribed reports whether an accepted order of this mode stays in service until it
// expires or is released (as opposed to completing at once).
func (m BillingMode) Subscribed() bool { return m != BillingOneTime }

// Periodic reports whether the mode is a subscription with an expiry (yearly, monthly):
// what renews, and what a customer level's subscription clocks apply to.
func (m BillingMode) Periodic() bool { return m == BillingYearly || m == BillingMonthly }

// SettlementStatus is where the money of an order stands (order-states.md, section 5).
type SettlementStatus string

// Settlement statuses.
const (
	SettlementNotDue   SettlementStatus = "not_due"
	SettlementBlocked  SettlementStatus = "blocked"
	SettlementPending  SettlementStatus = "pending"
	SettlementSettled  SettlementStatus = "settled"
	SettlementRefunded SettlementStatus = "refunded"
)

// ActorKind says who caused an event; the audit log keeps it with every transition.
type ActorKind string

// Actor kinds.
const (
	ActorBuyer   ActorKind = "buyer"
	ActorSeller  ActorKind = "seller"
	ActorOps     ActorKind = "ops"
	ActorBilling ActorKind = "billing"
	ActorTimer   ActorKind = "timer"
	ActorSystem  ActorKind = "system"
)

// Actor is who did something to an order.
type Actor struct {
	Kind ActorKind `json:"kind"`
	ID   string    `json:"id,omitempty"`
}

// Money is an amount in integer minor units of an ISO 4217 currency; never a float.
type Money struct {
	Value    int64  `json:"value"`
	Currency string `json:"currency"`
}

// WaitingOn names who must act next; it is the WaitingOn search attribute.
type WaitingOn string

// Parties an order can wait on.
const (
	WaitBuyer   WaitingOn = "buyer"
	WaitSeller  WaitingOn = "seller"
	WaitOps     WaitingOn = "ops"
	WaitBilling WaitingOn = "billing"
	WaitTimer   WaitingOn = "timer"
	WaitNone    WaitingOn = "none"
)
