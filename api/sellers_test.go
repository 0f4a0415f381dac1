package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/cloudmarket/orders/internal/sellerkeys"
)

// TestSellerReadAndLimits: GET shows the seller with its key state by fingerprint and its
// effective limits (the policy's until ops set some, and again after ops delete them), to
// ops and to the seller itself through the web tier, never a key; another seller's and a
// missing one answer 404.
func TestSellerReadAndLimits(t *testing.T) {
	db := needDB(t)
	h := newHarness(t, db)
	id, other := uid("seller"), seedSeller(t, db)
	path := "/v1/sellers/" + id
	wantStatus(t, h.do(t, http.MethodPut, path, `{"name":"S","endpoint":"https://93.184.216.34/p","accessKey":"first-key-123"}`, opsBy("alice")), http.StatusCreated)

	var got sellerResponse
	rec := h.do(t, http.MethodGet, path, "", opsBy("alice"))
	wantStatus(t, rec, http.StatusOK)
	decodeInto(t, rec, &got)
	pol := h.srv.s.policy.SellerLimit(id)
	if got.Keys.Active.Fingerprint != sellerkeys.Fingerprint("first-key-123") || got.Keys.Active.CreatedAt == nil ||
		!got.Keys.Active.CreatedAt.Equal(testNow) || got.Keys.Pending != nil ||
		got.Limits != (sellerLimits{PerSecond: pol.CallsPerSecond, Concurrency: pol.Concurrency, Source: limitsFromPolicy}) {
		t.Fatalf("seller = %+v", got)
	}
	wantStatus(t, h.do(t, http.MethodGet, path, "", seller(id)), http.StatusOK)

	for _, tt := range []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		code, field              string
	}{
		{"another seller's", http.MethodGet, path, "", seller(other), 404, CodeSellerNotFound, "sellerId"},
		{"a missing seller", http.MethodGet, "/v1/sellers/" + uid("seller"), "", opsBy("alice"), 404, CodeSellerNotFound, "sellerId"},
		{"limits of a missing seller", http.MethodPut, "/v1/sellers/" + uid("seller") + "/limits", `{"perSecond":5,"concurrency":2}`, opsBy("alice"), 404, CodeSellerNotFound, "sellerId"},
		{"delete limits of a missing seller", http.MethodDelete, "/v1/sellers/" + uid("seller") + "/limits", "", opsBy("alice"), 404, CodeSellerNotFound, "sellerId"},
		{"zero per second", http.MethodPut, path + "/limits", `{"perSecond":0,"concurrency":2}`, opsBy("alice"), 400, CodeInvalidField, "perSecond"},
		{"negative per second", http.MethodPut, path + "/limits", `{"perSecond":-1,"concurrency":2}`, opsBy("alice"), 400, CodeInvalidField, "perSecond"},
		{"per second too high", http.MethodPut, path + "/limits", `{"perSecond":10001,"concurrency":2}`, opsBy("alice"), 400, CodeInvalidField, "perSecond"},
		{"zero concurrency", http.MethodPut, path + "/limits", `{"perSecond":5,"concurrency":0}`, opsBy("alice"), 400, CodeInvalidField, "concurrency"},
		{"fractional concurrency", http.MethodPut, path + "/limits", `{"perSecond":5,"concurrency":1.5}`, opsBy("alice"), 400, CodeInvalidField, "concurrency"},
		{"concurrency as text", http.MethodPut, path + "/limits", `{"perSecond":5,"concurrency":"2"}`, opsBy("alice"), 400, CodeInvalidField, "concurrency"},
		{"limits missing one", http.MethodPut, path + "/limits", `{"perSecond":5}`, opsBy("alice"), 400, CodeInvalidField, "concurrency"},
		{"limits unknown member", http.MethodPut, path + "/limits", `{"perSecond":5,"concurrency":2,"burst":3}`, opsBy("alice"), 400, CodeInvalidField, "burst"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, h.do(t, tt.method, tt.path, tt.body, tt.hdr), tt.status, tt.code, tt.field)
		})
	}

	rec = h.do(t, http.MethodPut, path+"/limits", `{"perSecond":2.5,"concurrency":3}`, opsBy("alice"))
	wantStatus(t, rec, http.StatusOK)
	decodeInto(t, rec, &got)
	if got.Limits.PerSecond != 2.5 || got.Limits.Concurrency != 3 || got.Limits.Source != limitsFromAPI || got.Limits.UpdatedAt == nil {
		t.Fatalf("limits after PUT = %+v", got.Limits)
	}
	rec = h.do(t, http.MethodDelete, path+"/limits", "", opsBy("alice"))
	wantStatus(t, rec, http.StatusOK)
	decodeInto(t, rec, &got)
	if got.Limits.Source != limitsFromPolicy || got.Limits.PerSecond != pol.CallsPerSecond {
		t.Fatalf("limits after DELETE = %+v", got.Limits)
	}
	if strings.Contains(h.logs.String(), "first-key-123") {
		t.Fatal("the key is in the log")
	}
}

