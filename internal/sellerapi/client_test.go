package sellerapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/testkit"
)

const testKey = "sk-client-test-secret-key-42"

var newReq = NewInstanceRequest{Activity: ActivityNewInstance, OrderID: "o-1", OrderLineID: "o-1-000001", BusinessID: "b-1"}

// seen records what the test seller received, to check signing and to hunt for leaks.
type seen struct {
	mu        sync.Mutex
	signature string
	nonce     string
	query     string
	verified  bool
}

// reply describes the test seller's answer.
type reply struct {
	status int
	body   string
	sign   string // "" = sign correctly, "-" = no header, other = header value
	delay  time.Duration
}

// newSeller starts a seller that verifies the request like a real one would and answers
// with r. A request that fails verification gets 000001.
func newSeller(t *testing.T, r reply) (*httptest.Server, *seen) {
	t.Helper()
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		q := req.URL.Query()
		ok := req.Method == http.MethodPost &&
			req.Header.Get("Content-Type") == "application/json" &&
			regexp.MustCompile(`^\d{13}$`).MatchString(q.Get("timestamp")) &&
			regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(q.Get("nonce")) &&
			VerifySignature(testKey, q.Get("nonce"), q.Get("timestamp"), body, q.Get("signature"))
		s.mu.Lock()
		s.signature, s.nonce, s.query, s.verified = q.Get("signature"), q.Get("nonce"), req.URL.RawQuery, ok
		s.mu.Unlock()
		if r.delay > 0 {
			select {
			case <-time.After(r.delay):
			case <-req.Context().Done():
				return
			}
		}
		out := r.body
		if !ok {
			out = `{"resultCode":"000001","resultMsg":"bad signature"}`
		}
		switch r.sign {
		case "":
			w.Header().Set("Body-Sign", BodySignHeader(testKey, []byte(out)))
		case "-":
		default:
			w.Header().Set("Body-Sign", r.sign)
		}
		status := r.status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		io.WriteString(w, out)
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

func newTestClient(t *testing.T, opts ClientOptions) (*Client, *testkit.SyncBuffer) {
	t.Helper()
	logs := &testkit.SyncBuffer{}
	if opts.Transport == nil {
		// The test sellers listen on loopback.
		opts.Policy.Development = true
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, logs
}

func TestCall(t *testing.T) {
	wrongSign := `sign_type="HMAC-SHA256", signature="uWZg4u1hrhtu43shwajJBItnm+0wtyxtJ3vNyYAXZHc="`
	tests := []struct {
		name       string
		reply      reply
		verify     bool
		wantClass  Class // ClassSuccess with wantErr false = nil error
		wantErr    bool
		wantStatus int
		wantCode   string
		wantIs     error
	}{
		{"success", reply{body: `{"resultCode":"000000","resultMsg":"ok","instanceId":"inst-1"}`}, true, ClassSuccess, false, 200, "000000", nil},
		{"pending", reply{body: `{"resultCode":"000004","resultMsg":"wait","instanceId":"inst-1"}`}, true, ClassPending, false, 200, "000004", nil},
		{"auth failed", reply{body: `{"resultCode":"000001","resultMsg":"x"}`}, true, ClassAuthFailed, true, 200, "000001", nil},
		{"invalid parameter", reply{body: `{"resultCode":"000002","resultMsg":"x"}`}, true, ClassInvalidParameter, true, 200, "000002", nil},
		{"not found", reply{body: `{"resultCode":"000003","resultMsg":"x"}`}, true, ClassInstanceNotFound, true, 200, "000003", nil},
		{"internal", reply{body: `{"resultCode":"000005","resultMsg":"x"}`}, true, ClassInternalError, true, 200, "000005", nil},
		{"refused", reply{body: `{"resultCode":"000104","resultMsg":"sold out"}`}, true, ClassRefused, true, 200, "000104", nil},
		{"licence refused", reply{body: `{"resultCode":"000901","resultMsg":"quota"}`}, true, ClassLicenseRefused, true, 200, "000901", nil},
		{"unknown code", reply{body: `{"resultCode":"123456","resultMsg":"?"}`}, true, ClassUnknownResult, true, 200, "123456", nil},
		{"no code", reply{body: `{"resultMsg":"?"}`}, true, ClassUnknownResult, true, 200, "", nil},
		{"http 500", reply{status: 500, body: `{"resultCode":"000000"}`}, true, ClassTransport, true, 500, "", nil},
		{"http 404", reply{status: 404, body: `{"resultCode":"000002"}`}, false, ClassTransport, true, 404, "", nil},
		{"redirect not followed", reply{status: 302, body: ``}, true, ClassTransport, true, 302, "", nil},
		{"garbage body", reply{body: `<html>oops</html>`}, true, ClassTransport, true, 200, "", nil},
		{"empty body", reply{body: ``}, false, ClassTransport, true, 200, "", nil},
		{"too large", reply{body: `{"resultCode":"000000","resultMsg":"` + strings.Repeat("a", MaxResponseBytes) + `"}`}, false, ClassTransport, true, 200, "", nil},
		{"body-sign missing, verify on", reply{body: `{"resultCode":"000000","resultMsg":"ok"}`, sign: "-"}, true, ClassTransport, true, 200, "", ErrBodySignMissing},
		{"body-sign missing, verify off", reply{body: `{"resultCode":"000000","resultMsg":"ok"}`, sign: "-"}, false, ClassSuccess, false, 200, "000000", nil},
		{"body-sign wrong, verify on", reply{body: `{"resultCode":"000000","resultMsg":"ok"}`, sign: wrongSign}, true, ClassTransport, true, 200, "", ErrBodySignInvalid},
		{"body-sign wrong, verify off", reply{body: `{"resultCode":"000000","resultMsg":"ok"}`, sign: wrongSign}, false, ClassSuccess, false, 200, "000000", nil},
		{"body-sign garbage, verify on", reply{body: `{"resultCode":"000000","resultMsg":"ok"}`, sign: "nonsense"}, true, ClassTransport, true, 200, "", ErrBodySignInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, s := newSeller(t, tt.reply)
			c, _ := newTestClient(t, ClientOptions{})
			res, err := c.Call(context.Background(), srv.URL+"/produce", testKey, tt.verify, newReq)
			if res == nil {
				t.Fatal("nil CallResult")
			}
			if !s.verified {
				t.Error("the seller could not verify the request")
			}
			if res.HTTPStatus != tt.wantStatus || res.ResultCode != tt.wantCode {
				t.Errorf("result = HTTP %d code %q, want HTTP %d code %q", res.HTTPStatus, res.ResultCode, tt.wantStatus, tt.wantCode)
			}
			if res.Latency <= 0 {
				t.Error("latency not measured")
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				if got := Classify(res.ResultCode); got != tt.wantClass {
					t.Errorf("class = %v, want %v", got, tt.wantClass)
				}
				return
			}
			var ce *CallError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want *CallError", err, err)
			}
			if ce.Class != tt.wantClass || ce.HTTPStatus != tt.wantStatus || ce.ResultCode != tt.wantCode {
				t.Errorf("CallError = %+v, want class %v status %d code %q", ce, tt.wantClass, tt.wantStatus, tt.wantCode)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.wantIs)
			}
			if !strings.HasPrefix(err.Error(), tt.wantClass.ErrorType()+": POST "+srv.URL+"/produce: ") {
				t.Errorf("message %q does not name class and endpoint", err)
			}
		})
	}
}

