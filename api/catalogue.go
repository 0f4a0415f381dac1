package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/sellerkeys"
)

// sellerRequest is the body of PUT /v1/sellers/{sellerId}. Pointers mark the fields whose
// absence means "keep" on update.
type sellerRequest struct {
	Name           string  `json:"name"`
	Endpoint       string  `json:"endpoint"`
	AccessKey      *string `json:"accessKey"`
	VerifyBodySign *bool   `json:"verifyBodySign"`
}

// putSeller creates or replaces a seller. The access key is required on create and kept
// when an update leaves it out, so ops can change an endpoint without handling the secret.
func (s *server) putSeller(c echo.Context) error {
	id := c.Param("sellerId")
	var req sellerRequest
	if err := s.bind(c, &req); err != nil {
		return err
	}
	if p := s.checkEndpoint(c.Request().Context(), req.Endpoint); p != nil {
		return p
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	now := s.now().UTC()
	created := false
	var err error
	if req.AccessKey != nil {
		// A key given here replaces the active one at once (a leaked key must stop working
		// now) and ends any rotation: an overlap is POST .../key-rotations.
		sealed, sErr := sellerkeys.Seal(s.keys, id, *req.AccessKey)
		if sErr != nil {
			return sErr
		}
		err = s.db.QueryRow(ctx, `
			INSERT INTO sellers (seller_id, name, endpoint, access_key_kek, access_key_dek,
			    access_key_sealed, verify_body_sign, created_at, updated_at, key_fingerprint, key_created_at)
			VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, true), $8, $8, $9, $8)
			ON CONFLICT (seller_id) DO UPDATE SET
			    name = excluded.name, endpoint = excluded.endpoint, access_key = NULL,
			    access_key_kek = excluded.access_key_kek, access_key_dek = excluded.access_key_dek,
			    access_key_sealed = excluded.access_key_sealed,
			    key_fingerprint = excluded.key_fingerprint, key_created_at = excluded.key_created_at,
			    pending_key_kek = NULL, pending_key_dek = NULL, pending_key_sealed = NULL,
			    pending_key_fingerprint = NULL, pending_key_created_at = NULL,
			    verify_body_sign = coalesce($7, sellers.verify_body_sign), updated_at = excluded.updated_at
			RETURNING (xmax = 0)`,
			id, req.Name, req.Endpoint, sealed.KeyID, sealed.WrappedKey, sealed.Ciphertext, req.VerifyBodySign, now,
			sellerkeys.Fingerprint(*req.AccessKey),
		).Scan(&created)
	} else {
		err = s.db.QueryRow(ctx, `
			UPDATE sellers SET name = $2, endpoint = $3,
			    verify_body_sign = coalesce($4, verify_body_sign), updated_at = $5
			WHERE seller_id = $1
			RETURNING false`,
			id, req.Name, req.Endpoint, req.VerifyBodySign, now,
		).Scan(&created)
		if errors.Is(err, pgx.ErrNoRows) {
			return invalidField("accessKey", "accessKey is required when the seller is new")
		}
	}
	if err != nil {
		return dbFailure("upsert seller "+id, err)
	}
	out, err := s.readSeller(ctx, id)
	if err != nil {
		return err
	}
	s.log.Info("seller saved", "request_id", requestID(c), "seller_id", id, "created", created,
		"key_changed", req.AccessKey != nil, "actor_id", callerOf(c).ID)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, out)
}

// productRequest is the body of PUT /v1/products/{productId}.
type productRequest struct {
	SellerID           string            `json:"sellerId"`
	Name               string            `json:"name"`
	Type               order.ProductType `json:"type"`
	BillingMode        order.BillingMode `json:"billingMode"`
	CommissionRate     int               `json:"commissionRate"`
	AcceptanceCriteria string            `json:"acceptanceCriteria"`
	Listed             *bool             `json:"listed"`
	Supervised         *bool             `json:"supervised"`
	UnitPrice          *order.Money      `json:"unitPrice"`
	// NotifyOrders asks for orderNotify on every paid order of the product (left out: no).
	NotifyOrders bool `json:"notifyOrders"`
	// TrialDays is how long a free trial of the product lasts (0: no trial).
	TrialDays int `json:"trialDays"`
	// LicenseCode: a licence product whose code the marketplace generates (License 2.0),
	// activated by the seller's software (left out: no).
	LicenseCode bool `json:"licenseCode"`
}

