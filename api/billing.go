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
		RenewalOrderID     string               `json:"renewalOrderId"`
		RenewalOrderLineID string               `json:"renewalOrderLineId"`
		ExpireTime         string               `json:"expireTime"`
		Amount             *order.Money         `json:"amount"`
		Change             *order.RenewalChange `json:"change"`
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
		ExpireTime: exp.UTC(), Amount: req.Amount, Change: req.Change,
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
	state, _, err := s.arrearsState(ctx, customerID)
	switch {
	case err != nil:
		return err
	case state == order.AccountFrozen || state == order.AccountReleased:
		return conflict(CodeCustomerInArrears, fmt.Sprintf(
			"customer %s is in arrears (%s): new pay-per-use orders are refused until the arrears are paid", customerID, state))
	}
	return nil
}

// arrearsState reads a customer's account state and case ("none" without an account).
func (s *server) arrearsState(ctx context.Context, customerID string) (order.AccountState, string, error) {
	var state, caseID string
	err := s.db.QueryRow(ctx, `SELECT state, case_id FROM arrears_accounts WHERE customer_id = $1`, customerID).Scan(&state, &caseID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return order.AccountNone, "", nil
	case err != nil:
		return "", "", dbFailure("read arrears of customer "+customerID, err)
	}
	return order.AccountState(state), caseID, nil
}

// holdIfFrozenMeanwhile closes the race between a pay-per-use order's placing and its
// customer's freeze: the API checked the account before it started the order, the account
// lists the customer's orders after it froze. The account writes its state, then reads the
// orders; the API writes the order's row, then reads the state again here: one of the two
// sees the other. If the account froze (or released) meanwhile, the order is told as the
// account's hold activity would have told it. A failure is logged: the order's row is the
// account's to find on its next action.
func (s *server) holdIfFrozenMeanwhile(ctx context.Context, in order.StartInput) {
	dbCtx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	state, caseID, err := s.arrearsState(dbCtx, in.CustomerID)
	action := order.ArrearsFreeze
	switch {
	case err != nil:
		s.log.Warn("arrears of a just-placed order's customer not read again", "order_id", in.OrderID, "error", err)
		return
	case state == order.AccountReleased:
		action = order.ArrearsRelease
	case state != order.AccountFrozen:
		return
	}
	tctx, tcancel := context.WithTimeout(ctx, temporalTimeout)
	defer tcancel()
	sig := order.ArrearsSignal{Action: action, CaseID: caseID, Actor: order.Actor{Kind: order.ActorSystem}}
	if err := s.tc.SignalWorkflow(tctx, order.WorkflowID(in.OrderID), "", order.SignalArrears, sig); err != nil {
		s.log.Warn("hold of an order placed as its customer froze not sent", "order_id", in.OrderID, "error", err)
		return
	}
	s.log.Info("order placed as its customer froze: held", "order_id", in.OrderID, "customer_id", in.CustomerID, "action", action)
}

// withdrawRenewal is billing's un-renewal (POST /v1/orders/{orderId}/renewal-withdrawal):
// the latest renewal taken back before its period begins; the order decides whether it may.
func (s *server) withdrawRenewal(c echo.Context) error {
	var req struct {
		RenewalOrderID         string `json:"renewalOrderId"`
		UnsubscribeOrderID     string `json:"unsubscribeOrderId"`
		UnsubscribeOrderLineID string `json:"unsubscribeOrderLineId"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	return s.act(c, order.UpdateWithdrawRenewal, order.RenewalWithdrawal{Actor: callerOf(c).actor(),
		RenewalOrderID: req.RenewalOrderID, UnsubscribeOrderID: req.UnsubscribeOrderID, UnsubscribeOrderLineID: req.UnsubscribeOrderLineID})
}

// convertTrial is billing's trial-to-formal order (POST /v1/orders/{orderId}/conversion).
func (s *server) convertTrial(c echo.Context) error {
	var req struct {
		FormalOrderID     string       `json:"formalOrderId"`
		FormalOrderLineID string       `json:"formalOrderLineId"`
		ExpireTime        string       `json:"expireTime"`
		Amount            moneyRequest `json:"amount"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	exp, err := time.Parse(time.RFC3339, req.ExpireTime)
	if err != nil {
		return invalidField("expireTime", "expireTime must be an RFC 3339 date-time")
	}
	if exp.After(s.now().Add(maxRenewalAhead)) {
		return invalidField("expireTime", "expireTime is more than 20 years ahead")
	}
	return s.act(c, order.UpdateConvert, order.ConversionRequest{Actor: callerOf(c).actor(), FormalOrderID: req.FormalOrderID,
		FormalOrderLineID: req.FormalOrderLineID, ExpireTime: exp.UTC(),
		Amount: order.Money{Value: req.Amount.Value, Currency: req.Amount.Currency}})
}

// changeOrder is billing's paid change order (POST /v1/orders/{orderId}/changes): an
// upgrade or scale-up the seller applies on the same instance.
func (s *server) changeOrder(c echo.Context) error {
	var req struct {
		ChangeOrderID     string       `json:"changeOrderId"`
		ChangeOrderLineID string       `json:"changeOrderLineId"`
		ProductID         string       `json:"productId"`
		SKUCode           string       `json:"skuCode"`
		Quantity          int          `json:"quantity"`
		Amount            moneyRequest `json:"amount"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	return s.act(c, order.UpdateChange, order.ChangeRequest{Actor: callerOf(c).actor(), ChangeOrderID: req.ChangeOrderID,
		ChangeOrderLineID: req.ChangeOrderLineID, ProductID: req.ProductID, SKUCode: req.SKUCode, Quantity: req.Quantity,
		Amount: order.Money{Value: req.Amount.Value, Currency: req.Amount.Currency}})
}
