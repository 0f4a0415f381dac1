package activities

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudmarket/orders/internal/policy"
)

// TestProductHealth: a product whose seller calls failed on 5 consecutive days is delisted;
// one with 4 failing days, or with failures on a day that also went mostly well, is not; a
// product with more than 5 orders failed by the seller interface this month is delisted;
// relisting starts the count afresh.
func TestProductHealth(t *testing.T) {
	ctx := context.Background()
	run := uniqueID("h")
	today := time.Now().UTC().Truncate(24 * time.Hour)
	seller := "hs-" + run
	if _, err := db.Exec(ctx, `INSERT INTO sellers (seller_id, name, endpoint, access_key) VALUES ($1, 'h', 'https://x', 'k')`, seller); err != nil {
		t.Fatal(err)
	}
	product := func(name string) string {
		id := name + "-" + run
		if _, err := db.Exec(ctx, `INSERT INTO products (product_id, seller_id, name, type, billing_mode, commission_bps)
			VALUES ($1, $2, $1, 'saas', 'monthly', 1500)`, id, seller); err != nil {
			t.Fatal(err)
		}
		return id
	}
	calls := func(productID string, day time.Time, ok, failed int) {
		for i := range ok + failed {
			code := "000000"
			if i >= ok {
				code = "000005"
			}
			if _, err := db.Exec(ctx, `INSERT INTO seller_calls (order_id, seller_id, product_id, activity, attempt, result_code, latency_ms, called_at)
				VALUES ('x', $1, $2, 'newInstance', 1, $3, 5, $4)`, seller, productID, code, day.Add(time.Duration(i+1)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
	}
	failing, almost, mostlyFine, orders := product("failing"), product("almost"), product("fine"), product("orders")
	for d := 1; d <= 5; d++ {
		day := today.AddDate(0, 0, -d)
		calls(failing, day, 1, 3)
		if d <= 4 {
			calls(almost, day, 0, 2)
		}
		calls(mostlyFine, day, 9, 1)
	}
	for i := range 6 {
		id := fmt.Sprintf("%s-o%d", orders, i)
		if _, err := db.Exec(ctx, `INSERT INTO orders (order_id, order_line_id, customer_id, product_id, seller_id, product_type, billing_mode,
			status, phase, request_fingerprint, workflow_id, seq, view, placed_at, updated_at)
			VALUES ($1, $1, 'c', $2, $3, 'saas', 'monthly', 'provision_failed', 'provision_failed', 'fp', $1, 1, '{}', now(), now())`,
			id, orders, seller); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `INSERT INTO order_events (order_id, seq, at, actor_kind, event, to_status, detail)
			VALUES ($1, 1, $2, 'system', 'provision_failed', 'provision_failed', '{"reason": "window_exhausted"}')`,
			id, today.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	h := &Health{DB: db, Policy: policy.Default(), Metrics: NewMetrics(prometheus.NewRegistry())}
	report, err := h.CheckProducts(ctx, today.Format("2006-01-02"))
	if err != nil {
		t.Fatal(err)
	}
	delisted := map[string]string{}
	for _, d := range report.Delisted {
		delisted[d.ProductID] = d.Rule
	}
	if delisted[failing] != RuleFailingDays || delisted[orders] != RuleFailedOrders || delisted[almost] != "" || delisted[mostlyFine] != "" {
		t.Fatalf("delisted %v", delisted)
	}
	var listed bool
	var reason string
	var days int
	db.QueryRow(ctx, `SELECT listed, delisted_reason, health_failing_days FROM products WHERE product_id = $1`, failing).Scan(&listed, &reason, &days)
	if listed || reason == "" || days != 5 {
		t.Fatalf("failing product: listed %v, reason %q, %d failing days", listed, reason, days)
	}
	db.QueryRow(ctx, `SELECT health_failing_days FROM products WHERE product_id = $1`, almost).Scan(&days)
	if days != 4 {
		t.Fatalf("almost: %d failing days", days)
	}
	// Ops list it again (as PUT /v1/products does): the days before do not count again.
	if _, err := db.Exec(ctx, `UPDATE products SET listed = true, relisted_at = now(), delisted_reason = '' WHERE product_id = $1`, failing); err != nil {
		t.Fatal(err)
	}
	report, err = h.CheckProducts(ctx, today.Format("2006-01-02"))
	if err != nil || len(report.Delisted) != 0 {
		t.Fatalf("after relisting: %+v, %v", report.Delisted, err)
	}
}

// TestCheckOneProduct: ops' check of one product judges and delists that product alone; a
// product of the same state beside it is left for the daily run.
func TestCheckOneProduct(t *testing.T) {
	ctx := context.Background()
	run := uniqueID("h1")
	today := time.Now().UTC().Truncate(24 * time.Hour)
	seller := "hs-" + run
	if _, err := db.Exec(ctx, `INSERT INTO sellers (seller_id, name, endpoint, access_key) VALUES ($1, 'h', 'https://x', 'k')`, seller); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, name := range []string{"checked", "beside"} {
		id := name + "-" + run
		ids = append(ids, id)
		if _, err := db.Exec(ctx, `INSERT INTO products (product_id, seller_id, name, type, billing_mode, commission_bps)
			VALUES ($1, $2, $1, 'saas', 'monthly', 1500)`, id, seller); err != nil {
			t.Fatal(err)
		}
		for d := 1; d <= 5; d++ {
			if _, err := db.Exec(ctx, `INSERT INTO seller_calls (order_id, seller_id, product_id, activity, attempt, result_code, latency_ms, called_at)
				VALUES ('x', $1, $2, 'newInstance', 1, '000005', 5, $3)`, seller, id, today.AddDate(0, 0, -d).Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The package's other checks judge every listed product: leave them none of these.
	t.Cleanup(func() { db.Exec(ctx, `UPDATE products SET listed = false WHERE product_id = ANY($1)`, ids) })
	h := &Health{DB: db, Policy: policy.Default(), Metrics: NewMetrics(prometheus.NewRegistry())}
	report, err := h.CheckProduct(ctx, today.Format("2006-01-02"), ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if report.ProductID != ids[0] || report.Products != 1 || len(report.Delisted) != 1 || report.Delisted[0].ProductID != ids[0] {
		t.Fatalf("report %+v", report)
	}
	for i, want := range []bool{false, true} {
		var listed bool
		if err := db.QueryRow(ctx, `SELECT listed FROM products WHERE product_id = $1`, ids[i]).Scan(&listed); err != nil || listed != want {
			t.Fatalf("%s: listed %v, want %v (%v)", ids[i], listed, want, err)
		}
	}
	if _, err := h.CheckProduct(ctx, today.Format("2006-01-02"), ""); err == nil {
		t.Fatal("a check of no product was taken")
	}
}
