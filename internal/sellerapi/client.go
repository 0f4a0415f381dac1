package sellerapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout is the protocol's request timeout when none is configured.
const DefaultTimeout = 5 * time.Second

// MaxResponseBytes bounds how much of an answer is read, so a misbehaving seller cannot
// exhaust the worker's memory; a longer answer is a failed call.
const MaxResponseBytes = 1 << 20

// ClientOptions configures NewClient. The zero value is usable: 5 s timeout, the public
// endpoint policy (https to public addresses only), no logging.
type ClientOptions struct {
	Timeout time.Duration  // whole call, connect to last body byte; 0 = DefaultTimeout
	Policy  EndpointPolicy // which endpoints may be called; checked on every connection
	Logger  *slog.Logger   // nil = discard
	// Transport replaces the client's own (tests, custom TLS). The policy's address check
	// is then only applied to IP-literal endpoints: the dial is the transport's.
	Transport http.RoundTripper
}

// Client calls sellers' production endpoints. It is safe for concurrent use and is meant
// to be built once per worker, so connections to a seller are reused across calls.
type Client struct {
	http   *http.Client
	policy EndpointPolicy
	log    *slog.Logger
	now    func() time.Time
}

// NewClient builds a Client, rejecting a negative timeout so that a configuration mistake
// shows at start and not on the first order.
func NewClient(opts ClientOptions) (*Client, error) {
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("sellerapi: negative timeout %s", opts.Timeout)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	transport := opts.Transport
	if transport == nil {
		transport = newTransport(opts.Policy)
	}
	return &Client{
		http: &http.Client{
			Timeout:   opts.Timeout,
			Transport: transport,
			// A redirect would re-send the signed request elsewhere, possibly over http;
			// the protocol wants an answer from the registered endpoint, so 3xx is a failure.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		policy: opts.Policy,
		log:    opts.Logger,
		now:    time.Now,
	}, nil
}

// newTransport is http.DefaultTransport's configuration with a dialer that applies the
// endpoint policy to the address it connects to, and no proxy: a proxy from the environment
// would make every connection go to the proxy's address, out of the policy's sight.
func newTransport(p EndpointPolicy) *http.Transport {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: p.control}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = d.DialContext
	return t
}

// CallResult is what is known about one attempt, for the attempt record that feeds
// product health. Call returns it (never nil) on success and on failure alike; fields that
// were not reached stay zero (HTTPStatus 0 = no HTTP answer).
type CallResult struct {
	HTTPStatus int
	ResultCode string
	Response   Response
	Latency    time.Duration
}

// CallError is the error of a call that did not succeed. Class drives the retry decision
// (Class.Retryable, Class.ErrorType). Msg names the endpoint without its query string and
// never contains the access key or the signature, so it is safe to log and to store in
// Temporal history. Err is the cause (also scrubbed of the URL) for errors.Is, for example
// context.DeadlineExceeded or ErrBodySignInvalid; it may be nil.
type CallError struct {
	Class      Class
	HTTPStatus int
	ResultCode string
	Msg        string
	Err        error
}

// Error returns the class's error type followed by Msg.
func (e *CallError) Error() string { return e.Class.ErrorType() + ": " + e.Msg }

// Unwrap returns the cause, so errors.Is sees through a CallError.
func (e *CallError) Unwrap() error { return e.Err }

// Call sends one signed request to a seller endpoint and classifies the answer.
//
// req is marshalled to JSON (one of the *Request types); signature, timestamp (Unix ms)
// and a fresh nonce are added to the endpoint's query. The call fails with a *CallError of
// ClassTransport when the endpoint is not allowed (http outside the policy), on timeout or
// connection errors, on an HTTP status other than 200, on a body over MaxResponseBytes or
// not JSON, and, when verifyBodySign is set, on a missing or wrong Body-Sign header. A
// decoded answer with a result code other than 000000 or 000004 fails with the code's
// Class. Success and Pending return a nil error: polling is the caller's decision.
func (c *Client) Call(ctx context.Context, endpoint, accessKey string, verifyBodySign bool, req any) (*CallResult, error) {
	return c.CallKeys(ctx, endpoint, Keys{Sign: accessKey}, verifyBodySign, req)
}

// Keys are the seller's keys a call uses: Sign signs the request; a response's Body-Sign
// may be made with Sign or, during a rotation of the seller's key, with Pending (a seller
// whose endpoint moved to the new key before confirming it signs its answers with it).
type Keys struct {
	Sign    string
	Pending string
	// Redact is another secret the call carries (a licence code) that a seller's resultMsg
	// must not carry into errors and logs, should the seller echo it back.
	Redact string
}

