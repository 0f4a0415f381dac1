package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/internal/order"
)

// Billing's actions on an order (renewal, unsubscription). Like every action, whether the
// order may take one now is the workflow's answer (409 with its reason); the API checks
// only what the contract cannot say.

// maxRenewalAhead bounds a renewal's expireTime: a typo of a century is refused here
// rather than scheduled.
const maxRenewalAhead = 20 * 365 * 24 * time.Hour

func (s *server) renewOrder(c echo.Context) error {
	var req struct {
		RenewalOrderID     string       `json:"renewalOrderId"`
		RenewalOrderLineID string       `json:"renewalOrderLineId"`
		ExpireTime         string       `json:"expireTime"`
		Amount             *order.Money `json:"amount"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	id := c.Param("orderId")
	d, err := s.loadVisibleOrder(c, id)
	if err != nil {
		return err
	}
	exp, err := time.Parse(time.RFC3339, req.ExpireTime)
	if err != nil {
		return invalidField("expireTime", "expireTime must be an RFC 3339 date-time")
	}
	if exp.After(s.now().Add(maxRenewalAhead)) {
		return invalidField("expireTime", "expireTime is more than 20 years ahead")
	}
	return s.actVisible(c, d, id, order.UpdateRenew, order.RenewalRequest{
		Actor: callerOf(c).actor(), RenewalOrderID: req.RenewalOrderID, RenewalOrderLineID: req.RenewalOrderLineID,
		ExpireTime: exp.UTC(), Amount: req.Amount,
	})
}

func (s *server) unsubscribeOrder(c echo.Context) error {
	var req struct {
		Reason                 string       `json:"reason"`
		UnsubscribeOrderID     string       `json:"unsubscribeOrderId"`
		UnsubscribeOrderLineID string       `json:"unsubscribeOrderLineId"`
		Refund                 *order.Money `json:"refund"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	if (req.UnsubscribeOrderID == "") != (req.UnsubscribeOrderLineID == "") {
		return invalidField("unsubscribeOrderLineId", "unsubscribeOrderId and unsubscribeOrderLineId come together (the seller is told both), or neither")
	}
	return s.act(c, order.UpdateUnsubscribe, order.UnsubscribeRequest{
		Actor: callerOf(c).actor(), Reason: req.Reason, UnsubscribeOrderID: req.UnsubscribeOrderID,
		UnsubscribeOrderLineID: req.UnsubscribeOrderLineID, Refund: req.Refund,
	})
}

// refuseInArrears refuses a new pay-per-use order of a customer whose arrears froze (or
// already released) their pay-per-use orders: 409 customer_in_arrears until they pay.
func (s *server) refuseInArrears(ctx context.Context, customerID string) error {
	var state string
	err := s.db.QueryRow(ctx, `SELECT state FROM arrears_accounts WHERE customer_id = $1`, customerID).Scan(&state)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return dbFailure("read arrears of customer "+customerID, err)
	case state == "frozen" || state == "released":
		return conflict(CodeCustomerInArrears, fmt.Sprintf(
			"customer %s is in arrears (%s): new pay-per-use orders are refused until the arrears are paid", customerID, state))
	}
	return nil
}
