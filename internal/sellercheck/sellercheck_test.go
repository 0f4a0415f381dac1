package sellercheck_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/dev/sellersim"
	"github.com/cloudmarket/orders/internal/sellerapi"
	"github.com/cloudmarket/orders/internal/sellercheck"
	"github.com/cloudmarket/orders/internal/testkit"
)

const (
	sellerID = "seller-check"
	key      = "sk-check-0123456789abcdef"
)

// sim is a seller simulator served over real HTTP.
type sim struct {
	srv *httptest.Server
}

func newSim(t *testing.T) *sim {
	t.Helper()
	s := sellersim.New(sellersim.Options{Sellers: map[string]string{sellerID: key}, DefaultAsyncDelay: 150 * time.Millisecond})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &sim{srv: srv}
}

func (s *sim) endpoint() string { return s.srv.URL + sellersim.ProducePath(sellerID) }

func (s *sim) behave(t *testing.T, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, s.srv.URL+"/admin/sellers/"+sellerID+"/behaviour", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("behaviour %s: HTTP %d", body, resp.StatusCode)
	}
}

// opts are fast bounds for tests: the slow mode costs one timeout per call.
func opts(logs *testkit.SyncBuffer) sellercheck.Options {
	return sellercheck.Options{
		Timeout: 400 * time.Millisecond, AsyncBound: 800 * time.Millisecond, PollInterval: 40 * time.Millisecond,
		Policy: sellerapi.EndpointPolicy{Development: true},
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// TestConformance runs the checker against a conforming simulator (sync and async), and
// against each non-conformance mode, which the matching check must catch.
func TestConformance(t *testing.T) {
	tests := []struct {
		name      string
		behaviour string
		wantFail  []string // exactly the checks that must fail; nil = the run passes
	}{
		{"conforming sync", `{"mode":"sync"}`, nil},
		{"conforming async", `{"mode":"async","asyncDelayMs":150}`, nil},
		{sellersim.NCUnsignedResponses, ``, []string{sellercheck.CheckResponseSignatures}},
		{sellersim.NCBadResultCode, ``, []string{sellercheck.CheckFreeze, sellercheck.CheckUnfreeze, sellercheck.CheckResultCodes}},
		{sellersim.NCNewInstanceNotIdempotent, ``, []string{sellercheck.CheckNewInstanceIdempotent}},
		{sellersim.NCReleaseNotIdempotent, ``, []string{sellercheck.CheckReleaseIdempotent}},
		{sellersim.NCAsyncNeverReady, ``, []string{sellercheck.CheckInstanceReady}},
		{sellersim.NCSlow, ``, []string{sellercheck.CheckNewInstance, sellercheck.CheckOrderNotify, sellercheck.CheckOrderNotifyIdempotent,
			sellercheck.CheckLicenseCodeFreeze, sellercheck.CheckLicenseCodeUnfreeze, sellercheck.CheckLicenseCodeRefresh,
			sellercheck.CheckLicenseCodeRelease, sellercheck.CheckLicenseCodeReleaseIdempotent, sellercheck.CheckReplayedNonceRefused,
			sellercheck.CheckStaleTimestampRefused, sellercheck.CheckWrongSignatureRefused, sellercheck.CheckResponseSignatures,
			sellercheck.CheckAnswersWithinTimeout}},
		{sellersim.NCAcceptReplayedNonce, ``, []string{sellercheck.CheckReplayedNonceRefused}},
		{sellersim.NCAcceptStaleTimestamp, ``, []string{sellercheck.CheckStaleTimestampRefused}},
		{sellersim.NCAcceptWrongSignature, ``, []string{sellercheck.CheckWrongSignatureRefused}},
		{sellersim.NCLicenseCodeReleaseNotIdempotent, ``, []string{sellercheck.CheckLicenseCodeReleaseIdempotent}},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSim(t)
			b := tt.behaviour
			if b == "" {
				b = `{"nonConformance":["` + tt.name + `"]}`
			}
			s.behave(t, b)
			logs := &testkit.SyncBuffer{}
			o := opts(logs)
			o.Calls = sellercheck.EveryCall // the optional calls too: every mode must be caught
			rep, err := sellercheck.Run(context.Background(),
				sellercheck.Target{SellerID: sellerID, Endpoint: s.endpoint(), AccessKey: key, VerifyBodySign: true}, o)
			if err != nil {
				t.Fatal(err)
			}
			var table bytes.Buffer
			if err := rep.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			if got := rep.Failed(); !slices.Equal(got, tt.wantFail) {
				t.Errorf("failed checks = %v, want %v\n%s", got, tt.wantFail, table.String())
			}
			if rep.Passed != (len(tt.wantFail) == 0) {
				t.Errorf("Passed = %v with failures %v", rep.Passed, rep.Failed())
			}
			if len(rep.Checks) != 25 {
				t.Errorf("%d checks, want 25:\n%s", len(rep.Checks), table.String())
			}
			for _, c := range rep.Checks {
				if c.Status == sellercheck.StatusSkip && len(tt.wantFail) == 0 {
					t.Errorf("a conforming run skipped %s: %s", c.Name, c.Evidence)
				}
			}
			raw, _ := json.Marshal(rep)
			for what, out := range map[string]string{"report": string(raw), "table": table.String(), "logs": logs.String()} {
				if strings.Contains(out, key) {
					t.Errorf("the access key is in the %s", what)
				}
			}
			if strings.Contains(string(raw), "signature=") {
				t.Errorf("a signed URL is in the report: %s", raw)
			}
		})
		covered[tt.name] = true
	}
	for _, m := range sellersim.NonConformanceModes {
		if !covered[m] {
			t.Errorf("non-conformance mode %s has no row", m)
		}
	}
}

