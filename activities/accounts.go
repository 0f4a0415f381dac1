package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/orders/internal/order"
)

// Accounts holds the activities of the account workflow: its read model, and telling a
// customer's pay-per-use orders to hold, free or release (by signalling their workflows).
type Accounts struct {
	DB       *pgxpool.Pool
	Temporal client.Client
	Metrics  *Metrics
}

// AccountRecord is one transition of an account: its audit lines and the account after it,
// written in one transaction (a local activity, like an order's Record).
type AccountRecord struct {
	FirstSeq int                 `json:"firstSeq"`
	At       time.Time           `json:"at"`
	CaseID   string              `json:"caseId"`
	Steps    []order.AccountStep `json:"steps"`
	View     order.AccountView   `json:"view"`
}

// RecordAccount writes an account transition. Keyed like an order's: audit lines by
// (customer, seq), the account row by its seq guard, so a retried write adds nothing.
func (a *Accounts) RecordAccount(ctx context.Context, r AccountRecord) error {
	v := r.View
	if len(r.Steps) == 0 {
		return nonRetryable(ErrTypeInvalidInput, fmt.Errorf("account record of customer %s has no step", v.CustomerID))
	}
	lastSeq := r.FirstSeq + len(r.Steps) - 1
	var inserted []order.AccountStep
	err := pgx.BeginFunc(ctx, a.DB, func(tx pgx.Tx) error {
		inserted = nil
		if _, err := tx.Exec(ctx, `
			INSERT INTO arrears_accounts (customer_id, state, case_id, outstanding, currency, since,
			    grace_ends, retention_ends, seq, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (customer_id) DO UPDATE SET
			    state = excluded.state, case_id = excluded.case_id, outstanding = excluded.outstanding,
			    currency = excluded.currency, since = excluded.since, grace_ends = excluded.grace_ends,
			    retention_ends = excluded.retention_ends, seq = excluded.seq, updated_at = excluded.updated_at
			WHERE arrears_accounts.seq < excluded.seq`,
			v.CustomerID, v.State, v.CaseID, v.Outstanding.Value, v.Outstanding.Currency, v.Since,
			v.GraceEnds, v.RetentionEnds, lastSeq, r.At); err != nil {
			return fmt.Errorf("project account of customer %s: %w", v.CustomerID, err)
		}
		for i, st := range r.Steps {
			tag, err := tx.Exec(ctx, `
				INSERT INTO arrears_events (customer_id, seq, at, event, from_state, to_state, case_id, amount, currency, actor_kind, actor_id, detail)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
				ON CONFLICT (customer_id, seq) DO NOTHING`,
				v.CustomerID, r.FirstSeq+i, r.At, st.Event, st.From, st.To, r.CaseID, st.Amount.Value, st.Amount.Currency,
				st.Actor.Kind, st.Actor.ID, detailJSON(st.Detail))
			if err != nil {
				return fmt.Errorf("append account event of customer %s: %w", v.CustomerID, err)
			}
			if tag.RowsAffected() == 1 {
				inserted = append(inserted, st)
			}
			if st.Event == order.AccountStepPaid {
				// Usage charges held back by the arrears are due now (the seller is paid
				// once the customer has paid).
				if _, err := postClearedUsage(ctx, tx, "", v.CustomerID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if a.Metrics != nil {
		for _, st := range inserted {
			a.Metrics.ArrearsEvents.WithLabelValues(string(st.Event)).Inc()
		}
	}
	return nil
}

// HoldRequest asks for a customer's pay-per-use orders to be told a hold action.
type HoldRequest struct {
	CustomerID string              `json:"customerId"`
	Action     order.ArrearsAction `json:"action"`
	CaseID     string              `json:"caseId"`
	Actor      order.Actor         `json:"actor"`
}

// HoldOrders signals the action to every pay-per-use order of the customer that has not
// ended, whatever its phase (order-states.md, section 4: one still being delivered is held
// and frozen the moment it enters service; released, it is cancelled), and returns how
// many it told. Each order reconciles its own seller calls (FREEZE, UNFREEZE, release)
// under the per-seller limits; a repeated signal changes nothing, so a retried activity
// resumes from its heartbeat and may tell some orders twice at no cost. Orders whose
// workflow has closed are skipped; an order of the rules before 2026-12 refuses (and logs)
// a hold it is not in service for.
func (a *Accounts) HoldOrders(ctx context.Context, r HoldRequest) (int, error) {
	rows, err := a.DB.Query(ctx, `SELECT order_id FROM orders
		WHERE customer_id = $1 AND billing_mode = 'pay_per_use' AND phase NOT IN ('completed', 'released', 'cancelled')
		ORDER BY order_id`, r.CustomerID)
	if err != nil {
		return 0, fmt.Errorf("list pay-per-use orders of customer %s: %w", r.CustomerID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("list pay-per-use orders of customer %s: %w", r.CustomerID, err)
	}
	start := 0
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &start)
	}
	sig := order.ArrearsSignal{Action: r.Action, CaseID: r.CaseID, Actor: r.Actor}
	for i := min(start, len(ids)); i < len(ids); i++ {
		err := a.Temporal.SignalWorkflow(ctx, order.WorkflowID(ids[i]), "", order.SignalArrears, sig)
		var notFound *serviceerror.NotFound
		if err != nil && !errors.As(err, &notFound) {
			return i, fmt.Errorf("signal %s to order %s: %w", r.Action, ids[i], err)
		}
		if activity.IsActivity(ctx) && (i%50 == 49 || i == len(ids)-1) {
			activity.RecordHeartbeat(ctx, i+1)
		}
	}
	return len(ids), nil
}

// detailJSON is a step's detail as the jsonb column stores it ({} for none).
func detailJSON(d map[string]string) []byte {
	raw, err := json.Marshal(d)
	if err != nil || d == nil {
		return []byte("{}")
	}
	return raw
}
