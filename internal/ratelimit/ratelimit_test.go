package ratelimit

import (
	"fmt"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/testkit"
)

func newAt(perSecond float64, burst, maxKeys int) (*Keyed, *testkit.Clock) {
	c := testkit.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	k := New(perSecond, burst, maxKeys)
	k.now = c.Now
	return k, c
}

func TestBurstThenRate(t *testing.T) {
	k, c := newAt(2, 3, 0)
	for i := range 3 {
		if ok, _ := k.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, retry := k.Allow("a")
	if ok || retry <= 0 || retry > 500*time.Millisecond {
		t.Fatalf("fourth request: ok %v, retry after %v; want refused, about 500ms", ok, retry)
	}
	if ok, _ := k.Allow("b"); !ok {
		t.Fatal("another key is limited by the first one's use")
	}
	c.Advance(retry)
	if ok, _ := k.Allow("a"); !ok {
		t.Fatal("refused after waiting Retry-After")
	}
}

func TestKeysAreBounded(t *testing.T) {
	k, c := newAt(1, 1, 10)
	for i := range 10 {
		k.Allow(fmt.Sprint("k", i))
	}
	// The eleventh key shares the overflow bucket with every later one.
	if ok, _ := k.Allow("new-1"); !ok {
		t.Fatal("the overflow bucket refused its first request")
	}
	if ok, _ := k.Allow("new-2"); ok {
		t.Fatal("a flood of new keys is not limited as one")
	}
	if k.Len() != 10 {
		t.Fatalf("%d buckets held, want the bound 10", k.Len())
	}
	// Once the old buckets are full again they are dropped and new keys get their own.
	c.Advance(time.Minute)
	if ok, _ := k.Allow("new-3"); !ok {
		t.Fatal("a new key is refused after the old buckets refilled")
	}
	if k.Len() != 1 {
		t.Fatalf("%d buckets after the sweep, want 1", k.Len())
	}
}
