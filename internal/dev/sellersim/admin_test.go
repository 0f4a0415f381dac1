package sellersim

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

func TestAdminValidation(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		want   int
	}{
		{"bad seller id", http.MethodPut, "/admin/sellers/a%20b", `{"accessKey":"sk-12345678"}`, 400},
		{"seller id too long", http.MethodPut, "/admin/sellers/" + strings.Repeat("a", 65), `{"accessKey":"sk-12345678"}`, 400},
		{"new seller without key", http.MethodPut, "/admin/sellers/s2", `{"signResponses":false}`, 400},
		{"short key", http.MethodPut, "/admin/sellers/s2", `{"accessKey":"short"}`, 400},
		{"key with space", http.MethodPut, "/admin/sellers/s2", `{"accessKey":"sk-1234 5678"}`, 400},
		{"unknown field", http.MethodPut, "/admin/sellers/s2", `{"accessKey":"sk-12345678","signResponse":false}`, 400},
		{"not json", http.MethodPut, "/admin/sellers/s2", `accessKey=x`, 400},
		{"two values", http.MethodPut, "/admin/sellers/s2", `{"accessKey":"sk-12345678"} {}`, 400},
		{"wrong type", http.MethodPut, "/admin/sellers/s2", `{"accessKey":12345678}`, 400},
		{"bad mode", http.MethodPut, "/admin/sellers/" + sellerID + "/behaviour", `{"mode":"sometimes"}`, 400},
		{"negative delay", http.MethodPut, "/admin/sellers/" + sellerID + "/behaviour", `{"asyncDelayMs":-1}`, 400},
		{"huge latency", http.MethodPut, "/admin/sellers/" + sellerID + "/behaviour", `{"latencyMs":120001}`, 400},
		{"bad fail code", http.MethodPut, "/admin/sellers/" + sellerID + "/behaviour", `{"failNext":{"count":1,"resultCode":"5"}}`, 400},
		{"bad fail status", http.MethodPut, "/admin/sellers/" + sellerID + "/behaviour", `{"failNext":{"count":1,"httpStatus":99}}`, 400},
		{"negative fail count", http.MethodPut, "/admin/sellers/" + sellerID + "/behaviour", `{"failNext":{"count":-1}}`, 400},
		{"negative lose", http.MethodPut, "/admin/sellers/" + sellerID + "/behaviour", `{"loseNext":-1}`, 400},
		{"unknown behaviour field", http.MethodPut, "/admin/sellers/" + sellerID + "/behaviour", `{"failRate":0.5}`, 400},
		{"behaviour of unknown seller", http.MethodPut, "/admin/sellers/nobody/behaviour", `{"mode":"sync"}`, 404},
		{"instances of unknown seller", http.MethodGet, "/admin/sellers/nobody/instances", ``, 404},
		{"stats of unknown seller", http.MethodGet, "/admin/sellers/nobody/stats", ``, 404},
		{"wrong method", http.MethodGet, "/admin/reset", ``, 405},
		{"produce by GET", http.MethodGet, "/sellers/" + sellerID + "/produce", ``, 405},
		{"good behaviour", http.MethodPut, "/admin/sellers/" + sellerID + "/behaviour", `{"mode":"async","asyncDelayMs":10,"latencyMs":0,"failNext":{"count":0},"loseNext":0}`, 200},
		{"empty behaviour", http.MethodPut, "/admin/sellers/" + sellerID + "/behaviour", `{}`, 200},
		{"healthz", http.MethodGet, "/healthz", ``, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var out map[string]any
			got := e.admin(t, tt.method, tt.path, tt.body, nil)
			if got != tt.want {
				t.Fatalf("HTTP %d, want %d", got, tt.want)
			}
			if tt.want == 400 || (tt.want == 404 && strings.HasPrefix(tt.path, "/admin/")) {
				e.admin(t, tt.method, tt.path, tt.body, &out)
				if msg, _ := out["error"].(string); msg == "" {
					t.Errorf("no error message: %v", out)
				}
			}
		})
	}
}

