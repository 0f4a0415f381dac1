// Package ratelimit keeps one token bucket (golang.org/x/time/rate, the Go team's limiter)
// per key, with bounded memory: callers choose the keys (an actor ID is whatever the web tier
// sends), so the set of buckets must not grow without bound.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxKeys bounds the buckets a Keyed limiter holds (about 100 bytes each).
const DefaultMaxKeys = 100_000

// Keyed is a set of token buckets of the same rate, one per key. Buckets that have been full
// for a while are dropped (a full bucket is what a new one would be, so nothing is lost);
// when MaxKeys buckets are in use and none can be dropped, new keys share one overflow
// bucket, so a flood of new keys is limited as one caller rather than growing memory.
type Keyed struct {
	limit   rate.Limit
	burst   int
	maxKeys int
	now     func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	overflow  *rate.Limiter
	lastSweep time.Time
}

type bucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

// New returns a limiter allowing perSecond requests per second per key with bursts of burst.
// maxKeys <= 0 means DefaultMaxKeys.
func New(perSecond float64, burst, maxKeys int) *Keyed {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Keyed{
		limit: rate.Limit(perSecond), burst: burst, maxKeys: maxKeys, now: time.Now,
		buckets:  map[string]*bucket{},
		overflow: rate.NewLimiter(rate.Limit(perSecond), burst),
	}
}

// Allow takes one token from key's bucket. When none is left it takes nothing and says how
// long until one will be.
func (k *Keyed) Allow(key string) (ok bool, retryAfter time.Duration) {
	now := k.now()
	k.mu.Lock()
	lim := k.bucketFor(key, now)
	k.mu.Unlock()
	return take(lim, now)
}

func take(lim *rate.Limiter, now time.Time) (bool, time.Duration) {
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Duration(math.MaxInt64)
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Len is the number of buckets held (for tests and metrics).
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}

// bucketFor returns key's limiter, creating it if there is room. Called with mu held.
func (k *Keyed) bucketFor(key string, now time.Time) *rate.Limiter {
	if b, ok := k.buckets[key]; ok {
		b.lastSeen = now
		return b.lim
	}
	if len(k.buckets) >= k.maxKeys {
		k.sweep(now)
		if len(k.buckets) >= k.maxKeys {
			return k.overflow
		}
	} else if now.Sub(k.lastSweep) > time.Minute {
		k.sweep(now)
	}
	b := &bucket{lim: rate.NewLimiter(k.limit, k.burst), lastSeen: now}
	k.buckets[key] = b
	return b.lim
}

// sweep drops buckets that are full again: not seen for longer than it takes to refill.
func (k *Keyed) sweep(now time.Time) {
	k.lastSweep = now
	refill := time.Duration(float64(k.burst)/float64(k.limit)*float64(time.Second)) + time.Second
	for key, b := range k.buckets {
		if now.Sub(b.lastSeen) > refill {
			delete(k.buckets, key)
		}
	}
}
