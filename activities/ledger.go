package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cloudmarket/orders/internal/books"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/usage"
)

// The order's money in the books (order-states.md, section 5). What a posting does is
// decided by internal/books (the same rules the simulation runs on); this file reads the row
// a posting is about, under a lock, and writes the decided change. Each settlement line is
// a row of settlements keyed by (order, kind, period key), and its ledger lines are keyed by
// (settlement, posting, account, direction): a replayed or retried write posts nothing
// twice. Every posting is balanced (a deferred trigger checks debits = credits at commit).

// applyPosting writes one posting and returns the ledger postings it added ("post",
// "reverse"; none when it had been written before).
func applyPosting(ctx context.Context, tx pgx.Tx, orderID, sellerID string, p order.Posting) ([]string, error) {
	what := fmt.Sprintf("%s %s of order %s", p.Action, p.Kind, orderID)
	if p.Key != "" {
		what += " (" + p.Key + ")"
	}
	if p.Kind == order.LineUsage && p.Key == books.AllUsage {
		posted, err := refundUsage(ctx, tx, orderID, sellerID, p.Currency)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return posted, nil
	}
	// Two tries: a row inserted by a concurrent transaction between the read and the
	// insert is read again and decided on as it is.
	for range 2 {
		existing, id, err := lockRow(ctx, tx, orderID, p.Kind, p.Key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		c, err := books.Decide(existing, orderID, sellerID, p)
		if err != nil {
			return nil, nonRetryable(ErrTypeInvalidInput, err)
		}
		posted, conflict, err := writeChange(ctx, tx, id, c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if !conflict {
			return posted, nil
		}
	}
	return nil, fmt.Errorf("%s: the settlement row keeps changing", what)
}

// lockRow reads the row of (order, kind, key) for update; nil when there is none.
func lockRow(ctx context.Context, tx pgx.Tx, orderID string, kind order.LineKind, key string) (*books.Row, int64, error) {
	r := books.Row{OrderID: orderID, Kind: kind, Key: key}
	var id int64
	var status string
	err := tx.QueryRow(ctx, `SELECT settlement_id, seller_id, currency, gross, commission, net, commission_bps, status, reason
		FROM settlements WHERE order_id = $1 AND kind = $2 AND period_key = $3 FOR UPDATE`, orderID, kind, key).
		Scan(&id, &r.SellerID, &r.Currency, &r.Gross, &r.Commission, &r.Net, &r.Bps, &status, &r.Reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read settlement: %w", err)
	}
	r.Status = books.RowStatus(status)
	return &r, id, nil
}

// writeChange writes a decided change: the row inserted (conflict: a concurrent
// transaction inserted it first, nothing written) or updated, and its entries. It returns
// the entry postings written.
func writeChange(ctx context.Context, tx pgx.Tx, id int64, c books.Change) (posted []string, conflict bool, err error) {
	if c.None() {
		return nil, false, nil
	}
	if r := c.Insert; r != nil {
		err := tx.QueryRow(ctx, `
			INSERT INTO settlements (order_id, kind, period_key, seller_id, currency, gross, commission_bps, commission, net, status, reason)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (order_id, kind, period_key) DO NOTHING
			RETURNING settlement_id`,
			r.OrderID, r.Kind, r.Key, r.SellerID, r.Currency, r.Gross, r.Bps, r.Commission, r.Net, r.Status, r.Reason).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, true, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("insert settlement: %w", err)
		}
	} else {
		var gross, commission, net *int64
		if a := c.Amounts; a != nil {
			gross, commission, net = &a.Gross, &a.Commission, &a.Net
		}
		if _, err := tx.Exec(ctx, `UPDATE settlements SET status = coalesce(nullif($2, ''), status), reason = coalesce(nullif($3, ''), reason),
			gross = coalesce($4, gross), commission = coalesce($5, commission), net = coalesce($6, net), updated_at = now()
			WHERE settlement_id = $1`, id, string(c.Status), c.Reason, gross, commission, net); err != nil {
			return nil, false, fmt.Errorf("update settlement %d: %w", id, err)
		}
	}
	if err := insertEntries(ctx, tx, id, c.Entries); err != nil {
		return nil, false, err
	}
	return c.Postings(), false, nil
}

// insertEntries writes ledger entries of a settlement row; one written before is kept as
// it was (the unique key), so a retried write adds nothing.
func insertEntries(ctx context.Context, tx pgx.Tx, settlementID int64, entries []books.Entry) error {
	for _, e := range entries {
		if _, err := tx.Exec(ctx, `INSERT INTO ledger_entries (settlement_id, posting, account, direction, amount, currency)
			SELECT $1, $2, $3, $4, $5, currency FROM settlements WHERE settlement_id = $1
			ON CONFLICT DO NOTHING`,
			settlementID, e.Posting, e.Account, e.Direction, e.Amount); err != nil {
			return fmt.Errorf("ledger %s of settlement %d: %w", e.Posting, settlementID, err)
		}
	}
	return nil
}

// refundUsage refunds every usage line of an order (an appeal refunded it): usage not priced
// yet is priced into a refunded line of its own (no statement charges it), each posted line
// is reversed, each blocked one refunded.
func refundUsage(ctx context.Context, tx pgx.Tx, orderID, sellerID, currency string) ([]string, error) {
	var unpriced int64
	var unitPrice *int64
	if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT sum(quantity_e4) FROM usage_records
		WHERE order_id = $1 AND settlement_id IS NULL), 0)::bigint, (SELECT unit_price FROM orders WHERE order_id = $1)`, orderID).
		Scan(&unpriced, &unitPrice); err != nil {
		return nil, fmt.Errorf("sum unpriced usage: %w", err)
	}
	var posted []string
	if unpriced > 0 {
		gross, err := usage.Price(unpriced, deref(unitPrice))
		if err != nil {
			return nil, nonRetryable(ErrTypeInvalidInput, err)
		}
		more, err := applyPosting(ctx, tx, orderID, sellerID, order.Posting{Kind: order.LineUsage, Key: books.UsageRefundKey,
			Action: order.PostingRefund, Currency: currency, Gross: gross})
		if err != nil {
			return nil, err
		}
		posted = append(posted, more...)
		if _, err := tx.Exec(ctx, `UPDATE usage_records SET settlement_id =
			    (SELECT settlement_id FROM settlements WHERE order_id = $1 AND kind = 'usage' AND period_key = $2)
			WHERE order_id = $1 AND settlement_id IS NULL`, orderID, books.UsageRefundKey); err != nil {
			return nil, fmt.Errorf("mark usage of order %s refunded: %w", orderID, err)
		}
	}
	rows, err := tx.Query(ctx, `SELECT period_key FROM settlements WHERE order_id = $1 AND kind = 'usage' AND status <> 'refunded'
		ORDER BY settlement_id`, orderID)
	if err != nil {
		return nil, fmt.Errorf("list usage lines: %w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list usage lines: %w", err)
	}
	for _, key := range keys {
		r, id, err := lockRow(ctx, tx, orderID, order.LineUsage, key)
		if err != nil || r == nil {
			return nil, err
		}
		c, err := books.Decide(r, orderID, sellerID, order.Posting{Kind: order.LineUsage, Key: key, Action: order.PostingRefund,
			Currency: r.Currency, Gross: r.Gross, Commission: r.Commission, Net: r.Net})
		if err != nil {
			return nil, nonRetryable(ErrTypeInvalidInput, err)
		}
		more, _, err := writeChange(ctx, tx, id, c) // an update of a locked row: no insert to conflict
		if err != nil {
			return nil, err
		}
		posted = append(posted, more...)
	}
	return posted, nil
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
