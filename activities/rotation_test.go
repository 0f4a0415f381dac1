package activities

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/cloudmarket/orders/internal/policy"
	"github.com/cloudmarket/orders/internal/sellerapi"
	"github.com/cloudmarket/orders/internal/sellerkeys"
	"github.com/cloudmarket/orders/internal/testkit"
)

// TestAuthFailuresDuringKeyRotation: while a seller's key is being rotated, our calls sign
// with the old key, and the seller's 000001 answers (its endpoint already on the new key)
// are recorded as the rotation's: product health does not count them, so five days of them
// do not delist the product, while the same answers outside a rotation do.
func TestAuthFailuresDuringKeyRotation(t *testing.T) {
	ctx := context.Background()
	kr := testkit.Keyring("act-1")
	run := uniqueID("rot")
	var withNewKey atomic.Int32
	seller := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		q := r.URL.Query()
		if !sellerapi.VerifySignature("old-key-123", q.Get("nonce"), q.Get("timestamp"), body, q.Get("signature")) {
			withNewKey.Add(1) // our calls must keep the old key until the seller confirms
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"resultCode":"000001","resultMsg":"bad signature"}`))
	}))
	defer seller.Close()
	client, err := sellerapi.NewClient(sellerapi.ClientOptions{Policy: sellerapi.EndpointPolicy{Development: true}})
	if err != nil {
		t.Fatal(err)
	}
	newSeller := func(id string) {
		sealed, err := sellerkeys.Seal(kr, id, "old-key-123")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `INSERT INTO sellers (seller_id, name, endpoint, access_key_kek, access_key_dek, access_key_sealed, verify_body_sign)
			VALUES ($1, 'S', $2, $3, $4, $5, false)`, id, seller.URL, sealed.KeyID, sealed.WrappedKey, sealed.Ciphertext); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `INSERT INTO products (product_id, seller_id, name, type, billing_mode, commission_bps)
			VALUES ($1, $1, 'P', 'saas', 'monthly', 1500)`, id); err != nil {
			t.Fatal(err)
		}
	}
	rotating, steady := "rot-"+run, "steady-"+run
	newSeller(rotating)
	newSeller(steady)
	if _, err := sellerkeys.StartRotation(ctx, db, kr, rotating, "new-key-456", time.Now()); err != nil {
		t.Fatal(err)
	}
	s := &Seller{DB: db, Keys: kr, Client: client, Metrics: NewMetrics(prometheus.NewRegistry())}
	for _, id := range []string{rotating, steady} {
		err := s.UpdateInstanceStatus(ctx, SellerCall{OrderID: "o-" + id, SellerID: id, ProductID: id, InstanceID: "i"}, sellerapi.StatusFreeze)
		if err == nil {
			t.Fatalf("%s: a 000001 answer succeeded", id)
		}
	}
	// In an activity with a retry window: a 000001 during the rotation does not use an
	// attempt of it (no heartbeat counting it), the same answer outside one does.
	for _, tt := range []struct {
		sellerID string
		counted  bool
	}{{rotating, false}, {steady, true}} {
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(s)
		var attempts atomic.Int32
		env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
			var a attemptLog
			if details.HasValues() && details.Get(&a) == nil {
				attempts.Store(int32(a.Attempts))
			}
		})
		call := SellerCall{OrderID: "o-" + tt.sellerID, SellerID: tt.sellerID, ProductID: tt.sellerID, InstanceID: "i", MaxAttempts: 3}
		if _, err := env.ExecuteActivity(s.UpdateInstanceStatus, call, sellerapi.StatusFreeze); err == nil {
			t.Fatalf("%s: a 000001 answer succeeded", tt.sellerID)
		}
		if counted := attempts.Load() == 1; counted != tt.counted {
			t.Errorf("%s: attempts counted %d, want counted %v", tt.sellerID, attempts.Load(), tt.counted)
		}
	}
	if withNewKey.Load() != 0 {
		t.Fatal("a call during the rotation was not signed with the old key")
	}
	var during bool
	if err := db.QueryRow(ctx, `SELECT bool_and(during_key_rotation) FROM seller_calls WHERE seller_id = $1`, rotating).Scan(&during); err != nil || !during {
		t.Fatalf("the call during the rotation is not marked: %v %v", during, err)
	}

	// Five days of such answers: the rotating seller's product stays listed.
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for d := 1; d <= 5; d++ {
		for _, id := range []string{rotating, steady} {
			if _, err := db.Exec(ctx, `INSERT INTO seller_calls (order_id, seller_id, product_id, activity, attempt, result_code, latency_ms, called_at, during_key_rotation)
				VALUES ('x', $1, $1, 'newInstance', 1, '000001', 5, $2, $3)`, id, today.AddDate(0, 0, -d).Add(time.Hour), id == rotating); err != nil {
				t.Fatal(err)
			}
		}
	}
	h := &Health{DB: db, Policy: policy.Default(), Metrics: NewMetrics(prometheus.NewRegistry())}
	report, err := h.CheckProducts(ctx, today.Format("2006-01-02"))
	if err != nil {
		t.Fatal(err)
	}
	delisted := map[string]bool{}
	for _, d := range report.Delisted {
		delisted[d.ProductID] = true
	}
	if delisted[rotating] || !delisted[steady] {
		t.Fatalf("delisted %v: want %s only", delisted, steady)
	}
}
