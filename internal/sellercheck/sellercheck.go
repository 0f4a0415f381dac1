// Package sellercheck is the seller conformance checker (issue 14 item 7): it calls a
// seller's production endpoint the way the marketplace does, with debug calls (testFlag "1")
// about mock orders, and checks that the seller keeps the rules of seller-protocol.md
// (response signatures, result codes, idempotency, asynchronous provisioning, timeouts, and
// refusing replayed, stale and wrongly signed requests). Each check passes or fails with
// evidence, so that a seller can fix its endpoint before going live and ops can see why a
// seller's calls fail.
//
// The same Run serves `orders seller-check` (a seller or ops at the command line) and
// POST /v1/sellers/{id}/conformance-runs (ops, with the seller's stored endpoint and key).
//
// The checker builds and signs its requests itself rather than through sellerapi.Client,
// because three of its checks must send requests the client is built never to send (a
// reused nonce, an old timestamp, a wrong signature), and because it must see an answer's
// Body-Sign, result code and latency even where the client would stop at the first fault.
// It still applies the same sellerapi.EndpointPolicy, on the URL and on every connection.
package sellercheck

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

// Defaults of Options.
const (
	// DefaultAsyncBound is how long an instance answered 000004 may take to become ready:
	// long enough for a real provisioning, short enough for ops to wait for the answer.
	DefaultAsyncBound = 60 * time.Second
	// DefaultPollInterval is the pause between two queryInstance polls of a pending instance.
	DefaultPollInterval = time.Second
)

// AllCalls are the calls a check run can cover (the activities of seller-protocol.md the checker knows).
var AllCalls = []sellerapi.Activity{
	sellerapi.ActivityNewInstance, sellerapi.ActivityQueryInstance, sellerapi.ActivityUpdateInstanceStatus,
	sellerapi.ActivityRefreshInstance, sellerapi.ActivityReleaseInstance,
}

// CallsFor gives the calls a seller's products need, by billing mode (yearly, monthly,
// one_time, pay_per_use; seller-protocol.md "Which calls a product needs"): create, query
// and release for every product, status updates and refresh for all but one-time ones. An
// unknown mode is an error, so a typo does not silently check less.
func CallsFor(billingModes []string) ([]sellerapi.Activity, error) {
	calls := []sellerapi.Activity{sellerapi.ActivityNewInstance, sellerapi.ActivityQueryInstance, sellerapi.ActivityReleaseInstance}
	for _, m := range billingModes {
		switch m {
		case "one_time":
		case "yearly", "monthly", "pay_per_use":
			calls = append(calls, sellerapi.ActivityUpdateInstanceStatus, sellerapi.ActivityRefreshInstance)
		default:
			return nil, fmt.Errorf("unknown billing mode %q (yearly, monthly, one_time, pay_per_use)", m)
		}
	}
	slices.Sort(calls)
	return slices.Compact(calls), nil
}

// ParseCalls parses a comma-separated list of activity names; "" or "all" is AllCalls
// (the calls every period product needs; "every" is EveryCall, the optional ones too).
// newInstance, queryInstance and releaseInstance are always checked (every product needs
// them, and the other calls need an instance), so they are added when left out.
func ParseCalls(list string) ([]sellerapi.Activity, error) {
	if strings.TrimSpace(list) == "" || list == "all" {
		return slices.Clone(AllCalls), nil
	}
	if list == "every" {
		return slices.Clone(EveryCall), nil
	}
	calls := []sellerapi.Activity{sellerapi.ActivityNewInstance, sellerapi.ActivityQueryInstance, sellerapi.ActivityReleaseInstance}
	for _, name := range strings.Split(list, ",") {
		a := sellerapi.Activity(strings.TrimSpace(name))
		if !knownCall(a) {
			return nil, fmt.Errorf("unknown call %q (%s)", a, callNames())
		}
		calls = append(calls, a)
	}
	slices.Sort(calls)
	return slices.Compact(calls), nil
}

