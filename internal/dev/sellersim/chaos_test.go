package sellersim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

func TestChaosValidation(t *testing.T) {
	tests := []struct {
		name string
		body string
		want int
		msgs []string // each must be in the error message
	}{
		{"fail over 100", `{"chaos":{"failPercent":101}}`, 400, []string{"chaos.failPercent must be 0-100"}},
		{"negative lose", `{"chaos":{"losePercent":-1}}`, 400, []string{"chaos.losePercent must be 0-100"}},
		{"refuse over 100", `{"chaos":{"refusePercent":150}}`, 400, []string{"chaos.refusePercent must be 0-100"}},
		{"negative gone", `{"chaos":{"gonePercent":-5}}`, 400, []string{"chaos.gonePercent must be 0-100"}},
		{"huge latency", `{"chaos":{"latencyMaxMs":120001}}`, 400, []string{"chaos.latencyMaxMs must be 0-120000"}},
		{"negative latency", `{"chaos":{"latencyMaxMs":-1}}`, 400, []string{"chaos.latencyMaxMs must be 0-120000"}},
		{"everything wrong at once", `{"latencyMs":-1,"chaos":{"failPercent":-1,"losePercent":101,"latencyMaxMs":-5,"refusePercent":200,"gonePercent":101}}`, 400,
			[]string{"latencyMs must be", "chaos.failPercent", "chaos.losePercent", "chaos.latencyMaxMs", "chaos.refusePercent", "chaos.gonePercent"}},
		{"unknown chaos field", `{"chaos":{"failRate":5}}`, 400, []string{"unknown field"}},
		{"percent as string", `{"chaos":{"failPercent":"5"}}`, 400, []string{"invalid JSON"}},
		{"fractional percent", `{"chaos":{"failPercent":2.5}}`, 400, []string{"invalid JSON"}},
		{"chaos not an object", `{"chaos":5}`, 400, []string{"invalid JSON"}},
		{"bounds", `{"chaos":{"failPercent":100,"losePercent":100,"latencyMaxMs":120000,"refusePercent":100,"gonePercent":100,"seed":-7}}`, 200, nil},
		{"zero", `{"chaos":{"failPercent":0,"losePercent":0,"latencyMaxMs":0,"refusePercent":0,"gonePercent":0,"seed":0}}`, 200, nil},
		{"empty", `{"chaos":{}}`, 200, nil},
		{"null", `{"chaos":null}`, 200, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var out map[string]any
			if got := e.admin(t, http.MethodPut, "/admin/sellers/"+sellerID+"/behaviour", tt.body, &out); got != tt.want {
				t.Fatalf("HTTP %d, want %d: %v", got, tt.want, out)
			}
			msg, _ := out["error"].(string)
			for _, m := range tt.msgs {
				if !strings.Contains(msg, m) {
					t.Errorf("error %q does not say %q", msg, m)
				}
			}
		})
	}
}

// A chaos object replaces the previous one wholesale; leaving it out keeps it; a chaos
// without seed gets one from the clock and shows it, so the run can be repeated.
func TestChaosReplace(t *testing.T) {
	e := newEnv(t)
	put := func(body string) chaos {
		t.Helper()
		var b behaviour
		if code := e.admin(t, http.MethodPut, "/admin/sellers/"+sellerID+"/behaviour", body, &b); code != http.StatusOK {
			t.Fatalf("%s: HTTP %d", body, code)
		}
		return b.Chaos
	}
	if got, want := put(`{"chaos":{"failPercent":10,"latencyMaxMs":20,"seed":5}}`), (chaos{FailPercent: 10, LatencyMaxMs: 20, Seed: 5}); got != want {
		t.Fatalf("chaos = %+v, want %+v", got, want)
	}
	if got, want := put(`{"latencyMs":5,"loseNext":1}`), (chaos{FailPercent: 10, LatencyMaxMs: 20, Seed: 5}); got != want {
		t.Fatalf("left out: chaos = %+v, want %+v", got, want)
	}
	got := put(`{"chaos":{"losePercent":20}}`)
	if got.FailPercent != 0 || got.LatencyMaxMs != 0 || got.LosePercent != 20 || got.Seed == 0 {
		t.Fatalf("replaced: chaos = %+v, want only losePercent 20 and a clock seed", got)
	}
	if got := put(`{"chaos":{}}`); got != (chaos{}) {
		t.Fatalf("off: chaos = %+v, want all zero", got)
	}
}

