package sellersim

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

func refresh(inst string, scene sellerapi.Scene, order, expire, product string) sellerapi.RefreshInstanceRequest {
	return sellerapi.RefreshInstanceRequest{Activity: sellerapi.ActivityRefreshInstance, Scene: scene, OrderID: order,
		OrderLineID: order + "-000001", InstanceID: inst, ExpireTime: expire, ProductID: product}
}

func upgrade(inst, order string) sellerapi.UpgradeInstanceRequest {
	return sellerapi.UpgradeInstanceRequest{Activity: sellerapi.ActivityUpgradeInstance, InstanceID: inst, OrderID: order, OrderLineID: order + "-000001"}
}

func changeCheckReq(inst string, quantity int) sellerapi.ChangeInstanceCheckRequest {
	return sellerapi.ChangeInstanceCheckRequest{Activity: sellerapi.ActivityChangeInstanceCheck, InstanceID: inst,
		ProductInfo: sellerapi.ProductInfo{ProductID: "p-small", SKUCode: "sku-1", Quantity: quantity}}
}

func notify(order string) sellerapi.OrderNotifyRequest {
	return sellerapi.OrderNotifyRequest{Activity: sellerapi.ActivityOrderNotify, OrderID: order, OrderLineID: order + "-000001"}
}

func licenseReq(inst, event, fp string) sellerapi.GetLicenseAsyncRequest {
	return sellerapi.GetLicenseAsyncRequest{Activity: sellerapi.ActivityGetLicenseAsync, InstanceID: inst,
		EffectiveTime: "20261206000000", ExpireTime: "20271206000000", EventID: event, DeviceFingerprint: fp}
}

// made creates the instance of order and returns its ID.
func (e *env) made(t *testing.T, order string) string {
	t.Helper()
	return e.mustCall(t, newInst(order, order+"-000001")).InstanceID
}

// Every scene is accepted and recorded per instance with the order that caused it; a
// repeat updates its entry instead of adding one, and RENEWAL_CHANGE's productId becomes
// the instance's product.
func TestRefreshInstanceScenes(t *testing.T) {
	e := newEnv(t)
	id := e.made(t, "o-scn")
	steps := []struct {
		req     sellerapi.RefreshInstanceRequest
		product string // the instance's productId after the step
	}{
		{refresh(id, sellerapi.SceneTrialToFormal, "o-conv", "20270101000000", ""), ""},
		{refresh(id, sellerapi.SceneRenewal, "o-ren", "20280101000000", ""), ""},
		{refresh(id, sellerapi.SceneRenewalChange, "o-chg", "20290101000000", "p-big"), "p-big"},
		{refresh(id, sellerapi.SceneUnsubscribeRenewalPeriod, "o-unsub", "20280101000000", ""), "p-big"},
		{refresh(id, sellerapi.SceneRenewal, "o-ren", "20280101000000", ""), "p-big"}, // a repeat
	}
	for i, st := range steps {
		if r := e.mustCall(t, st.req); r.ResultCode != sellerapi.CodeSuccess {
			t.Fatalf("step %d: %+v", i, r)
		}
		if got := e.instances(t, "o-scn")[0].ProductID; got != st.product {
			t.Fatalf("step %d: productId %q, want %q", i, got, st.product)
		}
	}
	inst := e.instances(t, "o-scn")[0]
	if inst.ExpireTime != "20280101000000" {
		t.Errorf("expireTime %s", inst.ExpireTime)
	}
	want := []refreshRecord{
		{sellerapi.SceneTrialToFormal, "o-conv", "o-conv-000001", "20270101000000", "", 1},
		{sellerapi.SceneRenewal, "o-ren", "o-ren-000001", "20280101000000", "", 2},
		{sellerapi.SceneRenewalChange, "o-chg", "o-chg-000001", "20290101000000", "p-big", 1},
		{sellerapi.SceneUnsubscribeRenewalPeriod, "o-unsub", "o-unsub-000001", "20280101000000", "", 1},
	}
	if len(inst.Refreshes) != len(want) {
		t.Fatalf("refreshes %+v", inst.Refreshes)
	}
	for i := range want {
		if inst.Refreshes[i] != want[i] {
			t.Errorf("refresh %d = %+v, want %+v", i, inst.Refreshes[i], want[i])
		}
	}
	// The call log shows the scene.
	var calls []callRecord
	e.admin(t, http.MethodGet, "/admin/sellers/"+sellerID+"/calls?instanceId="+id, "", &calls)
	if got := calls[len(calls)-2].Status; got != string(sellerapi.SceneUnsubscribeRenewalPeriod) {
		t.Errorf("call log status %q", got)
	}

	tests := []struct {
		name string
		req  sellerapi.RefreshInstanceRequest
		want string
	}{
		{"unknown scene", refresh(id, "CHANGE", "o-x", "20270101000000", ""), sellerapi.CodeInvalidParameter},
		{"bad expireTime", refresh(id, sellerapi.SceneRenewalChange, "o-x", "2027-01-01", "p"), sellerapi.CodeInvalidParameter},
		{"unknown instance", refresh("inst-none", sellerapi.SceneTrialToFormal, "o-x", "20270101000000", ""), sellerapi.CodeInstanceNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := e.codeOf(t, tt.req); got != tt.want {
				t.Fatalf("code %s, want %s", got, tt.want)
			}
		})
	}
}

