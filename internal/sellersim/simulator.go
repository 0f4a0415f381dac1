// Package sellersim is the seller simulator: an in-memory seller that implements the
// production endpoint of seller-protocol.md for any number of sellers, so the order
// workflows can be developed, demonstrated and tested against real HTTP without a real
// seller. It verifies request signatures, signs its answers, honours the idempotency the
// protocol demands of sellers, and can be told through a small admin API to answer
// asynchronously, slowly, wrongly, or to lose its answers.
//
// The protocol endpoint of seller S is POST /sellers/S/produce (ProducePath): a product
// sold by S is registered in the catalogue with that URL as its production endpoint.
//
// Admin API (JSON, no signature, meant for tests and demos only):
//
//	PUT  /admin/sellers/{sellerId}            {"accessKey": "...", "signResponses": true}
//	PUT  /admin/sellers/{sellerId}/behaviour  {"mode": "sync"|"async", "asyncDelayMs": 0,
//	                                           "latencyMs": 0, "failNext": {"count": 1,
//	                                           "resultCode": "000005", "httpStatus": 502},
//	                                           "loseNext": 1, "license": "answer"|"query"|"callback",
//	                                           "licenseDelayMs": 0}
//	GET  /admin/sellers/{sellerId}/instances?orderId=
//	GET  /admin/sellers/{sellerId}/stats
//	GET  /admin/sellers/{sellerId}/calls?instanceId=     (every request received, oldest first)
//	POST /admin/reset
//	GET  /healthz
package sellersim

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// SignatureWindow is how far a request's timestamp may be from the simulator's clock, and
// so how long a nonce must be remembered to refuse its replay.
const SignatureWindow = 60 * time.Second

// DefaultAsyncDelay is used when Options.DefaultAsyncDelay is zero: long enough to see a
// 000004 and a poll in a demo, short enough not to bore anyone.
const DefaultAsyncDelay = 2 * time.Second

// Options configures New. Only Sellers matters in production use; the rest exists for
// tests.
type Options struct {
	Logger            *slog.Logger      // nil = discard
	Sellers           map[string]string // sellerId -> accessKey, known from the start
	Now               func() time.Time  // nil = time.Now; the clock for signatures and readiness
	DefaultAsyncDelay time.Duration     // how long an async instance takes; 0 = DefaultAsyncDelay
	// CallbackURL is the marketplace's base URL, where licence sellers send their licences
	// (POST /v1/seller-api/licenses/{orderId}); "" = no callbacks.
	CallbackURL string
}

// Simulator is the http.Handler serving the protocol and admin endpoints. All state is
// in memory behind one mutex: the simulator is a test double, clarity beats throughput.
type Simulator struct {
	log         *slog.Logger
	now         func() time.Time
	asyncDelay  time.Duration
	initial     map[string]string
	mux         *http.ServeMux
	callbackURL string
	client      *http.Client

	mu      sync.Mutex
	sellers map[string]*seller
}

// New builds a Simulator knowing opts.Sellers, each answering synchronously and signing
// its answers.
func New(opts Options) *Simulator {
	s := &Simulator{
		log:         opts.Logger,
		now:         opts.Now,
		asyncDelay:  opts.DefaultAsyncDelay,
		initial:     map[string]string{},
		mux:         http.NewServeMux(),
		callbackURL: strings.TrimRight(opts.CallbackURL, "/"),
		client:      &http.Client{Timeout: 10 * time.Second},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.asyncDelay <= 0 {
		s.asyncDelay = DefaultAsyncDelay
	}
	for id, key := range opts.Sellers {
		s.initial[id] = key
	}
	s.resetLocked()

	s.mux.HandleFunc("POST /sellers/{sellerId}/produce", s.handleProduce)
	s.mux.HandleFunc("PUT /admin/sellers/{sellerId}", s.handlePutSeller)
	s.mux.HandleFunc("PUT /admin/sellers/{sellerId}/behaviour", s.handlePutBehaviour)
	s.mux.HandleFunc("GET /admin/sellers/{sellerId}/instances", s.handleInstances)
	s.mux.HandleFunc("GET /admin/sellers/{sellerId}/stats", s.handleStats)
	s.mux.HandleFunc("GET /admin/sellers/{sellerId}/calls", s.handleCalls)
	s.mux.HandleFunc("POST /admin/reset", s.handleReset)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return s
}

// SetCallbackURL sets the marketplace's base URL for licence callbacks (when it is known
// only after the simulator, as in tests).
func (s *Simulator) SetCallbackURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.callbackURL = strings.TrimRight(u, "/")
}

// ServeHTTP routes a request to the protocol or admin handlers.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// ProducePath is the path of a seller's production endpoint; prefix it with the
// simulator's base URL to get the endpoint to register for the seller's products.
func ProducePath(sellerID string) string {
	return "/sellers/" + url.PathEscape(sellerID) + "/produce"
}

// resetLocked forgets everything and goes back to the sellers New was given.
func (s *Simulator) resetLocked() {
	s.sellers = make(map[string]*seller, len(s.initial))
	for id, key := range s.initial {
		s.sellers[id] = newSeller(key, s.asyncDelay)
	}
}
