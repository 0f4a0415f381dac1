package sellersim

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

func TestNewInstanceIdempotent(t *testing.T) {
	e := newEnv(t)
	first := e.mustCall(t, newInst("o-1", "o-1-1"))
	if first.ResultCode != sellerapi.CodeSuccess || !strings.HasPrefix(first.InstanceID, "inst-") {
		t.Fatalf("first = %+v", first)
	}
	for i := range 4 { // businessId differs each time, as the marketplace sends it
		if r := e.mustCall(t, newInst("o-1", "o-1-1")); r.InstanceID != first.InstanceID {
			t.Fatalf("repeat %d: instance %s, want %s", i, r.InstanceID, first.InstanceID)
		}
	}
	other := e.mustCall(t, newInst("o-1", "o-1-2"))
	if other.InstanceID == first.InstanceID {
		t.Fatal("another order line got the same instance")
	}
	list := e.instances(t, "o-1")
	if len(list) != 2 || list[0].InstanceID != first.InstanceID || list[0].CreateCalls != 5 || list[1].CreateCalls != 1 {
		t.Fatalf("instances = %+v", list)
	}
	if list[0].Status != "active" || !list[0].Ready {
		t.Errorf("instance = %+v, want active and ready", list[0])
	}
}

func TestNewInstanceConcurrent(t *testing.T) {
	e := newEnv(t)
	ids := make([]string, 20)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			res, err := e.call(t, newInst("o-c", "o-c-1"))
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = res.Response.InstanceID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("instances differ: %v", ids)
		}
	}
	if list := e.instances(t, "o-c"); len(list) != 1 || list[0].CreateCalls != 20 {
		t.Fatalf("instances = %+v", list)
	}
}

func TestAsyncThenReady(t *testing.T) {
	e := newEnv(t)
	e.behave(t, `{"mode":"async","asyncDelayMs":5000}`)
	r := e.mustCall(t, newInst("o-a", "o-a-1"))
	if r.ResultCode != sellerapi.CodePending || r.InstanceID == "" {
		t.Fatalf("newInstance = %+v, want 000004 with instanceId", r)
	}
	id := r.InstanceID
	if got := e.mustCall(t, query(id)); got.ResultCode != sellerapi.CodePending || len(got.Info) != 0 {
		t.Fatalf("query before ready = %+v", got)
	}
	if got := e.mustCall(t, newInst("o-a", "o-a-1")); got.ResultCode != sellerapi.CodePending || got.InstanceID != id {
		t.Fatalf("repeat before ready = %+v", got)
	}
	if list := e.instances(t, "o-a"); list[0].Ready {
		t.Error("admin shows the instance ready too early")
	}
	e.clock.Advance(5 * time.Second)
	got := e.mustCall(t, query(id))
	if got.ResultCode != sellerapi.CodeSuccess || len(got.Info) != 1 || got.Info[0].InstanceID != id ||
		!strings.HasPrefix(got.Info[0].AppInfo.FrontEndURL, "https://") {
		t.Fatalf("query when ready = %+v", got)
	}
	if again := e.mustCall(t, query(id)); again.Info[0] != got.Info[0] {
		t.Errorf("info changed between queries: %+v vs %+v", again.Info[0], got.Info[0])
	}
	if got := e.mustCall(t, newInst("o-a", "o-a-1")); got.ResultCode != sellerapi.CodeSuccess || got.InstanceID != id {
		t.Fatalf("repeat when ready = %+v", got)
	}
	if list := e.instances(t, "o-a"); len(list) != 1 || !list[0].Ready {
		t.Errorf("instances = %+v", list)
	}
}

func TestQueryInstance(t *testing.T) {
	e := newEnv(t)
	a := e.mustCall(t, newInst("o-q", "1")).InstanceID
	b := e.mustCall(t, newInst("o-q", "2")).InstanceID
	many := strings.TrimSuffix(strings.Repeat(a+",", 100), ",")
	tests := []struct {
		name  string
		ids   string
		want  string
		infos int
	}{
		{"one", a, sellerapi.CodeSuccess, 1},
		{"two", a + "," + b, sellerapi.CodeSuccess, 2},
		{"spaces", a + ", " + b, sellerapi.CodeSuccess, 2},
		{"100", many, sellerapi.CodeSuccess, 100},
		{"101", many + "," + a, sellerapi.CodeInvalidParameter, 0},
		{"empty", "", sellerapi.CodeInvalidParameter, 0},
		{"trailing comma", a + ",", sellerapi.CodeInvalidParameter, 0},
		{"unknown", "inst-nope", sellerapi.CodeInstanceNotFound, 0},
		{"one unknown", a + ",inst-nope", sellerapi.CodeInstanceNotFound, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := e.call(t, query(tt.ids))
			if res.ResultCode != tt.want || len(res.Response.Info) != tt.infos {
				t.Fatalf("code %s with %d infos, want %s with %d", res.ResultCode, len(res.Response.Info), tt.want, tt.infos)
			}
		})
	}
}