// An upgrade order is applied once however often it is sent, a lost answer's retry
// included, and the instance keeps its ID.
func TestUpgradeInstanceOncePerOrder(t *testing.T) {
	e := newEnv(t)
	id := e.made(t, "o-up")
	e.mustCall(t, upgrade(id, "up-1"))
	e.mustCall(t, upgrade(id, "up-1"))
	e.behave(t, `{"loseNext":1}`)
	if _, err := e.call(t, upgrade(id, "up-2")); err == nil {
		t.Fatal("a lost answer succeeded")
	}
	e.mustCall(t, upgrade(id, "up-2")) // the retry
	inst := e.instances(t, "o-up")[0]
	want := []orderRef{{"up-1", "up-1-000001"}, {"up-2", "up-2-000001"}}
	if inst.InstanceID != id || len(inst.Upgrades) != 2 || inst.Upgrades[0] != want[0] || inst.Upgrades[1] != want[1] || inst.UpgradeCalls != 4 {
		t.Fatalf("instance %+v", inst)
	}
	for name, tt := range map[string]struct {
		req  sellerapi.UpgradeInstanceRequest
		want string
	}{
		"unknown instance": {upgrade("inst-none", "up-3"), sellerapi.CodeInstanceNotFound},
		"no order line":    {sellerapi.UpgradeInstanceRequest{Activity: sellerapi.ActivityUpgradeInstance, InstanceID: id, OrderID: "up-4"}, sellerapi.CodeInvalidParameter},
	} {
		if got := e.codeOf(t, tt.req); got != tt.want {
			t.Errorf("%s: code %s, want %s", name, got, tt.want)
		}
	}
	e.mustCall(t, release(id))
	if got := e.codeOf(t, upgrade(id, "up-5")); got != sellerapi.CodeInstanceNotFound {
		t.Errorf("upgrade of a released instance: %s", got)
	}
}

