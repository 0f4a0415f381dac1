// Package sellersim is the seller simulator: an in-memory seller that implements the
// production endpoint of seller-protocol.md for any number of sellers, so the order
// workflows can be developed, demonstrated and tested against real HTTP without a real
// seller. It verifies request signatures, signs its answers, honours the idempotency the
// protocol demands of sellers, and can be told through a small admin API to answer
// asynchronously, slowly, wrongly, or to lose its answers: for the next N calls, or for a
// share of calls chosen at random ("chaos", for fault soaks).
//
// State is in memory unless Options.DatabaseURL is given to Open: then sellers (key,
// behaviour), instances (every field, as JSONB) and the nonces within the signature window
// are written through to PostgreSQL (schema sellersim) before each answer, and loaded at
// start, so a killed simulator restarted on the same database still serves the
// marketplace's existing orders and still refuses replayed nonces (store.go). Stats, the
// call log and orderNotify notifications stay in memory and start empty.
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
//	                                           "licenseDelayMs": 0,
//	                                           "chaos": {"failPercent": 0, "losePercent": 0,
//	                                           "latencyMaxMs": 0, "refusePercent": 0,
//	                                           "gonePercent": 0, "seed": 0},
//	                                           "changeCheck": {"refuseBelowQuantity": 0,
//	                                           "resultCode": "000102", "resultMsg": "..."},
//	                                           "nonConformance": ["slow", ...]}
//	GET  /admin/sellers/{sellerId}/instances?orderId=    (with productId, refreshes,
//	                                           upgrades, upgradeCalls, changeChecks,
//	                                           changeRefusals, asyncLicenses, licenseCalls)
//	GET  /admin/sellers/{sellerId}/notifications  [{"orderId", "orderLineId", "calls",
//	                                           "firstAt", "lastAt"}] (orderNotify received)
//	GET  /admin/sellers/{sellerId}/stats      {"sellerId", "calls": {activity: {outcome: n}},
//	                                           "badSignatures": n, "instances": n}
//	GET  /admin/stats                         {"sellers": {sellerId: {"calls", "badSignatures",
//	                                           "instances"}}}
//	GET  /admin/sellers/{sellerId}/calls?instanceId=     (every request received, oldest first)
//	POST /admin/reset
//	GET  /healthz
//
// Behaviour fields left out stay as they are; an object (failNext, chaos) replaces the
// previous one. Chaos, all zero by default (off), acts on a share of calls at random:
// failPercent of authenticated calls fail without doing the work with a retryable failure
// chosen uniformly (000005, 000001, 000099, or HTTP 502 or 503 with 000005); losePercent
// do the work and drop the answer; every call first waits 0..latencyMaxMs more;
// newInstance of the refusePercent of orders for which Refuses holds answers 000002 and
// makes nothing; gonePercent of releases of an existing instance release it and answer
// 000003. seed (0 = from the clock, then shown in the answer) makes a run repeatable.
// Authentication comes first, and failNext and loseNext win over chaos. Fault injection
// applies to every activity alike, the newer ones included.
//
// Besides the original five activities the simulator serves (changes.go): refreshInstance
// in every scene, recording each scene and causing order per instance (a productId, as
// RENEWAL_CHANGE sends, becomes the instance's product); upgradeInstance, applied once per
// orderId and listed per instance; changeInstanceCheck, feasible (000000) unless the
// target quantity is below changeCheck.refuseBelowQuantity, then refused with
// changeCheck.resultCode (default 000102; 000002 or 000100-000107) and resultMsg (default
// naming both quantities); orderNotify, idempotent per orderId+orderLineId and listed by
// GET .../notifications; getLicenseAsync, answered 000000 with a licence derived from the
// instance, eventId and deviceFingerprint, so a retried request gets the same licence.
//
// nonConformance lists protocol rules the seller breaks (unsignedResponses, badResultCode,
// newInstanceNotIdempotent, releaseNotIdempotent, asyncNeverReady, slow,
// acceptReplayedNonce, acceptStaleTimestamp, acceptWrongSignature; nonconformance.go), so
// that the seller conformance checker can be shown to catch each.
//
// Stats outcomes are the result code answered, "http:<status>" (failNext with a status),
// "chaos:<code>" and "chaos:http:<status>", "refused:000002", "gone:000003" and
// "lost:<code>" (an answer dropped after the work). badSignatures counts requests that
// failed authentication for real (injected 000001 answers are not counted).
package sellersim

