package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/sellerapi"
)

// TestAttack throws a corpus of hostile requests at the real stack as an attacker holding
// one token (or none) would: bodies built to exhaust a decoder, path traversal in IDs,
// header injection and repetition, wrong content types, slow bodies and headers, malformed
// HTTP, and every endpoint x caller pair outside the authorisation matrix. Every answer must
// be the right 4xx (a problem document wherever the request reaches the API), never a 5xx;
// nothing may be written (catalogue rows, orders, events, workflows, the victim order); the
// process's heap must stay bounded; and the service must still serve afterwards.
func TestAttack(t *testing.T) {
	catalogue(t, "s-atk", "p-atk", true)
	victim := "ATK-VICTIM"
	if r := do(t, buyer("c-victim", "POST", "/v1/orders", newOrder(victim, "c-victim", "p-atk", 5000, time.Hour))); r.status != http.StatusCreated {
		t.Fatalf("POST victim order: %d %s", r.status, r.body)
	}
	waitStatus(t, victim, order.Status(order.PhaseAwaitingAcceptance), 15*time.Second)
	before := takeSnapshot(t, victim)

	var peak atomic.Uint64
	stopSampling := sampleHeap(&peak)
	var baseline runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&baseline)

	var statuses sync.Map // status -> count, for the log
	count := func(status int) {
		v, _ := statuses.LoadOrStore(status, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	want4xx := func(t *testing.T, r reply, what string) {
		t.Helper()
		count(r.status)
		if r.status < 400 || r.status >= 500 {
			t.Errorf("%s: %d %.300s", what, r.status, r.body)
			return
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%s: %d with Content-Type %q, want a problem", what, r.status, ct)
		}
	}

	t.Run("decoder bombs", func(t *testing.T) {
		for _, target := range []call{
			buyer("c-atk", "POST", "/v1/orders", nil),
			ops("PUT", "/v1/sellers/ATK-s", nil),
			ops("PUT", "/v1/products/ATK-p", nil),
			ops("PUT", "/v1/customers/ATK-c", nil),
			buyer("c-victim", "POST", "/v1/orders/"+victim+"/acceptance", nil),
			ops("POST", "/v1/orders/"+victim+"/retry", nil),
		} {
			for name, body := range decoderBombs() {
				c := target
				c.body = body
				r := do(t, c)
				want4xx(t, r, c.method+" "+c.path+" "+name)
				if r.status != http.StatusBadRequest {
					t.Errorf("%s %s %s: %d, want 400", c.method, c.path, name, r.status)
				}
			}
		}
		// Four at once, five times each: the request that took 3.6 GB.
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 5 {
					r := do(t, buyer("c-atk", "POST", "/v1/orders", decoderBombs()["nested arrays"]))
					want4xx(t, r, "concurrent nested arrays")
				}
			})
		}
		wg.Wait()
	})

	t.Run("path traversal and odd IDs", func(t *testing.T) {
		for _, p := range []string{
			"/v1/orders/..%2f..%2fetc%2fpasswd", "/v1/orders/%2e%2e", "/v1/orders/%2e%2e/events",
			"/v1/orders/a%00b", "/v1/orders/a%0d%0aX-Injected:%201", "/v1/orders/" + strings.Repeat("a", 65),
			"/v1/orders/%E2%80%AE" + victim, "/v1/orders/" + victim + "%20", "/v1/orders/" + victim + "/..%2f..%2fsellers",
			"/v1/sellers/..%2fadmin", "/v1/products/%25", "/v1/orders/" + victim + "/events/../../acceptance",
			"/v1/seller-api/orders/..%2f" + victim,
		} {
			r := do(t, ops("GET", p, nil))
			want4xx(t, r, "GET "+p)
		}
	})

	t.Run("header injection and repetition", func(t *testing.T) {
		for name, hdr := range map[string]map[string]string{
			"actor id with spaces":      {"X-Actor-Id": "c victim"},
			"actor id with unicode":     {"X-Actor-Id": "c\u202evictim"},
			"actor id too long":         {"X-Actor-Id": strings.Repeat("c", 65)},
			"actor role admin":          {"X-Actor-Role": "admin"},
			"actor role ops":            {"X-Actor-Role": "ops"},
			"idempotency key with tab":  {"Idempotency-Key": "a\tb"},
			"idempotency key too long":  {"Idempotency-Key": strings.Repeat("k", 129)},
			"authorization lower-case":  {"Authorization": "bearer"},
			"authorization two schemes": {"Authorization": "Bearer " + webToken + " Bearer " + opsToken},
		} {
			c := buyer("c-victim", "POST", "/v1/orders/"+victim+"/acceptance", nil)
			c.headers = hdr
			r := do(t, c)
			want4xx(t, r, name)
		}
		for _, h := range []string{"Authorization", "X-Actor-Id", "X-Actor-Role", "Idempotency-Key", "Content-Type", "X-Signature"} {
			raw := rawRequest(t, "POST /v1/orders/"+victim+"/retry HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+opsToken+
				"\r\nX-Actor-Id: ops-alice\r\n"+h+": a\r\n"+h+": b\r\nContent-Length: 0\r\n\r\n", 5*time.Second)
			count(raw.status)
			if raw.status != http.StatusBadRequest || !strings.Contains(raw.body, `"field":"`+h+`"`) {
				t.Errorf("repeated %s: %d %s", h, raw.status, raw.body)
			}
		}
	})

	t.Run("wrong content types", func(t *testing.T) {
		for _, ct := range []string{"", "text/plain", "application/xml", "multipart/form-data; boundary=x",
			"application/x-www-form-urlencoded", "application/json; charset=latin1", "application/json-patch+json",
			"application/json, text/plain", "*/*"} {
			c := buyer("c-atk", "POST", "/v1/orders", `{"orderId":"ATK-CT"}`)
			c.headers = map[string]string{"Content-Type": ct}
			r := rawDo(t, c)
			count(r.status)
			if r.status != http.StatusUnsupportedMediaType {
				t.Errorf("Content-Type %q: %d %s", ct, r.status, r.body)
			}
		}
	})

	t.Run("malformed HTTP", func(t *testing.T) {
		// What the HTTP server itself refuses (the request never reaches the API) is a plain
		// 4xx from Go's net/http: there is no API to answer a problem document.
		for name, raw := range map[string]string{
			"NUL in a header":        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Actor-Id: a\x00b\r\n\r\n",
			"bare CR in a header":    "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Actor-Id: a\rX-Evil: 1\r\n\r\n",
			"space in the path":      "GET /v1/orders/a b HTTP/1.1\r\nHost: x\r\n\r\n",
			"smuggling CL and TE":    "POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			"bad chunk":              "POST /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + webToken + "\r\nX-Actor-Role: buyer\r\nX-Actor-Id: c-atk\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
			"headers over the limit": "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n",
			"HTTP/0.9":               "GET /healthz\r\n\r\n",
			"no Host":                "GET /healthz HTTP/1.1\r\n\r\n",
		} {
			r := rawRequest(t, raw, 5*time.Second)
			count(r.status)
			if r.status < 400 || r.status >= 500 {
				t.Errorf("%s: status %d (%q)", name, r.status, r.body)
			}
		}
	})

	t.Run("slow clients", func(t *testing.T) {
		// A body that trickles past API_READ_TIMEOUT (2 s here) is cut off with 408.
		head := "POST /v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + webToken +
			"\r\nX-Actor-Role: buyer\r\nX-Actor-Id: c-atk\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"orderId\":"
		r := rawSlow(t, head, 4*time.Second)
		count(r.status)
		if r.status != http.StatusRequestTimeout || !strings.Contains(r.body, `"code":"request_timeout"`) {
			t.Errorf("slow body: %d %s", r.status, r.body)
		}
		// Headers that never end: the server closes the connection.
		conn, err := net.Dial("tcp", stack.API.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		if _, err := io.ReadAll(conn); err != nil {
			t.Errorf("a slow header was not cut off: %v", err)
		}
	})

	// The authorisation matrix (api.md, "Callers"): every endpoint x caller pair that the
	// roles or ownership do not allow is refused, and changes nothing (the snapshot).
	t.Run("outside the authorisation matrix", func(t *testing.T) {
		n := 0
		for _, op := range contractOperations(t) {
			for _, cl := range matrixCallers {
				if op.allows(cl) {
					continue
				}
				n++
				r := matrixCall(t, op, cl, victim)
				count(r.status)
				if !slices.Contains(cl.refusal, r.status) {
					t.Errorf("%s as %s: %d %.200s, want one of %v", op.id, cl.name, r.status, r.body, cl.refusal)
				}
			}
		}
		t.Logf("%d disallowed endpoint x caller pairs, each refused", n)
	})

	t.Run("seller API forgeries", func(t *testing.T) {
		path := "/v1/seller-api/orders/" + victim
		now := time.Now()
		for name, h := range map[string]map[string]string{
			"no signature":     {},
			"wrong key":        signedHeaders("s-atk", "sk-wrong-key-00000", now, ""),
			"other seller":     signedHeaders("s-e2e", "sk-s-atk-0123456789", now, ""),
			"old timestamp":    signedHeaders("s-atk", "sk-s-atk-0123456789", now.Add(-2*time.Minute), ""),
			"body not signed":  signedHeaders("s-atk", "sk-s-atk-0123456789", now, `{"x":1}`),
			"upper-case nonce": withHeader(signedHeaders("s-atk", "sk-s-atk-0123456789", now, ""), "X-Nonce", strings.Repeat("A", 32)),
		} {
			c := call{method: "GET", path: path, headers: h}
			r := do(t, c)
			want4xx(t, r, "seller API "+name)
			if r.status != http.StatusUnauthorized {
				t.Errorf("seller API %s: %d", name, r.status)
			}
		}
	})

	stopSampling()
	grown := int64(peak.Load()) - int64(baseline.HeapInuse)
	t.Logf("heap in use: %d MB before the attack, peak %d MB during it", baseline.HeapInuse>>20, peak.Load()>>20)
	if grown > 256<<20 {
		t.Errorf("the heap grew by %d MB during the attack", grown>>20)
	}
	var summary []string
	statuses.Range(func(k, v any) bool {
		summary = append(summary, fmt.Sprintf("%v x%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	slices.Sort(summary)
	t.Logf("answers: %s", strings.Join(summary, ", "))

	after := takeSnapshot(t, victim)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed during the attack: %d -> %d", k, v, after[k])
		}
	}
	for _, id := range []string{"ATK-1", "ATK-CT", "ATK-s", "ATK-p", "ATK-c"} {
		if _, err := stack.Temporal.DescribeWorkflowExecution(context.Background(), order.WorkflowID(id), ""); err == nil {
			t.Errorf("a workflow for %s exists", id)
		}
	}

	// Still serving: ready, and an order goes through.
	if r := do(t, call{method: "GET", path: "/readyz"}); r.status != http.StatusOK {
		t.Fatalf("not ready after the attack: %d %s", r.status, r.body)
	}
	if r := do(t, buyer("c-after", "POST", "/v1/orders", newOrder("ATK-AFTER-1", "c-after", "p-atk", 100, time.Hour))); r.status != http.StatusCreated {
		t.Fatalf("an order after the attack: %d %s", r.status, r.body)
	}
	waitStatus(t, "ATK-AFTER-1", order.Status(order.PhaseAwaitingAcceptance), 15*time.Second)
}

// decoderBombs are bodies of about 48 KB, under the 64 KiB limit.
func decoderBombs() map[string]string {
	const n = 24000
	var distinct strings.Builder
	distinct.WriteString("{")
	for i := range 5000 {
		fmt.Fprintf(&distinct, `"k%d":1,`, i)
	}
	distinct.WriteString(`"z":1}`)
	return map[string]string{
		"nested arrays":  `{"orderId":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`,
		"nested objects": strings.Repeat(`{"a":`, 6000) + "1" + strings.Repeat("}", 6000),
		"long string":    `{"orderId":"` + strings.Repeat("x", 48000) + `"}`,
		"repeated key":   "{" + strings.Repeat(`"orderId":"a",`, 4000) + `"z":1}`,
		"many keys":      distinct.String(),
		"huge number":    `{"quantity":` + strings.Repeat("9", 48000) + `}`,
		"invalid UTF-8":  `{"orderId":"` + strings.Repeat("\xff", 48000) + `"}`,
		"many elements":  `{"orderId":[` + strings.Repeat(`1,`, 20000) + `1]}`,
	}
}

// snapshot is what the attack must not change.
func takeSnapshot(t *testing.T, victim string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	ctx := context.Background()
	for name, q := range map[string]string{
		"sellers":            `SELECT count(*) FROM sellers`,
		"products":           `SELECT count(*) FROM products`,
		"customers":          `SELECT count(*) FROM customers`,
		"idempotency keys":   `SELECT count(*) FROM idempotency_keys`,
		"seller nonces":      `SELECT count(*) FROM seller_api_nonces`,
		"attack orders":      `SELECT count(*) FROM orders WHERE order_id LIKE 'ATK-%' AND order_id NOT IN ('ATK-VICTIM', 'ATK-AFTER-1')`,
		"attack events":      `SELECT count(*) FROM order_events WHERE order_id LIKE 'ATK-%' AND order_id NOT IN ('ATK-VICTIM', 'ATK-AFTER-1')`,
		"victim transitions": `SELECT seq FROM orders WHERE order_id = 'ATK-VICTIM'`,
		"victim events":      `SELECT count(*) FROM order_events WHERE order_id = 'ATK-VICTIM'`,
		"victim settlements": `SELECT count(*) FROM settlements WHERE order_id = 'ATK-VICTIM'`,
		"appeals":            `SELECT count(*) FROM appeals`,
		"reviews":            `SELECT count(*) FROM reviews`,
		"licences":           `SELECT count(*) FROM order_licenses`,
	} {
		var n int64
		if err := stack.DB.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = n
	}
	_ = victim
	return out
}

// sampleHeap records the largest HeapInuse seen until stop is called.
func sampleHeap(peak *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			for {
				old := peak.Load()
				if m.HeapInuse <= old || peak.CompareAndSwap(old, m.HeapInuse) {
					break
				}
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// rawReply is an answer read off a raw connection.
type rawReply struct {
	status int
	body   string
}

// rawRequest writes raw bytes to the API's listener and reads one answer (status 0 when
// the server closed the connection without one).
func rawRequest(t *testing.T, raw string, within time.Duration) rawReply {
	t.Helper()
	conn, err := net.Dial("tcp", stack.API.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(within))
	if _, err := io.WriteString(conn, raw); err != nil {
		return rawReply{}
	}
	return readRawReply(conn)
}

func readRawReply(conn net.Conn) rawReply {
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return rawReply{}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	return rawReply{status: res.StatusCode, body: string(b)}
}

// rawSlow sends head, then one byte a second, until the server answers.
func rawSlow(t *testing.T, head string, within time.Duration) rawReply {
	t.Helper()
	conn, err := net.Dial("tcp", stack.API.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, head)
	got := make(chan rawReply, 1)
	go func() { got <- readRawReply(conn) }()
	deadline := time.After(within + 5*time.Second)
	for {
		select {
		case r := <-got:
			return r
		case <-deadline:
			t.Fatal("no answer to a slow body")
		case <-time.After(time.Second):
			io.WriteString(conn, "1")
		}
	}
}

// rawDo sends a call with its headers exactly as given (an empty Content-Type is sent as
// none), for what do's helpers would normalise.
func rawDo(t *testing.T, c call) reply {
	t.Helper()
	req, err := http.NewRequest(c.method, stack.API.URL+c.path, strings.NewReader(fmt.Sprint(c.body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("X-Actor-Role", c.actorRole)
	req.Header.Set("X-Actor-Id", c.actorID)
	for k, v := range c.headers {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, body: raw, header: res.Header}
}

func signedHeaders(sellerID, key string, at time.Time, body string) map[string]string {
	nonce, _ := sellerapi.NewNonce()
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	return map[string]string{
		"X-Seller-Id": sellerID, "X-Timestamp": ts, "X-Nonce": nonce,
		"X-Signature": sellerapi.Signature(key, nonce, ts, []byte(body)),
	}
}

func withHeader(h map[string]string, k, v string) map[string]string {
	h[k] = v
	return h
}

// matrixCaller is one kind of caller of the authorisation matrix (api.md, "Callers"), with
// the statuses that refuse it: 401 for who is not authenticated for the route, 403 for who
// is but may not call it, 404 for a buyer or seller asking about an order that is not
// theirs (answered exactly as a missing one).
type matrixCaller struct {
	name      string
	role      string // token role, "" for none, "seller-api" for a seller's signature
	actorKind string // for web
	actorID   string // the buyer or seller acted for; the victim order's own are c-victim, s-atk
	refusal   []int
}

var matrixCallers = []matrixCaller{
	{"nobody", "", "", "", []int{401}},
	{"a forged token", "forged", "", "", []int{401}},
	{"the order's buyer", "web", "buyer", "c-victim", []int{401, 403}},
	{"another buyer", "web", "buyer", "c-atk", []int{401, 403, 404}},
	{"the order's seller", "web", "seller", "s-atk", []int{401, 403}},
	{"another seller", "web", "seller", "s-other", []int{401, 403, 404}},
	{"ops", "ops", "", "ops-mallory", []int{401, 403}},
	{"billing", "billing", "", "", []int{401, 403}},
	{"the order's seller, signed", "seller-api", "", "s-atk", []int{401}},
	{"another seller, signed", "seller-api", "", "s-e2e", []int{401, 404}},
}

// matrixOp is an operation of the served contract with who may call it.
type matrixOp struct {
	id, method, path string
	roles, actors    []string
	hasBody          bool
}

// allows says whether the contract and ownership let the caller call the operation on the
// victim order: its role and user kind, and for a buyer or seller, the order being theirs.
func (o matrixOp) allows(c matrixCaller) bool {
	if len(o.roles) == 0 {
		return true // public
	}
	if !slices.Contains(o.roles, c.role) {
		return false
	}
	if c.role == "web" && !slices.Contains(o.actors, c.actorKind) {
		return false
	}
	onOrder := strings.Contains(o.path, "{orderId}")
	if onOrder && (c.role == "web" || c.role == "seller-api") {
		return c.actorID == "c-victim" || c.actorID == "s-atk"
	}
	return true
}

func contractOperations(t *testing.T) []matrixOp {
	t.Helper()
	res, err := http.Get(stack.API.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	strs := func(v any) []string {
		var out []string
		list, _ := v.([]any)
		for _, x := range list {
			out = append(out, x.(string))
		}
		return out
	}
	var ops []matrixOp
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, matrixOp{
				id: op.OperationID, method: method, path: path, hasBody: op.RequestBody != nil,
				roles: strs(op.Extensions["x-roles"]), actors: strs(op.Extensions["x-actors"]),
			})
		}
	}
	slices.SortFunc(ops, func(a, b matrixOp) int { return strings.Compare(a.id, b.id) })
	return ops
}

// matrixBodies are well-formed bodies for each operation, so that a refusal can only come
// from who is calling. IDs are the attack's own, except the victim order.
var matrixBodies = map[string]any{
	"putSeller":            map[string]any{"name": "ATK", "endpoint": "http://127.0.0.1:9/x", "accessKey": "atk-key-123456"},
	"putProduct":           map[string]any{"sellerId": "s-atk", "name": "ATK", "type": "saas", "billingMode": "monthly", "commissionRate": 1, "acceptanceCriteria": "x"},
	"putCustomer":          map[string]any{"level": "V2"},
	"createOrder":          newOrder("ATK-1", "c-atk", "p-atk", 1, time.Hour),
	"rejectOrder":          map[string]any{"reason": "attack"},
	"deliverOrder":         map[string]any{"note": "attack"},
	"reportDeployment":     map[string]any{"phase": "install", "state": "done"},
	"shipOrder":            map[string]any{"carrier": "X", "trackingNumber": "X1"},
	"signOffShipment":      map[string]any{"signedAt": "2030-01-01T00:00:00Z"},
	"appealOrder":          map[string]any{"reason": "attack"},
	"reviewOrder":          map[string]any{"quality": 1, "afterSales": 1, "deliverySpeed": 1},
	"resolveAppeal":        map[string]any{"outcome": "refund"},
	"runHealthCheck":       map[string]any{"reason": "attack", "productId": "p-atk"},
	"restartOrder":         map[string]any{"reason": "attack"},
	"cancelOrder":          map[string]any{"reason": "attack"},
	"forceAcceptOrder":     map[string]any{"reason": "attack"},
	"unfreezeOrder":        map[string]any{"reason": "attack"},
	"refreezeOrder":        map[string]any{"reason": "attack"},
	"extendOrderClock":     map[string]any{"reason": "attack", "clock": "auto_accept", "by": "1d"},
	"closeAppeal":          map[string]any{"note": "attack"},
	"putSubscriber":        map[string]any{"url": "https://atk.example/hook", "secret": "atk-secret-0123456789abcdef"},
	"replaySubscriber":     map[string]any{"after": "0"},
	"startKeyRotation":     map[string]any{"accessKey": "atk-key-123456"},
	"putSellerLimits":      map[string]any{"perSecond": 5, "concurrency": 2},
	"sellerDeliverLicense": map[string]any{"orderLineId": "ATK-VICTIM-1", "license": "LIC-ATTACK-0000"},
	"startConformanceRun":  map[string]any{"reason": "attack", "calls": []string{"newInstance"}},
}

func matrixCall(t *testing.T, op matrixOp, cl matrixCaller, victim string) reply {
	t.Helper()
	path := strings.NewReplacer("{orderId}", victim, "{sellerId}", "ATK-s", "{productId}", "ATK-p", "{customerId}", "ATK-c",
		"{appealId}", "AP00000000000000000000", "{runId}", "ATK-run").Replace(op.path)
	c := call{method: op.method, path: path, headers: map[string]string{}}
	if op.hasBody {
		c.body = matrixBodies[op.id]
		if c.body == nil {
			c.body = map[string]any{}
		}
	}
	switch cl.role {
	case "web":
		c.token, c.actorRole, c.actorID = webToken, cl.actorKind, cl.actorID
	case "ops":
		c.token, c.actorID = opsToken, cl.actorID
	case "billing":
		c.token = billingToken
	case "forged":
		c.token = "forged-token-" + url.PathEscape(op.id)
	case "seller-api":
		key := "sk-" + cl.actorID + "-0123456789"
		c.headers = signedHeaders(cl.actorID, key, time.Now(), "")
		if op.hasBody {
			// Signed over the exact body do will send.
			raw, _ := json.Marshal(c.body)
			c.body = string(raw)
			c.headers = signedHeaders(cl.actorID, key, time.Now(), string(raw))
		}
	}
	return do(t, c)
}