// Target is the seller endpoint to check and the key it shares with the marketplace.
// AccessKey is used to sign and verify only: it never appears in a Report, a log or an
// error.
type Target struct {
	SellerID  string
	Endpoint  string
	AccessKey string
	// VerifyBodySign says the seller signs its answers (Body-Sign), as it is registered:
	// when false the response signature check is skipped, not failed.
	VerifyBodySign bool
	// PendingKey is the new key of a rotation under way ("" when none): a seller that moved
	// its endpoint to it before confirming signs its answers with it, which is accepted, as
	// the marketplace's own calls accept it. Requests are always signed with AccessKey.
	PendingKey string
}

// Options tunes a run. The zero value is the protocol's: 5 s per call, the public endpoint
// policy, every call, async instances ready within a minute.
type Options struct {
	Timeout      time.Duration            // per call; 0 = sellerapi.DefaultTimeout
	AsyncBound   time.Duration            // 0 = DefaultAsyncBound
	PollInterval time.Duration            // 0 = DefaultPollInterval
	Policy       sellerapi.EndpointPolicy // which endpoints may be called (SSRF rules)
	Calls        []sellerapi.Activity     // nil = AllCalls
	Logger       *slog.Logger             // nil = discard
	// Transport replaces the policy's own transport (tests); the policy's address check
	// then applies only to IP-literal endpoints.
	Transport http.RoundTripper
	// Now is the clock for timestamps and the report; nil = time.Now.
	Now func() time.Time
}

// Check outcomes.
const (
	StatusPass = "pass"
	StatusFail = "fail"
	// StatusSkip is a check that did not apply (a call the seller's products do not need,
	// Body-Sign of a seller that does not sign) or could not run because an earlier step
	// failed; that step's own check has failed then.
	StatusSkip = "skip"
)

// Names of the checks, stable: the API stores them and ops' runbooks name them.
const (
	CheckEndpointAllowed       = "endpoint_allowed"
	CheckNewInstance           = "new_instance"
	CheckInstanceReady         = "instance_ready"
	CheckNewInstanceIdempotent = "new_instance_idempotent"
	CheckFreeze                = "freeze"
	CheckUnfreeze              = "unfreeze"
	CheckRefreshRenewal        = "refresh_renewal"
	CheckRelease               = "release"
	CheckReleaseIdempotent     = "release_idempotent"
	CheckReplayedNonceRefused  = "replayed_nonce_refused"
	CheckStaleTimestampRefused = "stale_timestamp_refused"
	CheckWrongSignatureRefused = "wrong_signature_refused"
	CheckResponseSignatures    = "response_signatures"
	CheckResultCodes           = "result_codes"
	CheckAnswersWithinTimeout  = "answers_within_timeout"
)

// Internal constants of a run.
const (
	maxEvidence                = 300 // bytes of evidence per check
	staleBy                    = 5 * time.Minute
	mockLineSuffix             = "-000001"
	refusedCode                = sellerapi.CodeAuthFailed
	probeNotRefusedExplanation = "the seller must refuse it with 000001"
	wrongKeyPrefix             = "sellercheck-wrong-key-"
	mockOrderPrefix            = "MOCK"
	renewalExpiry              = 365 * 24 * time.Hour
	pollFloor                  = 10 * time.Millisecond
)

// Check is one rule checked, with the evidence: the request (activity) that showed it, the
// HTTP status, result code and latency of the answer, and what was wrong (or right).
type Check struct {
	Name       string `json:"name"`
	Status     string `json:"status"`
	Activity   string `json:"activity,omitempty"`
	HTTPStatus int    `json:"httpStatus,omitempty"`
	ResultCode string `json:"resultCode,omitempty"`
	LatencyMs  int64  `json:"latencyMs"`
	Evidence   string `json:"evidence"`
}