// failureKey names a failed call as the stats do.
func failureKey(ce *sellerapi.CallError) string {
	if ce.HTTPStatus != http.StatusOK {
		return fmt.Sprintf("chaos:http:%d", ce.HTTPStatus)
	}
	return "chaos:" + ce.ResultCode
}

func TestChaosFail(t *testing.T) {
	// Every chaos failure, as the marketplace's client sees it: all retryable.
	want := map[string]struct {
		class  sellerapi.Class
		status int
		code   string
	}{
		"chaos:000005":   {sellerapi.ClassInternalError, 200, "000005"},
		"chaos:000001":   {sellerapi.ClassAuthFailed, 200, "000001"},
		"chaos:000099":   {sellerapi.ClassUnknownResult, 200, "000099"},
		"chaos:http:502": {sellerapi.ClassTransport, 502, ""},
		"chaos:http:503": {sellerapi.ClassTransport, 503, ""},
	}
	e := newEnv(t)
	id := e.mustCall(t, newInst("o-before", "1")).InstanceID
	e.behave(t, `{"chaos":{"failPercent":100,"seed":1}}`)
	const calls = 60
	seen := map[string]int{}
	for i := range calls {
		var req any = newInst(fmt.Sprintf("o-fail-%d", i), "1")
		if i%3 == 1 {
			req = release(id) // any activity fails, and does nothing
		}
		res, err := e.call(t, req)
		var ce *sellerapi.CallError
		if !errors.As(err, &ce) {
			t.Fatalf("call %d: err %v, result %+v; want a failure", i, err, res)
		}
		k := failureKey(ce)
		w, ok := want[k]
		if !ok || ce.Class != w.class || ce.HTTPStatus != w.status || ce.ResultCode != w.code || !ce.Class.Retryable() {
			t.Fatalf("call %d: %s (class %v, HTTP %d, code %q), not one of the chaos failures", i, k, ce.Class, ce.HTTPStatus, ce.ResultCode)
		}
		seen[k]++
	}
	for k := range want {
		if seen[k] == 0 {
			t.Errorf("%s never chosen in %d calls: %v", k, calls, seen)
		}
	}
	if list := e.instances(t, ""); len(list) != 1 || list[0].Status != statusActive {
		t.Fatalf("instances = %+v, want only the one made before, still active", list)
	}
	st := e.sellerStats(t, sellerID)
	got := map[string]int{}
	for _, outcomes := range st.Calls {
		for k, n := range outcomes {
			if k != "000000" {
				got[k] += n
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(seen) {
		t.Errorf("stats = %v, want %v", got, seen)
	}
	if st.BadSignatures != 0 {
		t.Errorf("badSignatures = %d, want 0: injected 000001 answers are not bad signatures", st.BadSignatures)
	}
	if log := e.callLog(t); len(log) != calls+1 || !strings.HasPrefix(log[calls], "chaos:") {
		t.Errorf("call log = %v", log)
	}
}

// Authentication comes first, explicit counts win over chance, and a failed call is not
// also refused.
func TestChaosPrecedence(t *testing.T) {
	body := []byte(`{"activity":"newInstance","orderId":"o-p","orderLineId":"1","businessId":"b"}`)
	tests := []struct {
		name      string
		behaviour string
		signKey   string
		wantCode  string
		statKey   string
		badSigs   int
	}{
		{"genuine auth failure not masked", `{"chaos":{"failPercent":100,"losePercent":100}}`, "sk-not-the-key-000", "000001", "000001", 1},
		{"failNext before chaos fail", `{"failNext":{"count":1,"resultCode":"000104"},"chaos":{"failPercent":100}}`, key, "000104", "000104", 0},
		{"chaos fail before refusal", `{"failNext":{"count":0},"chaos":{"failPercent":100,"refusePercent":100,"seed":3}}`, key, "", "chaos:", 0},
		{"refusal is not lost", `{"chaos":{"refusePercent":100,"losePercent":100}}`, key, "000002", "refused:000002", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.behave(t, tt.behaviour)
			status, r, _ := e.rawPost(t, sellerID, tt.signKey, nonce(t), nowMs(e.clock.Now()), body)
			if tt.wantCode != "" && (status != http.StatusOK || r.ResultCode != tt.wantCode) {
				t.Fatalf("HTTP %d code %s, want 200 %s", status, r.ResultCode, tt.wantCode)
			}
			st := e.sellerStats(t, sellerID)
			var keys []string
			for k := range st.Calls["newInstance"] {
				keys = append(keys, k)
			}
			if len(keys) != 1 || !strings.HasPrefix(keys[0], tt.statKey) {
				t.Errorf("stats = %v, want one %s", st.Calls, tt.statKey)
			}
			if st.BadSignatures != tt.badSigs || st.Instances != 0 {
				t.Errorf("badSignatures %d instances %d, want %d and 0", st.BadSignatures, st.Instances, tt.badSigs)
			}
		})
	}
}

// With losePercent 100 the work is done and the answer dropped; the retries get the same
// instance, as idempotency demands.
func TestChaosLose(t *testing.T) {
	e := newEnv(t)
	e.behave(t, `{"chaos":{"losePercent":100}}`)
	for i := range 3 {
		res, err := e.call(t, newInst("o-cl", "1"))
		var ce *sellerapi.CallError
		if !errors.As(err, &ce) || ce.Class != sellerapi.ClassTransport || res.HTTPStatus != 0 {
			t.Fatalf("call %d: err %v, status %d; want a transport error without status", i, err, res.HTTPStatus)
		}
	}
	list := e.instances(t, "o-cl")
	if len(list) != 1 || list[0].CreateCalls != 3 {
		t.Fatalf("instances after lost answers = %+v, want one made once, asked 3 times", list)
	}
	if _, err := e.call(t, release(list[0].InstanceID)); err == nil {
		t.Fatal("release: want the answer lost")
	}
	if got := e.instances(t, "o-cl")[0].Status; got != statusReleased {
		t.Fatalf("after a lost release: status %s, want released", got)
	}
	e.behave(t, `{"chaos":{}}`)
	if r := e.mustCall(t, newInst("o-cl", "1")); r.ResultCode != sellerapi.CodeSuccess || r.InstanceID != list[0].InstanceID {
		t.Fatalf("retry = %+v, want instance %s", r, list[0].InstanceID)
	}
	st := e.stats(t)
	if st["newInstance"]["lost:000000"] != 3 || st["newInstance"]["000000"] != 1 || st["releaseInstance"]["lost:000000"] != 1 {
		t.Errorf("stats = %v", st)
	}
}

func TestRefuses(t *testing.T) {
	fnvMod := func(id string) uint32 {
		h := fnv.New32a()
		h.Write([]byte(id))
		return h.Sum32() % 100
	}
	// The formula, pinned so that a soak driver elsewhere can compute it: FNV-1a 32 of
	// "a" is 0xe40c292c = 3826002220, which is 20 mod 100.
	if fnvMod("a") != 20 || Refuses("a", 20) || !Refuses("a", 21) {
		t.Fatalf("Refuses(\"a\", 20/21) = %v/%v, want false/true", Refuses("a", 20), Refuses("a", 21))
	}
	tests := []struct {
		percent  int
		min, max int // refused of 10,000
	}{
		{-1, 0, 0},
		{0, 0, 0},
		{1, 50, 150},
		{30, 2500, 3500},
		{50, 4500, 5500},
		{99, 9850, 9950},
		{100, 10000, 10000},
		{101, 10000, 10000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.percent), func(t *testing.T) {
			n := 0
			for i := range 10000 {
				id := fmt.Sprintf("CS2211241234%04d", i)
				r := Refuses(id, tt.percent)
				if r != Refuses(id, tt.percent) {
					t.Fatalf("%s: not deterministic", id)
				}
				if tt.percent > 0 && tt.percent < 100 && r != (fnvMod(id) < uint32(tt.percent)) {
					t.Fatalf("%s: %v, not FNV-1a 32 mod 100 < %d", id, r, tt.percent)
				}
				if r && !Refuses(id, tt.percent+1) {
					t.Fatalf("%s refused at %d%% but not at %d%%", id, tt.percent, tt.percent+1)
				}
				if r {
					n++
				}
			}
			if n < tt.min || n > tt.max {
				t.Errorf("%d of 10000 refused at %d%%, want %d-%d", n, tt.percent, tt.min, tt.max)
			}
		})
	}
}

// findOrder returns the first order id with the prefix that Refuses at percent, or not.
func findOrder(t *testing.T, prefix string, percent int, refused bool) string {
	t.Helper()
	for i := range 1000 {
		if id := fmt.Sprintf("%s-%d", prefix, i); Refuses(id, percent) == refused {
			return id
		}
	}
	t.Fatalf("no order %s-* with Refuses = %v", prefix, refused)
	return ""
}

func TestChaosRefuse(t *testing.T) {
	e := newEnv(t)
	e.behave(t, `{"chaos":{"refusePercent":30}}`)
	refused, accepted := findOrder(t, "o-ref", 30, true), findOrder(t, "o-ref", 30, false)
	id := e.mustCall(t, newInst(accepted, "1")).InstanceID
	refresh := sellerapi.RefreshInstanceRequest{Activity: sellerapi.ActivityRefreshInstance, Scene: sellerapi.SceneRenewal,
		OrderID: refused, OrderLineID: refused + "-1", InstanceID: id, ExpireTime: "20300101000000"}
	tests := []struct {
		name string
		req  any
		want string
	}{
		{"refused", newInst(refused, "1"), sellerapi.CodeInvalidParameter},
		{"refused again", newInst(refused, "1"), sellerapi.CodeInvalidParameter},
		{"another line of the refused order", newInst(refused, "2"), sellerapi.CodeInvalidParameter},
		{"accepted", newInst(accepted, "1"), sellerapi.CodeSuccess},
		{"other activities are not refused", refresh, sellerapi.CodeSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.call(t, tt.req)
			if res.ResultCode != tt.want {
				t.Fatalf("code %q (%v), want %s", res.ResultCode, err, tt.want)
			}
			var ce *sellerapi.CallError
			if tt.want == sellerapi.CodeInvalidParameter && (!errors.As(err, &ce) || ce.Class.Retryable()) {
				t.Errorf("refusal: err %v, want a non-retryable failure", err)
			}
		})
	}
	if list := e.instances(t, refused); len(list) != 0 {
		t.Errorf("refused order has instances %+v", list)
	}
	if st := e.stats(t)["newInstance"]; st["refused:000002"] != 3 || st["000000"] != 2 {
		t.Errorf("stats = %v", st)
	}
}