func TestChangeInstanceCheck(t *testing.T) {
	tests := []struct {
		name      string
		behaviour string
		quantity  int
		wantCode  string
		wantMsg   string // part of resultMsg
	}{
		{"feasible by default", ``, 1, sellerapi.CodeSuccess, "feasible"},
		{"at the limit", `{"changeCheck":{"refuseBelowQuantity":3}}`, 3, sellerapi.CodeSuccess, "feasible"},
		{"below the limit", `{"changeCheck":{"refuseBelowQuantity":3}}`, 2, "000102", "target quantity 2 is below the 3 in use"},
		{"own code and reason", `{"changeCheck":{"refuseBelowQuantity":5,"resultCode":"000002","resultMsg":"downgrade below usage"}}`, 1, "000002", "downgrade below usage"},
		{"rule switched off", `{"changeCheck":{}}`, 1, sellerapi.CodeSuccess, "feasible"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			id := e.made(t, "o-cc")
			if tt.behaviour != "" {
				e.behave(t, tt.behaviour)
			}
			res, err := e.call(t, changeCheckReq(id, tt.quantity))
			if res.ResultCode != tt.wantCode || !strings.Contains(res.Response.ResultMsg, tt.wantMsg) {
				t.Fatalf("answer %+v, err %v", res.Response, err)
			}
			var ce *sellerapi.CallError
			if tt.wantCode != sellerapi.CodeSuccess && (!errors.As(err, &ce) || !sellerapi.IsChangeRefusal(ce.ResultCode)) {
				t.Fatalf("refusal error %v", err)
			}
			inst := e.instances(t, "o-cc")[0]
			if inst.ChangeChecks != 1 || (inst.ChangeRefusals == 1) != (tt.wantCode != sellerapi.CodeSuccess) {
				t.Errorf("instance counters %d checks %d refusals", inst.ChangeChecks, inst.ChangeRefusals)
			}
		})
	}
	e := newEnv(t)
	if got := e.codeOf(t, changeCheckReq(e.made(t, "o-cc2"), 0)); got != sellerapi.CodeInvalidParameter {
		t.Errorf("quantity 0: %s", got)
	}
	if got := e.codeOf(t, changeCheckReq("inst-none", 1)); got != sellerapi.CodeInstanceNotFound {
		t.Errorf("unknown instance: %s", got)
	}
}

// orderNotify is idempotent per order line: a repeat counts on the same entry.
func TestOrderNotify(t *testing.T) {
	e := newEnv(t)
	e.mustCall(t, notify("o-n1"))
	e.mustCall(t, notify("o-n2"))
	e.mustCall(t, notify("o-n1"))
	var list []notification
	if code := e.admin(t, http.MethodGet, "/admin/sellers/"+sellerID+"/notifications", "", &list); code != http.StatusOK {
		t.Fatalf("HTTP %d", code)
	}
	if len(list) != 2 || list[0].OrderID != "o-n1" || list[0].OrderLineID != "o-n1-000001" || list[0].Calls != 2 ||
		list[1].OrderID != "o-n2" || list[1].Calls != 1 || list[0].LastAt.Before(list[0].FirstAt) {
		t.Fatalf("notifications %+v", list)
	}
	if got := e.codeOf(t, sellerapi.OrderNotifyRequest{Activity: sellerapi.ActivityOrderNotify, OrderID: "o"}); got != sellerapi.CodeInvalidParameter {
		t.Errorf("no orderLineId: %s", got)
	}
	if code := e.admin(t, http.MethodGet, "/admin/sellers/nobody/notifications", "", nil); code != http.StatusNotFound {
		t.Errorf("unknown seller: HTTP %d", code)
	}
	e.admin(t, http.MethodPost, "/admin/reset", "", nil)
	list = nil
	e.admin(t, http.MethodGet, "/admin/sellers/"+sellerID+"/notifications", "", &list)
	if len(list) != 0 {
		t.Errorf("after reset: %+v", list)
	}
}

