package activities

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/policy"
	kit "github.com/cloudmarket/orders/internal/testkit"
)

// db is a real PostgreSQL database with the schema applied, shared by the package's tests.
var db *pgxpool.Pool

func TestMain(m *testing.M) { kit.MainWithDB(m, "activities", &db) }

// uniqueID gives each test run its own order IDs, so tests can repeat (-count) on the
// package's shared database.
func uniqueID(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}

func newStore(t *testing.T) *Store {
	t.Helper()
	return &Store{DB: db, Policy: policy.Default(), Metrics: NewMetrics(prometheus.NewRegistry())}
}

func view(orderID string, phase order.Phase) order.View {
	v := order.InitialView(order.StartInput{
		OrderID: orderID, OrderLineID: orderID + "-1", CustomerID: "c1", ProductID: "p1", SellerID: "s1",
		ProductType: order.TypeSaaS, BillingMode: order.BillingMonthly, Quantity: 1,
		Amount: order.Money{Value: 10000, Currency: "CNY"}, PlacedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	})
	v.Phase = phase
	v.Status = order.Status(phase)
	return v
}

func TestRecordTransitionIsIdempotentAndOrdered(t *testing.T) {
	idT1 := uniqueID("T")
	ctx := context.Background()
	s := newStore(t)
	at := time.Now().UTC()
	t1 := Transition{WorkflowID: "order-" + idT1, Fingerprint: "fp", Seq: 1, At: at, Event: "placed", View: view(idT1, order.PhaseProvisioning)}
	t2 := Transition{WorkflowID: "order-" + idT1, Fingerprint: "fp", Seq: 2, At: at, Event: "instance_created",
		From: "provisioning", View: view(idT1, order.PhaseAwaitingAcceptance)}
	for _, tr := range []Transition{t1, t2, t2, t1} { // retries, and a late retry of step 1
		if err := s.RecordTransition(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	var status string
	var seq, events int
	if err := db.QueryRow(ctx, `SELECT status, seq FROM orders WHERE order_id = $1`, idT1).Scan(&status, &seq); err != nil {
		t.Fatal(err)
	}
	if status != "awaiting_acceptance" || seq != 2 {
		t.Errorf("read model = %s seq %d; a late retry must not roll it back", status, seq)
	}
	if err := db.QueryRow(ctx, `SELECT count(*) FROM order_events WHERE order_id = $1`, idT1).Scan(&events); err != nil || events != 2 {
		t.Errorf("events = %d (%v), want 2", events, err)
	}
	if got := testutil.ToFloat64(s.Metrics.Transitions.WithLabelValues("provisioning", "awaiting_acceptance")); got != 1 {
		t.Errorf("transition counted %v times, want once", got)
	}
	if _, err := db.Exec(ctx, `UPDATE order_events SET event = 'x' WHERE order_id = $1`, idT1); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("order_events accepted an update: %v", err)
	}
}

func TestPostSettlementExactlyOnce(t *testing.T) {
	idS1 := uniqueID("S")
	ctx := context.Background()
	s := newStore(t)
	if err := s.RecordTransition(ctx, Transition{WorkflowID: "order-" + idS1, Seq: 1, At: time.Now(), Event: "placed", View: view(idS1, order.PhaseProvisioning)}); err != nil {
		t.Fatal(err)
	}
	req := SettlementRequest{OrderID: idS1, SellerID: "s1", Gross: order.Money{Value: 10001, Currency: "CNY"}, CommissionBps: 1550}
	var first order.Settlement
	for i := range 3 {
		got, err := s.PostSettlement(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = got
		} else if got != first {
			t.Errorf("repeat %d answered %+v, first %+v", i, got, first)
		}
	}
	// 10001 x 15.5% = 1550.155 -> 1550; net 8451.
	if first.Commission != 1550 || first.Net != 8451 || first.Status != order.SettlementPending {
		t.Errorf("settlement = %+v", first)
	}
	var settlements, lines int
	var balance int64
	if err := db.QueryRow(ctx, `SELECT count(*) FROM settlements WHERE order_id = $1`, idS1).Scan(&settlements); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `SELECT count(*), sum(CASE direction WHEN 'debit' THEN amount ELSE -amount END)
		FROM ledger_entries JOIN settlements USING (settlement_id) WHERE order_id = $1`, idS1).Scan(&lines, &balance); err != nil {
		t.Fatal(err)
	}
	if settlements != 1 || lines != 3 || balance != 0 {
		t.Errorf("%d settlements, %d lines, balance %d; want 1, 3, 0", settlements, lines, balance)
	}
}

func TestLedgerRefusesUnbalancedPosting(t *testing.T) {
	idU1 := uniqueID("U")
	ctx := context.Background()
	s := newStore(t)
	if err := s.RecordTransition(ctx, Transition{WorkflowID: "order-" + idU1, Seq: 1, At: time.Now(), Event: "placed", View: view(idU1, order.PhaseProvisioning)}); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO settlements (order_id, kind, seller_id, currency, gross, commission_bps, commission, net, status)
		VALUES ($1, 'order', 's1', 'CNY', 100, 1000, 10, 90, 'pending') RETURNING settlement_id`, idU1).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO ledger_entries (settlement_id, posting, account, direction, amount, currency)
		VALUES ($1, 'post', 'buyer_funds', 'debit', 100, 'CNY'), ($1, 'post', 'seller_payable', 'credit', 90, 'CNY')`, id); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err == nil || !strings.Contains(err.Error(), "unbalanced") {
		t.Fatalf("unbalanced posting committed: %v", err)
	}
}

func TestRecordRefundAndCustomerClocks(t *testing.T) {
	idR1 := uniqueID("R")
	ctx := context.Background()
	s := newStore(t)
	if err := s.RecordTransition(ctx, Transition{WorkflowID: "order-" + idR1, Seq: 1, At: time.Now(), Event: "placed", View: view(idR1, order.PhaseProvisioning)}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := s.RecordRefund(ctx, RefundRequest{OrderID: idR1, SellerID: "s1", Amount: order.Money{Value: 500, Currency: "CNY"}, Reason: "provision_failed"})
		if err != nil || got.Status != order.SettlementRefunded || got.Gross != 500 {
			t.Fatalf("refund = %+v, %v", got, err)
		}
	}
	if _, err := db.Exec(ctx, `INSERT INTO customers (customer_id, level) VALUES ('v3-1', 'V3') ON CONFLICT (customer_id) DO UPDATE SET level = 'V3'`); err != nil {
		t.Fatal(err)
	}
	c, err := s.CustomerClocks(ctx, "v3-1", 24)
	if err != nil || c.Grace != 7*time.Hour || c.Retention != 7*time.Hour {
		t.Errorf("V3 subscription clocks at 24x = %+v, %v; want 7h each", c, err)
	}
	c, err = s.PayPerUseClocks(ctx, "v3-1", 24)
	if err != nil || c.Grace != time.Hour || c.Retention != 7*time.Hour {
		t.Errorf("V3 pay-per-use clocks at 24x = %+v, %v; want 1h and 7h", c, err)
	}
	c, err = s.CustomerClocks(ctx, "unknown", 1)
	if err != nil || c.Grace != 24*time.Hour {
		t.Errorf("unknown customer clocks = %+v, %v; want the default level", c, err)
	}
}