// productResponse is a product as the API shows it. Supervised is the effective value
// (the product's own, else its type's default) and SupervisedDefault says which it is.
type productResponse struct {
	ProductID          string            `json:"productId"`
	SellerID           string            `json:"sellerId"`
	Name               string            `json:"name"`
	Type               order.ProductType `json:"type"`
	BillingMode        order.BillingMode `json:"billingMode"`
	CommissionRate     int               `json:"commissionRate"`
	AcceptanceCriteria string            `json:"acceptanceCriteria"`
	Listed             bool              `json:"listed"`
	Supervised         bool              `json:"supervised"`
	SupervisedDefault  bool              `json:"supervisedDefault"`
	UnitPrice          *order.Money      `json:"unitPrice,omitempty"`
	NotifyOrders       bool              `json:"notifyOrders"`
	TrialDays          int               `json:"trialDays"`
	LicenseCode        bool              `json:"licenseCode"`
	Health             *productHealth    `json:"health,omitempty"`
	Reviews            *reviewSummary    `json:"reviews,omitempty"`
	CreatedAt          time.Time         `json:"createdAt"`
	UpdatedAt          time.Time         `json:"updatedAt"`
}

// productHealth is what the health schedule judges a product by: the seller calls made for
// it in the last 24 hours and how many failed (an answer other than success 000000 or
// pending 000004, or no usable answer at all).
type productHealth struct {
	Window      string  `json:"window"`
	Calls       int64   `json:"calls"`
	Failures    int64   `json:"failures"`
	FailureRate float64 `json:"failureRate"`
	// What the daily check last found: failing days among the last ones it counts, orders
	// failed by the seller interface in the month; and why and when it delisted the
	// product, or when ops listed it again (counting starts afresh then).
	FailingDays    int        `json:"failingDays"`
	FailedOrders   int        `json:"failedOrders"`
	CheckedAt      *time.Time `json:"checkedAt,omitempty"`
	DelistedReason string     `json:"delistedReason,omitempty"`
	DelistedAt     *time.Time `json:"delistedAt,omitempty"`
	RelistedAt     *time.Time `json:"relistedAt,omitempty"`
}

const healthWindow = 24 * time.Hour

// failedCallSQL is the condition of a failed seller call (c: a seller_calls row): the same
// the health check judges by (activities.FailedCallSQL).
const failedCallSQL = activities.FailedCallSQL

// putProduct creates or replaces a product. listed, when left out, keeps its current value
// (new products are listed): it is state the health schedule manages, not description;
// supervised, when left out, means the product type's default.
func (s *server) putProduct(c echo.Context) error {
	id := c.Param("productId")
	var req productRequest
	if err := s.bind(c, &req); err != nil {
		return err
	}
	switch {
	case req.BillingMode == order.BillingPayPerUse && req.UnitPrice == nil:
		return invalidField("unitPrice", "unitPrice is required for a pay_per_use product (minor units per unit of usage)")
	case req.BillingMode != order.BillingPayPerUse && req.UnitPrice != nil:
		return invalidField("unitPrice", "unitPrice is only for pay_per_use products")
	case req.LicenseCode && req.Type != order.TypeLicense:
		return invalidField("licenseCode", "licenseCode is only for license products")
	case req.LicenseCode && req.TrialDays > 0:
		return invalidField("trialDays", "a licence-code product has no trial (refreshLicenseCode has no TRIAL_TO_FORMAL)")
	case req.LicenseCode && req.Supervised != nil && !*req.Supervised:
		return invalidField("supervised", "a licence-code product is supervised: its activation is the acceptance")
	}
	var unitPrice *int64
	var unitCurrency *string
	if req.UnitPrice != nil {
		unitPrice, unitCurrency = &req.UnitPrice.Value, &req.UnitPrice.Currency
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	out := productResponse{
		ProductID: id, SellerID: req.SellerID, Name: req.Name, Type: req.Type, BillingMode: req.BillingMode,
		CommissionRate: req.CommissionRate, AcceptanceCriteria: req.AcceptanceCriteria, UnitPrice: req.UnitPrice,
		NotifyOrders: req.NotifyOrders, TrialDays: req.TrialDays, LicenseCode: req.LicenseCode,
	}
	var created bool
	var supervised *bool
	err := s.db.QueryRow(ctx, `
		INSERT INTO products (product_id, seller_id, name, type, billing_mode, commission_bps,
		    acceptance_criteria, supervised, listed, created_at, updated_at, unit_price, unit_price_currency, notify_orders, trial_days,
		    license_code)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, true), $10, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (product_id) DO UPDATE SET
		    seller_id = excluded.seller_id, name = excluded.name, type = excluded.type,
		    billing_mode = excluded.billing_mode, commission_bps = excluded.commission_bps,
		    acceptance_criteria = excluded.acceptance_criteria, supervised = excluded.supervised,
		    listed = coalesce($9, products.listed), updated_at = excluded.updated_at,
		    relisted_at = CASE WHEN $9 AND NOT products.listed THEN excluded.updated_at ELSE products.relisted_at END,
		    delisted_reason = CASE WHEN $9 THEN '' ELSE products.delisted_reason END,
		    unit_price = excluded.unit_price, unit_price_currency = excluded.unit_price_currency,
		    notify_orders = excluded.notify_orders, trial_days = excluded.trial_days,
		    license_code = excluded.license_code
		RETURNING (xmax = 0), supervised, listed, created_at, updated_at`,
		id, req.SellerID, req.Name, string(req.Type), string(req.BillingMode), req.CommissionRate,
		req.AcceptanceCriteria, req.Supervised, req.Listed, s.now().UTC(), unitPrice, unitCurrency, req.NotifyOrders, req.TrialDays,
		req.LicenseCode,
	).Scan(&created, &supervised, &out.Listed, &out.CreatedAt, &out.UpdatedAt)
	if err != nil {
		if pgCode(err) == "23503" { // foreign_key_violation: products.seller_id
			p := newProblem(http.StatusUnprocessableEntity, CodeSellerNotFound, fmt.Sprintf("no seller %q; PUT /v1/sellers/%s first", req.SellerID, req.SellerID))
			p.Field = "sellerId"
			return p
		}
		return dbFailure("upsert product "+id, err)
	}
	out.Supervised, out.SupervisedDefault = effectiveSupervised(req.Type, supervised)
	out.CreatedAt, out.UpdatedAt = out.CreatedAt.UTC(), out.UpdatedAt.UTC()
	s.log.Info("product saved", "request_id", requestID(c), "product_id", id, "created", created,
		"listed", out.Listed, "actor_id", callerOf(c).ID)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, out)
}

