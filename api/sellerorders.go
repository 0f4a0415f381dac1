package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/internal/licenses"
	"github.com/cloudmarket/orders/internal/order"
)

// sellerOrder is an order as its seller needs it (seller-protocol.md: order type, charging
// mode, period, expiry, product, the buyer's customerId).
type sellerOrder struct {
	OrderID     string            `json:"orderId"`
	OrderLineID string            `json:"orderLineId"`
	ProductID   string            `json:"productId"`
	ProductType order.ProductType `json:"productType"`
	BillingMode order.BillingMode `json:"billingMode"`
	CustomerID  string            `json:"customerId"`
	Quantity    int               `json:"quantity"`
	Status      order.Status      `json:"status"`
	InstanceID  string            `json:"instanceId,omitempty"`
	ExpireTime  *time.Time        `json:"expireTime,omitempty"`
	PlacedAt    time.Time         `json:"placedAt"`
	License     *order.LicenseRef `json:"license,omitempty"`
}

// sellerGetOrder answers GET /v1/seller-api/orders/{orderId} for the seller whose signature
// checked: only orders of its own products, and with orderLineId (when given) matching.
// Anything else answers as a missing order.
func (s *server) sellerGetOrder(c echo.Context) error {
	id := c.Param("orderId")
	d, err := s.loadOrder(c.Request().Context(), id)
	if err != nil {
		return err
	}
	var v order.View
	if err := decodeView(d.View, &v); err != nil {
		return err
	}
	line := c.QueryParam("orderLineId")
	if d.SellerID != callerOf(c).ID || (line != "" && line != v.OrderLineID) {
		return orderNotFound(id)
	}
	return c.JSON(http.StatusOK, sellerView(v))
}

func sellerView(v order.View) sellerOrder {
	return sellerOrder{
		OrderID: v.OrderID, OrderLineID: v.OrderLineID, ProductID: v.ProductID,
		ProductType: v.ProductType, BillingMode: v.BillingMode, CustomerID: v.CustomerID,
		Quantity: v.Quantity, Status: v.Status, InstanceID: v.InstanceID,
		ExpireTime: v.ExpireTime, PlacedAt: v.PlacedAt, License: v.License,
	}
}

// sellerDeliverLicense takes a seller's asynchronously produced licence (POST
// /v1/seller-api/licenses/{orderId}): it is stored sealed, and the order's workflow gets
// only its reference (one update; the order completes delivery with it). A resend of the
// same licence answers the same; another is 409 license_mismatch.
func (s *server) sellerDeliverLicense(c echo.Context) error {
	id := c.Param("orderId")
	var req struct {
		OrderLineID string  `json:"orderLineId"`
		License     string  `json:"license"`
		OpenedAt    *string `json:"openedAt"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	d, err := s.loadOrder(c.Request().Context(), id)
	if err != nil {
		return err
	}
	var v order.View
	if err := decodeView(d.View, &v); err != nil {
		return err
	}
	if d.SellerID != callerOf(c).ID || req.OrderLineID != v.OrderLineID {
		return orderNotFound(id)
	}
	if v.ProductType != order.TypeLicense {
		return conflict(CodeInvalidTransition, "order "+id+" is not of a licence product")
	}
	opened, err := s.openedAt(req.OpenedAt, d.View)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	ref, err := licenses.Store(ctx, s.db, s.keys, id, req.License, "callback", s.now())
	switch {
	case errors.Is(err, licenses.ErrMismatch):
		return conflict(CodeLicenseMismatch, "a different licence was delivered for this order already")
	case err != nil:
		return dbFailure("store licence of order "+id, err)
	}
	var after order.View
	arg := order.LicenseDelivery{Actor: callerOf(c).actor(), License: ref, OpenedAt: opened}
	if err := s.update(c, id, order.UpdateLicense, arg, &after); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, sellerView(after))
}

// decodeView reads a read-model document written by this service.
func decodeView(raw []byte, v *order.View) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode order view: %w", err)
	}
	return nil
}
