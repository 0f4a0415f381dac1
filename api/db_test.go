package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/policy"
	"github.com/cloudmarket/orders/internal/sellerkeys"
	"github.com/cloudmarket/orders/internal/strictjson"
)

// Tests against a real PostgreSQL (TestMain's throwaway cluster). Temporal is a mock, set
// up only where a case reaches it; the tests share one database, so every test makes its
// own IDs.

var idSeq atomic.Int64

func uid(prefix string) string { return fmt.Sprintf("%s-%d", prefix, idSeq.Add(1)) }

func exec(t *testing.T, db *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := db.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", strings.Fields(sql)[0], err)
	}
}

func seedSeller(t *testing.T, db *pgxpool.Pool) string {
	id := uid("seller")
	sealed, err := sellerkeys.Seal(testKeys, id, "key-12345678")
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, `INSERT INTO sellers (seller_id, name, endpoint, access_key_kek, access_key_dek, access_key_sealed)
		VALUES ($1, 'S', 'https://93.184.216.34/p', $2, $3, $4)`, id, sealed.KeyID, sealed.WrappedKey, sealed.Ciphertext)
	return id
}

func seedProduct(t *testing.T, db *pgxpool.Pool, sellerID string, typ order.ProductType, mode order.BillingMode, listed bool) string {
	id := uid("prod")
	exec(t, db, `INSERT INTO products (product_id, seller_id, name, type, billing_mode, commission_bps, listed)
		VALUES ($1, $2, 'P', $3, $4, 1500, $5)`, id, sellerID, string(typ), string(mode), listed)
	return id
}

// seedOrder writes a read-model row as the workflow's activities would.
func seedOrder(t *testing.T, db *pgxpool.Pool, v order.View, fp string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, `INSERT INTO orders (order_id, order_line_id, customer_id, product_id, seller_id,
		product_type, billing_mode, status, phase, request_fingerprint, workflow_id, seq, view, placed_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $13, $13)`,
		v.OrderID, v.OrderLineID, v.CustomerID, v.ProductID, v.SellerID, v.ProductType, v.BillingMode,
		v.Status, v.Phase, fp, order.WorkflowID(v.OrderID), b, v.PlacedAt)
}

func viewOf(orderID, customerID, sellerID string, placedAt time.Time) order.View {
	return order.InitialView(order.StartInput{
		OrderID: orderID, OrderLineID: "l-1", CustomerID: customerID, ProductID: "prod-x", SellerID: sellerID,
		ProductType: order.TypeSaaS, BillingMode: order.BillingMonthly, Quantity: 1,
		Amount: order.Money{Value: 100, Currency: "CNY"}, PlacedAt: placedAt,
	})
}

func TestSellers(t *testing.T) {
	db := needDB(t)
	h := newHarness(t, db)
	id := uid("seller")
	path := "/v1/sellers/" + id
	readKey := func() (key, endpoint string, verify bool) {
		t.Helper()
		sl, err := sellerkeys.Lookup(context.Background(), db, testKeys, id)
		if err != nil {
			t.Fatal(err)
		}
		var plain *string
		var sealed []byte
		if err := db.QueryRow(context.Background(), `SELECT access_key, access_key_sealed FROM sellers WHERE seller_id = $1`, id).
			Scan(&plain, &sealed); err != nil {
			t.Fatal(err)
		}
		if plain != nil || strings.Contains(string(sealed), sl.AccessKey) {
			t.Fatalf("the access key is stored in plain text")
		}
		return sl.AccessKey, sl.Endpoint, sl.VerifyBodySign
	}

	rec := h.do(t, http.MethodPut, path, `{"name":"S","endpoint":"https://93.184.216.34/p"}`, opsBy("alice"))
	wantProblem(t, rec, http.StatusBadRequest, CodeInvalidField, "accessKey")

	rec = h.do(t, http.MethodPut, path, `{"name":"S","endpoint":"https://93.184.216.34/p","accessKey":"first-key-123"}`, opsBy("alice"))
	wantStatus(t, rec, http.StatusCreated)
	var got sellerResponse
	decodeInto(t, rec, &got)
	if got.SellerID != id || !got.VerifyBodySign || !got.CreatedAt.Equal(testNow) {
		t.Errorf("created seller = %+v", got)
	}

	rec = h.do(t, http.MethodPut, path, `{"name":"S2","endpoint":"http://127.0.0.1:9/p","verifyBodySign":false}`, opsBy("alice"))
	wantStatus(t, rec, http.StatusOK)
	if key, ep, verify := readKey(); key != "first-key-123" || ep != "http://127.0.0.1:9/p" || verify {
		t.Errorf("after update without key: key %q endpoint %q verify %v; want key kept", key, ep, verify)
	}

	rec = h.do(t, http.MethodPut, path, `{"name":"S2","endpoint":"https://93.184.216.34/p","accessKey":"second-key-456"}`, opsBy("alice"))
	wantStatus(t, rec, http.StatusOK)
	if key, _, verify := readKey(); key != "second-key-456" || verify {
		t.Errorf("after key change: key %q verify %v; want new key, verify kept false", key, verify)
	}
	for _, secret := range []string{"first-key-123", "second-key-456"} {
		if strings.Contains(rec.Body.String(), secret) || strings.Contains(h.logs.String(), secret) {
			t.Errorf("access key %q leaked into the answer or the log", secret)
		}
	}
	if strings.Contains(rec.Body.String(), "accessKey") {
		t.Errorf("the answer has an accessKey member: %s", rec.Body.String())
	}
}