func effectiveSupervised(t order.ProductType, own *bool) (supervised, isDefault bool) {
	if own == nil {
		return t.SupervisedByDefault(), true
	}
	return *own, false
}

// getProduct answers a product with listed and the figures the health schedule uses.
func (s *server) getProduct(c echo.Context) error {
	id := c.Param("productId")
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	since := s.now().Add(-healthWindow)
	out := productResponse{ProductID: id, Health: &productHealth{Window: "24h"}}
	var supervised *bool
	var unitPrice *int64
	var unitCurrency *string
	var typ, mode string
	err := s.db.QueryRow(ctx, `
		SELECT p.seller_id, p.name, p.type, p.billing_mode, p.commission_bps, p.acceptance_criteria,
		       p.supervised, p.listed, p.created_at, p.updated_at, h.calls, h.failures,
		       p.unit_price, p.unit_price_currency, p.health_failing_days, p.health_failed_orders,
		       p.health_checked_at, p.delisted_reason, p.delisted_at, p.relisted_at, p.notify_orders, p.trial_days,
		       p.license_code
		FROM products p
		CROSS JOIN LATERAL (
		    SELECT count(*) AS calls,
		           count(*) FILTER (WHERE `+failedCallSQL+`) AS failures
		    FROM seller_calls c
		    WHERE c.product_id = p.product_id AND c.called_at > $2
		) h
		WHERE p.product_id = $1`, id, since,
	).Scan(&out.SellerID, &out.Name, &typ, &mode, &out.CommissionRate, &out.AcceptanceCriteria,
		&supervised, &out.Listed, &out.CreatedAt, &out.UpdatedAt, &out.Health.Calls, &out.Health.Failures,
		&unitPrice, &unitCurrency, &out.Health.FailingDays, &out.Health.FailedOrders,
		&out.Health.CheckedAt, &out.Health.DelistedReason, &out.Health.DelistedAt, &out.Health.RelistedAt, &out.NotifyOrders, &out.TrialDays,
		&out.LicenseCode)
	if errors.Is(err, pgx.ErrNoRows) {
		p := newProblem(http.StatusNotFound, CodeProductNotFound, fmt.Sprintf("no product %q", id))
		p.Field = "productId"
		return p
	}
	if err != nil {
		return dbFailure("read product "+id, err)
	}
	out.Type, out.BillingMode = order.ProductType(typ), order.BillingMode(mode)
	out.Supervised, out.SupervisedDefault = effectiveSupervised(out.Type, supervised)
	if unitPrice != nil && unitCurrency != nil {
		out.UnitPrice = &order.Money{Value: *unitPrice, Currency: *unitCurrency}
	}
	if out.Reviews, err = s.reviewsOf(ctx, id); err != nil {
		return err
	}
	if out.Health.Calls > 0 {
		out.Health.FailureRate = float64(out.Health.Failures) / float64(out.Health.Calls)
	}
	out.CreatedAt, out.UpdatedAt = out.CreatedAt.UTC(), out.UpdatedAt.UTC()
	return c.JSON(http.StatusOK, out)
}

// customerRequest is the body of PUT /v1/customers/{customerId}.
type customerRequest struct {
	Level string `json:"level"`
}

