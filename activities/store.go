// Package activities holds the only code of the order workflows that touches the outside
// world: PostgreSQL (read model, audit log, ledger) and the sellers' production endpoints.
// Every activity is idempotent through a natural key (order and transition number, order and
// settlement kind, the seller's orderId contract), because Temporal may run it again.
package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/policy"
)

// Store holds the PostgreSQL activities. Workflows reference its methods through a nil
// *Store (method values), so calls are type-checked without string names.
type Store struct {
	DB      *pgxpool.Pool
	Policy  *policy.Policy
	Metrics *Metrics
}

// Transition is one step of an order: the audit event and the read model after it.
type Transition struct {
	WorkflowID  string            `json:"workflowId"`
	Fingerprint string            `json:"fingerprint"`
	Seq         int               `json:"seq"`
	At          time.Time         `json:"at"`
	Event       string            `json:"event"`
	From        order.Status      `json:"from"`
	Actor       order.Actor       `json:"actor"`
	Detail      map[string]string `json:"detail,omitempty"`
	View        order.View        `json:"view"`
}

// RecordTransition appends the event to order_events and the outbox and projects the view
// into orders, in one transaction. (order_id, seq) makes a retry insert nothing twice, and the seq guard on
// the upsert keeps a late retry of an older step from overwriting a newer view.
func (s *Store) RecordTransition(ctx context.Context, t Transition) error {
	v := t.View
	inserted := false
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		if err := projectOrder(ctx, tx, v, t.Fingerprint, t.WorkflowID, t.Seq, t.At); err != nil {
			return err
		}
		var err error
		inserted, err = appendEvent(ctx, tx, v.OrderID, t.Seq, t.At, t.Actor, order.StepName(t.Event), t.From, v.Status, t.Detail)
		if err != nil || !inserted {
			return err
		}
		return appendOutbox(ctx, tx, v, []outboxLine{{seq: t.Seq, at: t.At, actor: t.Actor, event: order.StepName(t.Event), from: t.From, to: v.Status}})
	})
	if err != nil {
		return err
	}
	if inserted && s.Metrics != nil && t.From != v.Status {
		s.Metrics.Transitions.WithLabelValues(string(t.From), string(v.Status)).Inc()
	}
	return nil
}

// SettlementRequest asks for the settlement of an accepted order to be posted.
type SettlementRequest struct {
	OrderID       string      `json:"orderId"`
	SellerID      string      `json:"sellerId"`
	Gross         order.Money `json:"gross"`
	CommissionBps int         `json:"commissionBps"`
}

// PostSettlement records the settlement of an order and posts its balanced ledger lines:
// buyer funds debited the gross; platform commission and seller payable credited. The unique
// (order, kind, period) key and the lines' unique key make a replayed activity post nothing
// twice; it then answers with what was posted the first time.
func (s *Store) PostSettlement(ctx context.Context, r SettlementRequest) (order.Settlement, error) {
	commission, net, err := order.Split(r.Gross.Value, r.CommissionBps)
	if err != nil {
		return order.Settlement{}, nonRetryable(ErrTypeInvalidInput, fmt.Errorf("split settlement of order %s: %w", r.OrderID, err))
	}
	out := order.Settlement{Status: order.SettlementPending, Currency: r.Gross.Currency, Gross: r.Gross.Value, Commission: commission, Net: net}
	err = pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `
			INSERT INTO settlements (order_id, kind, seller_id, currency, gross, commission_bps, commission, net, status)
			VALUES ($1, 'order', $2, $3, $4, $5, $6, $7, 'pending')
			ON CONFLICT (order_id, kind, period_key) DO NOTHING
			RETURNING settlement_id`,
			r.OrderID, r.SellerID, r.Gross.Currency, r.Gross.Value, r.CommissionBps, commission, net).Scan(&id)
		if err == pgx.ErrNoRows {
			// Posted before: answer with what is on the books.
			var status string
			err = tx.QueryRow(ctx, `SELECT gross, commission, net, currency, status FROM settlements
				WHERE order_id = $1 AND kind = 'order' AND period_key = ''`, r.OrderID).
				Scan(&out.Gross, &out.Commission, &out.Net, &out.Currency, &status)
			out.Status = order.SettlementStatus(status)
			return err
		}
		if err != nil {
			return err
		}
		lines := []struct {
			account, direction string
			amount             int64
		}{
			{"buyer_funds", "debit", r.Gross.Value},
			{"platform_commission", "credit", commission},
			{"seller_payable", "credit", net},
		}
		for _, l := range lines {
			if _, err := tx.Exec(ctx, `INSERT INTO ledger_entries (settlement_id, posting, account, direction, amount, currency)
				VALUES ($1, 'post', $2, $3, $4, $5)`, id, l.account, l.direction, l.amount, r.Gross.Currency); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return order.Settlement{}, fmt.Errorf("post settlement of order %s: %w", r.OrderID, err)
	}
	return out, nil
}