func TestRefreshInstance(t *testing.T) {
	e := newEnv(t)
	id := e.mustCall(t, newInst("o-r", "1")).InstanceID
	refresh := func(id string, scene sellerapi.Scene, expire, order string) sellerapi.RefreshInstanceRequest {
		return sellerapi.RefreshInstanceRequest{Activity: sellerapi.ActivityRefreshInstance, Scene: scene,
			OrderID: order, OrderLineID: order + "-1", InstanceID: id, ExpireTime: expire}
	}
	tests := []struct {
		name   string
		req    sellerapi.RefreshInstanceRequest
		want   string
		expire string // expected expireTime afterwards
	}{
		{"renewal", refresh(id, sellerapi.SceneRenewal, "20270101000000", "o-r2"), sellerapi.CodeSuccess, "20270101000000"},
		{"repeat", refresh(id, sellerapi.SceneRenewal, "20270101000000", "o-r2"), sellerapi.CodeSuccess, "20270101000000"},
		{"trial to formal", refresh(id, sellerapi.SceneTrialToFormal, "20280229235959", "o-r3"), sellerapi.CodeSuccess, "20280229235959"},
		{"unsubscribe renewal", refresh(id, sellerapi.SceneUnsubscribeRenewalPeriod, "20270101000000", "o-r4"), sellerapi.CodeSuccess, "20270101000000"},
		{"iso date", refresh(id, sellerapi.SceneRenewal, "2027-01-01T00:00:00Z", "o-r5"), sellerapi.CodeInvalidParameter, "20270101000000"},
		{"month 13", refresh(id, sellerapi.SceneRenewal, "20271301000000", "o-r5"), sellerapi.CodeInvalidParameter, "20270101000000"},
		{"no leap day", refresh(id, sellerapi.SceneRenewal, "20270229000000", "o-r5"), sellerapi.CodeInvalidParameter, "20270101000000"},
		{"too short", refresh(id, sellerapi.SceneRenewal, "202701010000", "o-r5"), sellerapi.CodeInvalidParameter, "20270101000000"},
		{"empty expire", refresh(id, sellerapi.SceneRenewal, "", "o-r5"), sellerapi.CodeInvalidParameter, "20270101000000"},
		{"bad scene", refresh(id, "RENEW", "20290101000000", "o-r5"), sellerapi.CodeInvalidParameter, "20270101000000"},
		{"no order", refresh(id, sellerapi.SceneRenewal, "20290101000000", ""), sellerapi.CodeInvalidParameter, "20270101000000"},
		{"unknown instance", refresh("inst-nope", sellerapi.SceneRenewal, "20290101000000", "o-r5"), sellerapi.CodeInstanceNotFound, "20270101000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.codeOf(t, tt.req); got != tt.want {
				t.Fatalf("code %s, want %s", got, tt.want)
			}
			if got := e.instances(t, "o-r")[0].ExpireTime; got != tt.expire {
				t.Errorf("expireTime %q, want %q", got, tt.expire)
			}
		})
	}
}

func TestUpdateInstanceStatus(t *testing.T) {
	e := newEnv(t)
	id := e.mustCall(t, newInst("o-s", "1")).InstanceID
	tests := []struct {
		name   string
		req    sellerapi.UpdateInstanceStatusRequest
		want   string
		status string
	}{
		{"freeze", status(id, sellerapi.StatusFreeze), sellerapi.CodeSuccess, "frozen"},
		{"freeze again", status(id, sellerapi.StatusFreeze), sellerapi.CodeSuccess, "frozen"},
		{"unfreeze", status(id, sellerapi.StatusUnfreeze), sellerapi.CodeSuccess, "active"},
		{"unfreeze again", status(id, sellerapi.StatusUnfreeze), sellerapi.CodeSuccess, "active"},
		{"bad status", status(id, "PAUSE"), sellerapi.CodeInvalidParameter, "active"},
		{"lower case", status(id, "freeze"), sellerapi.CodeInvalidParameter, "active"},
		{"unknown instance", status("inst-nope", sellerapi.StatusFreeze), sellerapi.CodeInstanceNotFound, "active"},
		{"no instance", status("", sellerapi.StatusFreeze), sellerapi.CodeInvalidParameter, "active"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.codeOf(t, tt.req); got != tt.want {
				t.Fatalf("code %s, want %s", got, tt.want)
			}
			if got := e.instances(t, "o-s")[0].Status; got != tt.status {
				t.Errorf("status %s, want %s", got, tt.status)
			}
		})
	}
}

