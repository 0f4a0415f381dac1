package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudmarket/orders/internal/policy"
)

// Health holds the product health check (seller-protocol.md, "Product health").
type Health struct {
	DB      *pgxpool.Pool
	Policy  *policy.Policy
	Metrics *Metrics
}

// HealthReport is what one check found and did.
type HealthReport struct {
	Day string `json:"day"`
	// ProductID is the one product checked (a check by hand); empty: every listed product.
	ProductID string          `json:"productId,omitempty"`
	Products  int             `json:"products"`
	Delisted  []DelistedEntry `json:"delisted,omitempty"`
}

// DelistedEntry is a product the check delisted, and why.
type DelistedEntry struct {
	ProductID string `json:"productId"`
	Rule      string `json:"rule"`
	Reason    string `json:"reason"`
}

// Delisting rules.
const (
	RuleFailingDays  = "failing_days"
	RuleFailedOrders = "failed_orders"
)

// FailedCallSQL is the SQL condition of a failed seller call: an answer other than success
// (000000) or pending (000004), or no usable answer at all; 000003 to releaseInstance
// means released already (done), 000001 during a rotation of the seller's key is the
// rotation's, not the seller failing, and a changeInstanceCheck recorded without error is
// answered (a refusal is the seller's considered "no"). Only calls that reached the seller
// are recorded, so our own faults (PostgreSQL, the catalogue, the worker) never count.
const FailedCallSQL = `((c.result_code <> '000000' AND c.result_code <> '000004') OR c.error <> '')
	AND NOT (c.activity = 'releaseInstance' AND c.result_code = '000003')
	AND NOT (c.during_key_rotation AND c.result_code = '000001')
	AND NOT (c.activity = 'changeInstanceCheck' AND c.error = '' AND c.result_code <> '')`

// CheckProducts evaluates every listed product as of the start of day (UTC, "YYYY-MM-DD"):
// the consecutive days before it on which its seller calls failed (a day fails when at
// least the policy's share of its calls failed; a day without calls breaks the run), and
// the orders failed by the seller interface (provision_failed for want of an answer or of
// a licence) in day's calendar month. A product at either of the policy's limits is
// delisted, with its figures and reason; figures are kept for every product. Counting
// starts afresh when ops list a product again.
func (h *Health) CheckProducts(ctx context.Context, day string) (HealthReport, error) {
	return h.check(ctx, day, "")
}

// CheckProduct is CheckProducts for one product (ops' check of a product by hand): the same
// figures and limits, written for that product alone. A product that is not listed is not
// judged (the report counts no product).
func (h *Health) CheckProduct(ctx context.Context, day, productID string) (HealthReport, error) {
	if productID == "" {
		return HealthReport{}, nonRetryable(ErrTypeInvalidInput, fmt.Errorf("check product: no productId"))
	}
	return h.check(ctx, day, productID)
}

// check judges every listed product, or only productID when it is not empty.
func (h *Health) check(ctx context.Context, day, productID string) (HealthReport, error) {
	at, err := time.Parse("2006-01-02", day)
	if err != nil {
		return HealthReport{}, nonRetryable(ErrTypeInvalidInput, fmt.Errorf("day %q: want YYYY-MM-DD", day))
	}
	p := h.Policy.Health
	window := at.AddDate(0, 0, -p.FailingDays)
	monthStart := time.Date(at.Year(), at.Month(), 1, 0, 0, 0, 0, time.UTC)
	if at.Day() == 1 {
		monthStart = monthStart.AddDate(0, -1, 0) // the first of a month judges the month before
	}
	rows, err := h.DB.Query(ctx, `
		WITH days AS (
		    SELECT c.product_id, date_trunc('day', c.called_at AT TIME ZONE 'UTC') AS d,
		           count(*) AS calls, count(*) FILTER (WHERE `+FailedCallSQL+`) AS failures
		    FROM seller_calls c JOIN products p ON p.product_id = c.product_id
		    WHERE p.listed AND c.called_at >= $1 AND c.called_at < $2
		      AND c.called_at > coalesce(p.relisted_at, '-infinity')
		    GROUP BY 1, 2
		),
		failing AS (
		    SELECT product_id, count(*) AS n FROM days
		    WHERE calls > 0 AND failures::float8 / calls >= $3
		    GROUP BY 1
		),
		orders_failed AS (
		    SELECT o.product_id, count(DISTINCT e.order_id) AS n
		    FROM order_events e JOIN orders o ON o.order_id = e.order_id JOIN products p ON p.product_id = o.product_id
		    WHERE e.event = 'provision_failed' AND e.at >= $4 AND e.at < $2
		      AND e.at > coalesce(p.relisted_at, '-infinity')
		      AND e.detail->>'reason' IN ('window_exhausted', 'license_not_delivered')
		    GROUP BY 1
		)
		SELECT p.product_id, coalesce(f.n, 0), coalesce(o.n, 0)
		FROM products p LEFT JOIN failing f ON f.product_id = p.product_id LEFT JOIN orders_failed o ON o.product_id = p.product_id
		WHERE p.listed AND ($5 = '' OR p.product_id = $5) ORDER BY p.product_id`,
		window, at, p.FailingDayShare, monthStart, productID)
	if err != nil {
		return HealthReport{}, fmt.Errorf("evaluate product health: %w", err)
	}
	type figures struct {
		productID           string
		failingDays, failed int
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (figures, error) {
		var f figures
		err := r.Scan(&f.productID, &f.failingDays, &f.failed)
		return f, err
	})
	if err != nil {
		return HealthReport{}, fmt.Errorf("evaluate product health: %w", err)
	}
	report := HealthReport{Day: day, ProductID: productID, Products: len(list)}
	for _, f := range list {
		var rule, reason string
		switch {
		case f.failingDays >= p.FailingDays:
			rule, reason = RuleFailingDays, fmt.Sprintf("seller calls failed on %d consecutive days (limit %d)", f.failingDays, p.FailingDays)
		case f.failed > p.MonthlyFailedOrders:
			rule, reason = RuleFailedOrders, fmt.Sprintf("%d orders failed by the seller interface in %s (limit %d)",
				f.failed, monthStart.Format("2006-01"), p.MonthlyFailedOrders)
		}
		tag, err := h.DB.Exec(ctx, `UPDATE products SET health_failing_days = $2, health_failed_orders = $3, health_checked_at = now(),
			    listed = listed AND $4 = '', delisted_reason = CASE WHEN $4 = '' THEN delisted_reason ELSE $4 END,
			    delisted_at = CASE WHEN $4 = '' THEN delisted_at ELSE now() END
			WHERE product_id = $1 AND listed`, f.productID, f.failingDays, f.failed, reason)
		if err != nil {
			return report, fmt.Errorf("record health of product %s: %w", f.productID, err)
		}
		if reason != "" && tag.RowsAffected() == 1 {
			report.Delisted = append(report.Delisted, DelistedEntry{ProductID: f.productID, Rule: rule, Reason: reason})
			if h.Metrics != nil {
				h.Metrics.Delistings.WithLabelValues(rule).Inc()
			}
		}
	}
	return report, nil
}
