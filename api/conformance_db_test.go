package api

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/dev/sellersim"
	"github.com/cloudmarket/orders/internal/sellercheck"
	"github.com/cloudmarket/orders/internal/sellerkeys"
)

const conformanceKey = "key-conformance-0123456789"

// conformanceSeller registers a seller whose endpoint is a simulator, with behaviour.
func conformanceSeller(t *testing.T, behaviour string) (sellerID string) {
	t.Helper()
	db := needDB(t)
	sellerID = uid("seller")
	sim := sellersim.New(sellersim.Options{Sellers: map[string]string{sellerID: conformanceKey}, DefaultAsyncDelay: 50 * time.Millisecond})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	if behaviour != "" {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/admin/sellers/"+sellerID+"/behaviour", strings.NewReader(behaviour))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("behaviour: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	sealed, err := sellerkeys.Seal(testKeys, sellerID, conformanceKey)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, `INSERT INTO sellers (seller_id, name, endpoint, access_key_kek, access_key_dek, access_key_sealed)
		VALUES ($1, 'S', $2, $3, $4, $5)`, sellerID, srv.URL+sellersim.ProducePath(sellerID), sealed.KeyID, sealed.WrappedKey, sealed.Ciphertext)
	return sellerID
}

// fastChecks shortens the checker's bounds for tests.
func fastChecks(h *harness) {
	h.srv.s.checks.timeout = 300 * time.Millisecond
	h.srv.s.checks.asyncBound = 600 * time.Millisecond
	h.srv.s.checks.pollInterval = 20 * time.Millisecond
}

func startRun(t *testing.T, h *harness, sellerID, body string) *httptest.ResponseRecorder {
	t.Helper()
	return h.do(t, http.MethodPost, "/v1/sellers/"+sellerID+"/conformance-runs", body, merge(opsBy("alice"), map[string]string{"Idempotency-Key": uid("k")}))
}

// TestConformanceRuns: ops start a run against the seller's registered endpoint; it runs in
// the background and its result, checks and evidence are kept; a broken seller's run
// fails on the matching check.
func TestConformanceRuns(t *testing.T) {
	tests := []struct {
		name       string
		behaviour  string
		body       string
		wantStatus string
		wantFailed []string
		wantSkip   []string
	}{
		{"conforming", "", `{"reason":"before go-live"}`, runPassed, []string{}, nil},
		{"one-time products only", "", `{"reason":"one-time","calls":["newInstance"]}`, runPassed, []string{},
			[]string{sellercheck.CheckFreeze, sellercheck.CheckUnfreeze, sellercheck.CheckRefreshRenewal}},
		{"replay accepted", `{"nonConformance":["acceptReplayedNonce"]}`, `{"reason":"seller says fixed"}`, runFailed,
			[]string{sellercheck.CheckReplayedNonceRefused}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := needDB(t)
			sellerID := conformanceSeller(t, tt.behaviour)
			h := newHarness(t, db)
			fastChecks(h)
			rec := startRun(t, h, sellerID, tt.body)
			wantStatus(t, rec, http.StatusAccepted)
			var started conformanceRun
			decodeInto(t, rec, &started)
			if started.Status != runRunning || started.Actor != "alice" || started.SellerID != sellerID || !strings.HasPrefix(started.Endpoint, "http://127.0.0.1:") {
				t.Fatalf("started = %+v", started)
			}
			h.srv.s.waitConformanceRuns()

			rec = h.do(t, http.MethodGet, "/v1/sellers/"+sellerID+"/conformance-runs/"+started.RunID, "", opsBy("alice"))
			wantStatus(t, rec, http.StatusOK)
			var got conformanceRun
			decodeInto(t, rec, &got)
			if got.Status != tt.wantStatus || !slices.Equal(got.FailedChecks, tt.wantFailed) || got.FinishedAt == nil || len(got.Checks) != 25 {
				t.Fatalf("run = %+v", got)
			}
			for _, name := range tt.wantSkip {
				for _, c := range got.Checks {
					if c.Name == name && c.Status != sellercheck.StatusSkip {
						t.Errorf("%s = %+v, want skipped", name, c)
					}
				}
			}
			if strings.Contains(rec.Body.String(), conformanceKey) || strings.Contains(h.logs.String(), conformanceKey) {
				t.Error("the seller's key is in the run or the log")
			}

			rec = h.do(t, http.MethodGet, "/v1/sellers/"+sellerID+"/conformance-runs", "", opsBy("alice"))
			wantStatus(t, rec, http.StatusOK)
			var page conformancePage
			decodeInto(t, rec, &page)
			if len(page.Items) != 1 || page.Items[0].RunID != started.RunID || page.Items[0].Checks != nil || page.Items[0].Status != tt.wantStatus {
				t.Fatalf("list = %+v", page)
			}
		})
	}
}

