package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/internal/order"
)

// Problem codes. They are part of the contract (api.md): clients branch on code, never on
// title or detail, so a code, once published, keeps its meaning.
const (
	CodeInvalidField         = "invalid_field"          // 400: a field, header, path or query value is wrong; field names it
	CodeInvalidJSON          = "invalid_json"           // 400: the body is not one JSON object
	CodeBodyTooLarge         = "body_too_large"         // 413: body over Config.APIMaxBodyBytes
	CodeUnsupportedMediaType = "unsupported_media_type" // 415: a body that is not application/json
	CodeRequestTimeout       = "request_timeout"        // 408: the body did not arrive within API_READ_TIMEOUT
	CodeUnauthenticated      = "unauthenticated"        // 401: no bearer token, or an unknown one
	CodeForbidden            = "forbidden"              // 403: the token's role or the actor may not do this
	CodeNotFound             = "not_found"              // 404: no such route
	CodeMethodNotAllowed     = "method_not_allowed"     // 405: the route exists, not with this method
	CodeOrderNotFound        = "order_not_found"        // 404: no order with this orderId
	CodeProductNotFound      = "product_not_found"      // 404 on GET, 422 when an order names it
	CodeSellerNotFound       = "seller_not_found"       // 422: a product names an unknown seller; 404 on the seller's own routes
	CodeKeyRotationPending   = "key_rotation_pending"   // 409: a seller confirms its key with the old key while a rotation is pending
	CodeProductDelisted      = "product_delisted"       // 409: the product is not listed
	CodeCustomerInArrears    = "customer_in_arrears"    // 409: a new pay-per-use order of a customer whose arrears froze their orders
	CodeProductUnsupported   = "product_not_supported"  // 422: no order workflow for this product type and billing mode yet
	CodeIdempotencyConflict  = "idempotency_conflict"   // 409: orderId reused with another body
	CodeInvalidTransition    = order.ErrInvalidTransition
	CodeAppealOpen           = order.ErrAppealOpen
	CodeRejectionLimit       = order.ErrRejectionLimit
	CodeLicenseMismatch      = order.ErrLicenseMismatch
	CodeAppealLimit          = order.ErrAppealLimit   // 409: the order's appeals reached the policy's cap
	CodeChangeRefused        = order.ErrChangeRefused // 409: the seller refuses a renewal's change (its reason in detail)
	CodeAlreadyReviewed      = "already_reviewed"     // 409: the order has its review
	CodeAppealNotFound       = "appeal_not_found"     // 404: no appeal with this appealId
	CodeStatementNotFound    = "statement_not_found"  // 404: no statement of that seller for that month (not stated yet)
	CodeNotLost              = "not_lost"             // 409: a restart of an order whose workflow runs, completed, or has nothing left to run
	CodeNotRestorable        = "not_restorable"       // 409: a restart of an order the read model cannot rebuild
	CodeRateLimited          = "rate_limited"         // 429: over the caller's limit; Retry-After says when to retry
	CodeUnavailable          = "unavailable"          // 503: Temporal or PostgreSQL unreachable, or shutting down; retry later
	CodeInternal             = "internal"             // 500: a bug; the log has the cause under the request ID
)

// CodeSubscriberNotFound (404): no event subscriber with this subscriberId (POST
// /v1/subscribers/{id}/replay). Apart from the block above so its alignment stays put.
const CodeSubscriberNotFound = "subscriber_not_found"

// problemTypePrefix makes the RFC 7807 type URI of a code. A URN rather than a URL: there
// is no page to dereference, and a URN does not pretend there is.
const problemTypePrefix = "urn:cloudmarket:problem:"

var titles = map[string]string{
	CodeInvalidField:         "Invalid field",
	CodeInvalidJSON:          "Invalid JSON body",
	CodeBodyTooLarge:         "Request body too large",
	CodeUnsupportedMediaType: "Unsupported media type",
	CodeRequestTimeout:       "Request timeout",
	CodeUnauthenticated:      "Unauthenticated",
	CodeForbidden:            "Forbidden",
	CodeNotFound:             "Not found",
	CodeMethodNotAllowed:     "Method not allowed",
	CodeOrderNotFound:        "Order not found",
	CodeProductNotFound:      "Product not found",
	CodeSellerNotFound:       "Seller not found",
	CodeProductDelisted:      "Product delisted",
	CodeCustomerInArrears:    "Customer in arrears",
	CodeProductUnsupported:   "Product not supported",
	CodeIdempotencyConflict:  "Idempotency conflict",
	CodeInvalidTransition:    "Invalid transition",
	CodeAppealOpen:           "Appeal open",
	CodeRejectionLimit:       "Rejection limit reached",
	CodeLicenseMismatch:      "Licence mismatch",
	CodeAppealLimit:          "Appeal limit reached",
	CodeChangeRefused:        "Change refused by the seller",
	CodeAlreadyReviewed:      "Already reviewed",
	CodeAppealNotFound:       "Appeal not found",
	CodeStatementNotFound:    "Statement not found",
	CodeNotLost:              "Order not lost",
	CodeNotRestorable:        "Order not restorable",
	CodeKeyRotationPending:   "Key rotation pending",
	CodeSubscriberNotFound:   "Subscriber not found",

	CodeLicenseCodeNotFound:     "Licence code not found",
	CodeLicenseCodeActivated:    "Licence code already activated",
	CodeLicenseCodeNotReceived:  "Licence code not received by the buyer",
	CodeLicenseCodeNotActivated: "Licence code not activated",
	CodeRateLimited:             "Too many requests",
	CodeUnavailable:             "Service unavailable",
	CodeInternal:                "Internal error",
}