func TestReleaseInstance(t *testing.T) {
	e := newEnv(t)
	id := e.mustCall(t, newInst("o-rel", "1")).InstanceID
	tests := []struct {
		name string
		req  any
		want string
	}{
		{"release", release(id), sellerapi.CodeSuccess},
		{"release again", release(id), sellerapi.CodeSuccess},
		{"with unsubscribe order", sellerapi.ReleaseInstanceRequest{Activity: sellerapi.ActivityReleaseInstance, InstanceID: id, OrderID: "o-u", OrderLineID: "o-u-1"}, sellerapi.CodeSuccess},
		{"unknown", release("inst-nope"), sellerapi.CodeInstanceNotFound},
		{"no id", release(""), sellerapi.CodeInvalidParameter},
		{"query after release", query(id), sellerapi.CodeInstanceNotFound},
		{"freeze after release", status(id, sellerapi.StatusFreeze), sellerapi.CodeInstanceNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.codeOf(t, tt.req); got != tt.want {
				t.Fatalf("code %s, want %s", got, tt.want)
			}
		})
	}
	if got := e.instances(t, "o-rel")[0].Status; got != "released" {
		t.Errorf("status %s, want released", got)
	}
}

func TestInvalidRequests(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"not json", `activity=newInstance`},
		{"empty", ``},
		{"no activity", `{"orderId":"o"}`},
		{"unknown activity", `{"activity":"scaleInstance","instanceId":"i"}`},
		{"wrong type", `{"activity":"newInstance","orderId":1,"orderLineId":"l","businessId":"b"}`},
		{"no orderId", `{"activity":"newInstance","orderLineId":"l","businessId":"b"}`},
		{"no orderLineId", `{"activity":"newInstance","orderId":"o","businessId":"b"}`},
		{"no businessId", `{"activity":"newInstance","orderId":"o","orderLineId":"l"}`},
		{"no instanceId", `{"activity":"queryInstance"}`},
		{"truncated", `{"activity":"releaseInstance","instanceId":"i"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			status, r, _ := e.rawPost(t, sellerID, key, nonce(t), nowMs(e.clock.Now()), []byte(tt.body))
			if status != http.StatusOK || r.ResultCode != sellerapi.CodeInvalidParameter {
				t.Fatalf("HTTP %d code %s, want 200 000002", status, r.ResultCode)
			}
		})
	}
}

func TestUnknownSeller(t *testing.T) {
	e := newEnv(t)
	status, r, _ := e.rawPost(t, "nobody", key, nonce(t), nowMs(e.clock.Now()), []byte(`{"activity":"queryInstance","instanceId":"i"}`))
	if status != http.StatusNotFound || r.ResultCode != sellerapi.CodeInvalidParameter {
		t.Fatalf("HTTP %d code %s, want 404 000002", status, r.ResultCode)
	}
	_, err := e.client.Call(context.Background(), e.endpoint("nobody"), key, true, query("i"))
	var ce *sellerapi.CallError
	if !errors.As(err, &ce) || ce.Class != sellerapi.ClassTransport || ce.HTTPStatus != http.StatusNotFound {
		t.Fatalf("client error = %v, want transport error with HTTP 404", err)
	}
}

// The simulator's logs go to shared terminals; they must not show keys or signatures.
func TestSimulatorLogsNoSecrets(t *testing.T) {
	e := newEnv(t)
	e.mustCall(t, newInst("o-l", "1"))
	n, ts := nonce(t), nowMs(e.clock.Now())
	body := []byte(`{"activity":"queryInstance","instanceId":"x"}`)
	e.rawPost(t, sellerID, "sk-wrong-key-0000", n, ts, body)
	e.admin(t, http.MethodPut, "/admin/sellers/new-seller", `{"accessKey":"sk-new-seller-key"}`, nil)
	logs := e.logs.String()
	for _, secret := range []string{key, "sk-wrong-key-0000", "sk-new-seller-key", "signature=", n, sellerapi.Signature("sk-wrong-key-0000", n, ts, body)} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
	if !strings.Contains(logs, `"msg":"produce"`) {
		t.Errorf("no produce log line:\n%s", logs)
	}
}
