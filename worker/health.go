package worker

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
)

// Probes answers /healthz and /readyz on the metrics listener, so that a worker-only
// process (ORDERS_ROLES=worker, which has no API port) can be probed by an orchestrator:
// /healthz says the process serves HTTP; /readyz that the worker reaches PostgreSQL and the
// Temporal frontend, checked at most every CacheFor (so probes never load either), and
// fails from the moment shutdown begins.
type Probes struct {
	DB       *pgxpool.Pool
	Temporal client.Client
	// CacheFor is how long a readiness result is reused (default 2 s).
	CacheFor time.Duration

	draining atomic.Bool
	mu       sync.Mutex
	checked  time.Time
	err      error
}

// Drain makes /readyz fail from now on.
func (p *Probes) Drain() { p.draining.Store(true) }

// Register adds the two routes to mux.
func (p *Probes) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := p.ready(r.Context()); err != nil {
			writeStatus(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		writeStatus(w, http.StatusOK, "ready")
	})
}

type probeError string

func (e probeError) Error() string { return string(e) }

func (p *Probes) ready(ctx context.Context) error {
	if p.draining.Load() {
		return probeError("shutting down")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	cacheFor := p.CacheFor
	if cacheFor <= 0 {
		cacheFor = 2 * time.Second
	}
	if time.Since(p.checked) < cacheFor {
		return p.err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	// The causes are named, never the drivers' messages: they may carry addresses or users.
	p.err = nil
	if p.DB == nil || p.DB.Ping(ctx) != nil {
		p.err = probeError("PostgreSQL unreachable")
	} else if p.Temporal == nil {
		p.err = probeError("no Temporal client")
	} else if _, err := p.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		p.err = probeError("Temporal unreachable")
	}
	p.checked = time.Now()
	return p.err
}

func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(status + "\n"))
}
