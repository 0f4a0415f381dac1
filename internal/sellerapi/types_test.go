package sellerapi

import (
	"encoding/json"
	"testing"
)

// The wire format must match the protocol page byte for byte: the signature covers the
// exact bytes, and the vectors are only useful if our structs produce them.
func TestWireFormat(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"newInstance vector", NewInstanceRequest{
			Activity: ActivityNewInstance, OrderID: "CS2211241234ABCD",
			OrderLineID: "CS2211241234ABCD-000001", BusinessID: "7f1c2a9e-4b7d-4c1e-9a3f-2d5e6f708192",
		}, vecBody},
		{"newInstance test flag", NewInstanceRequest{Activity: ActivityNewInstance, OrderID: "o", OrderLineID: "l", BusinessID: "b", TestFlag: TestFlagDebug},
			`{"activity":"newInstance","orderId":"o","orderLineId":"l","businessId":"b","testFlag":"1"}`},
		{"response vector", Response{ResultCode: CodeSuccess, ResultMsg: "success", InstanceID: "inst-1"}, vecRespBody},
		{"queryInstance", QueryInstanceRequest{Activity: ActivityQueryInstance, InstanceID: "a,b"},
			`{"activity":"queryInstance","instanceId":"a,b"}`},
		{"refreshInstance", RefreshInstanceRequest{Activity: ActivityRefreshInstance, Scene: SceneRenewal, OrderID: "o2", OrderLineID: "l2", InstanceID: "i", ExpireTime: "20270101000000"},
			`{"activity":"refreshInstance","scene":"RENEWAL","orderId":"o2","orderLineId":"l2","instanceId":"i","expireTime":"20270101000000"}`},
		{"updateInstanceStatus", UpdateInstanceStatusRequest{Activity: ActivityUpdateInstanceStatus, InstanceID: "i", Status: StatusFreeze},
			`{"activity":"updateInstanceStatus","instanceId":"i","status":"FREEZE"}`},
		{"releaseInstance bare", ReleaseInstanceRequest{Activity: ActivityReleaseInstance, InstanceID: "i"},
			`{"activity":"releaseInstance","instanceId":"i"}`},
		{"releaseInstance with order", ReleaseInstanceRequest{Activity: ActivityReleaseInstance, InstanceID: "i", OrderID: "o", OrderLineID: "l"},
			`{"activity":"releaseInstance","instanceId":"i","orderId":"o","orderLineId":"l"}`},
		{"response with info", Response{ResultCode: CodeSuccess, ResultMsg: "ok", Info: []InstanceInfo{{
			InstanceID: "i", AppInfo: AppInfo{FrontEndURL: "https://a", UserName: "u"}, License: "L",
		}}}, `{"resultCode":"000000","resultMsg":"ok","info":[{"instanceId":"i","appInfo":{"frontEndUrl":"https://a","userName":"u"},"license":"L"}]}`},
		{"pending", Response{ResultCode: CodePending, ResultMsg: "processing", InstanceID: "i"},
			`{"resultCode":"000004","resultMsg":"processing","instanceId":"i"}`},
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
		})
	}
}
