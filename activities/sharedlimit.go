package activities

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

// SharedLimiter keeps every worker process's calls to a seller within one limit, through
// PostgreSQL (migration 00012): the per-seller limits ops set (PUT /v1/sellers/{id}/limits),
// else the policy's. Without it, N workers would allow a seller N times its rate.
//
// Rate: the seller has one row per call a second allows (seller_rate_slots). A call takes
// the row used longest ago, and only if that use is at least a window old (1 s plus Margin);
// it stamps the row with PostgreSQL's clock as it takes it. Each row is therefore used at
// most once per window, and no window of time holds more calls than there are rows: a
// sliding-window guarantee, so the seller sees at most its limit within any second it
// counts, whatever its calendar, as long as the time between taking a row and the call
// reaching the seller varies by less than Margin. One clock (the database's) orders every
// worker's calls, so worker clocks do not matter.
//
// Concurrency: one row per call at once (seller_call_leases), leased until the call ends or
// the lease runs out (a worker that dies mid-call frees its slots after Lease).
//
// Why PostgreSQL rather than Temporal's task-queue rate limits: those limit activity starts
// per task queue, not calls per seller (a queue per seller would need a worker per seller,
// and our attempts include retries and polls), have no cross-worker concurrency limit, and
// cannot change without restarting the workers. Every seller call already writes
// seller_calls to PostgreSQL, so three short statements per call add no new dependency.
type SharedLimiter struct {
	db *pgxpool.Pool
	// policy gives the limits of a seller ops set none for.
	policy func(sellerID string) (perSecond float64, concurrency int)
	// Margin widens each rate window beyond a second: the jitter allowed between taking a
	// row and the call reaching the seller.
	Margin time.Duration
	// Lease bounds how long a call holds a concurrency slot: its wait for a rate row (at
	// most a gate's wait, 20 s) and the call itself (SELLER_TIMEOUT). A worker that dies
	// mid-call holds its slots that long.
	Lease time.Duration
	// Refresh is how long a seller's limits are cached in this process: a change through
	// the API reaches every worker within it.
	Refresh time.Duration

	mu     sync.Mutex
	limits map[string]sharedLimits
}

// sharedLimits is a seller's limits as the tables apply them.
type sharedLimits struct {
	rows   int           // rate rows: calls per window
	window time.Duration // 1 s (or 1/perSecond below one call a second) plus Margin
	conc   int           // concurrency rows
	at     time.Time     // read at
}

// NewSharedLimiter returns a limiter over db whose default limits come from policy.
func NewSharedLimiter(db *pgxpool.Pool, policy func(sellerID string) (perSecond float64, concurrency int)) *SharedLimiter {
	return &SharedLimiter{db: db, policy: policy, Margin: 100 * time.Millisecond, Lease: LeaseFor(0),
		Refresh: 5 * time.Second, limits: map[string]sharedLimits{}}
}

// LeaseFor is the lease a call needs whose seller calls time out after callTimeout (0: the
// protocol's default): the longest a gate waits for a turn, the call, and a margin.
func LeaseFor(callTimeout time.Duration) time.Duration {
	if callTimeout <= 0 {
		callTimeout = sellerapi.DefaultTimeout
	}
	return defaultGateWait + callTimeout + 5*time.Second
}

// limitsOf reads a seller's limits (cached for Refresh) and makes sure its rows exist.
func (l *SharedLimiter) limitsOf(ctx context.Context, sellerID string) (sharedLimits, error) {
	l.mu.Lock()
	lim, ok := l.limits[sellerID]
	l.mu.Unlock()
	if ok && time.Since(lim.at) < l.Refresh {
		return lim, nil
	}
	var perSecond *float64
	var conc *int
	err := l.db.QueryRow(ctx, `SELECT calls_per_second, call_concurrency FROM sellers WHERE seller_id = $1`, sellerID).
		Scan(&perSecond, &conc)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return lim, fmt.Errorf("read call limits of seller %s: %w", sellerID, err)
	}
	ps, c := l.policy(sellerID)
	if perSecond != nil && conc != nil {
		ps, c = *perSecond, *conc
	}
	lim = rateRows(ps, l.Margin)
	lim.conc, lim.at = c, time.Now()
	// Rows beyond the limit stay (a later raise reuses them); acquiring only looks at
	// slots below it.
	if _, err := l.db.Exec(ctx, `
		WITH r AS (INSERT INTO seller_rate_slots (seller_id, slot) SELECT $1, g FROM generate_series(0, $2 - 1) g
		           ON CONFLICT DO NOTHING)
		INSERT INTO seller_call_leases (seller_id, slot) SELECT $1, g FROM generate_series(0, $3 - 1) g
		ON CONFLICT DO NOTHING`, sellerID, lim.rows, max(lim.conc, 0)); err != nil {
		return lim, fmt.Errorf("prepare call limits of seller %s: %w", sellerID, err)
	}
	l.mu.Lock()
	l.limits[sellerID] = lim
	l.mu.Unlock()
	return lim, nil
}

