package activities

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudmarket/orders/internal/order"
)

// gaugeValues gathers the gauges into "name{label}" -> value.
func gaugeValues(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetValue() + "}"
			}
			out[key] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestGaugesCountTheReadModel(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	reg.MustRegister(&Gauges{DB: db, MaxAge: time.Nanosecond})
	before := gaugeValues(t, reg)

	s := newStore(t)
	flagged := view(uniqueID("G"), order.PhaseInService)
	flagged.NeedsAttention = true
	failed := view(uniqueID("G"), order.PhaseProvisionFailed)
	failed.NeedsAttention, failed.AttentionCause = true, "provision_failed"
	for _, v := range []order.View{flagged, failed, view(uniqueID("G"), order.PhaseProvisioning)} {
		if err := s.RecordTransition(ctx, Transition{WorkflowID: "order-" + v.OrderID, Fingerprint: "fp", Seq: 1,
			At: time.Now().UTC(), Event: "placed", View: v}); err != nil {
			t.Fatal(err)
		}
	}
	after := gaugeValues(t, reg)
	for key, want := range map[string]float64{
		"orders_by_status{in_service}":                          1,
		"orders_by_status{provisioning}":                        1,
		"orders_by_status{released}":                            0,
		"orders_needing_attention":                              2,
		"orders_needing_attention_by_cause{other}":              1, // flagged before causes
		"orders_needing_attention_by_cause{provision_failed}":   1,
		"orders_needing_attention_by_cause{seller_call_failed}": 0,
	} {
		if got := after[key] - before[key]; got != want {
			t.Errorf("%s went up by %v, want %v", key, got, want)
		}
	}
	if _, ok := after["appeals_by_state{escalated}"]; !ok {
		t.Error("appeals_by_state{escalated} is not reported at zero")
	}
}

// TestGaugesCountFailingSubscribersAndPendingRotations: the two conditions outside the
// orders that the EventSubscriberFailing and SellerKeyRotationStale alerts read.
func TestGaugesCountFailingSubscribersAndPendingRotations(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	reg.MustRegister(&Gauges{DB: db, MaxAge: time.Nanosecond})
	before := gaugeValues(t, reg)

	sub, seller := uniqueID("sub-gauge"), uniqueID("seller-gauge")
	if _, err := db.Exec(ctx, `INSERT INTO event_subscribers (subscriber_id, url, secret_kek, secret_dek, secret_sealed, state, failing_since)
		VALUES ($1, 'https://x.invalid/events', 'k', '\x00', '\x00', 'failing', now())`, sub); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO sellers (seller_id, name, endpoint, access_key,
			pending_key_kek, pending_key_dek, pending_key_sealed, pending_key_created_at)
		VALUES ($1, 'S', 'https://x.invalid', 'k', 'k', '\x00', '\x00', now() - interval '8 days')`, seller); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = db.Exec(ctx, `DELETE FROM event_subscribers WHERE subscriber_id = $1`, sub)
		_, _ = db.Exec(ctx, `DELETE FROM sellers WHERE seller_id = $1`, seller)
	})
	after := gaugeValues(t, reg)
	if got := after["event_subscribers_failing"] - before["event_subscribers_failing"]; got != 1 {
		t.Errorf("event_subscribers_failing went up by %v, want 1", got)
	}
	if got := after["seller_key_rotations_pending"] - before["seller_key_rotations_pending"]; got != 1 {
		t.Errorf("seller_key_rotations_pending went up by %v, want 1", got)
	}
	if got := after["seller_key_rotation_oldest_seconds"]; got < 8*24*3600 {
		t.Errorf("seller_key_rotation_oldest_seconds = %v, want at least 8 days", got)
	}
}
