package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

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
	return c.JSON(http.StatusOK, sellerOrder{
		OrderID: v.OrderID, OrderLineID: v.OrderLineID, ProductID: v.ProductID,
		ProductType: v.ProductType, BillingMode: v.BillingMode, CustomerID: v.CustomerID,
		Quantity: v.Quantity, Status: v.Status, InstanceID: v.InstanceID,
		ExpireTime: v.ExpireTime, PlacedAt: v.PlacedAt,
	})
}

// decodeView reads a read-model document written by this service.
func decodeView(raw []byte, v *order.View) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode order view: %w", err)
	}
	return nil
}
