package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudmarket/orders/internal/order"
)

// The audit trail, written by both order workflows' activities (v1's RecordTransition, v2's
// Record) in the transaction that also projects the order's row (orderrows.go).

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