func TestChaosGone(t *testing.T) {
	e := newEnv(t)
	id := e.mustCall(t, newInst("o-gone", "1")).InstanceID
	e.behave(t, `{"chaos":{"gonePercent":100}}`)
	tests := []struct {
		name    string
		req     any
		want    string
		statKey string
	}{
		{"release answers gone", release(id), sellerapi.CodeInstanceNotFound, "gone:000003"},
		{"release again answers gone", release(id), sellerapi.CodeInstanceNotFound, "gone:000003"},
		{"unknown instance is not chaos", release("inst-nope"), sellerapi.CodeInstanceNotFound, "000003"},
		{"other activities are not gone", newInst("o-gone", "2"), sellerapi.CodeSuccess, "000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.codeOf(t, tt.req); got != tt.want {
				t.Fatalf("code %s, want %s", got, tt.want)
			}
			if log := e.callLog(t); log[len(log)-1] != tt.statKey {
				t.Errorf("logged %s, want %s", log[len(log)-1], tt.statKey)
			}
		})
	}
	if got := e.instances(t, "o-gone")[0].Status; got != statusReleased {
		t.Errorf("status %s, want released: gone still releases", got)
	}
	if st := e.stats(t)["releaseInstance"]; st["gone:000003"] != 2 || st["000003"] != 1 {
		t.Errorf("stats = %v", st)
	}
}