// Report is the outcome of a run. Passed is true when no check failed.
type Report struct {
	SellerID   string    `json:"sellerId"`
	Endpoint   string    `json:"endpoint"` // scheme, host and path: no user info, no query
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	Passed     bool      `json:"passed"`
	Checks     []Check   `json:"checks"`
}

// Failed lists the names of the failed checks.
func (r Report) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if c.Status == StatusFail {
			out = append(out, c.Name)
		}
	}
	return out
}

// Check returns the check of that name, and whether the run has it.
func (r Report) Check(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// exchange is one request sent and what came back.
type exchange struct {
	activity sellerapi.Activity
	status   int // 0 = no HTTP answer
	resp     sellerapi.Response
	parsed   bool
	latency  time.Duration
	err      string // why there is no usable answer; safe to show
	timedOut bool
	bodySign string   // "valid", "missing", "invalid"; "" when there was no answer
	infoIDs  []string // the instanceIds of a queryInstance answer's info
}

// outcome words an exchange for evidence.
func (x exchange) outcome() string {
	switch {
	case x.err != "":
		return x.err
	case !x.parsed:
		return "HTTP " + strconv.Itoa(x.status) + " without a JSON answer"
	}
	return fmt.Sprintf("HTTP %d, resultCode %q", x.status, x.resp.ResultCode)
}

// check makes a Check from the exchange that decided it.
func (x exchange) check(name string, pass bool, evidence string) Check {
	st := StatusFail
	if pass {
		st = StatusPass
	}
	return Check{Name: name, Status: st, Activity: string(x.activity), HTTPStatus: x.status,
		ResultCode: x.resp.ResultCode, LatencyMs: x.latency.Milliseconds(), Evidence: bound(evidence)}
}

// runner is one run's state.
type runner struct {
	t        Target
	o        Options
	u        *url.URL
	http     *http.Client
	log      *slog.Logger
	runID    string
	sent     []exchange // every exchange, for the checks over all answers
	checks   []Check
	instance string
}

// Run checks the target and reports every check; it returns an error only when it could not
// run at all (bad options). An endpoint the policy refuses is a failed check, not an error.
// ctx bounds the whole run: a run cut short reports what it saw, the rest as failed.
func Run(ctx context.Context, t Target, o Options) (Report, error) {
	if o.Timeout < 0 || o.AsyncBound < 0 || o.PollInterval < 0 {
		return Report{}, errors.New("sellercheck: negative timeout, async bound or poll interval")
	}
	if t.AccessKey == "" {
		return Report{}, errors.New("sellercheck: no access key")
	}
	if o.Timeout == 0 {
		o.Timeout = sellerapi.DefaultTimeout
	}
	if o.AsyncBound == 0 {
		o.AsyncBound = DefaultAsyncBound
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	o.PollInterval = max(o.PollInterval, pollFloor)
	if o.Calls == nil {
		o.Calls = AllCalls
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	transport := o.Transport
	if transport == nil {
		transport = o.Policy.Transport()
	}
	var rid [4]byte
	_, _ = rand.Read(rid[:])
	r := &runner{
		t: t, o: o, log: o.Logger, runID: strings.ToUpper(hex.EncodeToString(rid[:])),
		http: &http.Client{
			Timeout:   o.Timeout,
			Transport: transport,
			// A redirect would re-send the signed request elsewhere: a failure, as for the client.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	rep := Report{SellerID: t.SellerID, Endpoint: SafeEndpoint(t.Endpoint), StartedAt: o.Now().UTC()}
	r.run(ctx)
	rep.Checks = r.checks
	rep.FinishedAt = o.Now().UTC()
	rep.Passed = len(rep.Failed()) == 0
	r.log.LogAttrs(ctx, slog.LevelInfo, "seller conformance run", slog.String("seller", t.SellerID),
		slog.String("endpoint", rep.Endpoint), slog.Bool("passed", rep.Passed), slog.Any("failed", rep.Failed()))
	return rep, nil
}

// SafeEndpoint is the endpoint as it may be shown and stored: scheme, host and path, never
// user info or a query that could hold a credential.
func SafeEndpoint(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid endpoint)"
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

func (r *runner) add(c Check) { r.checks = append(r.checks, c) }

func (r *runner) skip(name string, activity sellerapi.Activity, why string) {
	r.add(Check{Name: name, Status: StatusSkip, Activity: string(activity), Evidence: why})
}

func (r *runner) wants(a sellerapi.Activity) bool { return slices.Contains(r.o.Calls, a) }

// mockOrder names a mock order by its kind (seller-protocol.md: debug calls use mock orders
// named by kind, line ID = order ID + "-000001"), unique to this run so that a second run
// does not meet the first one's instance.
func (r *runner) mockOrder(kind string) (orderID, lineID string) {
	id := mockOrderPrefix + "-" + kind + "-" + r.runID
	return id, id + mockLineSuffix
}

func (r *runner) run(ctx context.Context) {
	u, err := r.o.Policy.CheckURL(r.t.Endpoint)
	if err != nil {
		r.add(Check{Name: CheckEndpointAllowed, Status: StatusFail, Evidence: bound(err.Error())})
		for _, n := range []string{CheckNewInstance, CheckInstanceReady, CheckNewInstanceIdempotent, CheckFreeze, CheckUnfreeze,
			CheckRefreshRenewal, CheckRelease, CheckReleaseIdempotent, CheckReplayedNonceRefused, CheckStaleTimestampRefused,
			CheckWrongSignatureRefused, CheckResponseSignatures, CheckResultCodes, CheckAnswersWithinTimeout} {
			r.skip(n, "", "not run: the endpoint is not allowed")
		}
		for _, n := range append(slices.Clone(instanceChecks), otherChecks...) {
			r.skip(n, "", "not run: the endpoint is not allowed")
		}
		return
	}
	u.User, u.Fragment, u.RawFragment = nil, "", ""
	r.u = u
	r.add(Check{Name: CheckEndpointAllowed, Status: StatusPass, Evidence: "the endpoint passes the seller endpoint policy"})

	r.lifecycle(ctx)
	r.notifyAndCodes(ctx)
	r.probes(ctx)
	r.overall()
}

// lifecycle is the life of one mock instance: made, made again, ready, frozen, unfrozen,
// renewed, released, released again.
func (r *runner) lifecycle(ctx context.Context) {
	kind := "NEWYEARLY"
	if !r.wants(sellerapi.ActivityRefreshInstance) && !r.wants(sellerapi.ActivityUpdateInstanceStatus) {
		kind = "ONETIME"
	}
	orderID, lineID := r.mockOrder(kind)
	newReq := func() sellerapi.NewInstanceRequest {
		return sellerapi.NewInstanceRequest{Activity: sellerapi.ActivityNewInstance, OrderID: orderID, OrderLineID: lineID,
			BusinessID: uuid.NewString(), TestFlag: sellerapi.TestFlagDebug}
	}
	first := r.call(ctx, newReq())
	code := first.resp.ResultCode
	okNew := first.parsed && first.err == "" && (code == sellerapi.CodeSuccess || code == sellerapi.CodePending) && first.resp.InstanceID != ""
	if !okNew {
		why := first.outcome()
		if first.parsed && first.resp.InstanceID == "" && (code == sellerapi.CodeSuccess || code == sellerapi.CodePending) {
			why += " without an instanceId"
		}
		r.add(first.check(CheckNewInstance, false, "order "+orderID+": "+why+"; want 000000 or 000004 with an instanceId"))
		for _, n := range append([]string{CheckInstanceReady, CheckNewInstanceIdempotent, CheckFreeze, CheckUnfreeze, CheckRefreshRenewal, CheckRelease, CheckReleaseIdempotent}, instanceChecks...) {
			r.skip(n, "", "not run: newInstance gave no instance")
		}
		return
	}
	r.instance = first.resp.InstanceID
	r.add(first.check(CheckNewInstance, true, fmt.Sprintf("order %s: %s, instance %s", orderID, first.outcome(), r.instance)))

	r.ready(ctx, first)

	again := r.call(ctx, newReq())
	switch {
	case !again.parsed || again.err != "" || (again.resp.ResultCode != sellerapi.CodeSuccess && again.resp.ResultCode != sellerapi.CodePending):
		r.add(again.check(CheckNewInstanceIdempotent, false, "repeated newInstance (same order line, new businessId): "+again.outcome()+"; want the same instance"))
	case again.resp.InstanceID != r.instance:
		r.add(again.check(CheckNewInstanceIdempotent, false, fmt.Sprintf("repeated newInstance gave instance %q, the first gave %q: the seller must key on orderId+orderLineId", again.resp.InstanceID, r.instance)))
	default:
		r.add(again.check(CheckNewInstanceIdempotent, true, "repeated newInstance gave the same instance "+r.instance))
	}

	if r.wants(sellerapi.ActivityUpdateInstanceStatus) {
		for _, st := range []struct {
			name   string
			status sellerapi.InstanceStatus
		}{{CheckFreeze, sellerapi.StatusFreeze}, {CheckUnfreeze, sellerapi.StatusUnfreeze}} {
			x := r.call(ctx, sellerapi.UpdateInstanceStatusRequest{Activity: sellerapi.ActivityUpdateInstanceStatus,
				InstanceID: r.instance, Status: st.status, TestFlag: sellerapi.TestFlagDebug})
			r.add(x.check(st.name, x.success(), string(st.status)+": "+x.outcome()+wantSuccess(x)))
		}
	} else {
		r.skip(CheckFreeze, sellerapi.ActivityUpdateInstanceStatus, "not needed by the products checked")
		r.skip(CheckUnfreeze, sellerapi.ActivityUpdateInstanceStatus, "not needed by the products checked")
	}
	if r.wants(sellerapi.ActivityRefreshInstance) {
		rid, rline := r.mockOrder("RENEWAL")
		x := r.call(ctx, sellerapi.RefreshInstanceRequest{Activity: sellerapi.ActivityRefreshInstance, Scene: sellerapi.SceneRenewal,
			OrderID: rid, OrderLineID: rline, InstanceID: r.instance,
			ExpireTime: r.o.Now().UTC().Add(renewalExpiry).Format(sellerapi.ExpireTimeLayout), TestFlag: sellerapi.TestFlagDebug})
		r.add(x.check(CheckRefreshRenewal, x.success(), "RENEWAL order "+rid+": "+x.outcome()+wantSuccess(x)))
	} else {
		r.skip(CheckRefreshRenewal, sellerapi.ActivityRefreshInstance, "not needed by the products checked")
	}
	r.changes(ctx)

	uid, uline := r.mockOrder("UNSUBSCRIBE")
	rel := sellerapi.ReleaseInstanceRequest{Activity: sellerapi.ActivityReleaseInstance, InstanceID: r.instance,
		OrderID: uid, OrderLineID: uline, TestFlag: sellerapi.TestFlagDebug}
	x := r.call(ctx, rel)
	r.add(x.check(CheckRelease, x.success(), "release (unsubscribe order "+uid+"): "+x.outcome()+wantSuccess(x)))
	y := r.call(ctx, rel)
	// 000003 on a repeated release is what the marketplace treats as done, so it passes too.
	done := y.success() || (y.parsed && y.err == "" && y.resp.ResultCode == sellerapi.CodeInstanceNotFound)
	r.add(y.check(CheckReleaseIdempotent, done, "repeated release: "+y.outcome()+map[bool]string{true: "", false: "; want 000000 (or 000003, taken as done)"}[done]))
}

// ready checks the instance becomes ready: one queryInstance for a synchronous seller,
// polling until AsyncBound for one that answered 000004.
func (r *runner) ready(ctx context.Context, first exchange) {
	async := first.resp.ResultCode == sellerapi.CodePending
	start := time.Now()
	deadline := start.Add(r.o.AsyncBound)
	polls := 0
	for {
		x := r.call(ctx, sellerapi.QueryInstanceRequest{Activity: sellerapi.ActivityQueryInstance, InstanceID: r.instance, TestFlag: sellerapi.TestFlagDebug})
		polls++
		if x.success() {
			if !slices.Contains(x.infoIDs, r.instance) {
				r.add(x.check(CheckInstanceReady, false, "queryInstance answered 000000 without info for instance "+r.instance))
				return
			}
			how := "ready at once (synchronous)"
			if async {
				how = fmt.Sprintf("000004 then ready after %d queryInstance polls in %s (bound %s)", polls, time.Since(start).Round(time.Millisecond), r.o.AsyncBound)
			}
			r.add(x.check(CheckInstanceReady, true, how))
			return
		}
		pending := x.parsed && x.err == "" && x.resp.ResultCode == sellerapi.CodePending
		if !pending {
			r.add(x.check(CheckInstanceReady, false, "queryInstance: "+x.outcome()+"; want 000000 with info (or 000004 while provisioning)"))
			return
		}
		if !async {
			// A seller may say 000000 to newInstance and still be provisioning; poll then too.
			async = true
		}
		wait := r.o.PollInterval
		if time.Now().Add(wait).After(deadline) {
			r.add(x.check(CheckInstanceReady, false, fmt.Sprintf("still 000004 after %d queryInstance polls in %s: not ready within the bound %s", polls, time.Since(start).Round(time.Millisecond), r.o.AsyncBound)))
			return
		}
		select {
		case <-ctx.Done():
			r.add(x.check(CheckInstanceReady, false, "run cut short while polling: "+ctx.Err().Error()))
			return
		case <-time.After(wait):
		}
	}
}

func (x exchange) success() bool {
	return x.parsed && x.err == "" && x.resp.ResultCode == sellerapi.CodeSuccess
}

func wantSuccess(x exchange) string {
	if x.success() {
		return ""
	}
	return "; want 000000"
}

// probes sends the deliberately broken requests a seller must refuse with 000001: a
// replayed nonce, a stale timestamp, a wrong signature. They ask queryInstance (harmless)
// about the mock instance, or a made-up one when none was made.
func (r *runner) probes(ctx context.Context) {
	id := r.instance
	if id == "" {
		id = "MOCK-PROBE-" + r.runID
	}
	body, _ := json.Marshal(sellerapi.QueryInstanceRequest{Activity: sellerapi.ActivityQueryInstance, InstanceID: id, TestFlag: sellerapi.TestFlagDebug})
	key := r.t.AccessKey

	// Replay: the same signed request twice; the first must be accepted, the second refused.
	nonce, ts := newNonce(), r.timestamp(0)
	first := r.send(ctx, sellerapi.ActivityQueryInstance, body, nonce, ts, key)
	if !first.parsed || first.err != "" || first.resp.ResultCode == refusedCode {
		r.add(first.check(CheckReplayedNonceRefused, false, "a correctly signed request (before its replay): "+first.outcome()+"; want it accepted"))
	} else {
		again := r.send(ctx, sellerapi.ActivityQueryInstance, body, nonce, ts, key)
		r.add(r.refused(again, CheckReplayedNonceRefused, "the same request again (same nonce, timestamp, signature)"))
	}

	stale := r.send(ctx, sellerapi.ActivityQueryInstance, body, newNonce(), r.timestamp(-staleBy), key)
	r.add(r.refused(stale, CheckStaleTimestampRefused, "a correctly signed request with a timestamp "+staleBy.String()+" old"))

	wrong := r.send(ctx, sellerapi.ActivityQueryInstance, body, newNonce(), r.timestamp(0), wrongKeyPrefix+newNonce())
	r.add(r.refused(wrong, CheckWrongSignatureRefused, "a request signed with a wrong key"))
}

// refused checks that a broken request was refused with 000001 (any HTTP status).
func (r *runner) refused(x exchange, name, what string) Check {
	ok := x.parsed && x.resp.ResultCode == refusedCode
	if ok {
		return x.check(name, true, what+": refused with 000001")
	}
	return x.check(name, false, what+": "+x.outcome()+"; "+probeNotRefusedExplanation)
}

// overall checks every answer of the run: signed, with a known result code, in time.
func (r *runner) overall() {
	var last exchange
	if n := len(r.sent); n > 0 {
		last = r.sent[n-1]
	}
	if !r.t.VerifyBodySign {
		r.skip(CheckResponseSignatures, "", "the seller is registered as not signing its answers (verifyBodySign off)")
	} else if x, bad := r.first(func(x exchange) bool { return x.bodySign != "" && x.bodySign != "valid" }); bad {
		r.add(x.check(CheckResponseSignatures, false, fmt.Sprintf("Body-Sign %s on an answer to %s (%d answers, %d bad)", x.bodySign, x.activity,
			r.count(func(x exchange) bool { return x.bodySign != "" }), r.count(func(x exchange) bool { return x.bodySign != "" && x.bodySign != "valid" }))))
	} else {
		n := r.count(func(x exchange) bool { return x.bodySign != "" })
		r.add(last.check(CheckResponseSignatures, n > 0, fmt.Sprintf("%d answers, every Body-Sign valid", n)))
	}

	if x, bad := r.first(func(x exchange) bool {
		return x.parsed && sellerapi.Classify(x.resp.ResultCode) == sellerapi.ClassUnknownResult
	}); bad {
		r.add(x.check(CheckResultCodes, false, fmt.Sprintf("resultCode %q answered to %s is not in the protocol's table", x.resp.ResultCode, x.activity)))
	} else {
		r.add(last.check(CheckResultCodes, true, fmt.Sprintf("%d answers, every resultCode in the protocol's table", r.count(func(x exchange) bool { return x.parsed }))))
	}

	var slowest exchange
	for _, x := range r.sent {
		if x.latency >= slowest.latency {
			slowest = x
		}
	}
	if x, bad := r.first(func(x exchange) bool { return x.timedOut }); bad {
		r.add(x.check(CheckAnswersWithinTimeout, false, fmt.Sprintf("no answer to %s within the timeout %s (%d of %d calls timed out)",
			x.activity, r.o.Timeout, r.count(func(x exchange) bool { return x.timedOut }), len(r.sent))))
	} else {
		r.add(slowest.check(CheckAnswersWithinTimeout, true, fmt.Sprintf("%d calls, slowest %s (timeout %s)", len(r.sent), slowest.latency.Round(time.Millisecond), r.o.Timeout)))
	}
}

func (r *runner) first(f func(exchange) bool) (exchange, bool) {
	for _, x := range r.sent {
		if f(x) {
			return x, true
		}
	}
	return exchange{}, false
}

func (r *runner) count(f func(exchange) bool) int {
	n := 0
	for _, x := range r.sent {
		if f(x) {
			n++
		}
	}
	return n
}

// timestamp is the Unix-millisecond timestamp of now+offset.
func (r *runner) timestamp(offset time.Duration) string {
	return strconv.FormatInt(r.o.Now().Add(offset).UnixMilli(), 10)
}

// call sends a correctly signed request.
func (r *runner) call(ctx context.Context, req any) exchange {
	body, err := json.Marshal(req)
	activity := activityOf(body)
	if err != nil {
		x := exchange{activity: activity, err: "encode request: " + err.Error()}
		r.sent = append(r.sent, x)
		return x
	}
	return r.send(ctx, activity, body, newNonce(), r.timestamp(0), r.t.AccessKey)
}

func activityOf(body []byte) sellerapi.Activity {
	var a struct {
		Activity sellerapi.Activity `json:"activity"`
	}
	_ = json.Unmarshal(body, &a)
	return a.Activity
}

// send posts body signed with signKey under nonce and ts, and records what came back.
// Nothing it records contains the key, the signature or the signed URL.
func (r *runner) send(ctx context.Context, activity sellerapi.Activity, body []byte, nonce, ts, signKey string) exchange {
	x := exchange{activity: activity}
	defer func() { r.sent = append(r.sent, x) }()
	if err := ctx.Err(); err != nil {
		x.err = "not sent: run cut short (" + err.Error() + ")"
		return x
	}
	u := *r.u
	q := u.Query()
	q.Set("signature", sellerapi.Signature(signKey, nonce, ts, body))
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		x.err = "build request"
		return x
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := r.http.Do(req)
	if err != nil {
		x.latency = time.Since(start)
		cause := scrub(err)
		var ne net.Error
		x.timedOut = errors.Is(cause, context.DeadlineExceeded) || (errors.As(cause, &ne) && ne.Timeout())
		if x.timedOut {
			x.err = "no answer within " + r.o.Timeout.String()
		} else {
			x.err = bound("no answer: " + redact(cause.Error(), r.t.AccessKey))
		}
		return x
	}
	defer resp.Body.Close()
	x.status = resp.StatusCode
	raw, err := io.ReadAll(io.LimitReader(resp.Body, sellerapi.MaxResponseBytes+1))
	x.latency = time.Since(start)
	if err != nil {
		cause := scrub(err)
		var ne net.Error
		x.timedOut = errors.Is(cause, context.DeadlineExceeded) || (errors.As(cause, &ne) && ne.Timeout())
		x.err = bound("read answer: " + redact(cause.Error(), r.t.AccessKey))
		return x
	}
	if len(raw) > sellerapi.MaxResponseBytes {
		x.err = fmt.Sprintf("HTTP %d, answer larger than 1 MiB", x.status)
		return x
	}
	header := resp.Header.Get("Body-Sign")
	switch err := sellerapi.VerifyBodySign(r.t.AccessKey, raw, header); {
	case err == nil || (r.t.PendingKey != "" && sellerapi.VerifyBodySign(r.t.PendingKey, raw, header) == nil):
		x.bodySign = "valid"
	case errors.Is(err, sellerapi.ErrBodySignMissing):
		x.bodySign = "missing"
	default:
		x.bodySign = "invalid"
	}
	if err := json.Unmarshal(raw, &x.resp); err != nil {
		x.resp = sellerapi.Response{}
		return x
	}
	x.parsed = true
	// The answer is evidence, not something to keep: drop what could be a secret.
	for _, i := range x.resp.Info {
		x.infoIDs = append(x.infoIDs, i.InstanceID)
	}
	x.resp.Info, x.resp.License = nil, ""
	x.resp.ResultMsg = redact(redact(x.resp.ResultMsg, r.t.AccessKey), r.t.PendingKey)
	if x.status != http.StatusOK && x.resp.ResultCode != refusedCode {
		x.err = fmt.Sprintf("HTTP %d (resultCode %q)", x.status, x.resp.ResultCode)
	}
	return x
}

// scrub removes the *url.Error layer, whose message quotes the signed URL.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func redact(s, key string) string {
	if key != "" {
		s = strings.ReplaceAll(s, key, "[redacted]")
	}
	return s
}

// bound keeps evidence short: a seller chooses what its answers say.
func bound(s string) string {
	if len(s) > maxEvidence {
		return s[:maxEvidence] + "..."
	}
	return s
}

func newNonce() string {
	n, err := sellerapi.NewNonce()
	if err != nil {
		// crypto/rand does not fail on supported platforms; a fixed nonce would only make
		// the seller refuse the call, which the run then shows.
		return strings.Repeat("0", 32)
	}
	return n
}