func TestProducts(t *testing.T) {
	db := needDB(t)
	h := newHarness(t, db)
	sellerID := seedSeller(t, db)
	id := uid("prod")
	path := "/v1/products/" + id
	body := func(extra string) string {
		return `{"sellerId":"` + sellerID + `","name":"Cloud DB","type":"saas","billingMode":"monthly",` +
			`"commissionRate":1500,"acceptanceCriteria":"It answers."` + extra + `}`
	}

	rec := h.do(t, http.MethodPut, path, strings.Replace(body(""), sellerID, "nobody", 1), opsBy("alice"))
	wantProblem(t, rec, http.StatusUnprocessableEntity, CodeSellerNotFound, "sellerId")

	rec = h.do(t, http.MethodPut, path, body(""), opsBy("alice"))
	wantStatus(t, rec, http.StatusCreated)
	var p productResponse
	decodeInto(t, rec, &p)
	if !p.Listed || p.Supervised || !p.SupervisedDefault || p.CommissionRate != 1500 {
		t.Errorf("created product = %+v; want listed, saas default unsupervised", p)
	}

	rec = h.do(t, http.MethodPut, path, body(`,"listed":false,"supervised":true`), opsBy("alice"))
	wantStatus(t, rec, http.StatusOK)
	rec = h.do(t, http.MethodPut, path, body(`,"supervised":true`), opsBy("alice"))
	wantStatus(t, rec, http.StatusOK)
	decodeInto(t, rec, &p)
	if p.Listed || !p.Supervised || p.SupervisedDefault {
		t.Errorf("after updates = %+v; want listed kept false, supervised own true", p)
	}

	// Health: calls for this product in the last 24 hours; failures are answers other than
	// 000000/000004 or calls with an error.
	other := uid("prod")
	for _, c := range []struct {
		product, code, err string
		ago                time.Duration
	}{
		{id, "000000", "", time.Hour},
		{id, "000004", "", 2 * time.Hour},
		{id, "000002", "", 3 * time.Hour},
		{id, "", "timeout after 5s", 4 * time.Hour},
		{id, "000001", "", 25 * time.Hour}, // outside the window
		{other, "000001", "", time.Hour},   // another product
	} {
		exec(t, db, `INSERT INTO seller_calls (order_id, seller_id, product_id, activity, attempt, result_code, latency_ms, error, called_at)
			VALUES ('o', $1, $2, 'newInstance', 1, $3, 10, $4, $5)`, sellerID, c.product, c.code, c.err, testNow.Add(-c.ago))
	}
	rec = h.do(t, http.MethodGet, path, "", buyer("cust-1"))
	wantStatus(t, rec, http.StatusOK)
	decodeInto(t, rec, &p)
	if p.Health == nil || p.Health.Calls != 4 || p.Health.Failures != 2 || p.Health.FailureRate != 0.5 || p.Health.Window != "24h" {
		t.Errorf("health = %+v, want 4 calls, 2 failures", p.Health)
	}
	if p.Listed || p.Name != "Cloud DB" || p.Type != order.TypeSaaS || p.BillingMode != order.BillingMonthly {
		t.Errorf("product = %+v", p)
	}

	rec = h.do(t, http.MethodGet, "/v1/products/"+uid("none"), "", opsBy("alice"))
	wantProblem(t, rec, http.StatusNotFound, CodeProductNotFound, "productId")
}

