package sellersim

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

func TestFailNext(t *testing.T) {
	tests := []struct {
		name       string
		behaviour  string
		failures   int
		wantClass  sellerapi.Class
		wantStatus int
		wantCode   string // in CallError.ResultCode
		statKey    string
	}{
		{"default code", `{"failNext":{"count":1}}`, 1, sellerapi.ClassInternalError, 200, "000005", "000005"},
		{"refusal code", `{"failNext":{"count":2,"resultCode":"000104"}}`, 2, sellerapi.ClassRefused, 200, "000104", "000104"},
		{"licence code", `{"failNext":{"count":1,"resultCode":"000902"}}`, 1, sellerapi.ClassLicenseRefused, 200, "000902", "000902"},
		{"unknown code", `{"failNext":{"count":1,"resultCode":"999999"}}`, 1, sellerapi.ClassUnknownResult, 200, "999999", "999999"},
		{"http status", `{"failNext":{"count":1,"httpStatus":503}}`, 1, sellerapi.ClassTransport, 503, "", "http:503"},
		{"http status and code", `{"failNext":{"count":3,"httpStatus":500,"resultCode":"000001"}}`, 3, sellerapi.ClassTransport, 500, "", "http:500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.behave(t, tt.behaviour)
			for i := range tt.failures {
				res, err := e.call(t, newInst("o-f", "1"))
				var ce *sellerapi.CallError
				if !errors.As(err, &ce) || ce.Class != tt.wantClass || ce.HTTPStatus != tt.wantStatus || ce.ResultCode != tt.wantCode {
					t.Fatalf("call %d: err %v, result %+v", i, err, res)
				}
			}
			if got := len(e.instances(t, "")); got != 0 {
				t.Fatalf("%d instances made by failed calls, want 0", got)
			}
			if r := e.mustCall(t, newInst("o-f", "1")); r.ResultCode != sellerapi.CodeSuccess {
				t.Fatalf("after the failures: %+v", r)
			}
			stats := e.stats(t)["newInstance"]
			if stats[tt.statKey] != tt.failures || stats["000000"] != 1 {
				t.Errorf("stats = %v", stats)
			}
		})
	}
}

// A lost answer is the case idempotency exists for: the seller did the work, the client
// saw a failure, and its retry must get the same instance.
func TestLoseNext(t *testing.T) {
	e := newEnv(t)
	e.behave(t, `{"loseNext":1}`)
	res, err := e.call(t, newInst("o-lost", "1"))
	var ce *sellerapi.CallError
	if !errors.As(err, &ce) || ce.Class != sellerapi.ClassTransport || res.HTTPStatus != 0 {
		t.Fatalf("lost answer: err %v, status %d; want a transport error without status", err, res.HTTPStatus)
	}
	list := e.instances(t, "o-lost")
	if len(list) != 1 {
		t.Fatalf("instances after the lost answer: %+v", list)
	}
	r := e.mustCall(t, newInst("o-lost", "1"))
	if r.ResultCode != sellerapi.CodeSuccess || r.InstanceID != list[0].InstanceID {
		t.Fatalf("retry = %+v, want instance %s", r, list[0].InstanceID)
	}
	if list := e.instances(t, "o-lost"); len(list) != 1 || list[0].CreateCalls != 2 {
		t.Fatalf("instances after retry = %+v", list)
	}
	if stats := e.stats(t)["newInstance"]; stats["lost:000000"] != 1 || stats["000000"] != 1 {
		t.Errorf("stats = %v", stats)
	}
}

func TestLoseNextRelease(t *testing.T) {
	e := newEnv(t)
	id := e.mustCall(t, newInst("o-lr", "1")).InstanceID
	e.behave(t, `{"loseNext":2}`)
	for range 2 {
		if _, err := e.call(t, release(id)); err == nil {
			t.Fatal("want the answer lost")
		}
	}
	if got := e.codeOf(t, release(id)); got != sellerapi.CodeSuccess {
		t.Fatalf("third release: %s", got)
	}
}

func TestLatency(t *testing.T) {
	e := newEnv(t)
	e.behave(t, `{"latencyMs":300}`)
	slow, err := sellerapi.NewClient(sellerapi.ClientOptions{Timeout: 50 * time.Millisecond, Policy: sellerapi.EndpointPolicy{Development: true}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = slow.Call(context.Background(), e.endpoint(sellerID), key, true, newInst("o-t", "1"))
	var ce *sellerapi.CallError
	if !errors.As(err, &ce) || ce.Class != sellerapi.ClassTransport || !strings.Contains(ce.Msg, "timeout") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	start := time.Now()
	if r := e.mustCall(t, newInst("o-t", "2")); r.ResultCode != sellerapi.CodeSuccess {
		t.Fatalf("patient call: %+v", r)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("answered after %s, want at least 300ms", d)
	}
}

func TestSignResponsesOff(t *testing.T) {
	e := newEnv(t)
	if code := e.admin(t, http.MethodPut, "/admin/sellers/"+sellerID, `{"signResponses":false}`, nil); code != http.StatusOK {
		t.Fatalf("HTTP %d", code)
	}
	_, err := e.client.Call(context.Background(), e.endpoint(sellerID), key, true, newInst("o-u", "1"))
	if !errors.Is(err, sellerapi.ErrBodySignMissing) {
		t.Fatalf("verify on: err %v, want ErrBodySignMissing", err)
	}
	if _, err := e.client.Call(context.Background(), e.endpoint(sellerID), key, false, newInst("o-u", "1")); err != nil {
		t.Fatalf("verify off: %v", err)
	}
}

func TestKeyChange(t *testing.T) {
	e := newEnv(t)
	const newKey = "sk-rotated-key-987654"
	if code := e.admin(t, http.MethodPut, "/admin/sellers/"+sellerID, `{"accessKey":"`+newKey+`"}`, nil); code != http.StatusOK {
		t.Fatalf("HTTP %d", code)
	}
	// The old key: the seller answers 000001, signed with the key it now has, which
	// the client (holding the old key) cannot verify, so look at the code without it.
	res, err := e.client.Call(context.Background(), e.endpoint(sellerID), key, false, newInst("o-k", "1"))
	var ce *sellerapi.CallError
	if !errors.As(err, &ce) || ce.Class != sellerapi.ClassAuthFailed {
		t.Fatalf("old key: err %v, result %+v", err, res)
	}
	if _, err := e.client.Call(context.Background(), e.endpoint(sellerID), newKey, true, newInst("o-k", "1")); err != nil {
		t.Fatalf("new key: %v", err)
	}
}
