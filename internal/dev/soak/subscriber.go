package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudmarket/orders/events"
)

// subscriberID and subscriberSecret are the soak's event subscriber, registered through
// the API as ops would.
const (
	subscriberID     = "soak-subscriber"
	subscriberSecret = "whsec-soak-0123456789abcdef"
)

// catchUpWithin bounds the wait for the subscriber to receive every event after the drive.
const catchUpWithin = 2 * time.Minute

// received is one delivery as the subscriber saw it.
type received struct {
	seq  int
	id   string
	body []byte
}

// subscriber is an order event webhook in the soak process: it verifies each delivery's
// signature, refuses 0.5% of them (503, so the dispatcher's retries run too), takes 0.5% but
// answers 503 (so the same event is delivered again, as after a crash), and keeps
// every accepted delivery per order in arrival order, for eventChecks.
type subscriber struct {
	srv *http.Server
	url string

	mu       sync.Mutex
	seen     int // deliveries validly signed, for the faults
	byOrder  map[string][]received
	badSigs  int
	badBody  int
	refused  int
	lost     int
	accepted int
}

// faultEvery spaces the subscriber's faults (see ServeHTTP).
const faultEvery = 200

// startSubscriber listens on a free loopback port.
func startSubscriber() (*subscriber, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("subscriber listener: %w", err)
	}
	s := &subscriber{url: "http://" + ln.Addr().String() + "/events", byOrder: map[string][]received{}}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *subscriber) stop() { _ = s.srv.Close() }

// ServeHTTP takes one delivery.
func (s *subscriber) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if events.Verify([]byte(subscriberSecret), r.Header.Get(events.SignatureHeader), body, time.Now(), 0) != nil {
		s.badSigs++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var env events.Envelope
	if err := json.Unmarshal(body, &env); err != nil || env.SpecVersion != events.SpecVersion ||
		env.ID != events.ID(env.OrderID, env.Seq) || r.Header.Get("Content-Type") != events.ContentType {
		s.badBody++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	// One delivery in every faultEvery is refused, another taken with its answer lost: a
	// share that exercises both paths in the short soak without making the long one wait
	// on backoff (each failure pauses this subscriber's stream for about a second).
	s.seen++
	switch s.seen % faultEvery {
	case 0: // refused: the dispatcher retries it
		s.refused++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case faultEvery / 2: // taken, but the answer is "lost": the dispatcher delivers it again
		s.lost++
		s.byOrder[env.OrderID] = append(s.byOrder[env.OrderID], received{seq: env.Seq, id: env.ID, body: body})
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	s.accepted++
	s.byOrder[env.OrderID] = append(s.byOrder[env.OrderID], received{seq: env.Seq, id: env.ID, body: body})
	w.WriteHeader(http.StatusNoContent)
}

// register registers the subscriber through the API (ops), for every event type.
func (s *subscriber) register(ctx context.Context, api *apiClient) error {
	return put(ctx, api, "/v1/subscribers/"+subscriberID, map[string]any{"url": s.url, "secret": subscriberSecret})
}

// waitCaughtUp waits until the API shows the subscriber with no lag.
func waitCaughtUp(ctx context.Context, api *apiClient) (lag int64, state string, err error) {
	deadline := time.Now().Add(catchUpWithin)
	for {
		a, err := api.call(ctx, ops, http.MethodGet, "/v1/subscribers", "", nil, nil)
		if err != nil {
			return -1, "", err
		}
		var page struct {
			Items []struct {
				SubscriberID string `json:"subscriberId"`
				State        string `json:"state"`
				LagEvents    int64  `json:"lagEvents"`
			} `json:"items"`
		}
		if err := a.decode(&page); err != nil {
			return -1, "", err
		}
		lag, state = -1, ""
		for _, it := range page.Items {
			if it.SubscriberID == subscriberID {
				lag, state = it.LagEvents, it.State
			}
		}
		if lag == 0 || time.Now().After(deadline) {
			return lag, state, nil
		}
		select {
		case <-ctx.Done():
			return lag, state, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// eventChecks compares what the subscriber received with the audit trails in PostgreSQL:
// every order's events arrived, in order (no event before the one it follows had arrived at
// least once), validly signed, and a repeated delivery carried the same id and bytes.
func eventChecks(ctx context.Context, st *stack, api *apiClient, sub *subscriber, byID map[string]*plan) ([]*check, error) {
	lag, state, err := waitCaughtUp(ctx, api)
	if err != nil {
		return nil, err
	}
	db, err := pgxpool.New(ctx, st.dbURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.Query(ctx, `SELECT order_id, max(seq) FROM order_events GROUP BY order_id`)
	if err != nil {
		return nil, err
	}
	trail := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		if byID[id] != nil {
			trail[id] = n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	sub.mu.Lock()
	defer sub.mu.Unlock()
	missing := &check{name: "order events not delivered to the subscriber"}
	ordered := &check{name: "order events delivered out of order"}
	signed := &check{name: "event deliveries not validly signed or not CloudEvents"}
	repeats := &check{name: "repeated event deliveries that differ"}
	delivered, redelivered := 0, 0
	for id, n := range trail {
		got := sub.byOrder[id]
		first := map[int][]byte{}
		highest := 0
		for _, r := range got {
			if r.seq > highest+1 {
				ordered.add(fmt.Sprintf("%s: seq %d arrived before seq %d", id, r.seq, highest+1))
			}
			highest = max(highest, r.seq)
			if prev, ok := first[r.seq]; ok {
				redelivered++
				if !bytes.Equal(prev, r.body) {
					repeats.add(fmt.Sprintf("%s: event %s delivered twice with different bodies", id, r.id))
				}
				continue
			}
			first[r.seq] = r.body
		}
		delivered += len(first)
		for seq := 1; seq <= n; seq++ {
			if _, ok := first[seq]; !ok {
				missing.add(fmt.Sprintf("%s: seq %d of %d never arrived", id, seq, n))
				break
			}
		}
	}
	if lag != 0 {
		missing.add(fmt.Sprintf("the subscriber is still %d positions behind (state %q) after %v", lag, state, catchUpWithin))
	}
	for range sub.badSigs {
		signed.add("a delivery failed signature verification")
	}
	for range sub.badBody {
		signed.add("a delivery that is not a well-formed CloudEvent of ours")
	}
	missing.detail = fmt.Sprintf("%d orders, %d events", len(trail), delivered)
	ordered.detail = fmt.Sprintf("%d deliveries accepted", sub.accepted)
	signed.detail = fmt.Sprintf("%d refused with 503, %d taken but answered 503", sub.refused, sub.lost)
	repeats.detail = fmt.Sprintf("%d redeliveries", redelivered)
	return []*check{missing, ordered, signed, repeats}, nil
}
