package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/internal/licenses"
	"github.com/cloudmarket/orders/internal/order"
)

// Licence codes (License 2.0) in the seller open API: the seller's software presents the
// code the buyer typed in, to activate it and, once a day, to report its use. The code is a
// secret: it is looked up by its SHA-256 and never logged, echoed or passed on (the order's
// workflow gets only the hash).

// Problem codes of licence codes. Apart from the block in problem.go so its alignment
// stays put.
const (
	CodeLicenseCodeNotFound     = "license_code_not_found"         // 404: no such code among the seller's orders
	CodeLicenseCodeActivated    = order.ErrLicenseCodeActivated    // 409: the code was activated already
	CodeLicenseCodeNotReceived  = order.ErrLicenseCodeNotReceived  // 409: the buyer has not been shown the code yet
	CodeLicenseCodeNotActivated = order.ErrLicenseCodeNotActivated // 409: a heartbeat of a code never activated
)

// maxCodeLength bounds a presented code; ours are 29 characters, the bound leaves room for
// a future shape without letting a body carry a document.
const maxCodeLength = 64

// codeRequest is the body of both licence-code calls.
type codeRequest struct {
	License string `json:"license"`
}

// presentedCode validates a code as typed: printable, no spaces inside, 1-64 characters.
func (r codeRequest) presentedCode() (string, *Problem) {
	code := licenses.NormalizeCode(r.License)
	if code == "" || len(code) > maxCodeLength || strings.IndexFunc(code, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0 {
		return "", invalidField("license", "license must be the licence code as shown to the buyer (1-%d printable characters)", maxCodeLength)
	}
	return code, nil
}

func licenseCodeNotFound() *Problem {
	p := newProblem(http.StatusNotFound, CodeLicenseCodeNotFound, "no such licence code among your orders")
	p.Field = "license"
	return p
}

// findCode finds the order of a code presented by the calling seller.
func (s *server) findCode(c echo.Context, req codeRequest) (licenses.Code, error) {
	code, p := req.presentedCode()
	if p != nil {
		return licenses.Code{}, p
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	found, err := licenses.FindCode(ctx, s.db, callerOf(c).ID, code)
	switch {
	case errors.Is(err, licenses.ErrNoCode):
		return licenses.Code{}, licenseCodeNotFound()
	case err != nil:
		return licenses.Code{}, dbFailure("find licence code", err)
	}
	return found, nil
}

// codeActivation is the answer to an activation: the order as its seller sees it, and when
// the code was activated (the actual open time; the order's validity counts from it).
type codeActivation struct {
	sellerOrder
	ActivatedAt *time.Time `json:"activatedAt"`
}

// sellerActivateLicenseCode activates a licence code (POST
// /v1/seller-api/license-codes/activation): one update of the code's order, which the
// activation accepts. A code that is not the seller's is 404 license_code_not_found; one
// its buyer has not been shown yet 409 license_code_not_received (it cannot have come from
// the buyer); a second activation 409 license_code_already_activated.
func (s *server) sellerActivateLicenseCode(c echo.Context) error {
	var req codeRequest
	if err := s.bind(c, &req); err != nil {
		return err
	}
	code, err := s.findCode(c, req)
	if err != nil {
		return err
	}
	if code.ReceivedAt == nil {
		return conflict(CodeLicenseCodeNotReceived, "the buyer has not been shown this licence code yet")
	}
	var after order.View
	arg := order.LicenseCodeActivation{Actor: callerOf(c).actor(), SHA256: code.SHA256}
	if err := s.update(c, code.OrderID, order.UpdateActivateLicenseCode, arg, &after); err != nil {
		return err
	}
	s.log.Info("licence code activated", "request_id", requestID(c), "order_id", code.OrderID, "seller_id", callerOf(c).ID)
	return c.JSON(http.StatusOK, codeActivation{sellerOrder: sellerView(after), ActivatedAt: after.LicenseCodeActivatedAt})
}

// codeHeartbeat is the answer to a heartbeat: the order, and the day's use as recorded
// (First: this heartbeat was the day's first).
type codeHeartbeat struct {
	OrderID     string `json:"orderId"`
	OrderLineID string `json:"orderLineId"`
	licenses.Heartbeat
	First bool `json:"first"`
}

// sellerLicenseCodeHeartbeat records a day's use of an activated licence code (POST
// /v1/seller-api/license-codes/heartbeats): one row per code and UTC day, later heartbeats
// of the day only counted. A code never activated is 409 license_code_not_activated; one
// of an order that has ended 409 invalid_transition.
func (s *server) sellerLicenseCodeHeartbeat(c echo.Context) error {
	var req codeRequest
	if err := s.bind(c, &req); err != nil {
		return err
	}
	code, err := s.findCode(c, req)
	if err != nil {
		return err
	}
	d, err := s.loadOrder(c.Request().Context(), code.OrderID)
	if err != nil {
		return err
	}
	var v order.View
	if err := decodeView(d.View, &v); err != nil {
		return err
	}
	switch {
	case v.LicenseCodeActivatedAt == nil:
		return conflict(CodeLicenseCodeNotActivated, "the licence code has not been activated")
	case v.Phase.Final():
		return conflict(CodeInvalidTransition, "the licence code's order is "+string(v.Status))
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	h, first, err := licenses.RecordHeartbeat(ctx, s.db, code.OrderID, s.now())
	if err != nil {
		return dbFailure("record heartbeat", err)
	}
	return c.JSON(http.StatusOK, codeHeartbeat{OrderID: v.OrderID, OrderLineID: v.OrderLineID, Heartbeat: h, First: first})
}

// issueCode gives an order of a licence-code product its code before its workflow starts
// (the same code however often the placement is retried): the start input carries only the
// reference, and the order is supervised (the activation is its acceptance).
func (s *server) issueCode(ctx context.Context, in *order.StartInput) error {
	ref, err := licenses.IssueCode(ctx, s.db, s.keys, in.OrderID, in.SellerID, in.PlacedAt)
	if err != nil {
		return dbFailure("issue licence code of order "+in.OrderID, err)
	}
	in.LicenseCode, in.Supervised = &ref, true
	return nil
}

// codeShown records that the order's buyer was shown its licence code. A failure is logged,
// not answered: the buyer has the code either way, and the next read records it.
func (s *server) codeShown(ctx context.Context, orderID string) {
	if err := licenses.MarkReceived(ctx, s.db, orderID, s.now()); err != nil {
		s.log.Error("record the licence code shown", "order_id", orderID, "error", err)
	}
}

// licenseCodeHeartbeats lists the days an order's licence code was reported in use, newest
// first, to the order's parties and ops (the order's visibility rules, as for its view).
func (s *server) licenseCodeHeartbeats(c echo.Context) error {
	id := c.Param("orderId")
	if _, err := s.loadVisibleOrder(c, id); err != nil {
		return err
	}
	limit := defaultLimit
	if v := c.QueryParam("limit"); v != "" {
		limit, _ = strconv.Atoi(v) // the contract has checked it
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	days, err := licenses.Heartbeats(ctx, s.db, id, limit)
	if err != nil {
		return dbFailure("list heartbeats of order "+id, err)
	}
	if days == nil {
		days = []licenses.Heartbeat{}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": days})
}
