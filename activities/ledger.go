package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cloudmarket/orders/internal/order"
)

// The order's money in the books (order-states.md, section 5). Each settlement line (the
// order's own, one per renewal, one per month of usage, a refund at unsubscription) is a
// row of settlements keyed by (order, kind, period key), and its ledger lines are keyed by
// (settlement, posting, account, direction): a replayed or retried write posts nothing
// twice. Every posting is balanced (a deferred trigger checks debits = credits at commit);
// a refund after posting adds reversing lines, never an edit.

type ledgerLine struct {
	account, direction string
	amount             int64
}

// postLines are a posting's balanced lines; reverseLines undo them.
func postLines(gross, commission, net int64) []ledgerLine {
	return []ledgerLine{{"buyer_funds", "debit", gross}, {"platform_commission", "credit", commission}, {"seller_payable", "credit", net}}
}

func reverseLines(gross, commission, net int64) []ledgerLine {
	return []ledgerLine{{"buyer_funds", "credit", gross}, {"platform_commission", "debit", commission}, {"seller_payable", "debit", net}}
}

// applyPosting writes one posting and returns the ledger postings it added ("post",
// "reverse"; none when it had been written before).
func applyPosting(ctx context.Context, tx pgx.Tx, orderID, sellerID string, p order.Posting) ([]string, error) {
	what := fmt.Sprintf("%s %s of order %s", p.Action, p.Kind, orderID)
	if p.Key != "" {
		what += " (" + p.Key + ")"
	}
	switch p.Action {
	case order.PostingPost, order.PostingBlock:
		status := "pending"
		if p.Action == order.PostingBlock {
			status = "blocked"
		}
		id, inserted, err := insertSettlement(ctx, tx, orderID, sellerID, p, status, "")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if p.Action == order.PostingBlock {
			return nil, nil
		}
		if !inserted {
			// Posted before (nothing to do), or blocked until now (post it).
			tag, err := tx.Exec(ctx, `UPDATE settlements SET status = 'pending', updated_at = now()
				WHERE settlement_id = $1 AND status = 'blocked'`, id)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			if tag.RowsAffected() == 0 {
				return nil, nil
			}
		}
		return written(insertLines(ctx, tx, id, "post", p.Currency, postLines(p.Gross, p.Commission, p.Net)), "post")
	case order.PostingRefund:
		return refundLine(ctx, tx, orderID, sellerID, p)
	case order.PostingRefundPart:
		id, inserted, err := insertSettlement(ctx, tx, orderID, sellerID, p, "refunded", "unsubscribe")
		if err != nil || !inserted {
			return nil, err
		}
		return written(insertLines(ctx, tx, id, "reverse", p.Currency, reverseLines(p.Gross, p.Commission, p.Net)), "reverse")
	}
	return nil, nonRetryable(ErrTypeInvalidInput, fmt.Errorf("%s: unknown posting action", what))
}

func written(err error, posting string) ([]string, error) {
	if err != nil {
		return nil, err
	}
	return []string{posting}, nil
}

// insertSettlement adds the settlement row of a posting, or finds the one written before.
func insertSettlement(ctx context.Context, tx pgx.Tx, orderID, sellerID string, p order.Posting, status, reason string) (int64, bool, error) {
	var id int64
	err := tx.QueryRow(ctx, `
		INSERT INTO settlements (order_id, kind, period_key, seller_id, currency, gross, commission_bps, commission, net, status, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (order_id, kind, period_key) DO NOTHING
		RETURNING settlement_id`,
		orderID, p.Kind, p.Key, sellerID, p.Currency, p.Gross, p.CommissionBps, p.Commission, p.Net, status, reason).Scan(&id)
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, false, err
	}
	err = tx.QueryRow(ctx, `SELECT settlement_id FROM settlements WHERE order_id = $1 AND kind = $2 AND period_key = $3`,
		orderID, p.Kind, p.Key).Scan(&id)
	return id, false, err
}

// refundLine refunds a whole settlement line: before posting (no row, or a blocked one) a
// refunded row without lines (the gross was never debited in our books); after posting,
// reversing lines (never an edit of the posted ones) and the status refunded. A line
// already paid out to the seller leaves the seller payable owing: the next statement
// claws it back.
func refundLine(ctx context.Context, tx pgx.Tx, orderID, sellerID string, p order.Posting) ([]string, error) {
	var id int64
	var status string
	var gross, commission, net int64
	err := tx.QueryRow(ctx, `SELECT settlement_id, status, gross, commission, net FROM settlements
		WHERE order_id = $1 AND kind = $2 AND period_key = $3 FOR UPDATE`, orderID, p.Kind, p.Key).
		Scan(&id, &status, &gross, &commission, &net)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		_, err = tx.Exec(ctx, `
			INSERT INTO settlements (order_id, kind, period_key, seller_id, currency, gross, commission_bps, commission, net, status, reason)
			VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 0, 'refunded', 'refund')
			ON CONFLICT (order_id, kind, period_key) DO NOTHING`,
			orderID, p.Kind, p.Key, sellerID, p.Currency, p.Gross)
		if err != nil {
			return nil, fmt.Errorf("record refund of order %s: %w", orderID, err)
		}
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read settlement of order %s: %w", orderID, err)
	case status == "refunded":
		return nil, nil
	case status == "blocked":
		_, err = tx.Exec(ctx, `UPDATE settlements SET status = 'refunded', reason = 'refund', updated_at = now()
			WHERE settlement_id = $1`, id)
		return nil, err
	}
	if err := insertLines(ctx, tx, id, "reverse", p.Currency, reverseLines(gross, commission, net)); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE settlements SET status = 'refunded', reason = 'refund', updated_at = now()
		WHERE settlement_id = $1`, id); err != nil {
		return nil, fmt.Errorf("mark settlement of order %s refunded: %w", orderID, err)
	}
	return []string{"reverse"}, nil
}

func insertLines(ctx context.Context, tx pgx.Tx, settlementID int64, posting, currency string, lines []ledgerLine) error {
	for _, l := range lines {
		if _, err := tx.Exec(ctx, `INSERT INTO ledger_entries (settlement_id, posting, account, direction, amount, currency)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
			settlementID, posting, l.account, l.direction, l.amount, currency); err != nil {
			return fmt.Errorf("ledger %s of settlement %d: %w", posting, settlementID, err)
		}
	}
	return nil
}