// The same eventId and fingerprint (a retried request) yield the same licence; a new
// event or another device a new one. The licence is never in the admin listing.
func TestGetLicenseAsync(t *testing.T) {
	e := newEnv(t)
	id := e.made(t, "o-lic")
	first := e.mustCall(t, licenseReq(id, "ev-1", "fp-A")).License
	if !strings.HasPrefix(first, "LIC-A-") {
		t.Fatalf("licence %q", first)
	}
	tests := []struct {
		name  string
		req   sellerapi.GetLicenseAsyncRequest
		same  bool
		total int // distinct requests after this one
	}{
		{"retry", licenseReq(id, "ev-1", "fp-A"), true, 1},
		{"another device", licenseReq(id, "ev-1", "fp-B"), false, 2},
		{"another event", licenseReq(id, "ev-2", "fp-A"), false, 3},
		{"no fingerprint", licenseReq(id, "ev-1", ""), false, 4},
		{"longest fingerprint", licenseReq(id, "ev-1", strings.Repeat("f", sellerapi.MaxDeviceFingerprint)), false, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.mustCall(t, tt.req).License
			if (got == first) != tt.same || got == "" {
				t.Fatalf("licence same %v, want %v", got == first, tt.same)
			}
			if inst := e.instances(t, "o-lic")[0]; inst.AsyncLicenses != tt.total {
				t.Fatalf("asyncLicenses %d, want %d", inst.AsyncLicenses, tt.total)
			}
		})
	}
	for name, tt := range map[string]struct {
		req  sellerapi.GetLicenseAsyncRequest
		want string
	}{
		"fingerprint too long": {licenseReq(id, "ev-1", strings.Repeat("f", sellerapi.MaxDeviceFingerprint+1)), sellerapi.CodeInvalidParameter},
		"no eventId":           {licenseReq(id, "", "fp"), sellerapi.CodeInvalidParameter},
		"unknown instance":     {licenseReq("inst-none", "ev-1", "fp"), sellerapi.CodeInstanceNotFound},
	} {
		if got := e.codeOf(t, tt.req); got != tt.want {
			t.Errorf("%s: code %s, want %s", name, got, tt.want)
		}
	}
	var raw []map[string]any
	e.admin(t, http.MethodGet, "/admin/sellers/"+sellerID+"/instances", "", &raw)
	for k, v := range raw[0] {
		if s, ok := v.(string); ok && strings.HasPrefix(s, "LIC-A-") {
			t.Errorf("admin listing shows an async licence in %s", k)
		}
	}
}

// The simulator's fault injection applies to the new calls as to the old: an injected
// failure does no work, a lost answer does.
func TestFaultInjectionOnNewCalls(t *testing.T) {
	e := newEnv(t)
	id := e.made(t, "o-fi")
	reqs := map[sellerapi.Activity]any{
		sellerapi.ActivityUpgradeInstance:     upgrade(id, "up-fi"),
		sellerapi.ActivityChangeInstanceCheck: changeCheckReq(id, 1),
		sellerapi.ActivityOrderNotify:         notify("o-fi"),
		sellerapi.ActivityGetLicenseAsync:     licenseReq(id, "ev-fi", ""),
		sellerapi.ActivityRefreshInstance:     refresh(id, sellerapi.SceneRenewalChange, "o-fi-chg", "20300101000000", "p-fi"),
	}
	for act, req := range reqs {
		e.behave(t, `{"failNext":{"count":1,"httpStatus":503}}`)
		_, err := e.call(t, req)
		var ce *sellerapi.CallError
		if !errors.As(err, &ce) || ce.Class != sellerapi.ClassTransport {
			t.Fatalf("%s with failNext: %v", act, err)
		}
		if got := e.stats(t)[string(act)]["http:503"]; got != 1 {
			t.Errorf("%s: stats %v", act, e.stats(t)[string(act)])
		}
	}
	inst := e.instances(t, "o-fi")[0]
	var list []notification
	e.admin(t, http.MethodGet, "/admin/sellers/"+sellerID+"/notifications", "", &list)
	if len(inst.Upgrades) != 0 || inst.ChangeChecks != 0 || inst.LicenseCalls != 0 || len(inst.Refreshes) != 0 || inst.ProductID != "" || len(list) != 0 {
		t.Fatalf("injected failures did work: %+v, notifications %+v", inst, list)
	}
	for act, req := range reqs {
		e.behave(t, `{"loseNext":1}`)
		if _, err := e.call(t, req); err == nil {
			t.Fatalf("%s: a lost answer succeeded", act)
		}
	}
	inst = e.instances(t, "o-fi")[0]
	e.admin(t, http.MethodGet, "/admin/sellers/"+sellerID+"/notifications", "", &list)
	if len(inst.Upgrades) != 1 || inst.ChangeChecks != 1 || inst.AsyncLicenses != 1 || len(inst.Refreshes) != 1 || inst.ProductID != "p-fi" || len(list) != 1 {
		t.Fatalf("lost answers did no work: %+v, notifications %+v", inst, list)
	}
}