// TestSellerKeyRotation walks a rotation: ops start it; the seller's calls are accepted
// signed with either key while our calls keep the old one; a confirmation signed with the
// old key is refused, one signed with the new key makes it active and retires the old;
// and no key ever shows in an answer or the log.
func TestSellerKeyRotation(t *testing.T) {
	db := needDB(t)
	h := newHarness(t, db)
	id := uid("seller")
	path := "/v1/sellers/" + id
	const oldKey, newKey, newerKey = "old-key-1234", "new-key-5678", "newer-key-9012"
	wantStatus(t, h.do(t, http.MethodPut, path, `{"name":"S","endpoint":"https://93.184.216.34/p","accessKey":"`+oldKey+`"}`, opsBy("alice")), http.StatusCreated)
	orderID := uid("o")
	seedOrder(t, db, viewOf(orderID, "cust-1", id, testNow), "fp")
	get := func(key string) int {
		return serve(h, signed("GET", "/v1/seller-api/orders/"+orderID, id, key, testNow, newNonce(t), "")).Code
	}
	confirm := func(key string) *httptest.ResponseRecorder {
		return serve(h, signed("POST", "/v1/seller-api/keys/confirm", id, key, testNow, newNonce(t), ""))
	}
	lookup := func() sellerkeys.Seller {
		t.Helper()
		sl, err := sellerkeys.Lookup(t.Context(), db, testKeys, id)
		if err != nil {
			t.Fatal(err)
		}
		return sl
	}

	// Nothing pending: a confirmation with the active key has nothing to do.
	rec := confirm(oldKey)
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), `"confirmed":false`) {
		t.Fatalf("confirm without rotation: %s", rec.Body.String())
	}

	for _, tt := range []struct {
		name, path, body string
		status           int
		code, field      string
	}{
		{"the active key", path + "/key-rotations", `{"accessKey":"` + oldKey + `"}`, 400, CodeInvalidField, "accessKey"},
		{"a short key", path + "/key-rotations", `{"accessKey":"short"}`, 400, CodeInvalidField, "accessKey"},
		{"a key with spaces", path + "/key-rotations", `{"accessKey":"has spaces 123"}`, 400, CodeInvalidField, "accessKey"},
		{"no key", path + "/key-rotations", `{}`, 400, CodeInvalidField, "accessKey"},
		{"a missing seller", "/v1/sellers/" + uid("seller") + "/key-rotations", `{"accessKey":"` + newKey + `"}`, 404, CodeSellerNotFound, "sellerId"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, h.do(t, http.MethodPost, tt.path, tt.body, opsBy("alice")), tt.status, tt.code, tt.field)
		})
	}

	idem := merge(opsBy("alice"), map[string]string{headerIdempotencyKey: "rot-" + id})
	rec = h.do(t, http.MethodPost, path+"/key-rotations", `{"accessKey":"`+newKey+`"}`, idem)
	wantStatus(t, rec, http.StatusOK)
	var got sellerResponse
	decodeInto(t, rec, &got)
	if got.Keys.Pending == nil || got.Keys.Pending.Fingerprint != sellerkeys.Fingerprint(newKey) ||
		got.Keys.Active.Fingerprint != sellerkeys.Fingerprint(oldKey) {
		t.Fatalf("after start: %+v", got.Keys)
	}
	again := h.do(t, http.MethodPost, path+"/key-rotations", `{"accessKey":"`+newKey+`"}`, idem)
	wantStatus(t, again, http.StatusOK)
	if again.Header().Get(headerReplayed) != "true" {
		t.Error("a repeated Idempotency-Key ran again")
	}
	wantProblem(t, h.do(t, http.MethodPost, path+"/key-rotations", `{"accessKey":"`+newerKey+`"}`, idem), 409, CodeIdempotencyConflict, "")

	// During the rotation: both keys sign; our calls keep the old one.
	if get(oldKey) != 200 || get(newKey) != 200 || get("wrong-key-000") != 401 {
		t.Fatal("during a rotation both keys, and only they, must be accepted")
	}
	if sl := lookup(); sl.AccessKey != oldKey || sl.PendingKey != newKey {
		t.Fatal("our calls must keep the old key until the seller confirms")
	}
	wantProblem(t, confirm(oldKey), http.StatusConflict, CodeKeyRotationPending, "")

	rec = confirm(newKey)
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), `"confirmed":true`) || !strings.Contains(rec.Body.String(), sellerkeys.Fingerprint(newKey)) {
		t.Fatalf("confirm: %s", rec.Body.String())
	}
	if sl := lookup(); sl.AccessKey != newKey || sl.Rotating() {
		t.Fatal("after confirmation our calls must sign with the new key")
	}
	if get(oldKey) != 401 || get(newKey) != 200 {
		t.Fatal("after confirmation only the new key signs")
	}
	rec = h.do(t, http.MethodGet, path, "", opsBy("alice"))
	got = sellerResponse{}
	decodeInto(t, rec, &got)
	if got.Keys.Pending != nil || got.Keys.Active.Fingerprint != sellerkeys.Fingerprint(newKey) {
		t.Fatalf("after confirm: %+v", got.Keys)
	}

	// A PUT with a key replaces it at once and ends a rotation.
	wantStatus(t, h.do(t, http.MethodPost, path+"/key-rotations", `{"accessKey":"`+newerKey+`"}`, opsBy("alice")), http.StatusOK)
	rec = h.do(t, http.MethodPut, path, `{"name":"S","endpoint":"https://93.184.216.34/p","accessKey":"`+oldKey+`"}`, opsBy("alice"))
	wantStatus(t, rec, http.StatusOK)
	got = sellerResponse{}
	decodeInto(t, rec, &got)
	if got.Keys.Pending != nil || got.Keys.Active.Fingerprint != sellerkeys.Fingerprint(oldKey) || get(newerKey) != 401 || get(newKey) != 401 {
		t.Fatalf("after PUT with a key: %+v", got.Keys)
	}

	// Ops cancel a rotation: the pending key stops working, the active one stays.
	wantStatus(t, h.do(t, http.MethodPost, path+"/key-rotations", `{"accessKey":"`+newerKey+`"}`, opsBy("alice")), http.StatusOK)
	if get(newerKey) != 200 {
		t.Fatal("the pending key does not sign")
	}
	rec = h.do(t, http.MethodDelete, path+"/key-rotations", "", opsBy("alice"))
	wantStatus(t, rec, http.StatusOK)
	got = sellerResponse{}
	decodeInto(t, rec, &got)
	if got.Keys.Pending != nil || get(newerKey) != 401 || get(oldKey) != 200 {
		t.Fatalf("after cancel: %+v", got.Keys)
	}
	wantStatus(t, h.do(t, http.MethodDelete, path+"/key-rotations", "", opsBy("alice")), http.StatusOK)
	wantProblem(t, h.do(t, http.MethodDelete, "/v1/sellers/"+uid("seller")+"/key-rotations", "", opsBy("alice")), 404, CodeSellerNotFound, "sellerId")

	// Confirmations sent at once (a seller retrying) all answer 200.
	wantStatus(t, h.do(t, http.MethodPost, path+"/key-rotations", `{"accessKey":"`+newerKey+`"}`, opsBy("alice")), http.StatusOK)
	codes := make(chan int, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { codes <- confirm(newerKey).Code })
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("a concurrent confirmation answered %d", code)
		}
	}
	if sl := lookup(); sl.AccessKey != newerKey || sl.Rotating() {
		t.Fatal("after concurrent confirmations the new key must be active")
	}

	for _, key := range []string{oldKey, newKey, newerKey} {
		if strings.Contains(h.logs.String(), key) {
			t.Errorf("key %q is in the log", key)
		}
	}
}
