package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/cloudmarket/orders/internal/dev/sellersim"
	"github.com/cloudmarket/orders/internal/sellerapi"
	"github.com/cloudmarket/orders/internal/sellerkeys"
	"github.com/cloudmarket/orders/internal/testkit"
)

// simSeller is one seller of a seller simulator served over HTTP, registered in the
// catalogue, and the activities calling it.
type simSeller struct {
	id       string
	srv      *httptest.Server
	s        *Seller
	instance string // made by newInstance for order id+"-o"
}

const simKey = "sk-sim-activities-0123456789"

func newSimSeller(t *testing.T, prefix string) *simSeller {
	t.Helper()
	ctx := context.Background()
	kr := testkit.Keyring("act-1")
	id := uniqueID(prefix)
	sim := sellersim.New(sellersim.Options{Sellers: map[string]string{id: simKey}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	sealed, err := sellerkeys.Seal(kr, id, simKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO sellers (seller_id, name, endpoint, access_key_kek, access_key_dek, access_key_sealed, verify_body_sign)
		VALUES ($1, 'S', $2, $3, $4, $5, true)`, id, srv.URL+sellersim.ProducePath(id), sealed.KeyID, sealed.WrappedKey, sealed.Ciphertext); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO products (product_id, seller_id, name, type, billing_mode, commission_bps)
		VALUES ($1, $1, 'P', 'saas', 'monthly', 1500)`, id); err != nil {
		t.Fatal(err)
	}
	client, err := sellerapi.NewClient(sellerapi.ClientOptions{Timeout: 2 * time.Second, Policy: sellerapi.EndpointPolicy{Development: true}})
	if err != nil {
		t.Fatal(err)
	}
	ss := &simSeller{id: id, srv: srv, s: &Seller{DB: db, Keys: kr, Client: client, Metrics: NewMetrics(prometheus.NewRegistry())}}
	inst, err := ss.s.NewInstance(ctx, ss.call())
	if err != nil || !inst.Ready {
		t.Fatalf("newInstance: %+v %v", inst, err)
	}
	ss.instance = inst.InstanceID
	return ss
}

// call is a SellerCall about the seller's one order and instance.
func (ss *simSeller) call() SellerCall {
	return SellerCall{OrderID: ss.id + "-o", OrderLineID: ss.id + "-o-000001", SellerID: ss.id, ProductID: ss.id, InstanceID: ss.instance}
}

// admin sends an admin request to the simulator and decodes the answer into out.
func (ss *simSeller) admin(t *testing.T, method, path, body string, out any) {
	t.Helper()
	req, err := http.NewRequest(method, ss.srv.URL+"/admin/sellers/"+ss.id+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// simInstance is the part of the simulator's instance listing these tests read.
type simInstance struct {
	InstanceID string `json:"instanceId"`
	ExpireTime string `json:"expireTime"`
	ProductID  string `json:"productId"`
	Refreshes  []struct {
		Scene       string `json:"scene"`
		OrderID     string `json:"orderId"`
		OrderLineID string `json:"orderLineId"`
		ProductID   string `json:"productId"`
	} `json:"refreshes"`
	Upgrades []struct {
		OrderID string `json:"orderId"`
	} `json:"upgrades"`
	UpgradeCalls int `json:"upgradeCalls"`
}

func (ss *simSeller) instanceView(t *testing.T) simInstance {
	t.Helper()
	var list []simInstance
	ss.admin(t, http.MethodGet, "/instances", "", &list)
	if len(list) != 1 {
		t.Fatalf("instances %+v", list)
	}
	return list[0]
}

// calls are the seller_calls rows of an activity of this seller: result code and error.
func (ss *simSeller) calls(t *testing.T, act sellerapi.Activity) (codes, errs []string, failed int) {
	t.Helper()
	rows, err := db.Query(context.Background(), `SELECT result_code, error, `+FailedCallSQL+` FROM seller_calls c
		WHERE seller_id = $1 AND activity = $2 ORDER BY call_id`, ss.id, string(act))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var code, e string
		var f bool
		if err := rows.Scan(&code, &e, &f); err != nil {
			t.Fatal(err)
		}
		codes, errs = append(codes, code), append(errs, e)
		if f {
			failed++
		}
	}
	return codes, errs, failed
}

// errType is the application error type of err, and whether it may be retried.
func errType(t *testing.T, err error) (string, bool) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("not an application error: %v", err)
	}
	return appErr.Type(), !appErr.NonRetryable()
}

// Every scene reaches the seller as the doc names it, with the causing order; an empty
// scene is RENEWAL; a new product is sent only when set; an unknown scene never leaves.
func TestRefreshInstanceScenes(t *testing.T) {
	ctx := context.Background()
	ss := newSimSeller(t, "scn")
	expire := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		scene     sellerapi.Scene
		product   string
		wantScene string
	}{
		{"", "", "RENEWAL"},
		{sellerapi.SceneTrialToFormal, "", "TRIAL_TO_FORMAL"},
		{sellerapi.SceneRenewalChange, "p-big", "RENEWAL_CHANGE"},
		{sellerapi.SceneUnsubscribeRenewalPeriod, "", "UNSUBSCRIBE_RENEWAL_PERIOD"},
	}
	for i, tt := range tests {
		c := ss.call()
		c.About = &OtherOrder{OrderID: "about-" + tt.wantScene, OrderLineID: "about-" + tt.wantScene + "-000001"}
		c.ExpireTime, c.Scene, c.NewProductID = &expire, tt.scene, tt.product
		if err := ss.s.RefreshInstance(ctx, c); err != nil {
			t.Fatalf("%s: %v", tt.wantScene, err)
		}
		got := ss.instanceView(t).Refreshes
		if len(got) != i+1 || got[i].Scene != tt.wantScene || got[i].OrderID != c.About.OrderID ||
			got[i].OrderLineID != c.About.OrderLineID || got[i].ProductID != tt.product {
			t.Fatalf("%s: seller recorded %+v", tt.wantScene, got)
		}
	}
	if v := ss.instanceView(t); v.ProductID != "p-big" || v.ExpireTime != "20270301000000" {
		t.Errorf("instance %+v", v)
	}
	c := ss.call()
	c.About, c.ExpireTime, c.Scene = &OtherOrder{OrderID: "x", OrderLineID: "x-1"}, &expire, "CHANGE"
	err := ss.s.RefreshInstance(ctx, c)
	if typ, retry := errType(t, err); typ != ErrTypeInvalidInput || retry {
		t.Fatalf("unknown scene: %v", err)
	}
	if codes, _, _ := ss.calls(t, sellerapi.ActivityRefreshInstance); len(codes) != len(tests) {
		t.Errorf("an invalid refresh was sent or not every call recorded: %v", codes)
	}
}