// badSignatures counts what authentication refused, whatever the reason, and nothing that
// was injected.
func TestBadSignatures(t *testing.T) {
	body := []byte(`{"activity":"queryInstance","instanceId":"inst-x"}`)
	replayed, replayTS := nonce(t), ""
	tests := []struct {
		name      string
		behaviour string
		send      func(e *env) (int, sellerapi.Response)
		want      string
		bad       int // badSignatures afterwards
	}{
		{"good", `{}`, func(e *env) (int, sellerapi.Response) {
			replayTS = nowMs(e.clock.Now())
			s, r, _ := e.rawPost(t, sellerID, key, replayed, replayTS, body)
			return s, r
		}, "000003", 0},
		{"wrong key", `{}`, func(e *env) (int, sellerapi.Response) {
			s, r, _ := e.rawPost(t, sellerID, "sk-not-the-key-000", nonce(t), nowMs(e.clock.Now()), body)
			return s, r
		}, "000001", 1},
		{"stale timestamp", `{}`, func(e *env) (int, sellerapi.Response) {
			s, r, _ := e.rawPost(t, sellerID, key, nonce(t), nowMs(e.clock.Now().Add(-2*SignatureWindow)), body)
			return s, r
		}, "000001", 2},
		{"replayed nonce", `{}`, func(e *env) (int, sellerapi.Response) {
			s, r, _ := e.rawPost(t, sellerID, key, replayed, replayTS, body)
			return s, r
		}, "000001", 3},
		{"no parameters", `{}`, func(e *env) (int, sellerapi.Response) {
			res, err := http.Post(e.endpoint(sellerID), "application/json", strings.NewReader(string(body)))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var r sellerapi.Response
			if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
				t.Fatal(err)
			}
			return res.StatusCode, r
		}, "000001", 4},
		{"injected by failNext", `{"failNext":{"count":1,"resultCode":"000001"}}`, func(e *env) (int, sellerapi.Response) {
			s, r, _ := e.rawPost(t, sellerID, key, nonce(t), nowMs(e.clock.Now()), body)
			return s, r
		}, "000001", 4},
		{"injected by chaos", `{"chaos":{"failPercent":100,"seed":1}}`, func(e *env) (int, sellerapi.Response) {
			var s int
			var r sellerapi.Response
			for range 20 { // seed 1 gives a 000001 among them (TestChaosFail)
				s, r, _ = e.rawPost(t, sellerID, key, nonce(t), nowMs(e.clock.Now()), body)
			}
			return s, r
		}, "", 4},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.behave(t, tt.behaviour)
			status, r := tt.send(e)
			if tt.want != "" && (status != http.StatusOK || r.ResultCode != tt.want) {
				t.Fatalf("HTTP %d code %s, want 200 %s", status, r.ResultCode, tt.want)
			}
			if got := e.sellerStats(t, sellerID).BadSignatures; got != tt.bad {
				t.Errorf("badSignatures = %d, want %d", got, tt.bad)
			}
		})
	}
	st := e.sellerStats(t, sellerID)
	if st.Calls["queryInstance"]["chaos:000001"] == 0 {
		t.Errorf("no injected 000001 in %v: the last case tested nothing", st.Calls)
	}
	if st.Calls["queryInstance"]["000001"] != 4+1 { // the real ones, plus failNext's
		t.Errorf("stats = %v", st.Calls)
	}
}

