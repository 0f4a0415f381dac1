package sellersim

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

func TestAuthentication(t *testing.T) {
	body := []byte(`{"activity":"newInstance","orderId":"o-auth","orderLineId":"l-1","businessId":"b"}`)
	tests := []struct {
		name    string
		signKey string
		nonce   string
		ts      func(now time.Time) string
		body    []byte
		want    string
	}{
		{"good", key, "", nowMs, body, sellerapi.CodeSuccess},
		{"wrong key", "sk-not-the-key-000", "", nowMs, body, sellerapi.CodeAuthFailed},
		{"59 s old", key, "", func(n time.Time) string { return nowMs(n.Add(-59 * time.Second)) }, body, sellerapi.CodeSuccess},
		{"61 s old", key, "", func(n time.Time) string { return nowMs(n.Add(-61 * time.Second)) }, body, sellerapi.CodeAuthFailed},
		{"59 s ahead", key, "", func(n time.Time) string { return nowMs(n.Add(59 * time.Second)) }, body, sellerapi.CodeSuccess},
		{"61 s ahead", key, "", func(n time.Time) string { return nowMs(n.Add(61 * time.Second)) }, body, sellerapi.CodeAuthFailed},
		{"seconds not ms", key, "", func(n time.Time) string { return nowMs(n)[:10] }, body, sellerapi.CodeAuthFailed},
		{"timestamp not digits", key, "", func(time.Time) string { return "17640000000x0" }, body, sellerapi.CodeAuthFailed},
		{"upper-case nonce", key, strings.Repeat("A", 32), nowMs, body, sellerapi.CodeAuthFailed},
		{"short nonce", key, "abc", nowMs, body, sellerapi.CodeAuthFailed},
		{"empty nonce", key, "-", nowMs, body, sellerapi.CodeAuthFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			n := tt.nonce
			switch n {
			case "":
				n = nonce(t)
			case "-":
				n = ""
			}
			status, r, _ := e.rawPost(t, sellerID, tt.signKey, n, tt.ts(e.clock.Now()), tt.body)
			if status != http.StatusOK || r.ResultCode != tt.want {
				t.Fatalf("HTTP %d code %s (%s), want %s", status, r.ResultCode, r.ResultMsg, tt.want)
			}
		})
	}
}

func TestTamperedBodyRefused(t *testing.T) {
	e := newEnv(t)
	n, ts := nonce(t), nowMs(e.clock.Now())
	signed := []byte(`{"activity":"releaseInstance","instanceId":"a"}`)
	sent := []byte(`{"activity":"releaseInstance","instanceId":"b"}`)
	q := "?signature=" + sellerapi.Signature(key, n, ts, signed) + "&timestamp=" + ts + "&nonce=" + n
	resp, err := http.Post(e.endpoint(sellerID)+q, "application/json", strings.NewReader(string(sent)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := e.stats(t)["releaseInstance"][sellerapi.CodeAuthFailed]; got != 1 {
		t.Fatalf("tampered body: %d auth failures recorded, want 1", got)
	}
}

func TestNonceReplay(t *testing.T) {
	e := newEnv(t)
	body := []byte(`{"activity":"newInstance","orderId":"o-replay","orderLineId":"l-1","businessId":"b"}`)
	n, ts := nonce(t), nowMs(e.clock.Now())
	if _, r, _ := e.rawPost(t, sellerID, key, n, ts, body); r.ResultCode != sellerapi.CodeSuccess {
		t.Fatalf("first: %s", r.ResultCode)
	}
	if _, r, _ := e.rawPost(t, sellerID, key, n, ts, body); r.ResultCode != sellerapi.CodeAuthFailed {
		t.Fatalf("replay: %s, want 000001", r.ResultCode)
	}
	// A replay after the window fails on the timestamp.
	e.clock.Advance(SignatureWindow + 2*time.Second)
	if _, r, _ := e.rawPost(t, sellerID, key, n, ts, body); r.ResultCode != sellerapi.CodeAuthFailed {
		t.Fatalf("late replay: %s, want 000001", r.ResultCode)
	}
	// The next authentic request sweeps expired nonces: only its own stays.
	if _, r, _ := e.rawPost(t, sellerID, key, nonce(t), nowMs(e.clock.Now()), body); r.ResultCode != sellerapi.CodeSuccess {
		t.Fatalf("fresh request: %s", r.ResultCode)
	}
	e.sim.mu.Lock()
	remembered := len(e.sim.sellers[sellerID].nonces.seen)
	e.sim.mu.Unlock()
	if remembered != 1 {
		t.Errorf("%d nonces remembered after the window, want 1", remembered)
	}
	if got := len(e.instances(t, "o-replay")); got != 1 {
		t.Errorf("%d instances, want 1", got)
	}
}

func TestNonceStore(t *testing.T) {
	// Every request was sent at start, so each nonce may be forgotten at start+window.
	start := time.Unix(1764000000, 0)
	type step struct {
		nonce string
		at    time.Duration // since start
		want  nonceResult
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"fresh then replayed", []step{{"a", 0, nonceFresh}, {"b", 0, nonceFresh}, {"a", time.Second, nonceReplayed}}},
		{"kept to the end of the window", []step{{"a", 0, nonceFresh}, {"a", SignatureWindow, nonceReplayed}}},
		{"forgotten after the window", []step{{"a", 0, nonceFresh}, {"a", SignatureWindow + time.Millisecond, nonceFresh}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := nonceStore{seen: map[string]time.Time{}}
			for i, s := range tt.steps {
				if got := n.use(s.nonce, start.Add(SignatureWindow), start.Add(s.at)); got != s.want {
					t.Fatalf("step %d: %v, want %v", i, got, s.want)
				}
			}
		})
	}
}

func TestNonceStoreBounded(t *testing.T) {
	now := time.Unix(1764000000, 0)
	n := nonceStore{seen: map[string]time.Time{}}
	for i := range maxNonces {
		if n.use(strconv.Itoa(i), now.Add(SignatureWindow), now) != nonceFresh {
			t.Fatalf("nonce %d not fresh", i)
		}
	}
	if got := n.use("one-too-many", now.Add(SignatureWindow), now); got != nonceStoreFull {
		t.Fatalf("full store: %v, want nonceStoreFull", got)
	}
	later := now.Add(SignatureWindow + time.Second)
	if got := n.use("one-too-many", later.Add(SignatureWindow), later); got != nonceFresh {
		t.Fatalf("after expiry: %v, want fresh", got)
	}
	if len(n.seen) != 1 {
		t.Errorf("%d nonces kept, want 1", len(n.seen))
	}
}
