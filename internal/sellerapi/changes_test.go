package sellerapi

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The new activities' wire format, byte for byte, in the field order and with the names of
// seller-protocol.md: the signature covers these exact bytes.
func TestWireFormatChanges(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"refreshInstance trial to formal", RefreshInstanceRequest{Activity: ActivityRefreshInstance, Scene: SceneTrialToFormal, OrderID: "o3", OrderLineID: "o3-000001", InstanceID: "i", ExpireTime: "20270101000000"},
			`{"activity":"refreshInstance","scene":"TRIAL_TO_FORMAL","orderId":"o3","orderLineId":"o3-000001","instanceId":"i","expireTime":"20270101000000"}`},
		{"refreshInstance renewal change", RefreshInstanceRequest{Activity: ActivityRefreshInstance, Scene: SceneRenewalChange, OrderID: "o4", OrderLineID: "l4", InstanceID: "i", ExpireTime: "20270101000000", ProductID: "p-big"},
			`{"activity":"refreshInstance","scene":"RENEWAL_CHANGE","orderId":"o4","orderLineId":"l4","instanceId":"i","expireTime":"20270101000000","productId":"p-big"}`},
		{"refreshInstance renewal change same product", RefreshInstanceRequest{Activity: ActivityRefreshInstance, Scene: SceneRenewalChange, OrderID: "o4", OrderLineID: "l4", InstanceID: "i", ExpireTime: "20270101000000"},
			`{"activity":"refreshInstance","scene":"RENEWAL_CHANGE","orderId":"o4","orderLineId":"l4","instanceId":"i","expireTime":"20270101000000"}`},
		{"refreshInstance unsubscribe renewal period", RefreshInstanceRequest{Activity: ActivityRefreshInstance, Scene: SceneUnsubscribeRenewalPeriod, OrderID: "o5", OrderLineID: "l5", InstanceID: "i", ExpireTime: "20261201000000", TestFlag: TestFlagDebug},
			`{"activity":"refreshInstance","scene":"UNSUBSCRIBE_RENEWAL_PERIOD","orderId":"o5","orderLineId":"l5","instanceId":"i","expireTime":"20261201000000","testFlag":"1"}`},
		{"upgradeInstance", UpgradeInstanceRequest{Activity: ActivityUpgradeInstance, InstanceID: "i", OrderID: "up1", OrderLineID: "up1-000001"},
			`{"activity":"upgradeInstance","instanceId":"i","orderId":"up1","orderLineId":"up1-000001"}`},
		{"changeInstanceCheck", ChangeInstanceCheckRequest{Activity: ActivityChangeInstanceCheck, InstanceID: "i", ProductInfo: ProductInfo{ProductID: "p2", SKUCode: "sku-9", Quantity: 3}},
			`{"activity":"changeInstanceCheck","instanceId":"i","productInfo":{"productId":"p2","skuCode":"sku-9","quantity":3}}`},
		{"orderNotify", OrderNotifyRequest{Activity: ActivityOrderNotify, OrderID: "o6", OrderLineID: "o6-000001", TestFlag: TestFlagDebug},
			`{"activity":"orderNotify","orderId":"o6","orderLineId":"o6-000001","testFlag":"1"}`},
		{"getLicenseAsync", GetLicenseAsyncRequest{Activity: ActivityGetLicenseAsync, InstanceID: "i", EffectiveTime: "20261206000000", ExpireTime: "20271206000000", EventID: "ev-1", DeviceFingerprint: "fp"},
			`{"activity":"getLicenseAsync","instanceId":"i","effectiveTime":"20261206000000","expireTime":"20271206000000","eventId":"ev-1","deviceFingerprint":"fp"}`},
		{"getLicenseAsync no expiry no fingerprint", GetLicenseAsyncRequest{Activity: ActivityGetLicenseAsync, InstanceID: "i", EffectiveTime: "20261206000000", EventID: "ev-2"},
			`{"activity":"getLicenseAsync","instanceId":"i","effectiveTime":"20261206000000","eventId":"ev-2"}`},
		{"refusal answer", Response{ResultCode: "000102", ResultMsg: "target quantity 1 is below current usage 3"},
			`{"resultCode":"000102","resultMsg":"target quantity 1 is below current usage 3"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if a := activityOf(tt.v); a == "" && !strings.HasPrefix(tt.name, "refusal") {
				t.Errorf("no activity for the logs")
			}
		})
	}
}

// A nested body (changeInstanceCheck) signed with the protocol's vector key, nonce and
// timestamp; the digest and signature were computed independently (Python hmac), so a
// seller can check its implementation of the new activities against this pair too.
func TestChangesSignatureVector(t *testing.T) {
	body := []byte(`{"activity":"changeInstanceCheck","instanceId":"i","productInfo":{"productId":"p2","skuCode":"sku-9","quantity":3}}`)
	if got, want := BodyDigest(vecKey, body), "e5c26550c48e73b83b40dcec55169627e1ad4715c136fbaa502f5b5944d38c50"; got != want {
		t.Errorf("bodyDigest %s, want %s", got, want)
	}
	if got, want := Signature(vecKey, vecNonce, vecTimestamp, body), "75050511BC256E0A97EB74EDEA419274E5385F53A09FEE093E2690EE25804B5D"; got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
}

func TestValidateChanges(t *testing.T) {
	long := strings.Repeat("é", MaxDeviceFingerprint) // 1024 characters, 2048 bytes
	tests := []struct {
		name string
		req  interface{ Validate() error }
		ok   bool
	}{
		{"refresh ok", RefreshInstanceRequest{Scene: SceneRenewalChange, OrderID: "o", OrderLineID: "l", InstanceID: "i", ExpireTime: "20270101000000"}, true},
		{"refresh unknown scene", RefreshInstanceRequest{Scene: "CHANGE", OrderID: "o", OrderLineID: "l", InstanceID: "i", ExpireTime: "20270101000000"}, false},
		{"refresh empty scene", RefreshInstanceRequest{OrderID: "o", OrderLineID: "l", InstanceID: "i", ExpireTime: "20270101000000"}, false},
		{"refresh bad time", RefreshInstanceRequest{Scene: SceneRenewal, OrderID: "o", OrderLineID: "l", InstanceID: "i", ExpireTime: "2027-01-01"}, false},
		{"refresh no order", RefreshInstanceRequest{Scene: SceneTrialToFormal, InstanceID: "i", ExpireTime: "20270101000000"}, false},
		{"upgrade ok", UpgradeInstanceRequest{InstanceID: "i", OrderID: "o", OrderLineID: "l"}, true},
		{"upgrade no line", UpgradeInstanceRequest{InstanceID: "i", OrderID: "o"}, false},
		{"upgrade no instance", UpgradeInstanceRequest{OrderID: "o", OrderLineID: "l"}, false},
		{"check ok", ChangeInstanceCheckRequest{InstanceID: "i", ProductInfo: ProductInfo{"p", "s", 1}}, true},
		{"check zero quantity", ChangeInstanceCheckRequest{InstanceID: "i", ProductInfo: ProductInfo{"p", "s", 0}}, false},
		{"check no sku", ChangeInstanceCheckRequest{InstanceID: "i", ProductInfo: ProductInfo{"p", "", 2}}, false},
		{"check no instance", ChangeInstanceCheckRequest{ProductInfo: ProductInfo{"p", "s", 2}}, false},
		{"notify ok", OrderNotifyRequest{OrderID: "o", OrderLineID: "l"}, true},
		{"notify no line", OrderNotifyRequest{OrderID: "o"}, false},
		{"licence ok", GetLicenseAsyncRequest{InstanceID: "i", EffectiveTime: "20261206000000", EventID: "e"}, true},
		{"licence fingerprint at the limit", GetLicenseAsyncRequest{InstanceID: "i", EffectiveTime: "20261206000000", EventID: "e", DeviceFingerprint: long}, true},
		{"licence fingerprint too long", GetLicenseAsyncRequest{InstanceID: "i", EffectiveTime: "20261206000000", EventID: "e", DeviceFingerprint: long + "x"}, false},
		{"licence no event", GetLicenseAsyncRequest{InstanceID: "i", EffectiveTime: "20261206000000"}, false},
		{"licence bad effective", GetLicenseAsyncRequest{InstanceID: "i", EffectiveTime: "20261306000000", EventID: "e"}, false},
		{"licence bad expire", GetLicenseAsyncRequest{InstanceID: "i", EffectiveTime: "20261206000000", ExpireTime: "x", EventID: "e"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("error %v does not wrap ErrInvalidRequest", err)
			}
		})
	}
}

func TestIsChangeRefusal(t *testing.T) {
	for code, want := range map[string]bool{
		"000000": false, "000004": false, "000001": false, "000005": false, "000003": false,
		"000002": true, "000100": true, "000102": true, "000107": true,
		"000108": false, "000900": false, "": false, "abc": false,
	} {
		if got := IsChangeRefusal(code); got != want {
			t.Errorf("IsChangeRefusal(%q) = %v, want %v", code, got, want)
		}
	}
}

// FuzzDecodeChangeRequests: whatever a seller (the simulator) is sent, decoding never
// panics, and a request that decodes and validates survives a round trip unchanged, so
// what Validate accepted is exactly what goes on the wire.
func FuzzDecodeChangeRequests(f *testing.F) {
	f.Add(`{"activity":"upgradeInstance","instanceId":"i","orderId":"up1","orderLineId":"up1-000001"}`)
	f.Add(`{"activity":"changeInstanceCheck","instanceId":"i","productInfo":{"productId":"p2","skuCode":"sku-9","quantity":3}}`)
	f.Add(`{"activity":"changeInstanceCheck","instanceId":"i","productInfo":{"quantity":-1e9}}`)
	f.Add(`{"activity":"orderNotify","orderId":"o6","orderLineId":"o6-000001","testFlag":"1"}`)
	f.Add(`{"activity":"getLicenseAsync","instanceId":"i","effectiveTime":"20261206000000","eventId":"ev-1","deviceFingerprint":"fp"}`)
	f.Add(`{"activity":"refreshInstance","scene":"RENEWAL_CHANGE","orderId":"o4","orderLineId":"l4","instanceId":"i","expireTime":"20270101000000","productId":"p"}`)
	f.Add(`{"productInfo":null}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		for _, newReq := range []func() interface{ Validate() error }{
			func() interface{ Validate() error } { return &RefreshInstanceRequest{} },
			func() interface{ Validate() error } { return &UpgradeInstanceRequest{} },
			func() interface{ Validate() error } { return &ChangeInstanceCheckRequest{} },
			func() interface{ Validate() error } { return &OrderNotifyRequest{} },
			func() interface{ Validate() error } { return &GetLicenseAsyncRequest{} },
		} {
			req := newReq()
			if json.Unmarshal([]byte(body), req) != nil || req.Validate() != nil {
				continue
			}
			raw, err := json.Marshal(req)
			if err != nil {
				t.Fatalf("re-encode %T: %v", req, err)
			}
			again := newReq()
			if err := json.Unmarshal(raw, again); err != nil {
				t.Fatalf("decode own encoding %s: %v", raw, err)
			}
			if !reflect.DeepEqual(req, again) {
				t.Fatalf("round trip changed %T: %+v -> %+v", req, req, again)
			}
			if err := again.Validate(); err != nil {
				t.Fatalf("own encoding %s no longer validates: %v", raw, err)
			}
		}
	})
}

func TestSafeResultMsg(t *testing.T) {
	keys := Keys{Sign: "sk-active-123456", Pending: "sk-pending-654321"}
	tests := []struct{ in, want string }{
		{"target quantity too low", "target quantity too low"},
		{"bad key sk-active-123456 and sk-pending-654321", "bad key [redacted] and [redacted]"},
		{strings.Repeat("x", 250), strings.Repeat("x", 200) + "..."},
	}
	for _, tt := range tests {
		if got := SafeResultMsg(tt.in, keys); got != tt.want {
			t.Errorf("SafeResultMsg(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
