package activities

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudmarket/orders/events"
	"github.com/cloudmarket/orders/internal/order"
)

// TestRecordWritesOutbox: each new audit line becomes one event with a stable id, its
// type and seq, the order view without the licence text; a retried Record adds nothing.
func TestRecordWritesOutbox(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	id := uniqueID("OB")
	at := time.Now().UTC().Truncate(time.Millisecond)
	v := view(id, order.PhaseAwaitingAcceptance)
	v.License = &order.LicenseRef{SHA256: "ab", Masked: "LIC…42", ReceivedAt: at, Text: "SECRET-LICENCE-TEXT"}
	buyerActor := order.Actor{Kind: order.ActorBuyer, ID: "c1"}
	r := Record{WorkflowID: "order-" + id, Fingerprint: "fp", FirstSeq: 1, At: at, View: v, Steps: []order.Step{
		{Event: order.StepPlaced, Actor: buyerActor, From: "", To: "provisioning"},
		{Event: order.StepLicenseReceived, Actor: order.Actor{Kind: order.ActorSeller, ID: "s1"}, From: "provisioning", To: "awaiting_acceptance"},
	}}
	for range 2 {
		if err := s.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	accept := Record{WorkflowID: "order-" + id, Fingerprint: "fp", FirstSeq: 3, At: at, View: view(id, order.PhaseInService),
		Steps: []order.Step{{Event: order.StepAccepted, Actor: buyerActor, From: "awaiting_acceptance", To: "in_service"}}}
	if err := s.Record(ctx, accept); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(ctx, `SELECT position, seq, type, envelope FROM event_outbox WHERE order_id = $1 ORDER BY position`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := []struct {
		seq  int
		typ  string
		from string
	}{{1, "cloudmarket.order.placed", ""}, {2, "cloudmarket.order.license_received", "provisioning"}, {3, "cloudmarket.order.accepted", "awaiting_acceptance"}}
	i := 0
	var last int64
	for rows.Next() {
		var pos int64
		var seq int
		var typ, raw string
		if err := rows.Scan(&pos, &seq, &typ, &raw); err != nil {
			t.Fatal(err)
		}
		if i >= len(want) {
			t.Fatalf("more events than audit lines: %s", raw)
		}
		w := want[i]
		if pos <= last || seq != w.seq || typ != w.typ {
			t.Errorf("event %d: position %d (after %d), seq %d, type %s; want seq %d type %s", i, pos, last, seq, typ, w.seq, w.typ)
		}
		last = pos
		if strings.Contains(raw, "SECRET-LICENCE-TEXT") {
			t.Errorf("event %d carries the licence text: %s", i, raw)
		}
		var env events.Envelope
		if err := json.Unmarshal([]byte(raw), &env); err != nil {
			t.Fatal(err)
		}
		var data events.Data
		if err := json.Unmarshal(env.Data, &data); err != nil {
			t.Fatal(err)
		}
		if env.SpecVersion != "1.0" || env.ID != events.ID(id, w.seq) || env.Type != w.typ || env.OrderID != id ||
			env.Seq != w.seq || !env.Time.Equal(at) || env.Source != events.Source || data.From != w.from || data.Seq != w.seq {
			t.Errorf("event %d envelope = %+v data %+v", i, env, data)
		}
		var ov order.View
		if err := json.Unmarshal(data.Order, &ov); err != nil || ov.OrderID != id {
			t.Errorf("event %d order view = %+v (%v)", i, ov, err)
		}
		i++
	}
	if err := rows.Err(); err != nil || i != len(want) {
		t.Fatalf("%d events (%v), want %d", i, err, len(want))
	}
}

// TestOutboxPositionsHaveNoLateGaps: while many orders record at once, a reader following
// the outbox by position (as the dispatcher and GET /v1/events do) never misses an event:
// no position smaller than one already seen commits later.
func TestOutboxPositionsHaveNoLateGaps(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newStore(t)
	var start int64
	if err := db.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM event_outbox`).Scan(&start); err != nil {
		t.Fatal(err)
	}
	prefix := uniqueID("GAP")
	const writers, each = 6, 15
	seen := map[int64]bool{}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		cursor := start
		for ctx.Err() == nil {
			rows, err := db.Query(ctx, `SELECT position FROM event_outbox WHERE position > $1 ORDER BY position LIMIT 50`, cursor)
			if err != nil {
				return
			}
			for rows.Next() {
				var p int64
				_ = rows.Scan(&p)
				seen[p] = true
				cursor = p
			}
			rows.Close()
		}
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			id := prefix + "-" + string(rune('a'+w))
			for i := 1; i <= each; i++ {
				r := Record{WorkflowID: "order-" + id, Fingerprint: "fp", FirstSeq: i, At: time.Now().UTC(),
					View: view(id, order.PhaseProvisioning), Steps: []order.Step{{Event: order.StepInstancePending}}}
				if err := s.Record(context.Background(), r); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	time.Sleep(200 * time.Millisecond) // the reader's last pass
	cancel()
	<-readerDone
	rows, err := db.Query(context.Background(), `SELECT position FROM event_outbox WHERE order_id LIKE $1 || '-%'`, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var p int64
		_ = rows.Scan(&p)
		n++
		if !seen[p] {
			t.Errorf("the reader skipped position %d", p)
		}
	}
	if n != writers*each {
		t.Errorf("%d events, want %d", n, writers*each)
	}
}

// BenchmarkRecordWithOutbox measures Record transactions (read model, audit line and
// outbox event) from parallel writers, all of which pass the outbox lock: the ceiling the
// lock puts on transitions per second.
func BenchmarkRecordWithOutbox(b *testing.B) {
	s := &Store{DB: db}
	prefix := uniqueID("BR")
	var n atomic.Int64
	b.SetParallelism(4)
	began := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		id := prefix + "-" + strconv.FormatInt(n.Add(1), 10)
		for seq := 1; pb.Next(); seq++ {
			r := Record{WorkflowID: "order-" + id, Fingerprint: "fp", FirstSeq: seq, At: time.Now().UTC(),
				View: view(id, order.PhaseProvisioning), Steps: []order.Step{{Event: order.StepInstancePending}}}
			if err := s.Record(context.Background(), r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "transitions/s")
}