func TestAdminPutSeller(t *testing.T) {
	e := newEnv(t)
	const newKey = "sk-second-seller-key"
	var view sellerView
	if code := e.admin(t, http.MethodPut, "/admin/sellers/s2", `{"accessKey":"`+newKey+`"}`, &view); code != http.StatusCreated {
		t.Fatalf("create: HTTP %d", code)
	}
	if view.SellerID != "s2" || view.ProducePath != "/sellers/s2/produce" || !view.SignResponses || view.Behaviour.Mode != "sync" {
		t.Errorf("view = %+v", view)
	}
	if code := e.admin(t, http.MethodPut, "/admin/sellers/s2", `{"signResponses":false}`, &view); code != http.StatusOK || view.SignResponses {
		t.Fatalf("update: HTTP %d, view %+v", code, view)
	}
	// The new seller works, and the answer was not signed.
	res, err := e.client.Call(t.Context(), e.endpoint("s2"), newKey, false, newInst("o-s2", "1"))
	if err != nil || res.ResultCode != sellerapi.CodeSuccess {
		t.Fatalf("call: %v %+v", err, res)
	}
	var raw map[string]any
	e.admin(t, http.MethodPut, "/admin/sellers/s2", `{"accessKey":"`+newKey+`"}`, &raw)
	for k, v := range raw {
		if s, ok := v.(string); ok && strings.Contains(s, newKey) {
			t.Errorf("admin answer shows the key in %s", k)
		}
	}
}

func TestBehaviourPartialUpdate(t *testing.T) {
	e := newEnv(t)
	var b behaviour
	e.admin(t, http.MethodPut, "/admin/sellers/"+sellerID+"/behaviour", `{"mode":"async","asyncDelayMs":1234}`, &b)
	e.admin(t, http.MethodPut, "/admin/sellers/"+sellerID+"/behaviour", `{"latencyMs":5,"loseNext":2}`, &b)
	want := behaviour{Mode: "async", AsyncDelayMs: 1234, LatencyMs: 5, LoseNext: 2}
	if !reflect.DeepEqual(b, want) {
		t.Fatalf("behaviour = %+v, want %+v", b, want)
	}
}

func TestDefaultAsyncDelay(t *testing.T) {
	tests := []struct {
		name string
		opt  int64 // ms in Options; 0 = unset
		want int64
	}{
		{"unset", 0, DefaultAsyncDelay.Milliseconds()},
		{"set", 250, 250},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{Sellers: map[string]string{"x": "sk-12345678"}, DefaultAsyncDelay: msDuration(tt.opt)})
			if got := s.sellers["x"].beh.AsyncDelayMs; got != tt.want {
				t.Errorf("asyncDelayMs = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestReset(t *testing.T) {
	e := newEnv(t)
	e.mustCall(t, newInst("o-reset", "1"))
	e.behave(t, `{"mode":"async","loseNext":3}`)
	e.admin(t, http.MethodPut, "/admin/sellers/s2", `{"accessKey":"sk-second-seller"}`, nil)
	if code := e.admin(t, http.MethodPost, "/admin/reset", "", nil); code != http.StatusNoContent {
		t.Fatalf("reset: HTTP %d", code)
	}
	if list := e.instances(t, ""); len(list) != 0 {
		t.Errorf("instances after reset: %+v", list)
	}
	if code := e.admin(t, http.MethodGet, "/admin/sellers/s2/stats", "", nil); code != http.StatusNotFound {
		t.Errorf("added seller after reset: HTTP %d, want 404", code)
	}
	if r := e.mustCall(t, newInst("o-reset", "1")); r.ResultCode != sellerapi.CodeSuccess {
		t.Errorf("after reset: %+v, want a synchronous success", r)
	}
	if stats := e.stats(t); len(stats) != 1 || stats["newInstance"]["000000"] != 1 {
		t.Errorf("stats after reset = %v", stats)
	}
}

func TestProducePath(t *testing.T) {
	tests := []struct{ id, want string }{
		{"seller-demo", "/sellers/seller-demo/produce"},
		{"a b", "/sellers/a%20b/produce"},
		{"a/b", "/sellers/a%2Fb/produce"},
	}
	for _, tt := range tests {
		if got := ProducePath(tt.id); got != tt.want {
			t.Errorf("ProducePath(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
}
