package activities

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudmarket/orders/internal/books"
	"github.com/cloudmarket/orders/internal/order"
)

// Statements holds the activities of the monthly seller statements.
type Statements struct {
	DB      *pgxpool.Pool
	Metrics *Metrics
}

// StatementSummary is what one seller's run of one month stated, per currency.
type StatementSummary struct {
	SellerID string          `json:"sellerId"`
	Month    string          `json:"month"`
	Ran      bool            `json:"ran"` // false: the month had been stated before (nothing changed)
	Totals   []StatementLine `json:"totals"`
}

// StatementLine is an amount stated (a line, or a statement's total).
type StatementLine struct {
	Currency   string `json:"currency"`
	Gross      int64  `json:"gross"`
	Commission int64  `json:"commission"`
	Net        int64  `json:"net"`
	Lines      int    `json:"lines"`
}

// MonthRange returns the first instant of a month ("2030-05") and of the next, in UTC.
func MonthRange(month string) (time.Time, time.Time, error) {
	start, err := time.Parse("2006-01", month)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("month %q: want YYYY-MM", month)
	}
	return start, start.AddDate(0, 1, 0), nil
}

// SellersToState lists the sellers whose month may have something to state: every seller
// in the catalogue (a run with nothing to state records that it ran).
func (s *Statements) SellersToState(ctx context.Context, month string) ([]string, error) {
	if _, _, err := MonthRange(month); err != nil {
		return nil, nonRetryable(ErrTypeInvalidInput, err)
	}
	rows, err := s.DB.Query(ctx, `SELECT seller_id FROM sellers ORDER BY seller_id`)
	if err != nil {
		return nil, fmt.Errorf("list sellers: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// StateSeller runs one seller's statement of one month, in one transaction: prices the usage
// of its pay-per-use orders that ended before the month's end into usage lines (blocked
// while the customer is in arrears), posts usage lines whose customer has paid since, then
// states every posting made before the month's end and not stated yet, pays each out (or
// claws a reversal back) with balanced lines, and marks the lines settled. A month stated
// before is answered as it was: a rerun changes nothing.
func (s *Statements) StateSeller(ctx context.Context, sellerID, month string) (StatementSummary, error) {
	_, end, err := MonthRange(month)
	if err != nil {
		return StatementSummary{}, nonRetryable(ErrTypeInvalidInput, err)
	}
	out := StatementSummary{SellerID: sellerID, Month: month}
	var posted []string
	err = pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		out.Ran, out.Totals, posted = false, nil, nil
		h := fnv.New64a()
		h.Write([]byte(sellerID + "/" + month))
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64())); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO statement_runs (seller_id, month, ran_at) VALUES ($1, $2, now())
			ON CONFLICT DO NOTHING`, sellerID, month)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			out.Totals, err = statementTotals(ctx, tx, sellerID, month)
			return err
		}
		out.Ran = true
		if posted, err = priceUsage(ctx, tx, sellerID, month, end); err != nil {
			return err
		}
		more, err := postClearedUsage(ctx, tx, sellerID, "")
		if err != nil {
			return err
		}
		posted = append(posted, more...)
		pays, err := statePostings(ctx, tx, sellerID, month, end)
		posted = append(posted, pays...)
		if err != nil {
			return err
		}
		out.Totals, err = statementTotals(ctx, tx, sellerID, month)
		return err
	})
	if err != nil {
		if s.Metrics != nil {
			s.Metrics.LedgerPostingErrors.WithLabelValues("statement").Inc()
		}
		return out, fmt.Errorf("statement of seller %s for %s: %w", sellerID, month, err)
	}
	if s.Metrics != nil && out.Ran {
		for _, p := range posted {
			s.Metrics.LedgerPostings.WithLabelValues(p).Inc()
		}
		for _, t := range out.Totals {
			s.Metrics.Statements.WithLabelValues(t.Currency).Inc()
			s.Metrics.StatementNet.WithLabelValues(t.Currency).Add(float64(t.Net))
		}
	}
	return out, nil
}

// priceUsage turns the seller's unpriced usage records that ended before end into one
// usage line per order (period key: the month), priced at the order's unit price by
// usage.Price over the line's total, split at the order's commission rate.
func priceUsage(ctx context.Context, tx pgx.Tx, sellerID, month string, end time.Time) ([]string, error) {
	rows, err := tx.Query(ctx, `
		SELECT u.order_id, sum(u.quantity_e4)::bigint, o.unit_price, o.customer_id,
		       coalesce((SELECT commission_bps FROM settlements WHERE order_id = u.order_id AND kind = 'order'), p.commission_bps),
		       coalesce(p.unit_price_currency, ''), coalesce(a.state, 'none')
		FROM usage_records u
		JOIN orders o ON o.order_id = u.order_id
		JOIN products p ON p.product_id = o.product_id
		LEFT JOIN arrears_accounts a ON a.customer_id = o.customer_id
		WHERE u.seller_id = $1 AND u.settlement_id IS NULL AND u.end_time < $2
		GROUP BY u.order_id, o.unit_price, o.customer_id, p.commission_bps, p.unit_price_currency, a.state
		ORDER BY u.order_id`, sellerID, end)
	if err != nil {
		return nil, fmt.Errorf("sum usage: %w", err)
	}
	type line struct {
		orderID, customer, currency, arrears string
		quantity                             int64
		unitPrice                            *int64
		bps                                  int
	}
	lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (line, error) {
		var l line
		err := r.Scan(&l.orderID, &l.quantity, &l.unitPrice, &l.customer, &l.bps, &l.currency, &l.arrears)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("sum usage: %w", err)
	}
	var posted []string
	for _, l := range lines {
		if l.unitPrice == nil || l.currency == "" {
			continue // placed before unit prices: cannot be priced (ops see it unpriced)
		}
		p, err := books.UsageLine(month, l.quantity, *l.unitPrice, l.bps, l.currency, l.arrears != string(order.AccountNone))
		if err != nil {
			return nil, err
		}
		more, err := applyPosting(ctx, tx, l.orderID, sellerID, p)
		if err != nil {
			return nil, err
		}
		posted = append(posted, more...)
		if _, err := tx.Exec(ctx, `UPDATE usage_records SET settlement_id =
			    (SELECT settlement_id FROM settlements WHERE order_id = $1 AND kind = 'usage' AND period_key = $2)
			WHERE seller_id = $3 AND order_id = $1 AND settlement_id IS NULL AND end_time < $4`,
			l.orderID, month, sellerID, end); err != nil {
			return nil, fmt.Errorf("mark usage of order %s priced: %w", l.orderID, err)
		}
	}
	return posted, nil
}

// postClearedUsage posts the blocked usage lines whose customer no longer has arrears: of
// one seller, or (customerID set) of one customer.
func postClearedUsage(ctx context.Context, tx pgx.Tx, sellerID, customerID string) ([]string, error) {
	rows, err := tx.Query(ctx, `
		SELECT s.order_id, s.seller_id, s.period_key, s.currency, s.gross, s.commission, s.net, s.commission_bps
		FROM settlements s JOIN orders o ON o.order_id = s.order_id
		LEFT JOIN arrears_accounts a ON a.customer_id = o.customer_id
		WHERE s.kind = 'usage' AND s.status = 'blocked' AND coalesce(a.state, 'none') = 'none'
		  AND ($1 = '' OR s.seller_id = $1) AND ($2 = '' OR o.customer_id = $2)
		ORDER BY s.settlement_id`, sellerID, customerID)
	if err != nil {
		return nil, fmt.Errorf("list blocked usage: %w", err)
	}
	type blocked struct {
		orderID, sellerID string
		p                 order.Posting
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (blocked, error) {
		b := blocked{p: order.Posting{Kind: order.LineUsage, Action: order.PostingPost}}
		err := r.Scan(&b.orderID, &b.sellerID, &b.p.Key, &b.p.Currency, &b.p.Gross, &b.p.Commission, &b.p.Net, &b.p.CommissionBps)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("list blocked usage: %w", err)
	}
	var posted []string
	for _, b := range list {
		more, err := applyPosting(ctx, tx, b.orderID, b.sellerID, b.p)
		if err != nil {
			return nil, err
		}
		posted = append(posted, more...)
	}
	return posted, nil
}

// statePostings states the seller's postings made before end and not stated yet, per
// currency, and pays them out: books.Statement decides which (those of an order whose
// appeal is open now are carried over to a later statement).
func statePostings(ctx context.Context, tx pgx.Tx, sellerID, month string, end time.Time) ([]string, error) {
	rows, err := tx.Query(ctx, `
		SELECT e.settlement_id, e.posting, s.order_id, s.kind, s.period_key, s.currency,
		       sum(e.amount) FILTER (WHERE e.account = 'buyer_funds')::bigint,
		       sum(e.amount) FILTER (WHERE e.account = 'platform_commission')::bigint,
		       sum(e.amount) FILTER (WHERE e.account = 'seller_payable')::bigint,
		       min(e.created_at),
		       EXISTS (SELECT 1 FROM appeals a WHERE a.order_id = s.order_id AND a.state = 'open')
		FROM ledger_entries e JOIN settlements s ON s.settlement_id = e.settlement_id
		WHERE s.seller_id = $1 AND e.posting IN ('post', 'reverse')
		  AND NOT EXISTS (SELECT 1 FROM statement_lines l WHERE l.settlement_id = e.settlement_id AND l.posting = e.posting)
		GROUP BY e.settlement_id, e.posting, s.order_id, s.kind, s.period_key, s.currency
		HAVING min(e.created_at) < $2
		ORDER BY min(e.created_at), e.settlement_id, e.posting`, sellerID, end)
	if err != nil {
		return nil, fmt.Errorf("list postings to state: %w", err)
	}
	lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (books.Unstated, error) {
		var l books.Unstated
		err := r.Scan(&l.RowID, &l.Posting, &l.OrderID, &l.Kind, &l.Key, &l.Currency, &l.Gross, &l.Commission, &l.Net, &l.PostedAt, &l.AppealOpen)
		if l.Posting == books.EntryReverse {
			l.Gross, l.Commission, l.Net = -l.Gross, -l.Commission, -l.Net
		}
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("list postings to state: %w", err)
	}
	stated, _ := books.Statement(lines)
	statementOf := map[string]int64{}
	var posted []string
	for _, l := range stated {
		id, ok := statementOf[l.Currency]
		if !ok {
			if err := tx.QueryRow(ctx, `INSERT INTO seller_statements (seller_id, month, currency, gross, commission, net, line_count, created_at)
				VALUES ($1, $2, $3, 0, 0, 0, 0, now()) RETURNING statement_id`, sellerID, month, l.Currency).Scan(&id); err != nil {
				return nil, fmt.Errorf("open statement: %w", err)
			}
			statementOf[l.Currency] = id
		}
		if _, err := tx.Exec(ctx, `INSERT INTO statement_lines (statement_id, settlement_id, posting, order_id, kind, period_key,
			gross, commission, net, posted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			id, l.RowID, l.Posting, l.OrderID, l.Kind, l.Key, l.Gross, l.Commission, l.Net, l.PostedAt); err != nil {
			return nil, fmt.Errorf("state posting %s of settlement %d: %w", l.Posting, l.RowID, err)
		}
		usageGross := int64(0)
		if l.Kind == order.LineUsage {
			usageGross = l.Gross
		}
		if _, err := tx.Exec(ctx, `UPDATE seller_statements SET gross = gross + $2, commission = commission + $3, net = net + $4,
			usage_gross = usage_gross + $5, line_count = line_count + 1 WHERE statement_id = $1`,
			id, l.Gross, l.Commission, l.Net, usageGross); err != nil {
			return nil, fmt.Errorf("add to statement: %w", err)
		}
		// Pay the seller's part out, or claw a reversal back.
		pay, entries := books.Payout(l)
		if err := insertEntries(ctx, tx, l.RowID, entries); err != nil {
			return nil, err
		}
		posted = append(posted, pay)
		if l.Posting == books.EntryPost {
			if _, err := tx.Exec(ctx, `UPDATE settlements SET status = 'settled', updated_at = now()
				WHERE settlement_id = $1 AND status = 'pending'`, l.RowID); err != nil {
				return nil, fmt.Errorf("settle %d: %w", l.RowID, err)
			}
		}
	}
	return posted, nil
}

// statementTotals reads a month's statements of a seller.
func statementTotals(ctx context.Context, tx pgx.Tx, sellerID, month string) ([]StatementLine, error) {
	rows, err := tx.Query(ctx, `SELECT currency, gross, commission, net, line_count FROM seller_statements
		WHERE seller_id = $1 AND month = $2 ORDER BY currency`, sellerID, month)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StatementLine, error) {
		var t StatementLine
		err := r.Scan(&t.Currency, &t.Gross, &t.Commission, &t.Net, &t.Lines)
		return t, err
	})
}