func TestAllStats(t *testing.T) {
	e := newEnv(t)
	const key2 = "sk-second-seller-key"
	e.admin(t, http.MethodPut, "/admin/sellers/s2", `{"accessKey":"`+key2+`"}`, nil)
	e.mustCall(t, newInst("o-all", "1"))
	e.mustCall(t, newInst("o-all", "2"))
	e.rawPost(t, sellerID, "sk-not-the-key-000", nonce(t), nowMs(e.clock.Now()), []byte(`{}`))
	if _, err := e.client.Call(t.Context(), e.endpoint("s2"), key2, true, newInst("o-all2", "1")); err != nil {
		t.Fatal(err)
	}
	var all struct {
		Sellers map[string]statsAnswer `json:"sellers"`
	}
	if code := e.admin(t, http.MethodGet, "/admin/stats", "", &all); code != http.StatusOK {
		t.Fatalf("HTTP %d", code)
	}
	a, b := all.Sellers[sellerID], all.Sellers["s2"]
	if len(all.Sellers) != 2 || a.Instances != 2 || a.BadSignatures != 1 || a.Calls["newInstance"]["000000"] != 2 ||
		b.Instances != 1 || b.BadSignatures != 0 || b.Calls["newInstance"]["000000"] != 1 {
		t.Fatalf("stats = %+v", all)
	}
	one := e.sellerStats(t, sellerID)
	if one.SellerID != sellerID || one.Instances != a.Instances || one.BadSignatures != a.BadSignatures || fmt.Sprint(one.Calls) != fmt.Sprint(a.Calls) {
		t.Errorf("seller stats %+v differ from %+v", one, a)
	}
	e.admin(t, http.MethodPost, "/admin/reset", "", nil)
	var reset struct {
		Sellers map[string]statsAnswer `json:"sellers"`
	}
	e.admin(t, http.MethodGet, "/admin/stats", "", &reset)
	if a := reset.Sellers[sellerID]; len(reset.Sellers) != 1 || a.Instances != 0 || a.BadSignatures != 0 || len(a.Calls) != 0 {
		t.Errorf("after reset: %+v", reset)
	}
}

