package lifecycle

import (
	"slices"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// CallKind names a call the workflow makes: to the seller, or the level lookup.
type CallKind string

// The calls.
const (
	CallNewInstance CallKind = "newInstance"
	CallQuery       CallKind = "queryInstance"
	CallFreeze      CallKind = "freeze"
	CallUnfreeze    CallKind = "unfreeze"
	CallRelease     CallKind = "release"
	// CallRecover asks newInstance again after a refund, to learn the instance an
	// uncertain provisioning may have made (the seller's idempotency returns it), so that
	// it can be released.
	CallRecover CallKind = "recover"
	// CallLevel reads the customer's level clocks: the grace when the order expires, the
	// retention when it is frozen (each period's length is the level's when it starts).
	CallLevel CallKind = "levelClocks"
	// CallRefresh tells the seller a renewal's new expiry (refreshInstance, RENEWAL).
	CallRefresh CallKind = "refreshInstance"
	// CallNotify tells the seller a paid order exists (orderNotify), once per order, for
	// products that ask for it.
	CallNotify CallKind = "orderNotify"
	// CallUpgrade applies the pending change order at the seller (upgradeInstance), retried
	// like newInstance (about hourly for 3 hours).
	CallUpgrade CallKind = "upgradeInstance"
)

// toSeller reports whether the call goes to the seller (and so can need ops' retry).
func (k CallKind) toSeller() bool { return k != CallLevel }

// CallState is where a call stands.
type CallState string

// Call states.
const (
	CallRunning CallState = "running"
	// CallFailed: the call ran out of its window; it waits for ops to retry it.
	CallFailed CallState = "failed"
)

// Call is one call in flight, or failed and owed.
type Call struct {
	Kind  CallKind  `json:"kind"`
	State CallState `json:"state"`
	// Since is when the call (this attempt of ops' or the order's) began (RulesOps): the
	// clock of a call failing on our side counts from it.
	Since time.Time `json:"since,omitzero"`
}

// Calls are the calls in flight or owed, at most one per kind, in the order they began.
type Calls []Call

// Start marks a call as running (again).
func (c *Calls) Start(k CallKind) {
	c.Finish(k)
	*c = append(*c, Call{Kind: k, State: CallRunning})
}

// Finish forgets a call.
func (c *Calls) Finish(k CallKind) {
	*c = slices.DeleteFunc(*c, func(x Call) bool { return x.Kind == k })
}

// Fail marks a call as failed, waiting for ops.
func (c Calls) Fail(k CallKind) {
	for i := range c {
		if c[i].Kind == k {
			c[i].State = CallFailed
		}
	}
}

// Running reports whether a call of that kind is in flight.
func (c Calls) Running(k CallKind) bool {
	return slices.ContainsFunc(c, func(x Call) bool { return x.Kind == k && x.State == CallRunning })
}

// Failed lists the calls waiting for ops, in the order they began.
func (c Calls) Failed() []CallKind {
	var out []CallKind
	for _, x := range c {
		if x.State == CallFailed {
			out = append(out, x.Kind)
		}
	}
	return out
}

// Has reports whether a call of that kind is in flight or owed.
func (c Calls) Has(k CallKind) bool {
	return slices.ContainsFunc(c, func(x Call) bool { return x.Kind == k })
}

// Empty reports whether no call is in flight or owed.
func (c Calls) Empty() bool { return len(c) == 0 }

// CallResult is how a call finished, as the workflow needs to know it (the seller's own
// messages stay in the activity's failure and in seller_calls, for ops).
type CallResult struct {
	Call CallKind `json:"call"`
	OK   bool     `json:"ok"`
	// Pending: newInstance answered 000004, the instance is being produced: poll.
	Pending     bool              `json:"pending,omitempty"`
	InstanceID  string            `json:"instanceId,omitempty"`
	FrontEndURL string            `json:"frontEndUrl,omitempty"`
	License     *order.LicenseRef `json:"license,omitempty"`
	// Refused: a definite refusal (a non-retryable result code): the seller made nothing.
	Refused bool `json:"refused,omitempty"`
	// ErrorType is the failure's class (SellerRefused, WindowExhausted, ...).
	ErrorType string `json:"errorType,omitempty"`
	// ErrorText is the failure's own words (the endpoint called and what went wrong, e.g.
	// "dial tcp 127.0.0.1:36067: connect: connection refused"), never a secret: what ops
	// read in the attention item and the UI.
	ErrorText string `json:"errorText,omitempty"`
	// Grace and Retention answer CallLevel.
	Grace     time.Duration `json:"grace,omitempty"`
	Retention time.Duration `json:"retention,omitempty"`
}