// RefundRequest records that the buyer of an order is refunded before anything was posted.
type RefundRequest struct {
	OrderID  string      `json:"orderId"`
	SellerID string      `json:"sellerId"`
	Amount   order.Money `json:"amount"`
	Reason   string      `json:"reason"`
}

// RecordRefund records a refund before posting: a settlement row in status refunded and no
// ledger lines, since the gross was never debited in our books (billing returns the money).
// Idempotent on the settlement's unique key.
func (s *Store) RecordRefund(ctx context.Context, r RefundRequest) (order.Settlement, error) {
	var out order.Settlement
	var status string
	// The no-op update makes RETURNING answer for an existing row too, so a repeat reports
	// what is on the books rather than assuming it.
	err := s.DB.QueryRow(ctx, `
		INSERT INTO settlements (order_id, kind, seller_id, currency, gross, commission_bps, commission, net, status, reason)
		VALUES ($1, 'order', $2, $3, $4, 0, 0, 0, 'refunded', $5)
		ON CONFLICT (order_id, kind, period_key) DO UPDATE SET order_id = excluded.order_id
		RETURNING status, currency, gross, commission, net`,
		r.OrderID, r.SellerID, r.Amount.Currency, r.Amount.Value, r.Reason).
		Scan(&status, &out.Currency, &out.Gross, &out.Commission, &out.Net)
	if err != nil {
		return order.Settlement{}, fmt.Errorf("record refund of order %s: %w", r.OrderID, err)
	}
	out.Status = order.SettlementStatus(status)
	return out, nil
}

// Clocks are a customer's scaled grace and retention periods.
type Clocks struct {
	Grace     time.Duration `json:"grace"`
	Retention time.Duration `json:"retention"`
}

// CustomerClocks looks up the customer's level and returns its subscription clocks from the
// policy. An unknown customer gets the default level. Read when the clocks start, so a level
// changed by ops before expiry counts.
func (s *Store) CustomerClocks(ctx context.Context, customerID string, timeScale float64) (Clocks, error) {
	return s.levelClocks(ctx, customerID, timeScale, policy.SubscriptionClocks)
}

// PayPerUseClocks returns the customer's level's clocks for arrears on pay-per-use orders.
func (s *Store) PayPerUseClocks(ctx context.Context, customerID string, timeScale float64) (Clocks, error) {
	return s.levelClocks(ctx, customerID, timeScale, policy.PayPerUseClocks)
}

func (s *Store) levelClocks(ctx context.Context, customerID string, timeScale float64, kind policy.ClockKind) (Clocks, error) {
	var level string
	err := s.DB.QueryRow(ctx, `SELECT level FROM customers WHERE customer_id = $1`, customerID).Scan(&level)
	if err != nil && err != pgx.ErrNoRows {
		return Clocks{}, fmt.Errorf("look up level of customer %s: %w", customerID, err)
	}
	p := *s.Policy
	if timeScale > 0 {
		p.TimeScale = timeScale // the order's own scale, fixed when it was placed
	}
	grace, retention := p.LevelClocks(level, kind)
	return Clocks{Grace: grace, Retention: retention}, nil
}