func TestCallDecodesResponse(t *testing.T) {
	body := `{"resultCode":"000000","resultMsg":"ok","info":[{"instanceId":"i1","appInfo":{"frontEndUrl":"https://f","password":"p"},"license":"L"}]}`
	srv, _ := newSeller(t, reply{body: body})
	c, logs := newTestClient(t, ClientOptions{})
	res, err := c.Call(context.Background(), srv.URL, testKey, true, QueryInstanceRequest{Activity: ActivityQueryInstance, InstanceID: "i1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Response.Info) != 1 || res.Response.Info[0].AppInfo.FrontEndURL != "https://f" || res.Response.Info[0].License != "L" {
		t.Errorf("response = %+v", res.Response)
	}
	if !strings.Contains(logs.String(), `"activity":"queryInstance"`) {
		t.Errorf("log does not name the activity: %s", logs)
	}
	if strings.Contains(logs.String(), `"p"`) || strings.Contains(logs.String(), "https://f") {
		t.Errorf("log shows instance details: %s", logs)
	}
}

func TestCallMergesEndpointQuery(t *testing.T) {
	srv, s := newSeller(t, reply{body: `{"resultCode":"000000","resultMsg":"ok"}`})
	c, _ := newTestClient(t, ClientOptions{})
	if _, err := c.Call(context.Background(), srv.URL+"/p?product=p1&signature=stale", testKey, true, newReq); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.query, "product=p1") || strings.Contains(s.query, "stale") || !s.verified {
		t.Errorf("query = %q, verified %v", s.query, s.verified)
	}
}

