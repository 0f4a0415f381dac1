package api

import (
	"fmt"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/ratelimit"
)

// limiters are the API's rate limits (config RATE_LIMIT_*); a nil limiter is off.
type limiters struct {
	token  *ratelimit.Keyed // per bearer token
	actor  *ratelimit.Keyed // per user a web token acts for
	seller *ratelimit.Keyed // per seller on the seller open API
	// refused counts 429s by the limit that refused (token, actor, seller): a bounded set.
	refused *prometheus.CounterVec
}

func newLimiters(cfg *config.Config, reg prometheus.Registerer) limiters {
	keyed := func(r config.Rate) *ratelimit.Keyed {
		if r.Off() {
			return nil
		}
		return ratelimit.New(r.PerSecond, r.Burst, 0)
	}
	refused := registerCounterVec(reg, prometheus.CounterOpts{
		Name: "api_rate_limited_total",
		Help: "Requests refused with 429, by the limit that refused them (token, actor, seller).",
	}, []string{"limit"})
	for _, l := range []string{"token", "actor", "seller"} { // present at zero, for rate() and alerts
		refused.WithLabelValues(l)
	}
	return limiters{
		token:   keyed(cfg.RateLimitToken),
		actor:   keyed(cfg.RateLimitActor),
		seller:  keyed(cfg.RateLimitSellerAPI),
		refused: refused,
	}
}

// limitCaller applies the per-user limit of a web token's user first (so one buyer or
// seller over their limit is refused before using up any of the web tier's), then the
// token's own limit.
func (s *server) limitCaller(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		cl := callerOf(c)
		if cl.Role == config.RoleWeb && s.limits.actor != nil {
			if ok, wait := s.limits.actor.Allow(cl.key()); !ok {
				return s.rateLimited("actor", wait, fmt.Sprintf("too many requests for %s %s", cl.Kind, cl.ID))
			}
		}
		if s.limits.token != nil {
			if ok, wait := s.limits.token.Allow(cl.TokenID); !ok {
				return s.rateLimited("token", wait, "too many requests for this token")
			}
		}
		return next(c)
	}
}

// limitSeller applies the per-seller limit of the seller open API (after the signature
// checked, so nobody can use up a seller's limit by claiming to be it).
func (s *server) limitSeller(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.limits.seller != nil {
			if ok, wait := s.limits.seller.Allow(callerOf(c).ID); !ok {
				return s.rateLimited("seller", wait, "too many requests from this seller")
			}
		}
		return next(c)
	}
}

func (s *server) rateLimited(limit string, wait time.Duration, detail string) *Problem {
	s.limits.refused.WithLabelValues(limit).Inc()
	p := newProblem(429, CodeRateLimited, detail+"; retry after Retry-After seconds")
	p.retryAfter = wait
	return p
}
