package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudmarket/orders/internal/order"
)

// Record is one transition of an order as the order workflow (OrderV2) writes it: its
// audit lines, the read model after it, and the money and appeal records that go with it,
// all in one transaction with the events they publish (outbox.go), so that the books, the audit trail and what the API shows never
// disagree. It runs as a local activity: one marker in the history instead of an activity's
// three events and a workflow task.
type Record struct {
	WorkflowID  string `json:"workflowId"`
	Fingerprint string `json:"fingerprint"`
	// FirstSeq is the sequence number of Steps[0]; the others follow.
	FirstSeq int          `json:"firstSeq"`
	At       time.Time    `json:"at"`
	Steps    []order.Step `json:"steps"`
	View     order.View   `json:"view"`
	// Postings are the money moves of the transition (ledger.go).
	Postings []order.Posting     `json:"postings,omitempty"`
	Appeal   *order.AppealChange `json:"appeal,omitempty"`
}

// Record writes a transition. Every part is keyed, so a retried or replayed local activity
// writes nothing twice: audit lines by (order, seq), the read model by its seq guard, the
// settlement by (order, kind, period) and its lines by (settlement, posting, account,
// direction), appeal events by (appeal, kind, tier).
func (s *Store) Record(ctx context.Context, r Record) error {
	v := r.View
	if len(r.Steps) == 0 {
		return nonRetryable(ErrTypeInvalidInput, fmt.Errorf("record for order %s has no step", v.OrderID))
	}
	lastSeq := r.FirstSeq + len(r.Steps) - 1
	var inserted []order.Step
	var posted []string // the ledger postings written (post, reverse), for the metric
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		inserted = nil
		var published []outboxLine
		if err := projectOrder(ctx, tx, v, r.Fingerprint, r.WorkflowID, lastSeq, r.At); err != nil {
			return err
		}
		for i, st := range r.Steps {
			added, err := appendEvent(ctx, tx, v.OrderID, r.FirstSeq+i, r.At, st.Actor, st.Event, st.From, st.To, st.Detail)
			if err != nil {
				return err
			}
			if added {
				inserted = append(inserted, st)
				published = append(published, outboxLine{seq: r.FirstSeq + i, at: r.At, actor: st.Actor, event: st.Event, from: st.From, to: st.To})
			}
		}
		posted = nil
		for _, p := range r.Postings {
			lines, err := applyPosting(ctx, tx, v.OrderID, v.SellerID, p)
			if err != nil {
				return err
			}
			posted = append(posted, lines...)
		}
		if r.Appeal != nil {
			if err := recordAppeal(ctx, tx, v.OrderID, r.At, *r.Appeal); err != nil {
				return err
			}
		}
		// Last: it takes the outbox lock, held until the commit.
		return appendOutbox(ctx, tx, v, published)
	})
	if err != nil {
		if s.Metrics != nil && len(r.Postings) > 0 {
			s.Metrics.LedgerPostingErrors.WithLabelValues("order").Inc()
		}
		return err
	}
	if s.Metrics != nil {
		for _, st := range inserted {
			if st.From != st.To {
				s.Metrics.Transitions.WithLabelValues(string(st.From), string(st.To)).Inc()
			}
			switch st.Event {
			case order.StepNeedsAttention:
				s.Metrics.NeedsAttention.WithLabelValues(st.Detail["cause"]).Inc()
			case order.StepFrozen, order.StepUnfrozen, order.StepReleased:
				s.Metrics.Holds.WithLabelValues(string(st.Event), holdReason(st.Detail["reason"])).Inc()
			}
		}
		if r.Appeal != nil && len(inserted) > 0 {
			s.Metrics.Appeals.WithLabelValues(string(r.Appeal.Kind), string(r.Appeal.Appeal.Outcome)).Inc()
		}
		for _, p := range posted {
			s.Metrics.LedgerPostings.WithLabelValues(p).Inc()
		}
	}
	return nil
}

// recordAppeal upserts the appeal and appends its event.
func recordAppeal(ctx context.Context, tx pgx.Tx, orderID string, at time.Time, a order.AppealChange) error {
	ap := a.Appeal
	evidence, err := json.Marshal(ap.Evidence)
	if err != nil || ap.Evidence == nil {
		evidence = []byte("[]")
	}
	var resolvedKind, resolvedID string
	if ap.ResolvedBy != nil {
		resolvedKind, resolvedID = string(ap.ResolvedBy.Kind), ap.ResolvedBy.ID
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO appeals (appeal_id, order_id, state, tier, raised_by_kind, raised_by_id, reason, evidence,
		    outcome, note, resolved_by_kind, resolved_by_id, raised_at, escalate_at, resolved_at, updated_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)
		ON CONFLICT (appeal_id) DO UPDATE SET
		    state = excluded.state, tier = excluded.tier, outcome = excluded.outcome, note = excluded.note,
		    resolved_by_kind = excluded.resolved_by_kind, resolved_by_id = excluded.resolved_by_id,
		    escalate_at = excluded.escalate_at, resolved_at = excluded.resolved_at, updated_at = excluded.updated_at`,
		ap.AppealID, orderID, ap.State, ap.Tier, ap.RaisedBy.Kind, ap.RaisedBy.ID, ap.Reason, evidence,
		string(ap.Outcome), ap.Note, resolvedKind, resolvedID, ap.RaisedAt, ap.EscalateAt, ap.ResolvedAt, at); err != nil {
		return fmt.Errorf("record appeal %s: %w", ap.AppealID, err)
	}
	detail, _ := json.Marshal(map[string]string{"outcome": string(ap.Outcome), "note": ap.Note})
	if _, err := tx.Exec(ctx, `
		INSERT INTO appeal_events (appeal_id, kind, tier, at, actor_kind, actor_id, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (appeal_id, kind, tier) DO NOTHING`,
		ap.AppealID, a.Kind, ap.Tier, at, a.Actor.Kind, a.Actor.ID, detail); err != nil {
		return fmt.Errorf("record appeal event of %s: %w", ap.AppealID, err)
	}
	return nil
}

// holdReason bounds the reason label of the holds metric.
func holdReason(r string) string {
	switch r {
	case "expiry", "arrears", "unsubscribed":
		return r
	}
	return "other"
}