func TestCallFreshNonceEachCall(t *testing.T) {
	srv, s := newSeller(t, reply{body: `{"resultCode":"000000","resultMsg":"ok"}`})
	c, _ := newTestClient(t, ClientOptions{})
	nonces := map[string]bool{}
	for range 5 {
		if _, err := c.Call(context.Background(), srv.URL, testKey, true, newReq); err != nil {
			t.Fatal(err)
		}
		nonces[s.nonce] = true
	}
	if len(nonces) != 5 {
		t.Errorf("%d distinct nonces in 5 calls", len(nonces))
	}
}

func TestCallTimeout(t *testing.T) {
	srv, _ := newSeller(t, reply{body: `{"resultCode":"000000","resultMsg":"ok"}`, delay: 5 * time.Second})
	c, _ := newTestClient(t, ClientOptions{Timeout: 50 * time.Millisecond})
	start := time.Now()
	res, err := c.Call(context.Background(), srv.URL, testKey, true, newReq)
	var ce *CallError
	if !errors.As(err, &ce) || ce.Class != ClassTransport || !strings.Contains(ce.Msg, "timeout") {
		t.Fatalf("err = %v, want a transport timeout", err)
	}
	if res.HTTPStatus != 0 || time.Since(start) > 2*time.Second {
		t.Errorf("status %d after %s", res.HTTPStatus, time.Since(start))
	}
}

func TestCallContextCancelled(t *testing.T) {
	srv, _ := newSeller(t, reply{body: `{"resultCode":"000000","resultMsg":"ok"}`, delay: 5 * time.Second})
	c, _ := newTestClient(t, ClientOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Call(ctx, srv.URL, testKey, true, newReq)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want it to wrap context.DeadlineExceeded", err)
	}
}

func TestCallConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, _ := newTestClient(t, ClientOptions{})
	res, err := c.Call(context.Background(), url, testKey, true, newReq)
	var ce *CallError
	if !errors.As(err, &ce) || ce.Class != ClassTransport || res.HTTPStatus != 0 {
		t.Fatalf("err = %v, status %d; want a transport error without status", err, res.HTTPStatus)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCallEndpointPolicy(t *testing.T) {
	const body = `{"resultCode":"000000","resultMsg":"ok"}`
	public, dev := EndpointPolicy{}, EndpointPolicy{Development: true}
	tests := []struct {
		name     string
		policy   EndpointPolicy
		endpoint string
		allowed  bool
	}{
		{"public https", public, "https://seller.example/produce", true},
		{"public http", public, "http://seller.example/produce", false},
		{"public upper-case http", public, "HTTP://seller.example/produce", false},
		{"public loopback literal", public, "https://127.0.0.1:8090/produce", false},
		{"public private literal", public, "https://10.0.0.1/produce", false},
		{"public v6 loopback", public, "https://[::1]/produce", false},
		{"public mapped loopback", public, "https://[::ffff:127.0.0.1]/produce", false},
		{"public metadata", public, "https://169.254.169.254/latest", false},
		{"dev http name", dev, "http://seller.example/produce", true},
		{"dev http loopback", dev, "http://127.0.0.1:8090/produce", true},
		{"dev private", dev, "http://192.168.1.10/produce", true},
		{"dev metadata", dev, "http://169.254.169.254/latest", false},
		{"dev link-local", dev, "http://169.254.1.1/x", false},
		{"dev ftp", dev, "ftp://seller.example/produce", false},
		{"dev no scheme", dev, "seller.example/produce", false},
		{"dev garbage", dev, "://bad", false},
		{"dev empty", dev, "", false},
		{"listed network", EndpointPolicy{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}, "https://10.1.2.3/p", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				called = true
				h := http.Header{}
				h.Set("Body-Sign", BodySignHeader(testKey, []byte(body)))
				return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
			})
			c, _ := newTestClient(t, ClientOptions{Policy: tt.policy, Transport: rt})
			_, err := c.Call(context.Background(), tt.endpoint, testKey, true, newReq)
			if tt.allowed {
				if err != nil || !called {
					t.Fatalf("err = %v, called %v; want the call made", err, called)
				}
				return
			}
			var ce *CallError
			if !errors.As(err, &ce) || ce.Class != ClassTransport || called {
				t.Fatalf("err = %v, called %v; want a transport error before any request", err, called)
			}
		})
	}
}

