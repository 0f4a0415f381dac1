package activities

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// fakeSeller counts the calls it receives in each second of its own clock, and the most at
// once.
type fakeSeller struct {
	mu        sync.Mutex
	perSecond map[int64]int
	inFlight  atomic.Int32
	maxFlight atomic.Int32
}

func (f *fakeSeller) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxFlight.Load()
		if n <= m || f.maxFlight.CompareAndSwap(m, n) {
			break
		}
	}
	f.mu.Lock()
	f.perSecond[time.Now().Unix()]++
	f.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	w.WriteHeader(http.StatusOK)
}

// busiest is the most calls the seller saw within one second, and the total.
func (f *fakeSeller) busiest() (most, total int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.perSecond {
		most, total = max(most, n), total+n
	}
	return most, total
}

// hammer calls the seller through each gate from callers goroutines each, for d.
func hammer(t *testing.T, gates []*SellerGates, sellerID, url string, callers int, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for _, g := range gates {
		for range callers {
			wg.Go(func() {
				for ctx.Err() == nil {
					leave, err := g.Enter(ctx, sellerID)
					if err != nil {
						continue
					}
					if resp, err := http.Get(url); err == nil {
						resp.Body.Close()
					}
					leave()
				}
			})
		}
	}
	wg.Wait()
}

// TestSharedLimiterAcrossWorkers: two gates, as two worker processes, each with its own
// pool to one database, never put more than the seller's limit (set through the API
// columns, above the policy's) into any one second at a seller counting calls per second,
// nor more than its concurrency at once, while using the limit; per-process gates with the
// same limit (what there was before) let the seller see about twice it.
func TestSharedLimiterAcrossWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for seconds")
	}
	ctx := context.Background()
	const limit, concurrency = 5, 3
	sellerID := uniqueID("shared")
	if _, err := db.Exec(ctx, `INSERT INTO sellers (seller_id, name, endpoint, access_key, calls_per_second, call_concurrency)
		VALUES ($1, 'S', 'https://x', 'k', $2, $3)`, sellerID, limit, concurrency); err != nil {
		t.Fatal(err)
	}
	pool2, err := pgxpool.New(ctx, db.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer pool2.Close()
	policy := func(string) (float64, int) { return 100, 50 } // the API's limits win
	gates := []*SellerGates{
		NewSellerGatesFunc(policy).Share(NewSharedLimiter(db, policy)),
		NewSellerGatesFunc(policy).Share(NewSharedLimiter(pool2, policy)),
	}
	seller := &fakeSeller{perSecond: map[int64]int{}}
	srv := httptest.NewServer(seller)
	defer srv.Close()

	hammer(t, gates, sellerID, srv.URL, 6, 4200*time.Millisecond)
	most, total := seller.busiest()
	t.Logf("shared limit %d/s, concurrency %d: busiest second %d calls, %d calls in all, most at once %d",
		limit, concurrency, most, total, seller.maxFlight.Load())
	if most > limit {
		t.Errorf("the seller saw %d calls within one second, limit %d: %v", most, limit, seller.perSecond)
	}
	if got := seller.maxFlight.Load(); got > concurrency {
		t.Errorf("the seller saw %d calls at once, limit %d", got, concurrency)
	}
	if total < 3*limit {
		t.Errorf("only %d calls in 4 s: the limiter starves callers", total)
	}

	t.Run("per-process gates, as before", func(t *testing.T) {
		local := func(string) (float64, int) { return limit, concurrency }
		before := &fakeSeller{perSecond: map[int64]int{}}
		srv := httptest.NewServer(before)
		defer srv.Close()
		hammer(t, []*SellerGates{NewSellerGatesFunc(local), NewSellerGatesFunc(local)}, sellerID, srv.URL, 6, 3200*time.Millisecond)
		most, total := before.busiest()
		t.Logf("per-process limit %d/s in each of 2 gates: busiest second %d calls, %d in all, most at once %d",
			limit, most, total, before.maxFlight.Load())
	})
}

// TestSharedLimiterLimits: limits set through the API reach the limiter within Refresh;
// without them the policy's apply; a caller that cannot get a slot in time ends as busy.
func TestSharedLimiterLimits(t *testing.T) {
	ctx := context.Background()
	sellerID := uniqueID("limits")
	if _, err := db.Exec(ctx, `INSERT INTO sellers (seller_id, name, endpoint, access_key) VALUES ($1, 'S', 'https://x', 'k')`, sellerID); err != nil {
		t.Fatal(err)
	}
	l := NewSharedLimiter(db, func(string) (float64, int) { return 0.5, 1 })
	l.Refresh = 0
	for _, tt := range []struct {
		name      string
		perSecond *float64
		conc      *int
		rows      int
		window    time.Duration
		wantConc  int
	}{
		{"the policy's, below one a second", nil, nil, 1, 2*time.Second + l.Margin, 1},
		{"the API's", ptr(7.9), ptr(4), 7, time.Second + l.Margin, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := db.Exec(ctx, `UPDATE sellers SET calls_per_second = $2, call_concurrency = $3 WHERE seller_id = $1`,
				sellerID, tt.perSecond, tt.conc); err != nil {
				t.Fatal(err)
			}
			lim, err := l.limitsOf(ctx, sellerID)
			if err != nil || lim.rows != tt.rows || lim.window != tt.window || lim.conc != tt.wantConc {
				t.Fatalf("limits = %+v, %v", lim, err)
			}
		})
	}
	if _, err := db.Exec(ctx, `UPDATE sellers SET calls_per_second = 1000, call_concurrency = 1 WHERE seller_id = $1`, sellerID); err != nil {
		t.Fatal(err)
	}
	g := NewSellerGatesFunc(l.policy).Share(l)
	g.maxWait = 100 * time.Millisecond
	leave, err := g.Enter(ctx, sellerID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Enter(ctx, sellerID); err == nil {
		t.Fatal("a second call got the only slot")
	}
	leave()
	leave, err = g.Enter(ctx, sellerID)
	if err != nil {
		t.Fatalf("a freed slot is not reused: %v", err)
	}
	leave()

	// A worker that dies holding a slot (never leaves) frees it when its lease runs out.
	l.Lease = 300 * time.Millisecond
	if _, err := g.Enter(ctx, sellerID); err != nil {
		t.Fatal(err)
	}
	g.maxWait = 2 * time.Second
	start := time.Now()
	leave, err = g.Enter(ctx, sellerID)
	if err != nil {
		t.Fatalf("a dead holder's slot is not freed by its lease: %v", err)
	}
	leave()
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("the slot was taken after %v, before the lease ran out", waited)
	}
}

func ptr[T any](v T) *T { return &v }

// BenchmarkSharedLimiterEnter: the cost of one turn at a seller through the shared limiter
// (a lease, a rate row and the release: three statements), limits far above the load.
func BenchmarkSharedLimiterEnter(b *testing.B) {
	ctx := context.Background()
	sellerID := uniqueID("bench")
	if _, err := db.Exec(ctx, `INSERT INTO sellers (seller_id, name, endpoint, access_key, calls_per_second, call_concurrency)
		VALUES ($1, 'S', 'https://x', 'k', 10000, 1000)`, sellerID); err != nil {
		b.Fatal(err)
	}
	l := NewSharedLimiter(db, func(string) (float64, int) { return 10000, 1000 })
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			leave, err := l.Enter(ctx, sellerID)
			if err != nil {
				b.Fatal(err)
			}
			leave()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				leave, err := l.Enter(ctx, sellerID)
				if err != nil {
					b.Error(err)
					return
				}
				leave()
			}
		})
	})
}