// Problem is the RFC 7807 body of every error answer (application/problem+json). Handlers
// return a *Problem as their error; the error handler completes Instance and RequestID and
// writes it, so the shape is the same whether the failure came from validation, Temporal,
// PostgreSQL or Echo's own router. RequestID is an extension member: it is what support
// asks for, and it finds the log line of a 5xx.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	Field     string `json:"field,omitempty"`
	Instance  string `json:"instance"`
	RequestID string `json:"requestId,omitempty"`

	cause      error         // logged for 5xx, never sent
	challenge  string        // WWW-Authenticate of a 401; "" = the bearer challenge
	retryAfter time.Duration // Retry-After of a 429 or 503; 0 = one second
}

// Error lets a *Problem travel as a handler's error. It includes the cause, for the log;
// clients only ever see the JSON fields.
func (p *Problem) Error() string {
	msg := fmt.Sprintf("%d %s: %s", p.Status, p.Code, p.Detail)
	if p.Field != "" {
		msg = fmt.Sprintf("%d %s (%s): %s", p.Status, p.Code, p.Field, p.Detail)
	}
	if p.cause != nil {
		msg += ": " + p.cause.Error()
	}
	return msg
}

// Unwrap exposes the cause (a Temporal or PostgreSQL error) to errors.Is/As and the log.
func (p *Problem) Unwrap() error { return p.cause }

func newProblem(status int, code, detail string) *Problem {
	title := titles[code]
	if title == "" {
		title = http.StatusText(status)
	}
	return &Problem{Type: problemTypePrefix + code, Title: title, Status: status, Detail: detail, Code: code}
}

func invalidField(field, format string, args ...any) *Problem {
	p := newProblem(http.StatusBadRequest, CodeInvalidField, fmt.Sprintf(format, args...))
	p.Field = field
	return p
}

func forbidden(format string, args ...any) *Problem {
	return newProblem(http.StatusForbidden, CodeForbidden, fmt.Sprintf(format, args...))
}

func orderNotFound(id string) *Problem {
	p := newProblem(http.StatusNotFound, CodeOrderNotFound, fmt.Sprintf("no order %q", id))
	p.Field = "orderId"
	return p
}

func unavailable(what string, cause error) *Problem {
	p := newProblem(http.StatusServiceUnavailable, CodeUnavailable, what+" is unavailable; retry later")
	p.cause = cause
	return p
}

// handleError is Echo's HTTPErrorHandler: every error, from a handler or from Echo itself
// (404 no route, 405, 413), leaves as a problem document.
func (s *server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p := toProblem(err)
	p.Instance = c.Request().URL.Path
	p.RequestID = requestID(c)
	if p.Status >= 500 {
		s.log.Error("request failed", "request_id", p.RequestID, "method", c.Request().Method,
			"path", c.Request().URL.Path, "status", p.Status, "code", p.Code, "error", err)
	}
	if p.Status == http.StatusUnauthorized {
		challenge := p.challenge
		if challenge == "" {
			challenge = `Bearer realm="orders"`
		}
		c.Response().Header().Set("WWW-Authenticate", challenge)
	}
	if p.Status == http.StatusServiceUnavailable || p.Status == http.StatusTooManyRequests {
		secs := int64(math.Ceil(p.retryAfter.Seconds()))
		c.Response().Header().Set(headerRetryAfter, strconv.FormatInt(max(secs, 1), 10))
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(p.Status)
		return
	}
	b, mErr := json.Marshal(p)
	if mErr != nil { // cannot happen: only strings and an int
		b = []byte(`{"type":"` + problemTypePrefix + CodeInternal + `","status":500,"code":"internal"}`)
	}
	if wErr := c.Blob(p.Status, "application/problem+json", b); wErr != nil {
		s.log.Debug("write problem", "request_id", p.RequestID, "error", wErr)
	}
}

// toProblem turns any error into the problem to send, copying so that a shared *Problem is
// never mutated.
func toProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		cp := *p
		return &cp
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return echoProblem(he)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return unavailable("the service", err)
	}
	ip := newProblem(http.StatusInternalServerError, CodeInternal, "internal error; quote the requestId when reporting it")
	ip.cause = err
	return ip
}

// echoProblem maps the errors Echo raises by itself (router, middleware) to stable codes.
func echoProblem(he *echo.HTTPError) *Problem {
	var p *Problem
	switch he.Code {
	case http.StatusNotFound:
		p = newProblem(he.Code, CodeNotFound, "no such route")
	case http.StatusMethodNotAllowed:
		p = newProblem(he.Code, CodeMethodNotAllowed, "the route does not accept this method")
	case http.StatusRequestEntityTooLarge:
		p = newProblem(he.Code, CodeBodyTooLarge, "request body too large")
	case http.StatusUnsupportedMediaType:
		p = newProblem(he.Code, CodeUnsupportedMediaType, "send application/json")
	case http.StatusUnauthorized:
		p = newProblem(he.Code, CodeUnauthenticated, "send Authorization: Bearer <token>")
	case http.StatusForbidden:
		p = newProblem(he.Code, CodeForbidden, "not allowed")
	case http.StatusServiceUnavailable:
		p = newProblem(he.Code, CodeUnavailable, "retry later")
	case http.StatusBadRequest:
		p = newProblem(he.Code, CodeInvalidField, fmt.Sprint(he.Message))
	default:
		if he.Code >= 400 && he.Code < 500 {
			p = newProblem(he.Code, CodeInvalidField, fmt.Sprint(he.Message))
		} else {
			p = newProblem(http.StatusInternalServerError, CodeInternal, "internal error; quote the requestId when reporting it")
		}
	}
	p.cause = he
	return p
}
