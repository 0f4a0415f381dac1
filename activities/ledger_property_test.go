package activities

import (
	"context"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"testing/quick"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudmarket/orders/internal/order"
)

// TestLedgerProperties: random sequences of postings (post, block then post, refund before
// or after posting, partial refunds), statements of this month and the next, reruns, and
// replays of any earlier call keep every posting balanced, pay every posting out exactly
// once, and keep the seller's payable and paid-out accounts equal to what the postings
// and statements say.
func TestLedgerProperties(t *testing.T) {
	ctx := context.Background()
	n := 0
	prop := func(s ledgerScript) bool {
		n++
		sellerID := fmt.Sprintf("prop-%d-%d", time.Now().UnixNano(), n)
		if err := runLedgerScript(ctx, sellerID, s); err != nil {
			t.Errorf("script %v: %v", s, err)
			return false
		}
		if err := checkLedger(ctx, sellerID); err != nil {
			t.Errorf("script %v: %v", s, err)
			return false
		}
		return true
	}
	if err := quick.Check(prop, &quick.Config{MaxCount: 40, Rand: rand.New(rand.NewSource(1))}); err != nil {
		t.Fatal(err)
	}
}

// ledgerOp is one step of a script: a posting of one of three orders' lines, a statement
// run, or a replay of an earlier step.
type ledgerOp struct {
	Kind   string // post, block, refund, refund_part, state, replay
	Order  int    // 0..2
	Line   string // order, renewal
	Gross  int64
	Month  int // state: 0 this month, 1 the next
	Replay int // replay: which earlier step
}

type ledgerScript []ledgerOp

// Generate makes a script of up to 30 steps.
func (ledgerScript) Generate(r *rand.Rand, _ int) reflect.Value {
	kinds := []string{"post", "post", "block", "refund", "refund_part", "state", "replay"}
	s := make(ledgerScript, 1+r.Intn(30))
	for i := range s {
		op := ledgerOp{Kind: kinds[r.Intn(len(kinds))], Order: r.Intn(3), Line: []string{"order", "renewal"}[r.Intn(2)],
			Gross: int64(r.Intn(100000)), Month: r.Intn(2)}
		if op.Kind == "replay" {
			if i == 0 {
				op.Kind = "post"
			} else {
				op.Replay = r.Intn(i)
			}
		}
		s[i] = op
	}
	return reflect.ValueOf(s)
}

func runLedgerScript(ctx context.Context, sellerID string, s ledgerScript) error {
	for i := range 3 {
		id := fmt.Sprintf("%s-o%d", sellerID, i)
		if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			v := view(id, order.PhaseInService)
			v.SellerID = sellerID
			return projectOrder(ctx, tx, v, "fp", "order-"+id, 1, time.Now())
		}); err != nil {
			return err
		}
	}
	st := &Statements{DB: db}
	now := time.Now().UTC()
	months := []string{now.Format("2006-01"), time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0).Format("2006-01")}
	var do func(op ledgerOp) error
	do = func(op ledgerOp) error {
		orderID := fmt.Sprintf("%s-o%d", sellerID, op.Order)
		key := ""
		if op.Line == "renewal" {
			key = orderID + "-R1"
		}
		commission, net, err := order.Split(op.Gross, 1500)
		if err != nil {
			return err
		}
		p := order.Posting{Kind: order.LineKind(op.Line), Key: key, Currency: "CNY", Gross: op.Gross, Commission: commission, Net: net, CommissionBps: 1500}
		switch op.Kind {
		case "post", "block", "refund":
			p.Action = order.PostingAction(op.Kind)
		case "refund_part":
			p.Kind, p.Key, p.Action = order.LineUnsubscribe, orderID+"-U1", order.PostingRefundPart
		case "state":
			_, err := st.StateSeller(ctx, sellerID, months[op.Month])
			return err
		case "replay":
			return do(s[op.Replay])
		}
		return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			_, err := applyPosting(ctx, tx, orderID, sellerID, p)
			return err
		})
	}
	for _, op := range s {
		if err := do(op); err != nil {
			return fmt.Errorf("%+v: %w", op, err)
		}
	}
	return nil
}

