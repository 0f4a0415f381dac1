package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// proxyMaxBody is the largest request body the proxy buffers to send again to another API
// process; the API refuses far smaller bodies (API_MAX_BODY_BYTES), so nothing legitimate
// is cut.
const proxyMaxBody = 1 << 20

// proxyDownFor is how long a target that refused a connection is skipped before it is
// tried again (the active probe may bring it back sooner).
const proxyDownFor = 2 * time.Second

// Proxy is the one public port in front of several API processes, as a load balancer is in
// production: round robin over the targets that are up, with passive health (a target
// that refuses a connection is marked down and the request goes to the next one) and
// active health (each target's /readyz every second). A request is sent again to another
// target only when that is safe: the first attempt never reached a process (connection
// refused or reset before anything was written), or the method is idempotent, or the
// request carries an Idempotency-Key (the API replays the first answer to repeats).
//
// It is httputil.ReverseProxy (standard library) with a failover transport, rather than
// an own copy loop: headers, hop-by-hop handling, X-Forwarded-For and streaming stay the
// library's.
type Proxy struct {
	targets []*target
	next    atomic.Uint64
	rp      *httputil.ReverseProxy
	srv     *http.Server
	ln      net.Listener
	log     *slog.Logger
	cancel  context.CancelFunc
	probes  sync.WaitGroup
	// Failovers counts requests sent again to another target.
	Failovers atomic.Int64
}

type target struct {
	host      string // host:port
	downUntil atomic.Int64
}

func (t *target) up(now time.Time) bool { return now.UnixNano() >= t.downUntil.Load() }

// StartProxy listens on addr and forwards to the API processes at hosts.
func StartProxy(addr string, hosts []string, log *slog.Logger) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("API proxy: listen on %s: %w", addr, err)
	}
	p := &Proxy{ln: ln, log: log}
	for _, h := range hosts {
		p.targets = append(p.targets, &target{host: h})
	}
	base := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetXForwarded()
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = "api" // replaced per attempt by the transport
			r.Out.Host = r.In.Host
		},
		Transport: &failover{p: p, base: base},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Warn("API proxy: no API process answered", "method", r.Method, "path", r.URL.Path, "err", err)
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, `{"type":"about:blank","title":"no API process answered","status":502}`)
		},
	}
	p.srv = &http.Server{Handler: p.rp, ReadHeaderTimeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for _, t := range p.targets {
		p.probes.Go(func() { p.probe(ctx, t) })
	}
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("API proxy stopped", "err", err)
		}
	}()
	return p, nil
}

// Addr is the proxy's listen address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Close stops the proxy and its probes.
func (p *Proxy) Close() {
	p.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	p.probes.Wait()
}

// probe marks t down when its /readyz refuses the connection, or fails twice in a row
// (a single slow answer on a loaded machine is not an outage), and up again when it
// answers 200.
func (p *Proxy) probe(ctx context.Context, t *target) {
	hc := &http.Client{Timeout: 3 * time.Second}
	failed := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		err := httpReady(ctx, hc, "http://"+t.host+"/readyz")
		was := t.up(time.Now())
		if err != nil {
			failed++
		} else {
			failed = 0
		}
		if err != nil && (failed >= 2 || isConnRefused(err)) {
			t.downUntil.Store(time.Now().Add(proxyDownFor).UnixNano())
			if was && ctx.Err() == nil {
				p.log.Info("API proxy: target down", "target", t.host, "err", err)
			}
		} else if err == nil && !was {
			t.downUntil.Store(0)
			p.log.Info("API proxy: target up again", "target", t.host)
		}
	}
}

// order is the targets to try for one request: those up first, in round-robin order, then
// those marked down (a last resort beats a 502 when the marks are stale).
func (p *Proxy) order() []*target {
	n := len(p.targets)
	start := int(p.next.Add(1) % uint64(n))
	now := time.Now()
	var up, down []*target
	for i := range n {
		t := p.targets[(start+i)%n]
		if t.up(now) {
			up = append(up, t)
		} else {
			down = append(down, t)
		}
	}
	return append(up, down...)
}

type failover struct {
	p    *Proxy
	base http.RoundTripper
}

func (f *failover) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(req.Body, proxyMaxBody+1))
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		body = b
	}
	replayable := len(body) <= proxyMaxBody
	idempotent := req.Header.Get("Idempotency-Key") != ""
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		idempotent = true
	}
	var lastErr error
	for i, t := range f.p.order() {
		out := req.Clone(req.Context())
		out.URL.Host = t.host
		if body != nil {
			out.Body = io.NopCloser(bytes.NewReader(body))
			out.ContentLength = int64(len(body))
		}
		res, err := f.base.RoundTrip(out)
		if err == nil {
			return res, nil
		}
		lastErr = err
		neverSent := isConnRefused(err)
		if neverSent {
			t.downUntil.Store(time.Now().Add(proxyDownFor).UnixNano())
		}
		if req.Context().Err() != nil || !replayable || !(neverSent || idempotent) {
			return nil, err
		}
		if i+1 < len(f.p.targets) {
			f.p.Failovers.Add(1)
		}
	}
	return nil, lastErr
}

// isConnRefused reports an error of a connection that was never made: nothing of the
// request reached the process.
func isConnRefused(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
