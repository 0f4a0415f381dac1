// Package events is the public shape of the order events the service publishes (issue 16,
// "Order events out"): the CloudEvents 1.0 envelope of one order transition, its type
// names, and the webhook signature. It imports only the standard library, so a subscriber
// written in Go can import it to verify what it receives (Verify) without pulling in the
// service.
//
// The envelope is a small struct written to the CloudEvents 1.0 JSON format (structured
// mode) rather than the CloudEvents Go SDK: the service only ever produces one event shape
// as bytes kept in the outbox, and the SDK would bring its own HTTP protocol stack (which
// would bypass the SSRF-checking dialer deliveries must use) and several dependencies for
// what is a dozen fields here.
package events

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// SpecVersion is the CloudEvents version of every envelope.
const SpecVersion = "1.0"

// Source is the CloudEvents source of every order event: the order service.
const Source = "/cloudmarket/orders"

// TypePrefix starts every event type: cloudmarket.order.<audit step>, e.g.
// cloudmarket.order.accepted.
const TypePrefix = "cloudmarket.order."

// ContentType is what a delivery's body is: one event in CloudEvents structured mode.
const ContentType = "application/cloudevents+json"

// Envelope is one event in the CloudEvents 1.0 JSON format. OrderID and Seq are extension
// attributes (lower-case alphanumerics, as the spec requires), so a consumer can order and
// deduplicate without parsing Data.
type Envelope struct {
	SpecVersion     string          `json:"specversion"`
	Type            string          `json:"type"`
	Source          string          `json:"source"`
	ID              string          `json:"id"`
	Subject         string          `json:"subject"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	OrderID         string          `json:"orderid"`
	Seq             int             `json:"orderseq"`
	Data            json.RawMessage `json:"data"`
}

// TypeOf is the event type of an audit step name (order.StepName).
func TypeOf(step string) string { return TypePrefix + step }

// ID is the event ID of an order's transition seq. It depends on nothing else, so every
// delivery of a transition (a retry, a redelivery after a crash, a replay) carries the same
// ID and consumers can deduplicate on it.
func ID(orderID string, seq int) string { return orderID + ":" + strconv.Itoa(seq) }

// ParseID splits an event ID made by ID.
func ParseID(id string) (orderID string, seq int, ok bool) {
	i := strings.LastIndexByte(id, ':')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(id[i+1:])
	if err != nil || n < 0 {
		return "", 0, false
	}
	return id[:i], n, true
}

// Data is the data of an order event: the audit step (event, status before and after, the
// kind of actor) and the order as it stood after the transition. Order is the order view of
// GET /v1/orders/{orderId} without secrets (a licence's text is never in it, only its
// masked form and hash), kept raw here so this package need not import the service's types.
// Actor IDs and free-text details stay in the audit trail (GET .../events), which checks
// who may read them.
type Data struct {
	OrderID   string          `json:"orderId"`
	Seq       int             `json:"seq"`
	Event     string          `json:"event"`
	From      string          `json:"from"`
	To        string          `json:"to"`
	ActorKind string          `json:"actorKind"`
	Order     json.RawMessage `json:"order"`
}