// checkLedger checks the seller's books.
func checkLedger(ctx context.Context, sellerID string) error {
	q := func(sql string, args ...any) (int64, error) {
		var n int64
		err := db.QueryRow(ctx, sql, append([]any{sellerID}, args...)...).Scan(&n)
		return n, err
	}
	checks := []struct {
		what string
		sql  string
	}{
		{"unbalanced postings", `SELECT count(*) FROM (SELECT e.settlement_id, e.posting FROM ledger_entries e
			JOIN settlements s USING (settlement_id) WHERE s.seller_id = $1 GROUP BY 1, 2
			HAVING sum(CASE direction WHEN 'debit' THEN amount ELSE -amount END) <> 0) x`},
		{"postings written twice", `SELECT count(*) FROM (SELECT e.settlement_id, e.posting, e.account FROM ledger_entries e
			JOIN settlements s USING (settlement_id) WHERE s.seller_id = $1 GROUP BY 1, 2, 3 HAVING count(*) > 1) x`},
		{"stated postings without a payout, or payouts of nothing stated", `SELECT count(*) FROM (
			SELECT l.settlement_id FROM statement_lines l JOIN settlements s USING (settlement_id) WHERE s.seller_id = $1
			AND l.net <> 0 AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.settlement_id = l.settlement_id
			    AND e.posting = CASE WHEN l.net > 0 THEN 'payout' ELSE 'clawback' END AND e.account = 'seller_paid_out'
			    AND e.amount = abs(l.net))) x`},
		{"payout lines not backed by statement lines", `SELECT count(*) FROM ledger_entries e JOIN settlements s USING (settlement_id)
			WHERE s.seller_id = $1 AND e.posting IN ('payout', 'clawback') AND e.account = 'seller_paid_out'
			AND e.amount <> abs((SELECT sum(l.net) FROM statement_lines l WHERE l.settlement_id = e.settlement_id
			    AND ((e.posting = 'payout' AND l.net > 0) OR (e.posting = 'clawback' AND l.net < 0))))`},
		{"paid out unlike the statements", `SELECT abs(
			(SELECT coalesce(sum(CASE direction WHEN 'credit' THEN amount ELSE -amount END), 0) FROM ledger_entries e
			 JOIN settlements s USING (settlement_id) WHERE s.seller_id = $1 AND e.account = 'seller_paid_out')
			- (SELECT coalesce(sum(net), 0) FROM seller_statements WHERE seller_id = $1))`},
		{"payable unlike postings less payouts", `SELECT abs(
			(SELECT coalesce(sum(CASE direction WHEN 'credit' THEN amount ELSE -amount END), 0) FROM ledger_entries e
			 JOIN settlements s USING (settlement_id) WHERE s.seller_id = $1 AND e.account = 'seller_payable')
			- (SELECT coalesce(sum(CASE WHEN e.posting = 'post' THEN e.amount ELSE -e.amount END), 0) FROM ledger_entries e
			   JOIN settlements s USING (settlement_id) WHERE s.seller_id = $1 AND e.account = 'seller_payable' AND e.posting IN ('post', 'reverse'))
			+ (SELECT coalesce(sum(net), 0) FROM seller_statements WHERE seller_id = $1))`},
		{"settled lines whose posting is not stated", `SELECT count(*) FROM settlements s WHERE s.seller_id = $1 AND s.status = 'settled'
			AND NOT EXISTS (SELECT 1 FROM statement_lines l WHERE l.settlement_id = s.settlement_id AND l.posting = 'post')`},
		{"refunded after posting without reversal", `SELECT count(*) FROM settlements s WHERE s.seller_id = $1 AND s.status = 'refunded'
			AND EXISTS (SELECT 1 FROM ledger_entries e WHERE e.settlement_id = s.settlement_id AND e.posting = 'post')
			AND NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.settlement_id = s.settlement_id AND e.posting = 'reverse')`},
		{"blocked or unposted lines with ledger lines", `SELECT count(*) FROM settlements s WHERE s.seller_id = $1 AND s.status = 'blocked'
			AND EXISTS (SELECT 1 FROM ledger_entries e WHERE e.settlement_id = s.settlement_id)`},
		{"statements whose total is not their lines", `SELECT count(*) FROM seller_statements st WHERE st.seller_id = $1
			AND st.net <> (SELECT coalesce(sum(net), 0) FROM statement_lines l WHERE l.statement_id = st.statement_id)`},
	}
	for _, c := range checks {
		n, err := q(c.sql)
		if err != nil {
			return fmt.Errorf("%s: %w", c.what, err)
		}
		if n != 0 {
			return fmt.Errorf("%s: %d", c.what, n)
		}
	}
	return nil
}
