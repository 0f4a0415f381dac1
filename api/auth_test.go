package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cloudmarket/orders/internal/config"
)

// TestAuthentication: the token and the actor headers are checked before anything else,
// in this order: 401 (no or unknown token), 403 (role may not call the route), 400 (actor
// headers missing or malformed). The requests would otherwise reach the database, which
// the harness does not have.
func TestAuthentication(t *testing.T) {
	h := newHarness(t, nil)
	const sellerBody = `{"name":"S","endpoint":"https://a.example","accessKey":"key-12345678"}`
	const subBody = `{"url":"https://a.example/hook","secret":"whsec-0123456789abcdef"}`
	tests := []struct {
		name         string
		method, path string
		body         string
		hdr          map[string]string
		status       int
		code, field  string
	}{
		{"no token", "GET", "/v1/orders/o-1", "", nil, 401, CodeUnauthenticated, ""},
		{"unknown token", "GET", "/v1/orders/o-1", "", map[string]string{"Authorization": "Bearer nope-nope-nope"}, 401, CodeUnauthenticated, ""},
		{"token prefix of a real one", "GET", "/v1/orders/o-1", "", map[string]string{"Authorization": "Bearer " + opsToken[:5]}, 401, CodeUnauthenticated, ""},
		{"basic scheme", "GET", "/v1/orders/o-1", "", map[string]string{"Authorization": "Basic " + opsToken}, 401, CodeUnauthenticated, ""},
		{"empty bearer", "GET", "/v1/orders/o-1", "", map[string]string{"Authorization": "Bearer "}, 401, CodeUnauthenticated, ""},
		{"web on ops route", "PUT", "/v1/sellers/s-1", sellerBody, buyer("cust-1"), 403, CodeForbidden, ""},
		{"web without actor on ops route", "PUT", "/v1/sellers/s-1", sellerBody, map[string]string{"Authorization": "Bearer " + webToken}, 403, CodeForbidden, ""},
		{"billing on ops route", "PUT", "/v1/customers/c-1", `{"level":"gold"}`, billingCaller(), 403, CodeForbidden, ""},
		{"ops places an order", "POST", "/v1/orders", orderBody(), opsBy("alice"), 403, CodeForbidden, ""},
		{"billing places an order", "POST", "/v1/orders", orderBody(), billingCaller(), 403, CodeForbidden, ""},
		{"ops accepts", "POST", "/v1/orders/o-1/acceptance", "", opsBy("alice"), 403, CodeForbidden, ""},
		{"web retries", "POST", "/v1/orders/o-1/retry", "", buyer("cust-1"), 403, CodeForbidden, ""},
		{"seller accepts", "POST", "/v1/orders/o-1/acceptance", "", seller("s-1"), 403, CodeForbidden, ""},
		{"web without actor role", "GET", "/v1/orders/o-1", "", map[string]string{"Authorization": "Bearer " + webToken, headerActorID: "cust-1"}, 400, CodeInvalidField, headerActorRole},
		{"web with unknown actor role", "GET", "/v1/orders/o-1", "", merge(buyer("cust-1"), map[string]string{headerActorRole: "admin"}), 400, CodeInvalidField, headerActorRole},
		{"web without actor id", "GET", "/v1/orders/o-1", "", merge(buyer("cust-1"), map[string]string{headerActorID: ""}), 400, CodeInvalidField, headerActorID},
		{"web with bad actor id", "GET", "/v1/orders/o-1", "", merge(buyer("cust-1"), map[string]string{headerActorID: "a b"}), 400, CodeInvalidField, headerActorID},
		{"ops write without actor id", "PUT", "/v1/customers/c-1", `{"level":"gold"}`, map[string]string{"Authorization": "Bearer " + opsToken}, 400, CodeInvalidField, headerActorID},
		{"ops retry without actor id", "POST", "/v1/orders/o-1/retry", "", map[string]string{"Authorization": "Bearer " + opsToken}, 400, CodeInvalidField, headerActorID},
		// Ops' case handling and the attention list: ops only, with the ops person named.
		{"web cancels", "POST", "/v1/orders/o-1/cancellation", `{"reason":"x"}`, buyer("cust-1"), 403, CodeForbidden, ""},
		{"billing cancels", "POST", "/v1/orders/o-1/cancellation", `{"reason":"x"}`, billingCaller(), 403, CodeForbidden, ""},
		{"seller forces acceptance", "POST", "/v1/orders/o-1/forced-acceptance", `{"reason":"x"}`, seller("s-1"), 403, CodeForbidden, ""},
		{"billing unfreezes", "POST", "/v1/orders/o-1/unfreeze", `{"reason":"x"}`, billingCaller(), 403, CodeForbidden, ""},
		{"web refreezes", "POST", "/v1/orders/o-1/refreeze", `{"reason":"x"}`, buyer("cust-1"), 403, CodeForbidden, ""},
		{"seller extends a clock", "POST", "/v1/orders/o-1/clock-extensions", `{"reason":"x","clock":"auto_accept","by":"1d"}`, seller("s-1"), 403, CodeForbidden, ""},
		{"web closes an appeal", "POST", "/v1/appeals/AP1/closure", `{"note":"x"}`, buyer("cust-1"), 403, CodeForbidden, ""},
		{"billing reads the attention list", "GET", "/v1/attention", "", billingCaller(), 403, CodeForbidden, ""},
		{"web reads the attention list", "GET", "/v1/attention", "", buyer("cust-1"), 403, CodeForbidden, ""},
		{"billing appeals", "POST", "/v1/orders/o-1/appeals", `{"reason":"x"}`, billingCaller(), 403, CodeForbidden, ""},
		{"ops cancel without actor id", "POST", "/v1/orders/o-1/cancellation", `{"reason":"x"}`, map[string]string{"Authorization": "Bearer " + opsToken}, 400, CodeInvalidField, headerActorID},
		{"web runs the health check", "POST", "/v1/health-checks/runs", `{"reason":"x"}`, seller("s-1"), 403, CodeForbidden, ""},
		{"billing runs the health check", "POST", "/v1/health-checks/runs", `{"reason":"x"}`, billingCaller(), 403, CodeForbidden, ""},
		{"ops health check without actor id", "POST", "/v1/health-checks/runs", `{"reason":"x"}`, map[string]string{"Authorization": "Bearer " + opsToken}, 400, CodeInvalidField, headerActorID},
		{"buyer restarts an order", "POST", "/v1/orders/o-1/restart", `{"reason":"x"}`, buyer("cust-1"), 403, CodeForbidden, ""},
		{"billing restarts an order", "POST", "/v1/orders/o-1/restart", `{"reason":"x"}`, billingCaller(), 403, CodeForbidden, ""},
		{"ops restart without actor id", "POST", "/v1/orders/o-1/restart", `{"reason":"x"}`, map[string]string{"Authorization": "Bearer " + opsToken}, 400, CodeInvalidField, headerActorID},
		{"buyer reads a seller", "GET", "/v1/sellers/s-1", "", buyer("cust-1"), 403, CodeForbidden, ""},
		{"billing reads a seller", "GET", "/v1/sellers/s-1", "", billingCaller(), 403, CodeForbidden, ""},
		{"seller starts a key rotation", "POST", "/v1/sellers/s-1/key-rotations", `{"accessKey":"key-12345678"}`, seller("s-1"), 403, CodeForbidden, ""},
		{"billing starts a key rotation", "POST", "/v1/sellers/s-1/key-rotations", `{"accessKey":"key-12345678"}`, billingCaller(), 403, CodeForbidden, ""},
		{"seller cancels a key rotation", "DELETE", "/v1/sellers/s-1/key-rotations", "", seller("s-1"), 403, CodeForbidden, ""},
		{"billing cancels a key rotation", "DELETE", "/v1/sellers/s-1/key-rotations", "", billingCaller(), 403, CodeForbidden, ""},
		{"seller sets its limits", "PUT", "/v1/sellers/s-1/limits", `{"perSecond":5,"concurrency":2}`, seller("s-1"), 403, CodeForbidden, ""},
		{"billing sets limits", "PUT", "/v1/sellers/s-1/limits", `{"perSecond":5,"concurrency":2}`, billingCaller(), 403, CodeForbidden, ""},
		{"seller deletes its limits", "DELETE", "/v1/sellers/s-1/limits", "", seller("s-1"), 403, CodeForbidden, ""},
		{"ops rotation without actor id", "POST", "/v1/sellers/s-1/key-rotations", `{"accessKey":"key-12345678"}`, map[string]string{"Authorization": "Bearer " + opsToken}, 400, CodeInvalidField, headerActorID},
		{"ops limits without actor id", "PUT", "/v1/sellers/s-1/limits", `{"perSecond":5,"concurrency":2}`, map[string]string{"Authorization": "Bearer " + opsToken}, 400, CodeInvalidField, headerActorID},
		{"unauthenticated seller read", "GET", "/v1/sellers/s-1", "", nil, 401, CodeUnauthenticated, ""},
		{"web registers a subscriber", "PUT", "/v1/subscribers/sub-1", subBody, buyer("cust-1"), 403, CodeForbidden, ""},
		{"billing registers a subscriber", "PUT", "/v1/subscribers/sub-1", subBody, billingCaller(), 403, CodeForbidden, ""},
		{"seller lists subscribers", "GET", "/v1/subscribers", "", seller("s-1"), 403, CodeForbidden, ""},
		{"billing lists subscribers", "GET", "/v1/subscribers", "", billingCaller(), 403, CodeForbidden, ""},
		{"billing replays a subscriber", "POST", "/v1/subscribers/sub-1/replay", `{"after":"0"}`, billingCaller(), 403, CodeForbidden, ""},
		{"web replays a subscriber", "POST", "/v1/subscribers/sub-1/replay", `{"after":"0"}`, seller("s-1"), 403, CodeForbidden, ""},
		{"ops replay without actor id", "POST", "/v1/subscribers/sub-1/replay", `{"after":"0"}`, map[string]string{"Authorization": "Bearer " + opsToken}, 400, CodeInvalidField, headerActorID},
		{"ops subscriber without actor id", "PUT", "/v1/subscribers/sub-1", subBody, map[string]string{"Authorization": "Bearer " + opsToken}, 400, CodeInvalidField, headerActorID},
		{"buyer reads the event feed", "GET", "/v1/events", "", buyer("cust-1"), 403, CodeForbidden, ""},
		{"seller reads the event feed", "GET", "/v1/events", "", seller("s-1"), 403, CodeForbidden, ""},
		{"event feed without token", "GET", "/v1/events", "", nil, 401, CodeUnauthenticated, ""},
		// Seller conformance runs: ops only, with the ops person named.
		{"seller starts a conformance run", "POST", "/v1/sellers/s-1/conformance-runs", `{"reason":"x"}`, seller("s-1"), 403, CodeForbidden, ""},
		{"buyer starts a conformance run", "POST", "/v1/sellers/s-1/conformance-runs", `{"reason":"x"}`, buyer("cust-1"), 403, CodeForbidden, ""},
		{"billing starts a conformance run", "POST", "/v1/sellers/s-1/conformance-runs", `{"reason":"x"}`, billingCaller(), 403, CodeForbidden, ""},
		{"ops conformance run without actor id", "POST", "/v1/sellers/s-1/conformance-runs", `{"reason":"x"}`, map[string]string{"Authorization": "Bearer " + opsToken}, 400, CodeInvalidField, headerActorID},
		{"seller lists its conformance runs", "GET", "/v1/sellers/s-1/conformance-runs", "", seller("s-1"), 403, CodeForbidden, ""},
		{"billing lists conformance runs", "GET", "/v1/sellers/s-1/conformance-runs", "", billingCaller(), 403, CodeForbidden, ""},
		{"seller reads a conformance run", "GET", "/v1/sellers/s-1/conformance-runs/r-1", "", seller("s-1"), 403, CodeForbidden, ""},
		{"billing reads a conformance run", "GET", "/v1/sellers/s-1/conformance-runs/r-1", "", billingCaller(), 403, CodeForbidden, ""},
		{"unauthenticated conformance run", "POST", "/v1/sellers/s-1/conformance-runs", `{"reason":"x"}`, nil, 401, CodeUnauthenticated, ""},
		{"conformance run with an unknown call", "POST", "/v1/sellers/s-1/conformance-runs", `{"reason":"x","calls":["deleteAll"]}`, merge(opsBy("alice"), map[string]string{"Idempotency-Key": "k-1"}), 400, CodeInvalidField, "calls[0]"},
		{"conformance run without reason", "POST", "/v1/sellers/s-1/conformance-runs", `{}`, merge(opsBy("alice"), map[string]string{"Idempotency-Key": "k-1"}), 400, CodeInvalidField, "reason"},
		{"conformance run with a key in the body", "POST", "/v1/sellers/s-1/conformance-runs", `{"reason":"x","accessKey":"key-12345678"}`, merge(opsBy("alice"), map[string]string{"Idempotency-Key": "k-1"}), 400, CodeInvalidField, "accessKey"},
		{"conformance run list with a bad limit", "GET", "/v1/sellers/s-1/conformance-runs?limit=0", "", opsBy("alice"), 400, CodeInvalidField, "limit"},
		{"conformance run with a bad run id", "GET", "/v1/sellers/s-1/conformance-runs/a%20b", "", opsBy("alice"), 400, CodeInvalidField, "runId"},
		{"bearer is case-insensitive", "GET", "/v1/orders?limit=0", "", map[string]string{"Authorization": "bearer " + opsToken}, 400, CodeInvalidField, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := h.do(t, tt.method, tt.path, tt.body, tt.hdr)
			wantProblem(t, rec, tt.status, tt.code, tt.field)
			if tt.status == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
		})
	}
	for _, tok := range []string{webToken, opsToken, billingToken} {
		if strings.Contains(h.logs.String(), tok) {
			t.Fatalf("a token appears in the log")
		}
	}
	if !strings.Contains(h.logs.String(), `"actor_id":"cust-1"`) {
		t.Errorf("the access log does not name the actor: %s", h.logs.String())
	}
}

func TestLookupToken(t *testing.T) {
	s := &server{tokens: hashTokens(map[string]config.Role{"aaaaaaaa": config.RoleWeb, "bbbbbbbb": config.RoleOps})}
	for _, tt := range []struct {
		token string
		role  config.Role
		ok    bool
	}{
		{"aaaaaaaa", config.RoleWeb, true},
		{"bbbbbbbb", config.RoleOps, true},
		{"aaaaaaa", "", false},
		{"aaaaaaaaa", "", false},
		{"", "", false},
	} {
		role, _, ok := s.lookupToken(tt.token)
		if role != tt.role || ok != tt.ok {
			t.Errorf("lookupToken(%q) = %q, %v; want %q, %v", tt.token, role, ok, tt.role, tt.ok)
		}
	}
}
