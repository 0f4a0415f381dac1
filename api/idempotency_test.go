package api

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/cloudmarket/orders/internal/order"
)

// expectUpdates sets up n successful updates answering v; release (when not nil) holds each
// answer until it is closed. It returns the count of updates sent.
func expectUpdates(t *testing.T, h *harness, n int, v order.View, release chan struct{}) *atomic.Int32 {
	t.Helper()
	var sent atomic.Int32
	for range n {
		handle := mocks.NewWorkflowUpdateHandle(t)
		handle.On("Get", mock.Anything, mock.AnythingOfType("*order.View")).Run(func(args mock.Arguments) {
			if release != nil {
				<-release
			}
			*args.Get(1).(*order.View) = v
		}).Return(nil).Once()
		h.tc.On("UpdateWorkflow", mock.Anything, mock.Anything).Run(func(mock.Arguments) { sent.Add(1) }).Return(handle, nil).Once()
	}
	return &sent
}

func TestIdempotencyKeys(t *testing.T) {
	db := needDB(t)
	withKey := func(key string) map[string]string {
		return merge(opsBy("alice"), map[string]string{headerIdempotencyKey: key})
	}

	t.Run("the first answer outlives the workflow", func(t *testing.T) {
		h := newHarness(t, db)
		id := uid("o")
		seedOrder(t, db, viewOf(id, "c", "s", testNow), "fp")
		sent := expectUpdates(t, h, 1, viewOf(id, "c", "s", testNow), nil)
		first := h.do(t, http.MethodPost, "/v1/orders/"+id+"/retry", "", withKey("k-closed"))
		wantStatus(t, first, http.StatusOK)
		// Were the key sent to Temporal again, the mock (one update only) would fail the
		// test; the workflow may be long closed by now.
		for range 3 {
			again := h.do(t, http.MethodPost, "/v1/orders/"+id+"/retry", " {} ", withKey("k-closed"))
			wantStatus(t, again, http.StatusOK)
			if again.Body.String() != first.Body.String() || again.Header().Get(headerReplayed) != "true" {
				t.Fatalf("repeat answered %s", again.Body.String())
			}
		}
		if sent.Load() != 1 {
			t.Fatalf("%d updates for one key", sent.Load())
		}
	})

	t.Run("a key reused for another request", func(t *testing.T) {
		h := newHarness(t, db)
		id, other := uid("o"), uid("o")
		seedOrder(t, db, viewOf(id, "c", "s", testNow), "fp")
		seedOrder(t, db, viewOf(other, "c", "s", testNow), "fp")
		expectUpdates(t, h, 1, viewOf(id, "c", "s", testNow), nil)
		wantStatus(t, h.do(t, http.MethodPost, "/v1/orders/"+id+"/retry", "", withKey("k-reused")), http.StatusOK)
		wantProblem(t, h.do(t, http.MethodPost, "/v1/orders/"+other+"/retry", "", withKey("k-reused")),
			http.StatusConflict, CodeIdempotencyConflict, "")
		// The same key from another caller is another key.
		expectUpdates(t, h, 1, viewOf(id, "c", "s", testNow), nil)
		wantStatus(t, h.do(t, http.MethodPost, "/v1/orders/"+id+"/retry", "", merge(opsBy("bob"), map[string]string{headerIdempotencyKey: "k-reused"})), http.StatusOK)
	})

	t.Run("concurrent repeats run once", func(t *testing.T) {
		h := newHarness(t, db)
		id := uid("o")
		seedOrder(t, db, viewOf(id, "c", "s", testNow), "fp")
		release := make(chan struct{})
		sent := expectUpdates(t, h, 1, viewOf(id, "c", "s", testNow), release)
		var wg sync.WaitGroup
		bodies := make([]string, 6)
		for i := range bodies {
			wg.Go(func() {
				rec := h.do(t, http.MethodPost, "/v1/orders/"+id+"/retry", "", withKey("k-concurrent"))
				if rec.Code != http.StatusOK {
					t.Errorf("request %d: %d %s", i, rec.Code, rec.Body.String())
				}
				bodies[i] = rec.Body.String()
			})
		}
		time.Sleep(300 * time.Millisecond) // all six are in: one runs, five wait
		close(release)
		wg.Wait()
		if sent.Load() != 1 {
			t.Fatalf("%d updates for six concurrent requests with one key", sent.Load())
		}
		for i := range bodies {
			if bodies[i] != bodies[0] {
				t.Errorf("answer %d differs: %s", i, bodies[i])
			}
		}
	})

	t.Run("an answer that says nothing happened is not kept", func(t *testing.T) {
		h := newHarness(t, db)
		id := uid("o")
		seedOrder(t, db, viewOf(id, "c", "s", testNow), "fp")
		h.tc.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(nil, serviceerror.NewUnavailable("down")).Once()
		wantProblem(t, h.do(t, http.MethodPost, "/v1/orders/"+id+"/retry", "", withKey("k-503")), http.StatusServiceUnavailable, CodeUnavailable, "")
		sent := expectUpdates(t, h, 1, viewOf(id, "c", "s", testNow), nil)
		wantStatus(t, h.do(t, http.MethodPost, "/v1/orders/"+id+"/retry", "", withKey("k-503")), http.StatusOK)
		if sent.Load() != 1 {
			t.Fatal("the retry after a 503 did not run")
		}
	})

	t.Run("a refusal by the order is kept", func(t *testing.T) {
		h := newHarness(t, db)
		id := uid("o")
		seedOrder(t, db, viewOf(id, "c", "s", testNow), "fp")
		handle := mocks.NewWorkflowUpdateHandle(t)
		handle.On("Get", mock.Anything, mock.Anything).Return(invalidTransitionErr()).Once()
		h.tc.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(handle, nil).Once()
		first := h.do(t, http.MethodPost, "/v1/orders/"+id+"/retry", "", withKey("k-409"))
		wantProblem(t, first, http.StatusConflict, CodeInvalidTransition, "")
		// The repeat is the first answer, requestId of the first request included.
		again := h.do(t, http.MethodPost, "/v1/orders/"+id+"/retry", "", withKey("k-409"))
		if again.Code != http.StatusConflict || again.Body.String() != first.Body.String() ||
			again.Header().Get("Content-Type") != "application/problem+json" || again.Header().Get(headerReplayed) != "true" {
			t.Fatalf("repeat answered %d %s", again.Code, again.Body.String())
		}
	})

	t.Run("expired keys start afresh", func(t *testing.T) {
		h := newHarness(t, db)
		id := uid("o")
		seedOrder(t, db, viewOf(id, "c", "s", testNow), "fp")
		sent := expectUpdates(t, h, 2, viewOf(id, "c", "s", testNow), nil)
		wantStatus(t, h.do(t, http.MethodPost, "/v1/orders/"+id+"/retry", "", withKey("k-expiring")), http.StatusOK)
		h.clock.Advance(25 * time.Hour)
		rec := h.do(t, http.MethodPost, "/v1/orders/"+id+"/retry", "", withKey("k-expiring"))
		wantStatus(t, rec, http.StatusOK)
		if sent.Load() != 2 || rec.Header().Get(headerReplayed) != "" {
			t.Fatalf("after the TTL the key still replays (%d updates)", sent.Load())
		}
	})

	t.Run("a request that died is taken over", func(t *testing.T) {
		h := newHarness(t, db)
		id := uid("o")
		seedOrder(t, db, viewOf(id, "c", "s", testNow), "fp")
		path := "/v1/orders/" + id + "/retry"
		exec(t, db, `INSERT INTO idempotency_keys (caller, key, route, request_hash, state, created_at, locked_until, expires_at)
			VALUES ($1, 'k-died', $2, $3, 'running', $4, $5, $6)`,
			callerKey(opsToken, "ops", "alice"), "POST "+path, requestHash("POST", path, nil),
			testNow.Add(-time.Minute), testNow.Add(-time.Second), testNow.Add(time.Hour))
		var opts client.UpdateWorkflowOptions
		handle := mocks.NewWorkflowUpdateHandle(t)
		handle.On("Get", mock.Anything, mock.Anything).Return(nil).Once()
		h.tc.On("UpdateWorkflow", mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
			opts = args.Get(1).(client.UpdateWorkflowOptions)
		}).Return(handle, nil).Once()
		wantStatus(t, h.do(t, http.MethodPost, path, "", withKey("k-died")), http.StatusOK)
		// The same update ID as the dead request used: the workflow acts once.
		if opts.UpdateID != updateIDFor(order.UpdateRetry, callerKey(opsToken, "ops", "alice"), "k-died") {
			t.Errorf("update ID %q is not derived from the key", opts.UpdateID)
		}
	})

	t.Run("sweep", func(t *testing.T) {
		h := newHarness(t, db)
		exec(t, db, `INSERT INTO idempotency_keys (caller, key, route, request_hash, state, created_at, locked_until, expires_at)
			VALUES ('sweep-test', 'old', 'x', 'h', 'running', $1, $1, $1)`, testNow.Add(-48*time.Hour))
		exec(t, db, `INSERT INTO seller_api_nonces (seller_id, nonce, seen_at) VALUES ('sweep-test', 'n', $1)`, testNow.Add(-time.Hour))
		h.srv.s.sweep(context.Background())
		var n int
		if err := db.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM idempotency_keys WHERE caller = 'sweep-test')
			+ (SELECT count(*) FROM seller_api_nonces WHERE seller_id = 'sweep-test')`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d rows left after the sweep (%v)", n, err)
		}
	})
}
