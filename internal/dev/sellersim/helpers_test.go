package sellersim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/sellerapi"
	"github.com/cloudmarket/orders/internal/testkit"
)

const (
	sellerID = "seller-a"
	key      = "sk-sim-test-0123456789"
)

// env is a simulator served over real HTTP plus a protocol client.
type env struct {
	sim    *Simulator
	srv    *httptest.Server
	clock  *testkit.Clock
	client *sellerapi.Client
	logs   *testkit.SyncBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{clock: testkit.NewClock(time.Now()), logs: &testkit.SyncBuffer{}}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.sim = New(Options{Logger: log, Sellers: map[string]string{sellerID: key}, Now: e.clock.Now})
	e.srv = httptest.NewServer(e.sim)
	t.Cleanup(e.srv.Close)
	c, err := sellerapi.NewClient(sellerapi.ClientOptions{Timeout: 2 * time.Second, Logger: log, Policy: sellerapi.EndpointPolicy{Development: true}})
	if err != nil {
		t.Fatal(err)
	}
	e.client = c
	return e
}

func (e *env) endpoint(id string) string { return e.srv.URL + ProducePath(id) }

// call sends req to seller-a with the right key and Body-Sign verification on.
func (e *env) call(t *testing.T, req any) (*sellerapi.CallResult, error) {
	t.Helper()
	return e.client.Call(context.Background(), e.endpoint(sellerID), key, true, req)
}

// mustCall is call for requests expected to succeed or be pending.
func (e *env) mustCall(t *testing.T, req any) sellerapi.Response {
	t.Helper()
	res, err := e.call(t, req)
	if err != nil {
		t.Fatalf("%+v: %v", req, err)
	}
	return res.Response
}

// codeOf returns the result code of a call that got an answer.
func (e *env) codeOf(t *testing.T, req any) string {
	t.Helper()
	res, err := e.call(t, req)
	if res.HTTPStatus != http.StatusOK {
		t.Fatalf("%+v: no answer: %v", req, err)
	}
	return res.ResultCode
}

func newInst(order, line string) sellerapi.NewInstanceRequest {
	return sellerapi.NewInstanceRequest{Activity: sellerapi.ActivityNewInstance, OrderID: order, OrderLineID: line, BusinessID: strconv.FormatInt(time.Now().UnixNano(), 10)}
}

func query(ids string) sellerapi.QueryInstanceRequest {
	return sellerapi.QueryInstanceRequest{Activity: sellerapi.ActivityQueryInstance, InstanceID: ids}
}

func release(id string) sellerapi.ReleaseInstanceRequest {
	return sellerapi.ReleaseInstanceRequest{Activity: sellerapi.ActivityReleaseInstance, InstanceID: id}
}

func status(id string, s sellerapi.InstanceStatus) sellerapi.UpdateInstanceStatusRequest {
	return sellerapi.UpdateInstanceStatusRequest{Activity: sellerapi.ActivityUpdateInstanceStatus, InstanceID: id, Status: s}
}

// rawPost sends a hand-signed request, for what the client never does (replays, stale
// timestamps, wrong keys).
func (e *env) rawPost(t *testing.T, id, signKey, nonce, ts string, body []byte) (int, sellerapi.Response, http.Header) {
	t.Helper()
	q := url.Values{}
	q.Set("signature", sellerapi.Signature(signKey, nonce, ts, body))
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	resp, err := http.Post(e.endpoint(id)+"?"+q.Encode(), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r sellerapi.Response
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("answer %q: %v", raw, err)
	}
	if id == sellerID && resp.StatusCode == http.StatusOK {
		if err := sellerapi.VerifyBodySign(key, raw, resp.Header.Get("Body-Sign")); err != nil {
			t.Errorf("answer not signed: %v", err)
		}
	}
	return resp.StatusCode, r, resp.Header
}

// admin sends an admin request and decodes a JSON answer into out (if not nil).
func (e *env) admin(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: answer %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

func (e *env) behave(t *testing.T, body string) {
	t.Helper()
	if code := e.admin(t, http.MethodPut, "/admin/sellers/"+sellerID+"/behaviour", body, nil); code != http.StatusOK {
		t.Fatalf("behaviour %s: HTTP %d", body, code)
	}
}

func (e *env) instances(t *testing.T, orderID string) []instance {
	t.Helper()
	var list []instance
	if code := e.admin(t, http.MethodGet, "/admin/sellers/"+sellerID+"/instances?orderId="+url.QueryEscape(orderID), "", &list); code != http.StatusOK {
		t.Fatalf("instances: HTTP %d", code)
	}
	return list
}

func (e *env) stats(t *testing.T) map[string]map[string]int {
	t.Helper()
	var s struct {
		Calls map[string]map[string]int `json:"calls"`
	}
	if code := e.admin(t, http.MethodGet, "/admin/sellers/"+sellerID+"/stats", "", &s); code != http.StatusOK {
		t.Fatalf("stats: HTTP %d", code)
	}
	return s.Calls
}

func nowMs(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

func nonce(t *testing.T) string {
	t.Helper()
	n, err := sellerapi.NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// statsAnswer is GET /admin/sellers/{id}/stats, and one seller of GET /admin/stats.
type statsAnswer struct {
	SellerID      string                    `json:"sellerId"`
	Calls         map[string]map[string]int `json:"calls"`
	BadSignatures int                       `json:"badSignatures"`
	Instances     int                       `json:"instances"`
}

func (e *env) sellerStats(t *testing.T, id string) statsAnswer {
	t.Helper()
	var s statsAnswer
	if code := e.admin(t, http.MethodGet, "/admin/sellers/"+id+"/stats", "", &s); code != http.StatusOK {
		t.Fatalf("stats of %s: HTTP %d", id, code)
	}
	return s
}

// callLog is the result codes of seller-a's call log, oldest first.
func (e *env) callLog(t *testing.T) []string {
	t.Helper()
	var list []callRecord
	if code := e.admin(t, http.MethodGet, "/admin/sellers/"+sellerID+"/calls", "", &list); code != http.StatusOK {
		t.Fatalf("calls: HTTP %d", code)
	}
	codes := make([]string, len(list))
	for i, c := range list {
		codes[i] = c.ResultCode
	}
	return codes
}