// An upgrade is applied once per upgrade order however often the activity runs; failures
// are classified and recorded like every call's.
func TestUpgradeInstance(t *testing.T) {
	ctx := context.Background()
	ss := newSimSeller(t, "upg")
	c := ss.call()
	c.About = &OtherOrder{OrderID: "up-" + ss.id, OrderLineID: "up-" + ss.id + "-000001"}
	for range 2 {
		if err := ss.s.UpgradeInstance(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if v := ss.instanceView(t); len(v.Upgrades) != 1 || v.Upgrades[0].OrderID != c.About.OrderID || v.UpgradeCalls != 2 || v.InstanceID != ss.instance {
		t.Fatalf("instance %+v", v)
	}
	tests := []struct {
		name      string
		behaviour string
		call      func() SellerCall
		wantType  string
		wantRetry bool
	}{
		{"internal error", `{"failNext":{"count":1,"resultCode":"000005"}}`, func() SellerCall { return c }, "SellerInternalError", true},
		{"HTTP 502", `{"failNext":{"count":1,"httpStatus":502}}`, func() SellerCall { return c }, "SellerTransportError", true},
		{"refused", `{"failNext":{"count":1,"resultCode":"000103"}}`, func() SellerCall { return c }, "SellerRefused", false},
		{"unknown instance", ``, func() SellerCall { x := c; x.InstanceID = "inst-none"; return x }, "SellerInstanceNotFound", false},
		{"no upgrade order", ``, func() SellerCall { x := c; x.About = nil; return x }, ErrTypeInvalidInput, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.behaviour != "" {
				ss.admin(t, http.MethodPut, "/behaviour", tt.behaviour, nil)
			}
			typ, retry := errType(t, ss.s.UpgradeInstance(ctx, tt.call()))
			if typ != tt.wantType || retry != tt.wantRetry {
				t.Fatalf("type %s retryable %v, want %s %v", typ, retry, tt.wantType, tt.wantRetry)
			}
		})
	}
	codes, errs, failed := ss.calls(t, sellerapi.ActivityUpgradeInstance)
	if strings.Join(codes, ",") != "000000,000000,000005,,000103,000003" || errs[0] != "" || errs[2] == "" || failed != 4 {
		t.Errorf("recorded %q %q, %d failed", codes, errs, failed)
	}
}

// A refusal is an answer: no error, the seller's reason, and a seller_calls row that
// product health does not count as failed. Transport and internal failures stay retryable.
func TestChangeInstanceCheck(t *testing.T) {
	ctx := context.Background()
	ss := newSimSeller(t, "chk")
	target := func(q int) ProductInfo { return ProductInfo{ProductID: "p-small", SKUCode: "sku-1", Quantity: q} }
	tests := []struct {
		name      string
		behaviour string
		target    ProductInfo
		want      ChangeCheck
		wantType  string // "" = no error
		wantRetry bool
	}{
		{"feasible", ``, target(1), ChangeCheck{Feasible: true, ResultCode: "000000"}, "", false},
		{"refused below usage", `{"changeCheck":{"refuseBelowQuantity":4}}`, target(2),
			ChangeCheck{ResultCode: "000102", Reason: "target quantity 2 is below the 4 in use"}, "", false},
		{"refused as invalid, key redacted", `{"changeCheck":{"refuseBelowQuantity":4,"resultCode":"000002","resultMsg":"no: ` + simKey + `"}}`, target(3),
			ChangeCheck{ResultCode: "000002", Reason: "no: [redacted]"}, "", false},
		{"feasible at usage", ``, target(4), ChangeCheck{Feasible: true, ResultCode: "000000"}, "", false},
		{"refusal code injected", `{"changeCheck":{},"failNext":{"count":1,"resultCode":"000107"}}`, target(1),
			ChangeCheck{ResultCode: "000107", Reason: "injected failure"}, "", false},
		{"HTTP 503", `{"failNext":{"count":1,"httpStatus":503}}`, target(1), ChangeCheck{}, "SellerTransportError", true},
		{"internal error", `{"failNext":{"count":1}}`, target(1), ChangeCheck{}, "SellerInternalError", true},
		{"unknown code", `{"failNext":{"count":1,"resultCode":"000108"}}`, target(1), ChangeCheck{}, "SellerUnknownResult", true},
		{"licence refusal is no change answer", `{"failNext":{"count":1,"resultCode":"000901"}}`, target(1), ChangeCheck{}, "SellerLicenseRefused", false},
		{"no quantity", ``, target(0), ChangeCheck{}, ErrTypeInvalidInput, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.behaviour != "" {
				ss.admin(t, http.MethodPut, "/behaviour", tt.behaviour, nil)
			}
			got, err := ss.s.ChangeInstanceCheck(ctx, ss.call(), tt.target)
			if tt.wantType == "" {
				if err != nil || got != tt.want {
					t.Fatalf("got %+v %v, want %+v", got, err, tt.want)
				}
				return
			}
			if typ, retry := errType(t, err); typ != tt.wantType || retry != tt.wantRetry {
				t.Fatalf("type %s retryable %v, want %s %v", typ, retry, tt.wantType, tt.wantRetry)
			}
		})
	}
	codes, errs, failed := ss.calls(t, sellerapi.ActivityChangeInstanceCheck)
	if strings.Join(codes, ",") != "000000,000102,000002,000000,000107,,000005,000108,000901" || failed != 4 {
		t.Errorf("recorded %q, %d failed, want the 4 failures only", codes, failed)
	}
	for i, e := range errs {
		if strings.Contains(e, simKey) {
			t.Errorf("row %d error shows the key", i)
		}
	}
	gone := ss.call()
	gone.InstanceID = "inst-none"
	if _, err := ss.s.ChangeInstanceCheck(ctx, gone, target(1)); err == nil {
		t.Fatal("an unknown instance was checked")
	} else if typ, retry := errType(t, err); typ != "SellerInstanceNotFound" || retry {
		t.Fatalf("unknown instance: %s retryable %v", typ, retry)
	}
}