// The calls to check follow the products: a one-time seller is not asked to freeze or renew.
func TestCallsSelection(t *testing.T) {
	s := newSim(t)
	calls, err := sellercheck.CallsFor([]string{"one_time"})
	if err != nil {
		t.Fatal(err)
	}
	o := opts(&testkit.SyncBuffer{})
	o.Calls = calls
	rep, err := sellercheck.Run(context.Background(), sellercheck.Target{SellerID: sellerID, Endpoint: s.endpoint(), AccessKey: key, VerifyBodySign: true}, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{sellercheck.CheckFreeze, sellercheck.CheckUnfreeze, sellercheck.CheckRefreshRenewal} {
		if c, _ := rep.Check(name); c.Status != sellercheck.StatusSkip {
			t.Errorf("%s = %+v, want skipped", name, c)
		}
	}
	if !rep.Passed {
		t.Errorf("failed: %v", rep.Failed())
	}
}

func TestParseCalls(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"", 5, false},
		{"all", 5, false},
		{"newInstance", 3, false},
		{"updateInstanceStatus,refreshInstance", 5, false},
		{"updateInstanceStatus", 4, false},
		{"every", 11, false},
		{"upgradeInstance,orderNotify,releaseLicenseCode", 6, false},
		{"deleteEverything", 0, true},
	}
	for _, tt := range tests {
		got, err := sellercheck.ParseCalls(tt.in)
		if (err != nil) != tt.wantErr || len(got) != tt.want {
			t.Errorf("ParseCalls(%q) = %v, %v; want %d calls, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	if _, err := sellercheck.CallsFor([]string{"weekly"}); err == nil {
		t.Error("CallsFor(weekly) accepted")
	}
}

// An endpoint the SSRF policy refuses is never called: the run fails on endpoint_allowed.
func TestEndpointPolicy(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
	}{
		{"plain http outside development", "http://seller.example/produce"},
		{"metadata address", "https://169.254.169.254/latest"},
		{"loopback", "https://127.0.0.1:9/produce"},
		{"user info", "https://u:p@seller.example/produce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := sellercheck.Run(context.Background(), sellercheck.Target{SellerID: sellerID, Endpoint: tt.endpoint, AccessKey: key}, sellercheck.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := rep.Failed(); !slices.Equal(got, []string{sellercheck.CheckEndpointAllowed}) || rep.Passed {
				t.Errorf("failed = %v", got)
			}
			if strings.Contains(rep.Endpoint, "u:p") {
				t.Errorf("endpoint shown with user info: %s", rep.Endpoint)
			}
		})
	}
}

func TestRunOptionsErrors(t *testing.T) {
	if _, err := sellercheck.Run(context.Background(), sellercheck.Target{Endpoint: "https://x.example"}, sellercheck.Options{}); err == nil {
		t.Error("no access key accepted")
	}
	if _, err := sellercheck.Run(context.Background(), sellercheck.Target{Endpoint: "https://x.example", AccessKey: key}, sellercheck.Options{Timeout: -1}); err == nil {
		t.Error("negative timeout accepted")
	}
}
