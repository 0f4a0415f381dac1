package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudmarket/orders/internal/order"
)

// The read model and the audit trail, written by both order workflows' activities (v1's
// RecordTransition, v2's Record) in their own transactions.

// projectOrder upserts the order's row with its view as of transition seq. The seq guard
// keeps a late retry of an older transition from overwriting a newer view.
func projectOrder(ctx context.Context, tx pgx.Tx, v order.View, fingerprint, workflowID string, seq int, at time.Time) error {
	view, err := json.Marshal(v)
	if err != nil {
		return nonRetryable(ErrTypeInvalidInput, fmt.Errorf("encode view of order %s: %w", v.OrderID, err))
	}
	cause := attentionCause(v)
	var unitPrice *int64
	if v.UnitPrice != nil {
		unitPrice = &v.UnitPrice.Value
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO orders (order_id, order_line_id, customer_id, product_id, seller_id,
		    product_type, billing_mode, status, phase, request_fingerprint, workflow_id, seq,
		    view, placed_at, updated_at, unit_price, instance_id, attention_cause, attention_since)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,nullif($17, ''),$18,
		    CASE WHEN $18::text IS NULL THEN NULL ELSE coalesce($19::timestamptz, $15::timestamptz) END)
		ON CONFLICT (order_id) DO UPDATE SET
		    status = excluded.status, phase = excluded.phase, seq = excluded.seq,
		    view = excluded.view, updated_at = excluded.updated_at,
		    unit_price = coalesce(orders.unit_price, excluded.unit_price),
		    instance_id = coalesce(excluded.instance_id, orders.instance_id),
		    attention_cause = excluded.attention_cause,
		    attention_since = CASE WHEN excluded.attention_cause IS NULL THEN NULL
		        ELSE coalesce($19::timestamptz, orders.attention_since, excluded.updated_at) END
		WHERE orders.seq < excluded.seq`,
		v.OrderID, v.OrderLineID, v.CustomerID, v.ProductID, v.SellerID, v.ProductType,
		v.BillingMode, v.Status, v.Phase, fingerprint, workflowID, seq, view,
		v.PlacedAt, at, unitPrice, v.InstanceID, cause, v.AttentionSince); err != nil {
		return fmt.Errorf("project order %s: %w", v.OrderID, err)
	}
	return nil
}

// appendEvent adds line seq to the order's audit trail; (order, seq) makes a retry add
// nothing. It reports whether the line is new (for metrics counted once).
func appendEvent(ctx context.Context, tx pgx.Tx, orderID string, seq int, at time.Time, actor order.Actor,
	event order.StepName, from, to order.Status, detail map[string]string) (bool, error) {
	raw, err := json.Marshal(detail)
	if err != nil || detail == nil {
		raw = []byte("{}")
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO order_events (order_id, seq, at, actor_kind, actor_id, event, from_status, to_status, detail)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)
		ON CONFLICT (order_id, seq) DO NOTHING`,
		orderID, seq, at, actor.Kind, actor.ID, event, from, to, raw)
	if err != nil {
		return false, fmt.Errorf("append event %d of order %s: %w", seq, orderID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// attentionCause is the attention list's cause column of a view: the latest cause (orders
// placed before causes: other), nil when nothing needs ops. Its since column comes from the
// view, or (before causes) from when the read model first saw the flag.
func attentionCause(v order.View) *string {
	if !v.NeedsAttention {
		return nil
	}
	c := v.AttentionCause
	if c == "" {
		c = "other"
	}
	return &c
}