import (
	"context"
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

// Options configures New and Open. Only Sellers and DatabaseURL matter in production use;
// the rest exists for tests.
type Options struct {
	Logger            *slog.Logger      // nil = discard
	Sellers           map[string]string // sellerId -> accessKey, known from the start
	Now               func() time.Time  // nil = time.Now; the clock for signatures and readiness
	DefaultAsyncDelay time.Duration     // how long an async instance takes; 0 = DefaultAsyncDelay
	// CallbackURL is the marketplace's base URL, where licence sellers send their licences
	// (POST /v1/seller-api/licenses/{orderId}); "" = no callbacks.
	CallbackURL string
	// DatabaseURL is a PostgreSQL database where the simulator keeps its sellers,
	// instances and recent nonces (schema sellersim, created at start), so that it can be
	// killed and restarted without the marketplace's orders losing their instances or
	// replayed nonces being accepted; see store.go for what is kept. "" = all in memory,
	// forgotten when the process ends. Needs Open.
	DatabaseURL string
}

// Simulator is the http.Handler serving the protocol and admin endpoints. All state is
// in memory behind one mutex: the simulator is a test double, clarity beats throughput.
// With a database (Options.DatabaseURL) the state is also written through to PostgreSQL
// under that mutex, before a request is answered.
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
	store   *store // nil: in memory only
}

// New builds an in-memory Simulator knowing opts.Sellers, each answering synchronously
// and signing its answers. It panics if opts.DatabaseURL is set, since connecting can
// fail: use Open for that.
func New(opts Options) *Simulator {
	if opts.DatabaseURL != "" {
		panic("sellersim: New cannot connect to a database; use Open")
	}
	s, _ := Open(context.Background(), opts) // without a database, Open cannot fail
	return s
}

// Open builds a Simulator like New and, when opts.DatabaseURL is set, connects to it,
// creates the simulator's tables unless they exist and loads the state a previous process
// left there, so that a restarted simulator goes on where the last one stopped. Call Close
// when done with it.
func Open(ctx context.Context, opts Options) (*Simulator, error) {
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
	if opts.DatabaseURL != "" {
		st, err := openStore(ctx, opts.DatabaseURL, s.log)
		if err != nil {
			return nil, err
		}
		s.store = st
	}
	s.resetLocked()
	if s.store != nil {
		if err := s.store.load(ctx, s.sellers, s.asyncDelay, s.now()); err != nil {
			s.store.pool.Close()
			return nil, err
		}
		s.logLoaded()
		s.resumeCallbacks()
	}

	s.mux.HandleFunc("POST /sellers/{sellerId}/produce", s.handleProduce)
	s.mux.HandleFunc("PUT /admin/sellers/{sellerId}", s.handlePutSeller)
	s.mux.HandleFunc("PUT /admin/sellers/{sellerId}/behaviour", s.handlePutBehaviour)
	s.mux.HandleFunc("GET /admin/sellers/{sellerId}/instances", s.handleInstances)
	s.mux.HandleFunc("GET /admin/sellers/{sellerId}/stats", s.handleStats)
	s.mux.HandleFunc("GET /admin/sellers/{sellerId}/calls", s.handleCalls)
	s.mux.HandleFunc("GET /admin/sellers/{sellerId}/notifications", s.handleNotifications)
	s.mux.HandleFunc("GET /admin/sellers/{sellerId}/license-codes", s.handleLicenseCodes)
	s.mux.HandleFunc("GET /admin/stats", s.handleAllStats)
	s.mux.HandleFunc("POST /admin/reset", s.handleReset)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return s, nil
}

// Close releases the database connections of a simulator made with a DatabaseURL; the
// simulator must not be used afterwards. Without a database it does nothing.
func (s *Simulator) Close() {
	if s.store != nil {
		s.store.pool.Close()
	}
}

// logLoaded says what a start found in the database, so a restart can be seen to have
// kept the state.
func (s *Simulator) logLoaded() {
	instances, nonces := 0, 0
	for _, sel := range s.sellers {
		instances += len(sel.instances)
		nonces += len(sel.nonces.seen)
	}
	s.log.Info("seller simulator state loaded from PostgreSQL", "sellers", len(s.sellers),
		"instances", instances, "nonces", nonces)
}

// resumeCallbacks sends again the licence callbacks a previous process had not finished
// (no answer recorded), since their goroutines died with it.
func (s *Simulator) resumeCallbacks() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sel := range s.sellers {
		if sel.beh.License != licenseCallback {
			continue
		}
		for _, inst := range sel.instances {
			if inst.License != "" && inst.LicenseStatus == 0 && !inst.gone() {
				s.deliverLater(sel, inst, 0)
			}
		}
	}
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
		s.sellers[id] = s.newSeller(key)
	}
}

// newSeller is a seller with the defaults, its nonces noted for the store when there is
// one.
func (s *Simulator) newSeller(accessKey string) *seller {
	sel := newSeller(accessKey, s.asyncDelay)
	sel.nonces.track = s.store != nil
	return sel
}