// rateRows turns calls a second into rows and a window: n calls a second are n rows a
// second (a fraction rounded down, never above the limit); below one call a second, one
// row and a window of 1/perSecond.
func rateRows(perSecond float64, margin time.Duration) sharedLimits {
	switch {
	case perSecond <= 0:
		return sharedLimits{}
	case perSecond < 1:
		return sharedLimits{rows: 1, window: time.Duration(float64(time.Second)/perSecond) + margin}
	}
	return sharedLimits{rows: int(math.Floor(perSecond)), window: time.Second + margin}
}

// Enter waits for a concurrency slot and then a rate row of the seller, until ctx ends.
// It returns the function that frees the slot.
func (l *SharedLimiter) Enter(ctx context.Context, sellerID string) (func(), error) {
	lim, err := l.limitsOf(ctx, sellerID)
	if err != nil {
		return nil, err
	}
	leave := func() {}
	if lim.conc > 0 {
		if leave, err = l.lease(ctx, sellerID, lim); err != nil {
			return nil, err
		}
	}
	if lim.rows > 0 {
		if err := l.takeRate(ctx, sellerID, lim); err != nil {
			leave()
			return nil, err
		}
	}
	return leave, nil
}

// lease takes a free concurrency slot, polling while all are held.
func (l *SharedLimiter) lease(ctx context.Context, sellerID string, lim sharedLimits) (func(), error) {
	holder := uuid.New()
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var slot int
		err := l.db.QueryRow(ctx, `
			UPDATE seller_call_leases s SET lease_until = clock_timestamp() + $3 * interval '1 microsecond', holder = $4
			FROM (SELECT slot FROM seller_call_leases
			      WHERE seller_id = $1 AND slot < $2 AND lease_until < clock_timestamp()
			      ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED) p
			WHERE s.seller_id = $1 AND s.slot = p.slot
			RETURNING s.slot`, sellerID, lim.conc, l.Lease.Microseconds(), holder).Scan(&slot)
		if err == nil {
			return func() { l.release(sellerID, slot, holder) }, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("lease a call slot of seller %s: %w", sellerID, err)
		}
		if err := sleep(ctx, wait+rand.N(wait)); err != nil {
			return nil, err
		}
	}
}

// release frees a slot this holder leased; a failure leaves it to its lease's end.
func (l *SharedLimiter) release(sellerID string, slot int, holder uuid.UUID) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = l.db.Exec(ctx, `UPDATE seller_call_leases SET lease_until = '-infinity', holder = NULL
		WHERE seller_id = $1 AND slot = $2 AND holder = $3`, sellerID, slot, holder)
}

// takeRate takes a rate row whose last use is a window old, waiting until the oldest one
// will be.
func (l *SharedLimiter) takeRate(ctx context.Context, sellerID string, lim sharedLimits) error {
	window := lim.window.Microseconds()
	for {
		var slot int
		err := l.db.QueryRow(ctx, `
			UPDATE seller_rate_slots s SET used_at = clock_timestamp()
			FROM (SELECT slot FROM seller_rate_slots
			      WHERE seller_id = $1 AND slot < $2 AND used_at <= clock_timestamp() - $3 * interval '1 microsecond'
			      ORDER BY used_at LIMIT 1 FOR UPDATE SKIP LOCKED) p
			WHERE s.seller_id = $1 AND s.slot = p.slot
			RETURNING s.slot`, sellerID, lim.rows, window).Scan(&slot)
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("take a call of seller %s: %w", sellerID, err)
		}
		// Until the oldest use is a window old; a row held by another taker right now
		// frees within milliseconds.
		var secs float64
		if err := l.db.QueryRow(ctx, `SELECT coalesce(extract(epoch FROM
			    min(used_at) + $3 * interval '1 microsecond' - clock_timestamp()), 0)::float8
			FROM seller_rate_slots WHERE seller_id = $1 AND slot < $2`, sellerID, lim.rows, window).Scan(&secs); err != nil {
			return fmt.Errorf("read the call window of seller %s: %w", sellerID, err)
		}
		wait := min(max(time.Duration(secs*float64(time.Second)), 2*time.Millisecond), lim.window)
		if err := sleep(ctx, wait+rand.N(5*time.Millisecond)); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
