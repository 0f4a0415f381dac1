package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/internal/order"
)

// review is a buyer's review of an order (seed row 20).
type review struct {
	OrderID       string    `json:"orderId"`
	ProductID     string    `json:"productId"`
	Quality       int       `json:"quality"`
	AfterSales    int       `json:"afterSales"`
	DeliverySpeed int       `json:"deliverySpeed"`
	Tags          []string  `json:"tags"`
	Text          string    `json:"text"`
	CreatedAt     time.Time `json:"createdAt"`
}

// reviewOrder records the buyer's review of an accepted order, once (POST .../review). It is
// the catalogue's, not the order's: it changes nothing the workflow decides, so it is one
// write of PostgreSQL, keyed by order so a second review is refused.
func (s *server) reviewOrder(c echo.Context) error {
	var req struct {
		Quality       int      `json:"quality"`
		AfterSales    int      `json:"afterSales"`
		DeliverySpeed int      `json:"deliverySpeed"`
		Tags          []string `json:"tags"`
		Text          string   `json:"text"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	id := c.Param("orderId")
	d, err := s.loadVisibleOrder(c, id)
	if err != nil {
		return err
	}
	var v order.View
	if err := json.Unmarshal(d.View, &v); err != nil {
		return err
	}
	if !accepted(v) {
		return conflict(CodeInvalidTransition, "an order is reviewed once it is accepted; this one is "+string(v.Status))
	}
	if req.Tags == nil {
		req.Tags = []string{}
	}
	out := review{OrderID: id, ProductID: v.ProductID, Quality: req.Quality, AfterSales: req.AfterSales,
		DeliverySpeed: req.DeliverySpeed, Tags: req.Tags, Text: req.Text, CreatedAt: s.now().UTC()}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	tag, err := s.db.Exec(ctx, `INSERT INTO reviews (order_id, product_id, customer_id, quality, after_sales,
		delivery_speed, tags, text, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (order_id) DO NOTHING`,
		id, v.ProductID, v.CustomerID, out.Quality, out.AfterSales, out.DeliverySpeed, out.Tags, out.Text, out.CreatedAt)
	if err != nil {
		return dbFailure("record review of order "+id, err)
	}
	if tag.RowsAffected() == 0 {
		return conflict(CodeAlreadyReviewed, "this order has its review already")
	}
	return c.JSON(http.StatusCreated, out)
}

// accepted reports whether an order was accepted at some point (its settlement came due).
func accepted(v order.View) bool {
	if v.AcceptedBy != nil {
		return true
	}
	switch v.Phase {
	case order.PhaseInService, order.PhaseCompleted, order.PhaseReleased:
		return true
	}
	return false
}

// reviewSummary is the averages of a product's reviews.
type reviewSummary struct {
	Count         int      `json:"count"`
	Quality       *float64 `json:"quality,omitempty"`
	AfterSales    *float64 `json:"afterSales,omitempty"`
	DeliverySpeed *float64 `json:"deliverySpeed,omitempty"`
}

func (s *server) reviewsOf(ctx context.Context, productID string) (*reviewSummary, error) {
	var r reviewSummary
	err := s.db.QueryRow(ctx, `SELECT count(*), round(avg(quality), 2)::float8, round(avg(after_sales), 2)::float8,
		round(avg(delivery_speed), 2)::float8 FROM reviews WHERE product_id = $1`, productID).
		Scan(&r.Count, &r.Quality, &r.AfterSales, &r.DeliverySpeed)
	if err != nil {
		return nil, dbFailure("read reviews of product "+productID, err)
	}
	return &r, nil
}