func TestCustomers(t *testing.T) {
	db := needDB(t)
	h := newHarness(t, db)
	path := "/v1/customers/" + uid("cust")
	wantStatus(t, h.do(t, http.MethodPut, path, `{"level":"V2"}`, opsBy("alice")), http.StatusCreated)
	rec := h.do(t, http.MethodPut, path, `{"level":"V4"}`, opsBy("alice"))
	wantStatus(t, rec, http.StatusOK)
	var c customerResponse
	decodeInto(t, rec, &c)
	if c.Level != "V4" {
		t.Errorf("level = %q, want V4", c.Level)
	}
}

func TestCreateOrder(t *testing.T) {
	db := needDB(t)
	sellerID := seedSeller(t, db)
	monthly := seedProduct(t, db, sellerID, order.TypeSaaS, order.BillingMonthly, true)
	oneTime := seedProduct(t, db, sellerID, order.TypeSaaS, order.BillingOneTime, true)
	payPerUse := seedProduct(t, db, sellerID, order.TypeSaaS, order.BillingPayPerUse, true)
	delisted := seedProduct(t, db, sellerID, order.TypeSaaS, order.BillingMonthly, false)
	exp := testNow.Add(30 * 24 * time.Hour)
	body := func(orderID, productID string, quantity int, expire string) string {
		b := fmt.Sprintf(`{"orderId":%q,"orderLineId":"line-1","customerId":"cust-1","productId":%q,"quantity":%d,"amount":{"value":9900,"currency":"CNY"}`,
			orderID, productID, quantity)
		if expire != "" {
			b += `,"expireTime":"` + expire + `"`
		}
		return b + "}"
	}
	alreadyStarted := serviceerror.NewWorkflowExecutionAlreadyStarted("exists", "", "run-1")

	t.Run("placed", func(t *testing.T) {
		h := newHarness(t, db)
		id := uid("o")
		var opts client.StartWorkflowOptions
		var in order.StartInput
		h.tc.On("ExecuteWorkflow", mock.Anything, mock.Anything, order.WorkflowType, mock.Anything).Run(func(args mock.Arguments) {
			opts, in = args.Get(1).(client.StartWorkflowOptions), args.Get(3).(order.StartInput)
		}).Return(mocks.NewWorkflowRun(t), nil).Once()
		rec := h.do(t, http.MethodPost, "/v1/orders", body(id, monthly, 2, exp.Format(time.RFC3339)), buyer("cust-1"))
		wantStatus(t, rec, http.StatusCreated)
		if loc := rec.Header().Get("Location"); loc != "/v1/orders/"+id {
			t.Errorf("Location = %q", loc)
		}
		var v order.View
		decodeInto(t, rec, &v)
		if v.OrderID != id || v.Status != order.Status(order.PhaseProvisioning) || v.SellerID != sellerID {
			t.Errorf("answer = %+v", v)
		}
		if opts.ID != order.WorkflowID(id) || opts.TaskQueue != "orders-test" ||
			opts.WorkflowIDReusePolicy != enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE ||
			opts.WorkflowIDConflictPolicy != enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL ||
			!opts.WorkflowExecutionErrorWhenAlreadyStarted || opts.Memo[memoFingerprint] != in.Fingerprint || in.Fingerprint == "" {
			t.Errorf("start options = %+v", opts)
		}
		for key, want := range map[string]string{"OrderStatus": "provisioning", "SellerId": sellerID, "CustomerId": "cust-1", "ProductId": monthly, "ProductType": "saas"} {
			if got, _ := opts.TypedSearchAttributes.GetKeyword(temporal.NewSearchAttributeKeyKeyword(key)); got != want {
				t.Errorf("search attribute %s = %q, want %q", key, got, want)
			}
		}
		if !in.PlacedAt.Equal(testNow) || in.Supervised || in.CommissionBps != 1500 || in.Quantity != 2 ||
			in.Amount != (order.Money{Value: 9900, Currency: "CNY"}) || in.ExpireTime == nil || !in.ExpireTime.Equal(exp) ||
			!reflect.DeepEqual(in.Windows, policy.Default().Windows(order.TypeSaaS)) {
			t.Errorf("start input = %+v", in)
		}
	})

	t.Run("catalogue refusals", func(t *testing.T) {
		h := newHarness(t, db) // no Temporal expectations: none of these may start anything
		future := exp.Format(time.RFC3339)
		for _, tt := range []struct {
			name, body  string
			status      int
			code, field string
		}{
			{"unknown product", body(uid("o"), "nope", 1, future), 422, CodeProductNotFound, "productId"},
			{"delisted", body(uid("o"), delisted, 1, future), 409, CodeProductDelisted, "productId"},
			{"subscription without expiry", body(uid("o"), monthly, 1, ""), 400, CodeInvalidField, "expireTime"},
			{"expiry in the past", body(uid("o"), monthly, 1, testNow.Add(-time.Minute).Format(time.RFC3339)), 400, CodeInvalidField, "expireTime"},
			{"one-time with expiry", body(uid("o"), oneTime, 1, future), 400, CodeInvalidField, "expireTime"},
			{"pay-per-use without a unit price", body(uid("o"), payPerUse, 1, ""), 422, CodeProductUnsupported, "productId"},
			{"pay-per-use with an expiry", body(uid("o"), payPerUse, 1, future), 400, CodeInvalidField, "expireTime"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				wantProblem(t, h.do(t, http.MethodPost, "/v1/orders", tt.body, buyer("cust-1")), tt.status, tt.code, tt.field)
			})
		}
	})

	t.Run("known order in the read model", func(t *testing.T) {
		h := newHarness(t, db) // answered from PostgreSQL alone
		id := uid("o")
		first := body(id, oneTime, 1, "")
		seedOrder(t, db, viewOf(id, "cust-1", sellerID, testNow), mustPlacement(t, first).fingerprint())
		rec := h.do(t, http.MethodPost, "/v1/orders", first, buyer("cust-1"))
		wantStatus(t, rec, http.StatusOK)
		var v order.View
		decodeInto(t, rec, &v)
		if v.OrderID != id {
			t.Errorf("answer = %+v", v)
		}
		wantProblem(t, h.do(t, http.MethodPost, "/v1/orders", body(id, oneTime, 3, ""), buyer("cust-1")),
			http.StatusConflict, CodeIdempotencyConflict, "orderId")
	})

	t.Run("concurrent duplicate", func(t *testing.T) {
		for _, tt := range []struct {
			name     string
			sameBody bool
			status   int
		}{{"same body", true, http.StatusOK}, {"other body", false, http.StatusConflict}} {
			t.Run(tt.name, func(t *testing.T) {
				h := newHarness(t, db)
				id := uid("o")
				request := body(id, monthly, 1, exp.Format(time.RFC3339))
				stored := "fingerprint-of-another-body"
				if tt.sameBody {
					stored = mustPlacement(t, request).fingerprint()
				}
				var fp string
				h.tc.On("ExecuteWorkflow", mock.Anything, mock.Anything, order.WorkflowType, mock.Anything).Run(func(args mock.Arguments) {
					fp = args.Get(3).(order.StartInput).Fingerprint
				}).Return(nil, alreadyStarted).Once()
				h.tc.On("DescribeWorkflowExecution", mock.Anything, order.WorkflowID(id), "").Return(
					describeResponse(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, stored), nil).Once()
				rec := h.do(t, http.MethodPost, "/v1/orders", request, buyer("cust-1"))
				if tt.sameBody {
					wantStatus(t, rec, http.StatusOK)
					var v order.View
					decodeInto(t, rec, &v)
					if v.OrderID != id || v.Status != order.Status(order.PhaseProvisioning) {
						t.Errorf("answer = %+v", v)
					}
				} else {
					wantProblem(t, rec, http.StatusConflict, CodeIdempotencyConflict, "orderId")
				}
				if fp == "" {
					t.Error("no fingerprint was sent")
				}
			})
		}
	})

	t.Run("Temporal unavailable", func(t *testing.T) {
		h := newHarness(t, db)
		h.tc.On("ExecuteWorkflow", mock.Anything, mock.Anything, order.WorkflowType, mock.Anything).
			Return(nil, serviceerror.NewUnavailable("connection refused")).Once()
		wantProblem(t, h.do(t, http.MethodPost, "/v1/orders", body(uid("o"), monthly, 1, exp.Format(time.RFC3339)), buyer("cust-1")),
			http.StatusServiceUnavailable, CodeUnavailable, "")
	})
}

