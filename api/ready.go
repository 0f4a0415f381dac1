package api

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"go.temporal.io/sdk/client"
)

// readyCacheFor is how long a readiness answer is reused: probes from every load balancer
// and orchestrator, or a flood of them, cost one check a second at most.
const readyCacheFor = time.Second

// readiness caches the outcome of the dependency checks, and says when the process has
// begun to shut down (from then on it is not ready, whatever the dependencies say).
type readiness struct {
	draining atomic.Bool

	mu      sync.Mutex // held during a check, so concurrent probes share it
	checked time.Time
	err     *Problem
}

// readyz says whether requests can be served: not shutting down, PostgreSQL answers a ping
// and Temporal's frontend passes its health check. Orchestrators stop routing traffic while
// it fails.
func (s *server) readyz(c echo.Context) error {
	if s.ready.draining.Load() {
		return unavailable("the service", errors.New("shutting down"))
	}
	s.ready.mu.Lock()
	defer s.ready.mu.Unlock()
	if time.Since(s.ready.checked) >= readyCacheFor {
		s.ready.err = s.checkDependencies(c.Request().Context())
		s.ready.checked = time.Now()
	}
	if s.ready.err != nil {
		return s.ready.err
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

func (s *server) checkDependencies(ctx context.Context) *Problem {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if s.db == nil {
		return unavailable("PostgreSQL", errors.New("no database configured"))
	}
	if err := s.db.Ping(ctx); err != nil {
		return unavailable("PostgreSQL", err)
	}
	if s.tc == nil {
		return unavailable("Temporal", errors.New("no Temporal client configured"))
	}
	if _, err := s.tc.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return unavailable("Temporal", err)
	}
	return nil
}

// healthz says only that the process serves HTTP; orchestrators restart it when it fails.
func (s *server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}
