package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudmarket/orders/internal/order"
)

// The orders table is the read model of every order: one row per order, its view as JSON
// beside the columns lists filter on. This file is the only code that writes it, so the
// rules that keep it right live in one place:
//   - the API writes the row once, as placed (RecordPlacement, transition 0), with the start
//     input only it has;
//   - the workflow's transitions overwrite it (projectOrder), each only over an older seq, so
//     a late retry never puts an older view back;
//   - a restart of a lost workflow writes the view it restored (projectRestored), under the
//     same seq guard.
// Reads of one row by ID go through OrderRow as well; lists stay with their handlers.

// RecordPlacement writes the row of an order just started: transition 0, its view as
// placed, and its start input (kept even when the workflow's first transition wrote the
// row first, because a restart of a lost workflow starts from it). It never overwrites a
// transition: the workflow owns the row from its first transition on.
func RecordPlacement(ctx context.Context, db Execer, in order.StartInput, v order.View) error {
	view, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode view of order %s: %w", in.OrderID, err)
	}
	input, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode start input of order %s: %w", in.OrderID, err)
	}
	if _, err := db.Exec(ctx, `
		INSERT INTO orders (order_id, order_line_id, customer_id, product_id, seller_id,
		    product_type, billing_mode, status, phase, request_fingerprint, workflow_id, seq,
		    view, placed_at, updated_at, start_input)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,0,$12,$13,$13,$14)
		ON CONFLICT (order_id) DO UPDATE SET start_input = excluded.start_input
		WHERE orders.start_input IS NULL`,
		in.OrderID, in.OrderLineID, in.CustomerID, in.ProductID, in.SellerID, in.ProductType,
		in.BillingMode, v.Status, v.Phase, in.Fingerprint, order.WorkflowID(in.OrderID), view, in.PlacedAt, input); err != nil {
		return fmt.Errorf("record placement of order %s: %w", in.OrderID, err)
	}
	return nil
}

// OrderRow is what one order's row answers without Temporal: the fingerprint of the
// request that placed it (a repeated POST with another body is refused) and its view as
// stored, ready to send.
type OrderRow struct {
	Fingerprint string
	View        json.RawMessage
}

// ErrNoOrderRow means the read model has no row for the order ID: as far as callers are
// concerned, the order does not exist.
var ErrNoOrderRow = errors.New("no such order")

// ReadOrderRow reads the row of order id, or ErrNoOrderRow.
func ReadOrderRow(ctx context.Context, db pgxRowQuerier, id string) (OrderRow, error) {
	var r OrderRow
	var view []byte
	err := db.QueryRow(ctx, `SELECT request_fingerprint, view FROM orders WHERE order_id = $1`, id).Scan(&r.Fingerprint, &view)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return r, ErrNoOrderRow
	case err != nil:
		return r, fmt.Errorf("read order %s: %w", id, err)
	}
	r.View = view
	return r, nil
}

// pgxRowQuerier is a pool, a connection or a transaction, for one-row reads.
type pgxRowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

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

// projectRestored writes the view a restarted workflow holds, over any older transition.
func projectRestored(ctx context.Context, tx pgx.Tx, orderID string, seq int, at time.Time, v order.View) error {
	view, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode view of order %s: %w", orderID, err)
	}
	cause := attentionCause(v)
	if _, err := tx.Exec(ctx, `
		UPDATE orders SET status = $2, phase = $3, seq = $4, view = $5, updated_at = $6,
		    attention_cause = $7, attention_since = CASE WHEN $7::text IS NULL THEN NULL
		        ELSE coalesce($8::timestamptz, attention_since, $6::timestamptz) END
		WHERE order_id = $1 AND seq < $4`,
		orderID, v.Status, v.Phase, seq, view, at, cause, v.AttentionSince); err != nil {
		return fmt.Errorf("project restarted order %s: %w", orderID, err)
	}
	return nil
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