func mustPlacement(t *testing.T, body string) placement {
	t.Helper()
	var req orderRequest
	if e := strictjson.Decode([]byte(body), &req); e != nil {
		t.Fatal(e)
	}
	pl, p := req.validate()
	if p != nil {
		t.Fatal(p)
	}
	return pl
}

// TestFingerprintIsCanonical: the same order in another key order, spacing or time zone
// has the same fingerprint; any change of substance changes it.
func TestFingerprintIsCanonical(t *testing.T) {
	a := mustPlacement(t, `{"orderId":"o-1","orderLineId":"l","customerId":"c","productId":"p","quantity":1,"amount":{"value":5,"currency":"CNY"},"expireTime":"2031-01-01T08:00:00+08:00"}`)
	b := mustPlacement(t, `{ "amount": {"currency":"CNY", "value":5}, "quantity":1, "productId":"p","customerId":"c","orderLineId":"l","orderId":"o-1","expireTime":"2031-01-01T00:00:00Z" }`)
	if a.fingerprint() != b.fingerprint() {
		t.Error("equivalent requests have different fingerprints")
	}
	c := mustPlacement(t, `{"orderId":"o-1","orderLineId":"l","customerId":"c","productId":"p","quantity":2,"amount":{"value":5,"currency":"CNY"},"expireTime":"2031-01-01T00:00:00Z"}`)
	d := mustPlacement(t, `{"orderId":"o-1","orderLineId":"l","customerId":"c","productId":"p","quantity":1,"amount":{"value":5,"currency":"CNY"}}`)
	if a.fingerprint() == c.fingerprint() || a.fingerprint() == d.fingerprint() {
		t.Error("different requests share a fingerprint")
	}
}