// TestConformanceRunRules: one run per seller at a time, unknown sellers and runs, paging,
// and a run whose process stopped shows as abandoned after its deadline.
func TestConformanceRunRules(t *testing.T) {
	db := needDB(t)
	sellerID := conformanceSeller(t, `{"nonConformance":["asyncNeverReady"]}`)
	h := newHarness(t, db)
	fastChecks(h)
	first := startRun(t, h, sellerID, `{"reason":"one"}`)
	wantStatus(t, first, http.StatusAccepted)
	wantProblem(t, startRun(t, h, sellerID, `{"reason":"two"}`), http.StatusConflict, CodeConformanceRunRunning, "sellerId")
	h.srv.s.waitConformanceRuns()
	second := startRun(t, h, sellerID, `{"reason":"three"}`)
	wantStatus(t, second, http.StatusAccepted)
	h.srv.s.waitConformanceRuns()

	wantProblem(t, startRun(t, h, "nobody", `{"reason":"x"}`), http.StatusNotFound, CodeSellerNotFound, "sellerId")
	wantProblem(t, h.do(t, http.MethodGet, "/v1/sellers/nobody/conformance-runs", "", opsBy("alice")), http.StatusNotFound, CodeSellerNotFound, "sellerId")
	wantProblem(t, h.do(t, http.MethodGet, "/v1/sellers/"+sellerID+"/conformance-runs/nope", "", opsBy("alice")), http.StatusNotFound, CodeConformanceRunNotFound, "runId")
	wantProblem(t, h.do(t, http.MethodGet, "/v1/sellers/"+sellerID+"/conformance-runs?cursor=bogus", "", opsBy("alice")), http.StatusBadRequest, CodeInvalidField, "cursor")

	// Two runs, pages of one: newest first, then the other, then no cursor.
	var p1, p2 conformancePage
	decodeInto(t, h.do(t, http.MethodGet, "/v1/sellers/"+sellerID+"/conformance-runs?limit=1", "", opsBy("alice")), &p1)
	if len(p1.Items) != 1 || p1.NextCursor == "" {
		t.Fatalf("page 1 = %+v", p1)
	}
	decodeInto(t, h.do(t, http.MethodGet, "/v1/sellers/"+sellerID+"/conformance-runs?limit=1&cursor="+p1.NextCursor, "", opsBy("alice")), &p2)
	if len(p2.Items) != 1 || p2.NextCursor != "" || p2.Items[0].RunID == p1.Items[0].RunID {
		t.Fatalf("page 2 = %+v", p2)
	}
	for _, r := range append(p1.Items, p2.Items...) {
		if r.Status != runFailed || !slices.Contains(r.FailedChecks, sellercheck.CheckInstanceReady) {
			t.Errorf("run = %+v, want failed on instance_ready", r)
		}
	}

	// A run left running by a process that stopped.
	exec(t, db, `INSERT INTO seller_conformance_runs (run_id, seller_id, actor, reason, endpoint, calls, status, started_at, deadline)
		VALUES ('lost-run', $1, 'bob', 'x', 'https://x.example/p', '{newInstance}', 'running', $2, $3)`, sellerID, testNow.Add(-time.Hour), testNow.Add(-time.Minute))
	var lost conformanceRun
	decodeInto(t, h.do(t, http.MethodGet, "/v1/sellers/"+sellerID+"/conformance-runs/lost-run", "", opsBy("alice")), &lost)
	if lost.Status != runAbandoned {
		t.Errorf("lost run = %+v, want abandoned", lost)
	}
	wantStatus(t, startRun(t, h, sellerID, `{"reason":"after the lost one"}`), http.StatusAccepted)
	h.srv.s.waitConformanceRuns()
}