// TestDialRefusesWhatTheNameResolvesTo: a name that passes the URL check but resolves to a
// loopback address (DNS rebinding, or a hostile seller's DNS) is refused by the dialer, on
// the connection itself, before a byte is sent.
func TestDialRefusesWhatTheNameResolvesTo(t *testing.T) {
	srv, got := newSeller(t, reply{status: 200, body: `{"resultCode":"000000","resultMsg":"ok","instanceId":"i"}`})
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	endpoint := "http://localhost:" + port + "/produce"

	c, err := NewClient(ClientOptions{Policy: EndpointPolicy{}})
	if err != nil {
		t.Fatal(err)
	}
	// Public policy: http itself is refused before dialling; use the dev scheme rule with
	// the public address rule to reach the dialer.
	c.policy.Development = true
	c.http.Transport = newTransport(EndpointPolicy{})
	_, err = c.Call(context.Background(), endpoint, testKey, true, newReq)
	if !errors.Is(err, ErrEndpointNotAllowed) {
		t.Fatalf("err = %v, want the dialer's refusal", err)
	}
	got.mu.Lock()
	received := got.nonce != ""
	got.mu.Unlock()
	if received {
		t.Fatal("the seller received the request")
	}

	// The development policy lets the same call through.
	dev, _ := newTestClient(t, ClientOptions{})
	if _, err := dev.Call(context.Background(), endpoint, testKey, true, newReq); err != nil {
		t.Fatalf("development policy: %v", err)
	}
}

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr   string
		public bool // allowed by the public policy
		dev    bool // allowed by the development policy
	}{
		{"8.8.8.8", true, true},
		{"2606:4700::1111", true, true},
		{"127.0.0.1", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"10.2.3.4", false, true},
		{"172.16.0.1", false, true},
		{"192.168.0.1", false, true},
		{"fc00::1", false, true},
		{"100.64.0.1", false, true},
		{"169.254.169.254", false, false},
		{"fd00:ec2::254", false, false},
		{"100.100.100.200", false, false},
		{"169.254.10.10", false, false},
		{"fe80::1", false, false},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"255.255.255.255", false, true},
		{"64:ff9b::7f00:1", false, true},
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.addr)
		if err := (EndpointPolicy{}).CheckAddr(ip); (err == nil) != tt.public {
			t.Errorf("public %s: %v, want allowed %v", tt.addr, err, tt.public)
		}
		if err := (EndpointPolicy{Development: true}).CheckAddr(ip); (err == nil) != tt.dev {
			t.Errorf("development %s: %v, want allowed %v", tt.addr, err, tt.dev)
		}
	}
	listed := EndpointPolicy{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}}
	if err := listed.CheckAddr(netip.MustParseAddr("169.254.169.254")); err != nil {
		t.Errorf("a listed metadata address is refused: %v", err)
	}
}

func TestNewClientValidates(t *testing.T) {
	tests := []struct {
		name string
		opts ClientOptions
		ok   bool
	}{
		{"zero", ClientOptions{}, true},
		{"development", ClientOptions{Policy: EndpointPolicy{Development: true}, Timeout: time.Second}, true},
		{"negative timeout", ClientOptions{Timeout: -time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.opts)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if tt.ok && tt.opts.Timeout == 0 && c.http.Timeout != DefaultTimeout {
				t.Errorf("timeout = %s, want default", c.http.Timeout)
			}
		})
	}
}

func TestCallNoAccessKey(t *testing.T) {
	srv, _ := newSeller(t, reply{body: `{"resultCode":"000000","resultMsg":"ok"}`})
	c, _ := newTestClient(t, ClientOptions{})
	var ce *CallError
	if _, err := c.Call(context.Background(), srv.URL, "", true, newReq); !errors.As(err, &ce) || ce.Class != ClassTransport {
		t.Fatalf("err = %v, want transport error", err)
	}
}