// CallKeys is Call with the seller's keys of a rotation: the request is signed with
// keys.Sign, and a Body-Sign made with either key is accepted.
func (c *Client) CallKeys(ctx context.Context, endpoint string, keys Keys, verifyBodySign bool, req any) (*CallResult, error) {
	accessKey := keys.Sign
	res := &CallResult{}
	u, safe, err := c.checkEndpoint(endpoint)
	if err != nil {
		return res, c.fail(ctx, req, res, ClassTransport, safe, err.Error(), nil)
	}
	if accessKey == "" {
		return res, c.fail(ctx, req, res, ClassTransport, safe, "no access key configured", nil)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return res, c.fail(ctx, req, res, ClassTransport, safe, "encode request: "+err.Error(), err)
	}
	nonce, err := NewNonce()
	if err != nil {
		return res, c.fail(ctx, req, res, ClassTransport, safe, err.Error(), err)
	}
	ts := strconv.FormatInt(c.now().UnixMilli(), 10)
	q := u.Query()
	q.Set("signature", Signature(accessKey, nonce, ts, body))
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	u.RawQuery = q.Encode()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		// Not err itself: a URL parse error would quote the signed URL.
		return res, c.fail(ctx, req, res, ClassTransport, safe, "build request", nil)
	}
	hreq.Header.Set("Content-Type", "application/json")

	start := time.Now()
	resp, err := c.http.Do(hreq)
	if err != nil {
		res.Latency = time.Since(start)
		cause := scrub(err)
		return res, c.fail(ctx, req, res, ClassTransport, safe, describe(cause), cause)
	}
	defer resp.Body.Close()
	res.HTTPStatus = resp.StatusCode
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	res.Latency = time.Since(start)
	switch {
	case err != nil:
		cause := scrub(err)
		return res, c.fail(ctx, req, res, ClassTransport, safe, "read response: "+describe(cause), cause)
	case resp.StatusCode != http.StatusOK:
		return res, c.fail(ctx, req, res, ClassTransport, safe, "HTTP status "+strconv.Itoa(resp.StatusCode), nil)
	case len(raw) > MaxResponseBytes:
		return res, c.fail(ctx, req, res, ClassTransport, safe, "response body larger than 1 MiB", nil)
	}
	if verifyBodySign {
		if err := VerifyBodySign(accessKey, raw, resp.Header.Get("Body-Sign")); err != nil &&
			(keys.Pending == "" || VerifyBodySign(keys.Pending, raw, resp.Header.Get("Body-Sign")) != nil) {
			return res, c.fail(ctx, req, res, ClassTransport, safe, err.Error(), err)
		}
	}
	if err := json.Unmarshal(raw, &res.Response); err != nil {
		return res, c.fail(ctx, req, res, ClassTransport, safe, "unparsable response body: "+err.Error(), err)
	}
	res.ResultCode = res.Response.ResultCode
	class := Classify(res.ResultCode)
	if class == ClassSuccess || class == ClassPending {
		c.log.LogAttrs(ctx, slog.LevelDebug, "seller call", c.attrs(req, res, class, safe)...)
		return res, nil
	}
	msg := fmt.Sprintf("seller answered %q: %s", res.ResultCode, SafeResultMsg(res.Response.ResultMsg, keys))
	return res, c.fail(ctx, req, res, class, safe, msg, nil)
}

// Timeout is how long one call may take at most, connect to last byte.
func (c *Client) Timeout() time.Duration { return c.http.Timeout }

// checkEndpoint parses the endpoint and applies the policy's scheme and literal-address
// rules (the dialer checks resolved addresses). safe is the endpoint as it may appear in
// errors and logs: scheme, host and path, no user info, no query.
func (c *Client) checkEndpoint(endpoint string) (u *url.URL, safe string, err error) {
	u, err = url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, "(invalid endpoint)", errors.New("endpoint is not an absolute URL")
	}
	safe = u.Scheme + "://" + u.Host + u.EscapedPath()
	if _, err := c.policy.CheckURL(endpoint); err != nil {
		return nil, safe, err
	}
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	return u, safe, nil
}

// scrub removes the *url.Error layer, whose message quotes the request URL with its
// signature, keeping the underlying cause.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// describe words a transport cause for the attempt record, naming timeouts plainly.
func describe(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout: " + err.Error()
	}
	return err.Error()
}

// sellerMsg makes a seller's resultMsg fit for an error message: bounded in length and
// without the access key, should a seller echo it back.
func sellerMsg(msg, accessKey string) string {
	if accessKey != "" {
		msg = strings.ReplaceAll(msg, accessKey, "[redacted]")
	}
	const maxLen = 200
	if len(msg) > maxLen {
		msg = msg[:maxLen] + "..."
	}
	return msg
}

func (c *Client) fail(ctx context.Context, req any, res *CallResult, class Class, safe, msg string, cause error) error {
	e := &CallError{
		Class:      class,
		HTTPStatus: res.HTTPStatus,
		ResultCode: res.ResultCode,
		Msg:        "POST " + safe + ": " + msg,
		Err:        cause,
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "seller call failed", append(c.attrs(req, res, class, safe), slog.String("err", e.Msg))...)
	return e
}

func (c *Client) attrs(req any, res *CallResult, class Class, safe string) []slog.Attr {
	return []slog.Attr{
		slog.String("endpoint", safe),
		slog.String("activity", string(activityOf(req))),
		slog.Int("http_status", res.HTTPStatus),
		slog.String("result_code", res.ResultCode),
		slog.String("class", class.String()),
		slog.Duration("latency", res.Latency),
	}
}

// activityOf names the activity of a request for logs; "" for other types.
func activityOf(req any) Activity {
	if r, ok := req.(interface{ activity() Activity }); ok {
		return r.activity()
	}
	return ""
}

func (r NewInstanceRequest) activity() Activity          { return r.Activity }
func (r QueryInstanceRequest) activity() Activity        { return r.Activity }
func (r RefreshInstanceRequest) activity() Activity      { return r.Activity }
func (r UpdateInstanceStatusRequest) activity() Activity { return r.Activity }
func (r ReleaseInstanceRequest) activity() Activity      { return r.Activity }