// The same seed gives the same sequence of outcomes, so a failing soak can be replayed.
func TestChaosSeed(t *testing.T) {
	run := func(seed int) []string {
		e := newEnv(t)
		e.behave(t, fmt.Sprintf(`{"chaos":{"failPercent":40,"losePercent":30,"latencyMaxMs":2,"seed":%d}}`, seed))
		for i := range 40 {
			e.call(t, newInst(fmt.Sprintf("o-seed-%d", i), "1"))
		}
		return e.callLog(t)
	}
	a, b, other := run(42), run(42), run(43)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different outcomes:\n%v\n%v", a, b)
	}
	if slices.Equal(a, other) {
		t.Errorf("seeds 42 and 43 gave the same outcomes: %v", a)
	}
	kinds := map[string]bool{}
	for _, k := range a {
		kinds[strings.SplitN(k, ":", 2)[0]] = true
	}
	if !kinds["chaos"] || !kinds["lost"] || !kinds["000000"] {
		t.Errorf("outcomes %v, want failures, lost answers and successes", a)
	}
}

func TestChaosLatency(t *testing.T) {
	const seed, maxMs, fixedMs = 7, 150, 20
	e := newEnv(t)
	e.behave(t, fmt.Sprintf(`{"latencyMs":%d,"chaos":{"latencyMaxMs":%d,"seed":%d}}`, fixedMs, maxMs, seed))
	draws := newChaosRand(seed) // the simulator's source, replayed: latency is the only draw
	var longest int64
	for i := range 6 {
		want := fixedMs + draws.Int64N(maxMs+1)
		longest = max(longest, want)
		start := time.Now()
		if r := e.mustCall(t, newInst("o-lat", fmt.Sprint(i))); r.ResultCode != sellerapi.CodeSuccess {
			t.Fatalf("call %d: %+v", i, r)
		}
		if d := time.Since(start); d < msDuration(want) {
			t.Errorf("call %d answered after %s, want at least %dms", i, d, want)
		}
	}
	if longest < fixedMs+maxMs/4 {
		t.Errorf("longest drawn latency %dms: the draws do not spread over 0-%dms", longest, maxMs)
	}

	// A caller giving up ends the wait: nothing is done, the call is not even counted.
	e.behave(t, `{"latencyMs":0,"chaos":{"latencyMaxMs":120000,"seed":7}}`)
	if first := newChaosRand(seed).Int64N(120001); first < 5000 {
		t.Fatalf("seed draws %dms first; pick a seed drawing a long wait", first)
	}
	before := e.sellerStats(t, sellerID)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := e.client.Call(ctx, e.endpoint(sellerID), key, true, newInst("o-lat", "never")); err == nil {
		t.Fatal("want the call to time out")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("gave up after %s", d)
	}
	if after := e.sellerStats(t, sellerID); fmt.Sprint(after.Calls) != fmt.Sprint(before.Calls) {
		t.Errorf("stats changed by an abandoned call: %v -> %v", before.Calls, after.Calls)
	}
}
