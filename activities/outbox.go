package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudmarket/orders/events"
	"github.com/cloudmarket/orders/internal/order"
)

// The transactional outbox (issue 16, "Order events out"): every audit line the order
// workflows write becomes a CloudEvents envelope in event_outbox, in the same transaction,
// so an event exists exactly when its transition does. The dispatcher (package dispatch)
// and GET /v1/events read it.

// outboxLockKey names the transaction-scoped advisory lock every outbox writer takes just
// before it draws positions. Positions are then drawn and committed in one order (the lock
// is released only after the commit is visible), so a reader never sees a smaller position
// appear after a larger one: a cursor over positions cannot skip an event. The cost is that
// outbox writers commit one at a time; the lock is taken as the last statement of the
// transaction, so it is held only for the insert and the commit.
const outboxLockKey int64 = 0x6f7574626f78 // "outbox"

// outboxLine is an audit line to publish.
type outboxLine struct {
	seq   int
	at    time.Time
	actor order.Actor
	event order.StepName
	from  order.Status
	to    order.Status
}

// appendOutbox writes the events of lines, new audit lines of one order whose view after
// the transition is v. It must be the last write of its transaction (see outboxLockKey).
// (order, seq) makes a retry insert nothing twice, although callers only pass lines they
// have just inserted.
func appendOutbox(ctx context.Context, tx pgx.Tx, v order.View, lines []outboxLine) error {
	if len(lines) == 0 {
		return nil
	}
	// Never a secret in an event: the licence's text is not in views the workflow writes,
	// but the outbox does not rely on that.
	if v.License != nil {
		l := *v.License
		l.Text = ""
		v.License = &l
	}
	view, err := json.Marshal(v)
	if err != nil {
		return nonRetryable(ErrTypeInvalidInput, fmt.Errorf("encode event view of order %s: %w", v.OrderID, err))
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, outboxLockKey); err != nil {
		return fmt.Errorf("lock the event outbox for order %s: %w", v.OrderID, err)
	}
	for _, l := range lines {
		env, err := envelope(v.OrderID, view, l)
		if err != nil {
			return nonRetryable(ErrTypeInvalidInput, err)
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO event_outbox (order_id, seq, type, envelope) VALUES ($1, $2, $3, $4)
			ON CONFLICT (order_id, seq) DO NOTHING`,
			v.OrderID, l.seq, events.TypeOf(string(l.event)), env); err != nil {
			return fmt.Errorf("append event %d of order %s to the outbox: %w", l.seq, v.OrderID, err)
		}
	}
	return nil
}

// envelope is the CloudEvents JSON of one audit line.
func envelope(orderID string, view []byte, l outboxLine) (string, error) {
	data, err := json.Marshal(events.Data{
		OrderID: orderID, Seq: l.seq, Event: string(l.event), From: string(l.from), To: string(l.to),
		ActorKind: string(l.actor.Kind), Order: view,
	})
	if err != nil {
		return "", fmt.Errorf("encode event data %d of order %s: %w", l.seq, orderID, err)
	}
	raw, err := json.Marshal(events.Envelope{
		SpecVersion: events.SpecVersion, Type: events.TypeOf(string(l.event)), Source: events.Source,
		ID: events.ID(orderID, l.seq), Subject: orderID, Time: l.at.UTC(),
		DataContentType: "application/json", OrderID: orderID, Seq: l.seq, Data: data,
	})
	if err != nil {
		return "", fmt.Errorf("encode event %d of order %s: %w", l.seq, orderID, err)
	}
	return string(raw), nil
}
