package sellersim

import (
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

// chaos is random fault injection for a fault soak: where failNext and loseNext hit the
// next N calls, chaos hits a share of all calls, chosen at random, for as long as it is
// set. Its JSON form is the admin API's ("chaos" in PUT .../behaviour); a PUT replaces it
// wholesale, and all zero is off.
type chaos struct {
	// FailPercent of authenticated calls (any activity) fail without doing any work, with
	// one of chaosFailures chosen uniformly: all retryable, so a correct marketplace
	// retries them and still ends with every order served.
	FailPercent int `json:"failPercent"`
	// LosePercent of authenticated calls do the work but drop the answer, as loseNext does.
	LosePercent int `json:"losePercent"`
	// LatencyMaxMs adds a uniformly random 0..LatencyMaxMs wait to every call, on top of
	// latencyMs.
	LatencyMaxMs int64 `json:"latencyMaxMs"`
	// RefusePercent of orders have newInstance refused with 000002, the protocol's
	// non-retryable refusal, decided by Refuses from the orderId so that retries, other
	// processes and the soak driver all agree which orders fail.
	RefusePercent int `json:"refusePercent"`
	// GonePercent of releaseInstance calls on an existing instance release it and answer
	// 000003, which the marketplace must treat as done.
	GonePercent int `json:"gonePercent"`
	// Seed seeds the random source so a run can be repeated; 0 means seeded from the
	// clock, and the seed chosen is then shown in the behaviour answer.
	Seed int64 `json:"seed"`
}

// Bounds of the chaos fields.
const (
	maxPercent      = 100
	maxChaosLatency = 120_000 // ms, like latencyMs
)

// on reports whether this chaos injects anything; the seed alone does not.
func (c chaos) on() bool {
	return c.FailPercent != 0 || c.LosePercent != 0 || c.LatencyMaxMs != 0 || c.RefusePercent != 0 || c.GonePercent != 0
}

// validate lists every problem of c, for behaviourPatch.validate.
func (c chaos) validate() []error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int
	}{
		{"failPercent", c.FailPercent},
		{"losePercent", c.LosePercent},
		{"refusePercent", c.RefusePercent},
		{"gonePercent", c.GonePercent},
	} {
		if f.v < 0 || f.v > maxPercent {
			errs = append(errs, errors.New("chaos."+f.name+" must be 0-100"))
		}
	}
	if c.LatencyMaxMs < 0 || c.LatencyMaxMs > maxChaosLatency {
		errs = append(errs, errors.New("chaos.latencyMaxMs must be 0-120000"))
	}
	return errs
}

// chaosUnknownCode is the code of the "unknown result" chaos failure: not in the
// protocol's table, so the marketplace must treat it like 000005.
const chaosUnknownCode = "000099"

// chaosFailure is one way a chaos fail answers: an HTTP status and the body's result code.
type chaosFailure struct {
	status int
	code   string
}

// statKey is the stats outcome of this failure: chaos:<code> for an HTTP 200 answer,
// chaos:http:<status> otherwise (the body then carries 000005).
func (f chaosFailure) statKey() string {
	if f.status != http.StatusOK {
		return "chaos:http:" + strconv.Itoa(f.status)
	}
	return "chaos:" + f.code
}

// chaosFailures are the failures a chaos fail picks from, uniformly. Every one is
// retryable in the protocol, so chaos fail never decides an order's fate: that is what
// refusePercent is for.
var chaosFailures = [...]chaosFailure{
	{http.StatusOK, sellerapi.CodeInternalError},
	{http.StatusOK, sellerapi.CodeAuthFailed}, // injected: not counted in badSignatures
	{http.StatusOK, chaosUnknownCode},
	{http.StatusBadGateway, sellerapi.CodeInternalError},
	{http.StatusServiceUnavailable, sellerapi.CodeInternalError},
}

// Refuses reports whether a seller with chaos refusePercent percent refuses the order
// orderID: FNV-1a 32 of the orderId, mod 100, is below percent. It is exported, and a pure
// function of its arguments, so that a soak driver knows in advance which orders must fail
// and every retry and every simulator process refuses the same ones. An order refused at
// some percent is refused at every higher one.
func Refuses(orderID string, percent int) bool {
	if percent <= 0 {
		return false
	}
	if percent >= maxPercent {
		return true
	}
	h := fnv.New32a()
	h.Write([]byte(orderID))
	return h.Sum32()%maxPercent < uint32(percent)
}

// pcgStream is the PCG stream (its second seed word): any fixed value will do, it only has
// to be the same in every process for a seed to give the same sequence.
const pcgStream = 0x9e3779b97f4a7c15

// newChaosRand is the random source for a seed.
func newChaosRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), pcgStream))
}

// clockSeed is a seed for a chaos given without one; never 0, which means "none given".
func clockSeed() int64 {
	if s := time.Now().UnixNano(); s != 0 {
		return s
	}
	return 1
}

// chance draws whether an event of probability percent/100 happens. It draws nothing when
// percent is 0, so a kind of chaos that is off leaves the others' sequence as it was. The
// caller holds s.mu.
func (sel *seller) chance(percent int) bool {
	return percent > 0 && sel.rng.IntN(maxPercent) < percent
}

// chaosLatency draws the extra wait of one call. The caller holds s.mu.
func (sel *seller) chaosLatency() time.Duration {
	m := sel.beh.Chaos.LatencyMaxMs
	if m <= 0 {
		return 0
	}
	return time.Duration(sel.rng.Int64N(m+1)) * time.Millisecond
}

// setChaos replaces the seller's chaos and reseeds its random source, so that the same
// chaos with the same seed replays the same sequence from here. The caller holds s.mu.
func (sel *seller) setChaos(c chaos) {
	if c.Seed == 0 && c.on() {
		c.Seed = clockSeed()
	}
	sel.beh.Chaos = c
	sel.rng = newChaosRand(c.Seed)
}