// No error message and no log line may carry the access key, the signature or the signed
// query: errors end up in Temporal history and logs in shared systems.
func TestCallNeverLeaksSecrets(t *testing.T) {
	replies := []reply{
		{body: `{"resultCode":"000001","resultMsg":"key ` + testKey + ` is wrong"}`},
		{body: `{"resultCode":"000005","resultMsg":"x"}`},
		{body: `{"resultCode":"000104","resultMsg":"x"}`},
		{status: 500, body: testKey},
		{status: 302},
		{body: `not json ` + testKey},
		{body: `{"resultCode":"000000","resultMsg":"ok"}`, sign: "-"},
		{body: `{"resultCode":"000000","resultMsg":"ok"}`, sign: `sign_type="HMAC-SHA256", signature="` + testKey + `"`},
		{body: `{"resultCode":"000000","resultMsg":"ok"}`, delay: time.Second},
	}
	for i, r := range replies {
		srv, s := newSeller(t, r)
		c, logs := newTestClient(t, ClientOptions{Timeout: 100 * time.Millisecond})
		_, err := c.Call(context.Background(), srv.URL+"/p?tenant=t1", testKey, true, newReq)
		if err == nil {
			t.Fatalf("reply %d: want an error", i)
		}
		s.mu.Lock()
		secrets := []string{testKey, s.signature, strings.ToLower(s.signature), "signature=", s.nonce, "tenant=t1"}
		s.mu.Unlock()
		for _, text := range []string{err.Error(), logs.String()} {
			for _, secret := range secrets {
				if secret != "" && strings.Contains(text, secret) {
					t.Errorf("reply %d: %q leaks %q", i, text, secret)
				}
			}
		}
		if u := errors.Unwrap(err); u != nil && strings.Contains(u.Error(), "signature=") {
			t.Errorf("reply %d: cause %q leaks the signed URL", i, u)
		}
	}
	// And before any request is made.
	c, logs := newTestClient(t, ClientOptions{})
	_, err := c.Call(context.Background(), "http://user:"+testKey+"@seller.example/p?k="+testKey, testKey, true, newReq)
	if err == nil || strings.Contains(err.Error(), testKey) || strings.Contains(logs.String(), testKey) {
		t.Errorf("rejected endpoint: err %v, logs %s", err, logs)
	}
}

func TestCallOverTLS(t *testing.T) {
	const body = `{"resultCode":"000000","resultMsg":"ok","instanceId":"inst-tls"}`
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Body-Sign", BodySignHeader(testKey, []byte(body)))
		io.WriteString(w, body)
	}))
	defer srv.Close()
	c, _ := newTestClient(t, ClientOptions{Transport: srv.Client().Transport, Policy: EndpointPolicy{Development: true}})
	res, err := c.Call(context.Background(), srv.URL+"/produce", testKey, true, newReq)
	if err != nil || res.Response.InstanceID != "inst-tls" {
		t.Fatalf("err %v, result %+v", err, res)
	}
}

// TestCallKeysDuringRotation: during a key rotation the request is signed with the active
// key, and an answer whose Body-Sign is made with the pending key is accepted, while one
// signed with neither is not; a key quoted in the seller's message never reaches the error.
func TestCallKeysDuringRotation(t *testing.T) {
	const pending = "sk-client-test-pending-key-7"
	body := `{"resultCode":"000005","resultMsg":"keys ` + testKey + ` and ` + pending + `"}`
	for _, tt := range []struct {
		name    string
		signBy  string
		keys    Keys
		wantErr Class
	}{
		{"answer signed with the pending key", pending, Keys{Sign: testKey, Pending: pending}, ClassInternalError},
		{"answer signed with the active key", testKey, Keys{Sign: testKey, Pending: pending}, ClassInternalError},
		{"answer signed with the pending key, no rotation", pending, Keys{Sign: testKey}, ClassTransport},
		{"answer signed with another key", "sk-some-other-key-000", Keys{Sign: testKey, Pending: pending}, ClassTransport},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, s := newSeller(t, reply{body: body, sign: BodySignHeader(tt.signBy, []byte(body))})
			c, logs := newTestClient(t, ClientOptions{})
			_, err := c.CallKeys(context.Background(), srv.URL, tt.keys, true, newReq)
			var ce *CallError
			if !errors.As(err, &ce) || ce.Class != tt.wantErr {
				t.Fatalf("err = %v, want class %v", err, tt.wantErr)
			}
			if !s.verified {
				t.Error("the request was not signed with the active key")
			}
			for _, k := range []string{testKey, pending} {
				if strings.Contains(err.Error(), k) || strings.Contains(logs.String(), k) {
					t.Errorf("a key leaked into the error or the log: %v", err)
				}
			}
		})
	}
}
