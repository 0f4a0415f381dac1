package testkit

import (
	"sync"
	"time"
)

// Clock is a manual clock that tests move by hand, safe to read from server goroutines while
// a test advances it. Code under test takes its Now method as its time source, so a test
// decides exactly when a window, a nonce or a rate bucket runs out.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock is a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