// customerResponse is a customer as the API shows it.
type customerResponse struct {
	CustomerID string    `json:"customerId"`
	Level      string    `json:"level"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// putCustomer creates or changes a customer's level; the level must exist in the policy,
// since it decides the customer's grace and retention clocks.
func (s *server) putCustomer(c echo.Context) error {
	id := c.Param("customerId")
	var req customerRequest
	if err := s.bind(c, &req); err != nil {
		return err
	}
	if !s.policy.HasLevel(req.Level) {
		return invalidField("level", "level %q is not defined by the policy", req.Level)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	out := customerResponse{CustomerID: id, Level: req.Level}
	var created bool
	err := s.db.QueryRow(ctx, `
		INSERT INTO customers (customer_id, level, created_at, updated_at) VALUES ($1, $2, $3, $3)
		ON CONFLICT (customer_id) DO UPDATE SET level = excluded.level, updated_at = excluded.updated_at
		RETURNING (xmax = 0), created_at, updated_at`, id, req.Level, s.now().UTC(),
	).Scan(&created, &out.CreatedAt, &out.UpdatedAt)
	if err != nil {
		return dbFailure("upsert customer "+id, err)
	}
	s.log.Info("customer saved", "request_id", requestID(c), "customer_id", id, "created", created,
		"level", req.Level, "actor_id", callerOf(c).ID)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	out.CreatedAt, out.UpdatedAt = out.CreatedAt.UTC(), out.UpdatedAt.UTC()
	return c.JSON(status, out)
}

// listProducts lists products for ops (GET /v1/products?listed=&sellerId=): above all the
// delisted ones, with the health check's figures and reason, in product ID order.
func (s *server) listProducts(c echo.Context) error {
	q := c.QueryParams()
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	args := []any{}
	where := []string{"true"}
	if v := q.Get("listed"); v != "" {
		args = append(args, v == "true")
		where = append(where, fmt.Sprintf("p.listed = $%d", len(args)))
	}
	if v := q.Get("sellerId"); v != "" {
		args = append(args, v)
		where = append(where, fmt.Sprintf("p.seller_id = $%d", len(args)))
	}
	if v := q.Get("cursor"); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || !idPattern.Match(raw) {
			return invalidField("cursor", "cursor is not one this API issued")
		}
		args = append(args, string(raw))
		where = append(where, fmt.Sprintf("p.product_id > $%d", len(args)))
	}
	args = append(args, limit+1)
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	args = append(args, s.now().Add(-healthWindow))
	rows, err := s.db.Query(ctx, fmt.Sprintf(`
		SELECT p.product_id, p.seller_id, p.name, p.type, p.billing_mode, p.commission_bps, p.acceptance_criteria, p.supervised,
		       p.listed, p.created_at, p.updated_at, p.unit_price, p.unit_price_currency, p.health_failing_days,
		       p.health_failed_orders, p.health_checked_at, p.delisted_reason, p.delisted_at, p.relisted_at, h.calls, h.failures
		FROM products p CROSS JOIN LATERAL (
		    SELECT count(*) AS calls, count(*) FILTER (WHERE %s) AS failures
		    FROM seller_calls c WHERE c.product_id = p.product_id AND c.called_at > $%d
		) h
		WHERE %s ORDER BY p.product_id LIMIT $%d`, failedCallSQL, len(args), strings.Join(where, " AND "), len(args)-1), args...)
	if err != nil {
		return dbFailure("list products", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (productResponse, error) {
		p := productResponse{Health: &productHealth{}}
		var typ, mode string
		var supervised *bool
		var unitPrice *int64
		var unitCurrency *string
		err := r.Scan(&p.ProductID, &p.SellerID, &p.Name, &typ, &mode, &p.CommissionRate, &p.AcceptanceCriteria, &supervised,
			&p.Listed, &p.CreatedAt, &p.UpdatedAt, &unitPrice, &unitCurrency, &p.Health.FailingDays, &p.Health.FailedOrders,
			&p.Health.CheckedAt, &p.Health.DelistedReason, &p.Health.DelistedAt, &p.Health.RelistedAt, &p.Health.Calls, &p.Health.Failures)
		p.Type, p.BillingMode = order.ProductType(typ), order.BillingMode(mode)
		p.Supervised, p.SupervisedDefault = effectiveSupervised(p.Type, supervised)
		if unitPrice != nil && unitCurrency != nil {
			p.UnitPrice = &order.Money{Value: *unitPrice, Currency: *unitCurrency}
		}
		p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
		p.Health.Window = "24h"
		if p.Health.Calls > 0 {
			p.Health.FailureRate = float64(p.Health.Failures) / float64(p.Health.Calls)
		}
		return p, err
	})
	if err != nil {
		return dbFailure("list products", err)
	}
	page := struct {
		Items      []productResponse `json:"items"`
		NextCursor string            `json:"nextCursor,omitempty"`
	}{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(items[limit-1].ProductID))
	}
	return c.JSON(http.StatusOK, page)
}
