package sellersim

import (
	"math/rand/v2"
	"time"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

// Modes of answering newInstance.
const (
	modeSync  = "sync"
	modeAsync = "async"
)

// Instance states as the admin API shows them.
const (
	statusActive   = "active"
	statusFrozen   = "frozen"
	statusReleased = "released"
)

// Ways a licence seller hands over the licences it produces (seller-protocol.md).
const (
	licenseNone     = ""         // not a licence seller
	licenseAnswer   = "answer"   // in newInstance's answer
	licenseQuery    = "query"    // in queryInstance's info
	licenseCallback = "callback" // later, through the marketplace's signed licence call
)

// behaviour is what a seller has been told to do; its JSON form is the admin API's.
type behaviour struct {
	Mode         string   `json:"mode"`
	AsyncDelayMs int64    `json:"asyncDelayMs"`
	LatencyMs    int64    `json:"latencyMs"`
	FailNext     failNext `json:"failNext"`
	LoseNext     int      `json:"loseNext"`
	// License says how this seller hands over licences (answer, query, callback; "" for
	// none); LicenseDelayMs is how long after newInstance the callback comes.
	License        string `json:"license"`
	LicenseDelayMs int64  `json:"licenseDelayMs"`
	// Chaos injects failures, lost answers, refusals and latency for a share of calls at
	// random, for fault soaks (chaos.go).
	Chaos chaos `json:"chaos"`
	// ChangeCheck decides which changeInstanceCheck targets are refused (changes.go).
	ChangeCheck changeCheck `json:"changeCheck"`
	// NonConformance names the protocol rules this seller breaks (nonconformance.go), for
	// the seller conformance checker's tests; empty for a conforming seller.
	NonConformance []string `json:"nonConformance,omitempty"`
}

// failNext makes the next Count authenticated calls fail without doing any work, with
// HTTPStatus (0 = 200) and a body carrying ResultCode ("" = 000005).
type failNext struct {
	Count      int    `json:"count"`
	ResultCode string `json:"resultCode,omitempty"`
	HTTPStatus int    `json:"httpStatus,omitempty"`
}

// instance is one produced instance; its JSON form is the admin API's.
type instance struct {
	InstanceID  string `json:"instanceId"`
	OrderID     string `json:"orderId"`
	OrderLineID string `json:"orderLineId"`
	Status      string `json:"status"`
	Ready       bool   `json:"ready"`
	ExpireTime  string `json:"expireTime"`
	CreateCalls int    `json:"createCalls"`
	// The licence this seller produced for the order line (the same on every resend),
	// whether the callback delivered it, and whether the marketplace's view of the order
	// then showed the same licence (its SHA-256).
	License          string `json:"license,omitempty"`
	LicenseDelivered bool   `json:"licenseDelivered,omitempty"`
	LicenseChecked   bool   `json:"licenseChecked,omitempty"`
	LicenseStatus    int    `json:"licenseStatus,omitempty"`

	// What refreshes, upgrades, change checks and licence requests did (changes.go).
	instanceChanges

	readyAt  time.Time
	password string
	seq      int
	// saved is the JSON last committed to the store (store.go), nil if none or no store.
	saved []byte
}

// released instances no longer exist for query, refresh and status changes.
func (i *instance) gone() bool { return i.Status == statusReleased }

// orderKey is what newInstance is idempotent on; businessId is new on every request and
// deliberately not part of it.
type orderKey struct{ orderID, orderLineID string }

// seller is one simulated seller's key, behaviour and state.
type seller struct {
	accessKey     string
	signResponses bool
	beh           behaviour
	instances     map[string]*instance
	byOrder       map[orderKey]*instance
	nonces        nonceStore
	stats         map[sellerapi.Activity]map[string]int // activity -> outcome -> count
	// badSignatures counts requests authenticate refused (signature, timestamp, nonce), so
	// a soak can assert that every request the marketplace sent was validly signed;
	// injected 000001 answers are not counted.
	badSignatures int
	// rng is the source of chaos's random draws, reseeded whenever chaos is set.
	rng *rand.Rand
	seq int
	// calls logs every request this seller received, newest last (at most maxCallLog), for
	// tests and people to see what the marketplace asked, in which order, how fast.
	calls []callRecord
	// changes holds the orderNotify notifications received (changes.go).
	changes sellerChanges
	// db is what the store already holds of this seller (store.go); unused without one.
	db persisted
}

// maxCallLog bounds a seller's call log.
const maxCallLog = 10000

// callRecord is one request a seller received: when, which activity, about which instance
// or order, the status asked (FREEZE, UNFREEZE) or scene, and the result answered.
type callRecord struct {
	At         time.Time          `json:"at"`
	Activity   sellerapi.Activity `json:"activity"`
	InstanceID string             `json:"instanceId,omitempty"`
	OrderID    string             `json:"orderId,omitempty"`
	Status     string             `json:"status,omitempty"`
	ResultCode string             `json:"resultCode"`
}

// logCall appends to the call log, dropping the oldest beyond maxCallLog.
func (s *seller) logCall(c callRecord) {
	if len(s.calls) >= maxCallLog {
		s.calls = append(s.calls[:0], s.calls[len(s.calls)-maxCallLog+1:]...)
	}
	s.calls = append(s.calls, c)
}

func newSeller(accessKey string, asyncDelay time.Duration) *seller {
	return &seller{
		accessKey:     accessKey,
		signResponses: true,
		beh:           behaviour{Mode: modeSync, AsyncDelayMs: asyncDelay.Milliseconds()},
		instances:     map[string]*instance{},
		byOrder:       map[orderKey]*instance{},
		nonces:        nonceStore{seen: map[string]time.Time{}},
		stats:         map[sellerapi.Activity]map[string]int{},
		rng:           newChaosRand(clockSeed()),
	}
}

// count records one call's outcome for the stats endpoint.
func (s *seller) count(activity sellerapi.Activity, outcome string) {
	if activity == "" {
		activity = "unknown"
	}
	m := s.stats[activity]
	if m == nil {
		m = map[string]int{}
		s.stats[activity] = m
	}
	m[outcome]++
}