// A refusal does not use up the call's retry window; a failure does.
func TestChangeInstanceCheckRetryWindow(t *testing.T) {
	ss := newSimSeller(t, "chkw")
	for _, tt := range []struct {
		behaviour string
		counted   bool
	}{
		{`{"changeCheck":{"refuseBelowQuantity":9}}`, false},
		{`{"failNext":{"count":1}}`, true},
	} {
		ss.admin(t, http.MethodPut, "/behaviour", tt.behaviour, nil)
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(ss.s)
		var attempts atomic.Int32
		env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
			var a attemptLog
			if details.HasValues() && details.Get(&a) == nil {
				attempts.Store(int32(a.Attempts))
			}
		})
		c := ss.call()
		c.MaxAttempts = 3
		_, err := env.ExecuteActivity(ss.s.ChangeInstanceCheck, c, ProductInfo{ProductID: "p", SKUCode: "s", Quantity: 1})
		if (err != nil) != tt.counted || (attempts.Load() == 1) != tt.counted {
			t.Errorf("%s: err %v, attempts counted %d", tt.behaviour, err, attempts.Load())
		}
	}
}

// orderNotify reaches the seller with the paid order line; repeats are the seller's to
// absorb, and failures are retryable.
func TestOrderNotify(t *testing.T) {
	ctx := context.Background()
	ss := newSimSeller(t, "ntf")
	c := ss.call()
	for range 2 {
		if err := ss.s.OrderNotify(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	var list []struct {
		OrderID     string `json:"orderId"`
		OrderLineID string `json:"orderLineId"`
		Calls       int    `json:"calls"`
	}
	ss.admin(t, http.MethodGet, "/notifications", "", &list)
	if len(list) != 1 || list[0].OrderID != c.OrderID || list[0].OrderLineID != c.OrderLineID || list[0].Calls != 2 {
		t.Fatalf("notifications %+v", list)
	}
	ss.admin(t, http.MethodPut, "/behaviour", `{"failNext":{"count":1,"httpStatus":500}}`, nil)
	if typ, retry := errType(t, ss.s.OrderNotify(ctx, c)); typ != "SellerTransportError" || !retry {
		t.Fatalf("HTTP 500: %s retryable %v", typ, retry)
	}
	c.OrderLineID = ""
	if typ, retry := errType(t, ss.s.OrderNotify(ctx, c)); typ != ErrTypeInvalidInput || retry {
		t.Fatalf("no order line: %s retryable %v", typ, retry)
	}
	if codes, _, failed := ss.calls(t, sellerapi.ActivityOrderNotify); len(codes) != 3 || failed != 1 {
		t.Errorf("recorded %q, %d failed", codes, failed)
	}
}