func TestChangeCheckBehaviourValidation(t *testing.T) {
	tests := []struct {
		body string
		want int
	}{
		{`{"changeCheck":{"refuseBelowQuantity":2}}`, 200},
		{`{"changeCheck":{"refuseBelowQuantity":2,"resultCode":"000107","resultMsg":"no"}}`, 200},
		{`{"changeCheck":{"refuseBelowQuantity":-1}}`, 400},
		{`{"changeCheck":{"resultCode":"000005"}}`, 400},
		{`{"changeCheck":{"resultCode":"000000"}}`, 400},
		{`{"changeCheck":{"resultMsg":"` + strings.Repeat("x", 201) + `"}}`, 400},
		{`{"changeCheck":{"refuseBelow":2}}`, 400},
	}
	for _, tt := range tests {
		e := newEnv(t)
		if got := e.admin(t, http.MethodPut, "/admin/sellers/"+sellerID+"/behaviour", tt.body, nil); got != tt.want {
			t.Errorf("%s: HTTP %d, want %d", tt.body, got, tt.want)
		}
	}
}

// FuzzDispatchChanges: whatever body a newer activity carries, the simulator answers with
// a protocol code (never panics), and only a request that validates does any work.
func FuzzDispatchChanges(f *testing.F) {
	for _, s := range []string{
		`{"instanceId":"inst-f","orderId":"up1","orderLineId":"up1-000001"}`,
		`{"instanceId":"inst-f","productInfo":{"productId":"p","skuCode":"s","quantity":1}}`,
		`{"instanceId":"inst-f","productInfo":{"productId":"p","skuCode":"s","quantity":-3}}`,
		`{"orderId":"o","orderLineId":"l"}`,
		`{"instanceId":"inst-f","effectiveTime":"20261206000000","eventId":"e","deviceFingerprint":"x"}`,
		`{"scene":"RENEWAL_CHANGE","orderId":"o","orderLineId":"l","instanceId":"inst-f","expireTime":"20270101000000","productId":"p"}`,
		`null`, `{"productInfo":[]}`, ``,
	} {
		for act := range 5 {
			f.Add(act, s)
		}
	}
	acts := []sellerapi.Activity{sellerapi.ActivityUpgradeInstance, sellerapi.ActivityChangeInstanceCheck,
		sellerapi.ActivityOrderNotify, sellerapi.ActivityGetLicenseAsync, sellerapi.ActivityRefreshInstance}
	f.Fuzz(func(t *testing.T, act int, body string) {
		s := New(Options{Sellers: map[string]string{sellerID: key}})
		sel := s.sellers[sellerID]
		sel.beh.ChangeCheck = changeCheck{RefuseBelowQuantity: 2}
		sel.instances["inst-f"] = &instance{InstanceID: "inst-f", Status: statusActive}
		a := acts[((act%len(acts))+len(acts))%len(acts)]
		resp := s.dispatch(sel, a, []byte(body), time.Now())
		switch resp.ResultCode {
		case sellerapi.CodeSuccess, sellerapi.CodeInvalidParameter, sellerapi.CodeInstanceNotFound, defaultRefusalCode:
		default:
			t.Fatalf("%s %q: code %q", a, body, resp.ResultCode)
		}
		inst := sel.instances["inst-f"]
		did := len(inst.Upgrades) + inst.ChangeChecks + inst.LicenseCalls + len(inst.Refreshes) + len(sel.changes.notifyOrder)
		if resp.ResultCode == sellerapi.CodeInvalidParameter && did != 0 {
			t.Fatalf("%s %q: an invalid request did work: %+v", a, body, inst)
		}
		if resp.ResultCode == sellerapi.CodeSuccess && did != 1 {
			t.Fatalf("%s %q: success did %d things", a, body, did)
		}
	})
}