func TestReadyWithDatabase(t *testing.T) {
	db := needDB(t)
	h := newHarness(t, db)
	h.tc.On("CheckHealth", mock.Anything, mock.Anything).Return(&client.CheckHealthResponse{}, nil).Once()
	wantStatus(t, h.do(t, http.MethodGet, "/readyz", "", nil), http.StatusOK)
	// Within the cache second, probes are answered without checking again (the mock would
	// fail a second CheckHealth).
	for range 10 {
		wantStatus(t, h.do(t, http.MethodGet, "/readyz", "", nil), http.StatusOK)
	}
	h.srv.s.ready.checked = time.Time{} // the second is over
	h.tc.On("CheckHealth", mock.Anything, mock.Anything).Return(nil, serviceerror.NewUnavailable("down")).Once()
	wantProblem(t, h.do(t, http.MethodGet, "/readyz", "", nil), http.StatusServiceUnavailable, CodeUnavailable, "")

	// Draining: not ready at once, whatever the dependencies say, while requests are served.
	h.srv.s.ready.checked = time.Time{}
	h.tc.On("CheckHealth", mock.Anything, mock.Anything).Return(&client.CheckHealthResponse{}, nil).Maybe()
	h.srv.Drain()
	rec := h.do(t, http.MethodGet, "/readyz", "", nil)
	wantProblem(t, rec, http.StatusServiceUnavailable, CodeUnavailable, "")
	if rec.Header().Get(headerRetryAfter) == "" {
		t.Error("503 without Retry-After")
	}
	wantStatus(t, h.do(t, http.MethodGet, "/healthz", "", nil), http.StatusOK)
}
