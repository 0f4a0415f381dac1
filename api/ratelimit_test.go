package api

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/cloudmarket/orders/internal/config"
)

// TestRateLimits: a web user over their own limit is refused before using up the web
// token's, others go on until the token's limit is reached, and other tokens are not
// affected. Each refusal is a 429 problem with Retry-After. The requests fail validation
// after the limit (limit=0), so no database is needed.
func TestRateLimits(t *testing.T) {
	h := newHarness(t, nil, func(c *config.Config) {
		c.RateLimitActor = config.Rate{PerSecond: 1, Burst: 2}
		c.RateLimitToken = config.Rate{PerSecond: 1, Burst: 5}
	})
	get := func(hdr map[string]string) *http.Response {
		rec := h.do(t, http.MethodGet, "/v1/orders?limit=0", "", hdr)
		return rec.Result()
	}
	wantLimited := func(res *http.Response) {
		t.Helper()
		if res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429", res.StatusCode)
		}
		if s, err := strconv.Atoi(res.Header.Get(headerRetryAfter)); err != nil || s < 1 {
			t.Fatalf("Retry-After = %q", res.Header.Get(headerRetryAfter))
		}
	}
	for range 2 {
		if res := get(buyer("greedy")); res.StatusCode != http.StatusBadRequest {
			t.Fatalf("within the burst: %d", res.StatusCode)
		}
	}
	for range 5 { // refused by the user's limit, without using the token's
		wantLimited(get(buyer("greedy")))
	}
	wantProblem(t, h.do(t, http.MethodGet, "/v1/orders?limit=0", "", buyer("greedy")), http.StatusTooManyRequests, CodeRateLimited, "")
	// The token has 3 of its 5 left: three other users get through, the next is refused.
	for _, who := range []string{"b1", "b2", "b3"} {
		if res := get(buyer(who)); res.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: %d, want the token's burst to last", who, res.StatusCode)
		}
	}
	wantLimited(get(seller("s1")))
	// Another token is not limited by the web token's use.
	if res := get(opsBy("alice")); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("ops: %d", res.StatusCode)
	}
	// Waiting Retry-After out is covered by internal/ratelimit's tests.
}
