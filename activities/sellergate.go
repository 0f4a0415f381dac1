package activities

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.temporal.io/sdk/temporal"
	"golang.org/x/time/rate"
)

// SellerGates pace the calls to each seller: at most a number of calls per second and a
// number at once, per seller. A customer with a thousand pay-per-use orders frozen at once
// therefore reaches its sellers as a steady trickle, and a seller that answers slowly ties
// up only its own slots, never another seller's.
//
// With a SharedLimiter (Share; what the worker runs) the limits hold for all worker
// processes together, and are the ones ops set through the API, else the policy's
// seller.perSeller. Without one, the limits are the policy's, per worker process
// (golang.org/x/time/rate, the Go team's limiter, and a semaphore): run N workers and a
// seller may see N times the rate. That rate is paced 10% under the limit with no burst,
// so that the seller, seeing the calls a little later and a little closer together than
// they left, still never sees more than its limit within any second.
type SellerGates struct {
	limit func(sellerID string) (perSecond float64, concurrency int)
	// maxWait bounds how long one attempt waits for its turn; beyond it the attempt ends as
	// SellerBusy (our side: never counted against the seller) and retries shortly.
	maxWait time.Duration

	mu    sync.Mutex
	gates map[string]*sellerGate
	// shared, when set, replaces the per-process limits (Share).
	shared *SharedLimiter
}

// Share makes the gates keep to l's limits, shared by every worker process, in place of
// the per-process ones. It returns g.
func (g *SellerGates) Share(l *SharedLimiter) *SellerGates {
	g.shared = l
	return g
}

type sellerGate struct {
	limiter *rate.Limiter
	slots   chan struct{}
}

// defaultGateWait is how long an attempt waits for its turn at most.
const defaultGateWait = 20 * time.Second

// ErrTypeSellerBusy: the attempt did not get its turn at the seller within maxWait.
const ErrTypeSellerBusy = "SellerBusy"

// NewSellerGates returns gates allowing perSecond calls a second and concurrency at once to
// each seller; perSecond <= 0 or concurrency <= 0 means no limit of that kind.
func NewSellerGates(perSecond float64, concurrency int) *SellerGates {
	return NewSellerGatesFunc(func(string) (float64, int) { return perSecond, concurrency })
}

// NewSellerGatesFunc returns gates whose limits come from limit, asked once per seller (the
// policy's per-seller overrides).
func NewSellerGatesFunc(limit func(sellerID string) (perSecond float64, concurrency int)) *SellerGates {
	return &SellerGates{limit: limit, maxWait: defaultGateWait, gates: map[string]*sellerGate{}}
}

func (g *SellerGates) gate(sellerID string) *sellerGate {
	g.mu.Lock()
	defer g.mu.Unlock()
	sg := g.gates[sellerID]
	if sg == nil {
		sg = &sellerGate{}
		perSecond, concurrency := g.limit(sellerID)
		if perSecond > 0 {
			sg.limiter = rate.NewLimiter(rate.Limit(perSecond*0.9), 1)
		}
		if concurrency > 0 {
			sg.slots = make(chan struct{}, concurrency)
		}
		g.gates[sellerID] = sg
	}
	return sg
}

// Enter waits for the seller's turn: a free slot, then a token. It returns the function
// that frees the slot, or a retryable SellerBusy error (with a short next-retry delay) when
// the turn does not come within maxWait or the context's deadline.
func (g *SellerGates) Enter(ctx context.Context, sellerID string) (func(), error) {
	if g == nil {
		return func() {}, nil
	}
	sg := g.gate(sellerID)
	wait := g.maxWait
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d)/2)
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if g.shared != nil {
		leave, err := g.shared.Enter(wctx, sellerID)
		if err != nil {
			if wctx.Err() == nil {
				// PostgreSQL failed us: our fault, retried soon like a busy seller.
				slog.Default().Warn("shared seller limiter", "seller_id", sellerID, "error", err)
			}
			return nil, busy(sellerID)
		}
		return leave, nil
	}
	leave := func() {}
	if sg.slots != nil {
		select {
		case sg.slots <- struct{}{}:
			leave = func() { <-sg.slots }
		case <-wctx.Done():
			return nil, busy(sellerID)
		}
	}
	if sg.limiter != nil {
		if err := sg.limiter.Wait(wctx); err != nil {
			leave()
			return nil, busy(sellerID)
		}
	}
	return leave, nil
}

func busy(sellerID string) error {
	return temporal.NewApplicationErrorWithOptions("seller "+sellerID+" is at its call limit: this attempt waits for another turn",
		ErrTypeSellerBusy, temporal.ApplicationErrorOptions{NextRetryDelay: time.Second + rand.N(2*time.Second)})
}
