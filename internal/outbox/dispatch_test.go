package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudmarket/orders/events"
	"github.com/cloudmarket/orders/internal/secrets"
	"github.com/cloudmarket/orders/internal/sellerapi"
	"github.com/cloudmarket/orders/internal/testkit"
)

var idSeq atomic.Int64

func uid(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), idSeq.Add(1))
}

// addEvents appends n events of order (seqs from first) to the outbox as the activities do.
func addEvents(t *testing.T, orderID string, first, n int, step string) {
	t.Helper()
	for i := range n {
		seq := first + i
		env, _ := json.Marshal(events.Envelope{SpecVersion: "1.0", Type: events.TypeOf(step), Source: events.Source,
			ID: events.ID(orderID, seq), Subject: orderID, Time: time.Now().UTC(), OrderID: orderID, Seq: seq,
			DataContentType: "application/json", Data: json.RawMessage(`{}`)})
		if _, err := db.Exec(context.Background(), `INSERT INTO event_outbox (order_id, seq, type, envelope) VALUES ($1,$2,$3,$4)`,
			orderID, seq, events.TypeOf(step), string(env)); err != nil {
			t.Fatal(err)
		}
	}
}

// receiver is a subscriber's endpoint: it verifies each delivery and records it.
type receiver struct {
	mu       sync.Mutex
	secret   []byte
	got      []events.Envelope
	bad      int
	failFor  atomic.Int64 // answer 503 to this many deliveries
	failNext atomic.Int64 // answer 503 once to the delivery that would be the n-th accepted
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if r.failFor.Load() > 0 {
		r.failFor.Add(-1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.failNext.Load(); n > 0 && int64(len(r.got))+1 == n {
		r.failNext.Store(0)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if events.Verify(r.secret, req.Header.Get(events.SignatureHeader), body, time.Now(), 0) != nil ||
		req.Header.Get("Content-Type") != events.ContentType {
		r.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var e events.Envelope
	_ = json.Unmarshal(body, &e)
	r.got = append(r.got, e)
}

func (r *receiver) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.got {
		out = append(out, e.ID)
	}
	return out
}

func newDispatcher(kr *secrets.Keyring) *Dispatcher {
	return &Dispatcher{DB: db, Keys: kr, HTTP: NewHTTPClient(sellerapi.EndpointPolicy{Development: true}, 2*time.Second),
		RetryWindow: time.Hour, PollInterval: 20 * time.Millisecond, Concurrency: 2}
}

// cleanSubscribers removes the subscribers a test made, so the next test's dispatchers
// do not deliver to them.
func cleanSubscribers(t *testing.T) {
	t.Cleanup(func() { _, _ = db.Exec(context.Background(), `DELETE FROM event_subscribers`) })
}

// drain runs DispatchOnce until nothing is claimed.
func drain(t *testing.T, d *Dispatcher) {
	t.Helper()
	for range 1000 {
		claimed, _, err := d.DispatchOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !claimed {
			return
		}
	}
	t.Fatal("dispatcher never ran out of work")
}

func TestDispatchDeliversInOrderSignedAndFiltered(t *testing.T) {
	cleanSubscribers(t)
	ctx := context.Background()
	kr := testkit.Keyring("k1")
	rec := &receiver{secret: []byte("whsec-test-0123456789")}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	secret := string(rec.secret)
	all, _, err := Save(ctx, db, kr, uid("sub-all"), srv.URL+"/all", nil, &secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	recAcc := &receiver{secret: rec.secret}
	srvAcc := httptest.NewServer(recAcc)
	defer srvAcc.Close()
	if _, _, err := Save(ctx, db, kr, uid("sub-acc"), srvAcc.URL, []string{"cloudmarket.order.accepted"}, &secret, time.Now()); err != nil {
		t.Fatal(err)
	}
	o := uid("o")
	addEvents(t, o, 1, 3, "placed")
	addEvents(t, o, 4, 1, "accepted")
	d := newDispatcher(kr)
	drain(t, d)
	if got, want := strings.Join(rec.ids(), ","), strings.Join([]string{o + ":1", o + ":2", o + ":3", o + ":4"}, ","); got != want {
		t.Errorf("delivered %s, want %s", got, want)
	}
	if got := recAcc.ids(); len(got) != 1 || got[0] != o+":4" {
		t.Errorf("the accepted-only subscriber got %v", got)
	}
	if rec.bad+recAcc.bad != 0 {
		t.Errorf("%d deliveries were not validly signed", rec.bad+recAcc.bad)
	}
	s, err := Get(ctx, db, all.SubscriberID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Delivered != 4 || s.LagEvents != 0 || s.State != StateActive || s.LastDeliveredAt == nil {
		t.Errorf("subscriber after delivery = %+v", s)
	}
	raw, _ := json.Marshal(s)
	if strings.Contains(string(raw), secret) || strings.Contains(string(raw), "secret") {
		t.Errorf("the subscriber's view shows its secret: %s", raw)
	}

	// A replay sends the events again, in order, with the same ids.
	if _, err := Replay(ctx, db, all.SubscriberID, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	before := len(rec.ids())
	drain(t, d)
	again := rec.ids()[before:]
	var mine []string
	for _, id := range again {
		if strings.HasPrefix(id, o+":") {
			mine = append(mine, id)
		}
	}
	if strings.Join(mine, ",") != strings.Join(rec.ids()[:4], ",") {
		t.Errorf("replay delivered %v, want the same ids in the same order", mine)
	}
}

func TestDispatchRetriesWithBackoffThenFlagsFailing(t *testing.T) {
	cleanSubscribers(t)
	ctx := context.Background()
	kr := testkit.Keyring("k1")
	rec := &receiver{secret: []byte("whsec-test-0123456789")}
	rec.failFor.Store(1)
	srv := httptest.NewServer(rec)
	defer srv.Close()
	secret := string(rec.secret)
	sub, _, err := Save(ctx, db, kr, uid("sub"), srv.URL, nil, &secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	o := uid("o")
	addEvents(t, o, 1, 2, "placed")
	d := newDispatcher(kr)
	var logs bytes.Buffer
	d.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	defer func() {
		if strings.Contains(logs.String(), secret) || !strings.Contains(logs.String(), "event delivery failed") {
			t.Errorf("dispatcher log leaks the secret or misses the failure: %s", logs.String())
		}
	}()
	if _, _, err := d.DispatchOnce(ctx); err != nil {
		t.Fatal(err)
	}
	s, _ := Get(ctx, db, sub.SubscriberID)
	if s.Attempts != 1 || s.FailingSince == nil || s.LastError != "HTTP status 503" || !s.NextAttemptAt.After(time.Now()) || s.Cursor != sub.Cursor {
		t.Fatalf("after a failed delivery: %+v", s)
	}
	// Not due yet: nothing is claimed.
	if claimed, _, _ := d.DispatchOnce(ctx); claimed {
		t.Fatal("a subscriber in backoff was claimed")
	}
	// Due again, and the subscriber is back: delivered, and the failure is forgotten.
	exec(t, `UPDATE event_subscribers SET next_attempt_at = now() WHERE subscriber_id = $1`, sub.SubscriberID)
	drain(t, d)
	s, _ = Get(ctx, db, sub.SubscriberID)
	if len(rec.ids()) != 2 || s.Attempts != 0 || s.FailingSince != nil || s.LastError != "" {
		t.Fatalf("after recovery: %v %+v", rec.ids(), s)
	}
	// A batch that delivers some events before one fails starts the count again: the
	// failures in a row are the head event's, not the batches'.
	addEvents(t, o, 3, 2, "accepted")
	exec(t, `UPDATE event_subscribers SET attempts = 5, failing_since = now() - interval '30 minutes' WHERE subscriber_id = $1`, sub.SubscriberID)
	rec.failNext.Store(int64(len(rec.ids()) + 2)) // the second event of this batch fails
	if _, _, err := d.DispatchOnce(ctx); err != nil {
		t.Fatal(err)
	}
	s, _ = Get(ctx, db, sub.SubscriberID)
	if len(rec.ids()) != 3 || s.Attempts != 1 || s.FailingSince == nil || time.Since(*s.FailingSince) > time.Minute || s.State != StateActive {
		t.Fatalf("after progress then a failure: %v %+v", rec.ids(), s)
	}
	exec(t, `UPDATE event_subscribers SET next_attempt_at = now() WHERE subscriber_id = $1`, sub.SubscriberID)
	drain(t, d)
	if len(rec.ids()) != 4 {
		t.Fatalf("the failed event was not delivered again: %v", rec.ids())
	}
	// Failing for longer than the retry window: flagged, and left alone.
	addEvents(t, o, 5, 1, "accepted")
	rec.failFor.Store(1)
	exec(t, `UPDATE event_subscribers SET failing_since = now() - interval '2 hours', attempts = 7 WHERE subscriber_id = $1`, sub.SubscriberID)
	if _, _, err := d.DispatchOnce(ctx); err != nil {
		t.Fatal(err)
	}
	s, _ = Get(ctx, db, sub.SubscriberID)
	if s.State != StateFailing || s.LagEvents != 1 || s.LagSeconds < 0 {
		t.Fatalf("after the retry window: %+v", s)
	}
	exec(t, `UPDATE event_subscribers SET next_attempt_at = now() WHERE subscriber_id = $1`, sub.SubscriberID)
	if claimed, _, _ := d.DispatchOnce(ctx); claimed {
		t.Fatal("a failing subscriber was claimed")
	}
	// Ops replay it from where it was: delivered.
	cur, _ := ParseCursor(s.Cursor)
	if _, err := Replay(ctx, db, sub.SubscriberID, cur, time.Now()); err != nil {
		t.Fatal(err)
	}
	drain(t, d)
	if ids := rec.ids(); len(ids) != 5 || ids[4] != o+":5" {
		t.Fatalf("after the replay: %v", ids)
	}
}

// TestDispatchersShareWithoutDoubleDelivery: several dispatchers at once deliver each event
// once (no failures, so no redelivery), in order.
func TestDispatchersShareWithoutDoubleDelivery(t *testing.T) {
	cleanSubscribers(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kr := testkit.Keyring("k1")
	secret := "whsec-test-0123456789"
	var recs []*receiver
	for i := range 3 {
		rec := &receiver{secret: []byte(secret)}
		srv := httptest.NewServer(rec)
		defer srv.Close()
		if _, _, err := Save(ctx, db, kr, uid(fmt.Sprint("sub", i)), srv.URL, nil, &secret, time.Now()); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	var orders []string
	for range 5 {
		orders = append(orders, uid("o"))
	}
	const perOrder = 30
	var wg sync.WaitGroup
	for range 3 { // three "workers"
		d := newDispatcher(kr)
		wg.Go(func() { d.Run(ctx) })
	}
	for seq := 1; seq <= perOrder; seq++ {
		for _, o := range orders {
			addEvents(t, o, seq, 1, "placed")
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, rec := range recs {
		for len(rec.ids()) < perOrder*len(orders) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	cancel()
	wg.Wait()
	for i, rec := range recs {
		ids := rec.ids()
		if len(ids) != perOrder*len(orders) {
			t.Errorf("subscriber %d got %d events, want %d", i, len(ids), perOrder*len(orders))
		}
		next := map[string]int{}
		for _, id := range ids {
			o, seq, _ := events.ParseID(id)
			if seq != next[o]+1 {
				t.Errorf("subscriber %d: %s after seq %d", i, id, next[o])
			}
			next[o] = seq
		}
	}
}

func TestEndpointPolicyRefusesPrivateOutsideDevelopment(t *testing.T) {
	cleanSubscribers(t)
	ctx := context.Background()
	kr := testkit.Keyring("k1")
	rec := &receiver{secret: []byte("whsec-test-0123456789")}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	secret := string(rec.secret)
	sub, _, err := Save(ctx, db, kr, uid("sub"), srv.URL, nil, &secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	addEvents(t, uid("o"), 1, 1, "placed")
	d := newDispatcher(kr)
	d.HTTP = NewHTTPClient(sellerapi.EndpointPolicy{}, time.Second) // public only
	if _, _, err := d.DispatchOnce(ctx); err != nil {
		t.Fatal(err)
	}
	s, _ := Get(ctx, db, sub.SubscriberID)
	if len(rec.ids()) != 0 || !strings.Contains(s.LastError, "loopback") {
		t.Fatalf("a loopback subscriber was called outside development: %+v", s)
	}
}

func TestFeedAndSweep(t *testing.T) {
	ctx := context.Background()
	var start int64
	if err := db.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM event_outbox`).Scan(&start); err != nil {
		t.Fatal(err)
	}
	o := uid("o")
	addEvents(t, o, 1, 5, "placed")
	var got []string
	cursor := start
	for pages := 0; ; pages++ {
		items, next, err := Feed(ctx, db, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 0 {
			if next != FormatCursor(cursor) {
				t.Errorf("an empty page moved the cursor to %s", next)
			}
			break
		}
		for _, it := range items {
			var e events.Envelope
			_ = json.Unmarshal(it.Event, &e)
			got = append(got, e.ID)
		}
		cursor, _ = ParseCursor(next)
	}
	if len(got) != 5 || got[0] != o+":1" || got[4] != o+":5" {
		t.Errorf("feed = %v", got)
	}
	exec(t, `UPDATE event_outbox SET created_at = now() - interval '40 days' WHERE order_id = $1 AND seq <= 2`, o)
	n, err := Sweep(ctx, db, 30*24*time.Hour)
	if err != nil || n < 2 {
		t.Fatalf("sweep deleted %d (%v)", n, err)
	}
	items, _, _ := Feed(ctx, db, start, 10)
	if len(items) != 3 {
		t.Errorf("after the sweep the feed has %d events, want 3", len(items))
	}
}

func TestParseCursor(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{{"0", true}, {"42", true}, {"-1", false}, {"042", false}, {"x", false}, {"", false}, {"99999999999999999999", false}} {
		if _, err := ParseCursor(tt.in); (err == nil) != tt.ok {
			t.Errorf("ParseCursor(%q) = %v", tt.in, err)
		}
	}
}

func exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}
