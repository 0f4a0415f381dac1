package outbox

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/testkit"
)

// BenchmarkDispatch measures delivery to one local subscriber that answers at once: the
// dispatcher's own cost per event (claim, read, sign, POST, cursor), reported as events/s.
func BenchmarkDispatch(b *testing.B) {
	b.Cleanup(func() { _, _ = db.Exec(context.Background(), `DELETE FROM event_subscribers`) })
	ctx := context.Background()
	kr := testkit.Keyring("k1")
	rec := &receiver{secret: []byte("whsec-bench-0123456789")}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	secret := string(rec.secret)
	if _, _, err := Save(ctx, db, kr, uid("bench"), srv.URL, nil, &secret, time.Now()); err != nil {
		b.Fatal(err)
	}
	o := uid("o")
	tt := &testing.T{}
	addEvents(tt, o, 1, b.N, "placed")
	d := newDispatcher(kr)
	b.ResetTimer()
	began := time.Now()
	for {
		claimed, _, err := d.DispatchOnce(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if !claimed {
			break
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "events/s")
	if got := len(rec.ids()); got != b.N {
		b.Fatalf("delivered %d of %d", got, b.N)
	}
}
