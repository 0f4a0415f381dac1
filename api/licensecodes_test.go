package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/cloudmarket/orders/internal/licenses"
	"github.com/cloudmarket/orders/internal/order"
)

// codeOrderSeeded issues a licence code for a new order of seller sel and writes its read
// model row (awaiting activation); it returns the order's view and the code in clear.
func codeOrderSeeded(t *testing.T, h *harness, sel string) (order.View, string) {
	t.Helper()
	db := h.srv.s.db
	id := uid("o")
	ref, err := licenses.IssueCode(context.Background(), db, testKeys, id, sel, testNow)
	if err != nil {
		t.Fatal(err)
	}
	again, err := licenses.IssueCode(context.Background(), db, testKeys, id, sel, testNow.Add(time.Hour))
	if err != nil || again.SHA256 != ref.SHA256 {
		t.Fatalf("a retried issue gave another code (%v)", err)
	}
	code, err := licenses.Open(context.Background(), db, testKeys, id)
	if err != nil {
		t.Fatal(err)
	}
	v := viewOf(id, "cust-code", sel, testNow)
	v.ProductType, v.Phase, v.Status, v.License = order.TypeLicense, order.PhaseAwaitingAcceptance, order.Status(order.PhaseAwaitingAcceptance), &ref
	seedOrderRow(t, h, v)
	return v, code
}

func seedOrderRow(t *testing.T, h *harness, v order.View) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.srv.s.db.Exec(context.Background(), `UPDATE orders SET view = $2 WHERE order_id = $1`, v.OrderID, b); err != nil {
		t.Fatal(err)
	}
	var n int
	_ = h.srv.s.db.QueryRow(context.Background(), `SELECT count(*) FROM orders WHERE order_id = $1`, v.OrderID).Scan(&n)
	if n == 0 {
		seedOrder(t, h.srv.s.db, v, "fp")
	}
}

func TestSellerAPILicenseCodes(t *testing.T) {
	db := needDB(t)
	h := newHarness(t, db)
	sel, other := seedSeller(t, db), seedSeller(t, db)
	const key = "key-12345678"
	v, code := codeOrderSeeded(t, h, sel)
	activate := func(seller, body string) *httptest.ResponseRecorder {
		return serve(h, signed("POST", "/v1/seller-api/license-codes/activation", seller, key, testNow, newNonce(t), body))
	}
	heartbeat := func(body string) *httptest.ResponseRecorder {
		return serve(h, signed("POST", "/v1/seller-api/license-codes/heartbeats", sel, key, testNow, newNonce(t), body))
	}
	body := func(c string) string { return `{"license":"` + c + `"}` }

	t.Run("refused before the buyer has seen the code", func(t *testing.T) {
		wantProblem(t, activate(sel, body(code)), http.StatusConflict, CodeLicenseCodeNotReceived, "")
	})
	t.Run("the buyer sees the code in full, others the masked form", func(t *testing.T) {
		rec := h.do(t, "GET", "/v1/orders/"+v.OrderID, "", buyer("cust-code"))
		wantStatus(t, rec, http.StatusOK)
		var got order.View
		decodeInto(t, rec, &got)
		if got.License == nil || got.License.Text != code {
			t.Fatalf("the buyer's view lacks the code: %+v", got.License)
		}
		rec = h.do(t, "GET", "/v1/orders/"+v.OrderID, "", seller(sel))
		if strings.Contains(rec.Body.String(), code) {
			t.Fatal("the seller's view shows the code")
		}
	})
	for _, tt := range []struct {
		name, seller, body string
		status             int
		code, field        string
	}{
		{"no such code", sel, body("AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"), 404, CodeLicenseCodeNotFound, "license"},
		{"another seller's code", other, body(code), 404, CodeLicenseCodeNotFound, "license"},
		{"a space inside", sel, body("AAAAA BBBBB"), 400, CodeInvalidField, "license"},
		{"empty", sel, body(""), 0, "", ""},
		{"too long", sel, body(strings.Repeat("A", 65)), 0, "", ""},
		{"another member", sel, `{"license":"` + code + `","x":1}`, 0, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := activate(tt.seller, tt.body)
			if tt.status == 0 {
				if rec.Code < 400 || rec.Code >= 500 {
					t.Fatalf("status %d, want a 4xx problem: %s", rec.Code, rec.Body)
				}
				return
			}
			wantProblem(t, rec, tt.status, tt.code, tt.field)
		})
	}
	t.Run("heartbeat before activation", func(t *testing.T) {
		wantProblem(t, heartbeat(body(code)), http.StatusConflict, CodeLicenseCodeNotActivated, "")
	})
	t.Run("activated", func(t *testing.T) {
		at := testNow
		after := v
		after.Phase, after.Status, after.LicenseCodeActivatedAt = order.PhaseInService, order.Status(order.PhaseInService), &at
		handle := mocks.NewWorkflowUpdateHandle(t)
		handle.On("Get", mock.Anything, mock.AnythingOfType("*order.View")).Run(func(args mock.Arguments) {
			*args.Get(1).(*order.View) = after
		}).Return(nil).Once()
		var opts client.UpdateWorkflowOptions
		h.tc.On("UpdateWorkflow", mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
			opts = args.Get(1).(client.UpdateWorkflowOptions)
		}).Return(handle, nil).Once()
		rec := activate(sel, body(strings.ToLower(code))) // as typed: case does not matter
		wantStatus(t, rec, http.StatusOK)
		var got codeActivation
		decodeInto(t, rec, &got)
		if got.OrderID != v.OrderID || got.ActivatedAt == nil || got.Status != order.Status(order.PhaseInService) {
			t.Fatalf("answer %+v", got)
		}
		arg, _ := opts.Args[0].(order.LicenseCodeActivation)
		if opts.UpdateName != order.UpdateActivateLicenseCode || opts.WorkflowID != order.WorkflowID(v.OrderID) ||
			arg.SHA256 != v.License.SHA256 || arg.Actor.ID != sel {
			t.Fatalf("update %s %s %+v", opts.UpdateName, opts.WorkflowID, opts.Args)
		}
		if strings.Contains(rec.Body.String(), code) {
			t.Fatal("the answer echoes the code")
		}
		seedOrderRow(t, h, after) // as the workflow records it
	})
	t.Run("heartbeats: one row a day, later ones counted", func(t *testing.T) {
		rec := heartbeat(body(code))
		wantStatus(t, rec, http.StatusOK)
		var hb codeHeartbeat
		decodeInto(t, rec, &hb)
		if !hb.First || hb.Beats != 1 || hb.Day != testNow.UTC().Format(time.DateOnly) {
			t.Fatalf("first heartbeat %+v", hb)
		}
		decodeInto(t, heartbeat(body(code)), &hb)
		if hb.First || hb.Beats != 2 {
			t.Fatalf("second heartbeat %+v", hb)
		}
		list, err := licenses.Heartbeats(context.Background(), db, v.OrderID, 10)
		if err != nil || len(list) != 1 || list[0].Beats != 2 {
			t.Fatalf("heartbeats %+v (%v)", list, err)
		}
		// The order's buyer and ops read the days of use; another buyer cannot tell the
		// order exists.
		for _, who := range []map[string]string{buyer("cust-code"), opsBy("alice")} {
			rec := h.do(t, "GET", "/v1/orders/"+v.OrderID+"/license-code/heartbeats?limit=5", "", who)
			wantStatus(t, rec, http.StatusOK)
			var got struct{ Items []licenses.Heartbeat }
			decodeInto(t, rec, &got)
			if len(got.Items) != 1 || got.Items[0].Beats != 2 || got.Items[0].Day != hb.Day {
				t.Fatalf("days of use %+v", got.Items)
			}
		}
		wantStatus(t, h.do(t, "GET", "/v1/orders/"+v.OrderID+"/license-code/heartbeats", "", buyer("cust-other")), http.StatusNotFound)
	})
	t.Run("the code is in no log line", func(t *testing.T) {
		if strings.Contains(h.logs.String(), code) {
			t.Fatal("a log line holds the licence code")
		}
	})
}

func TestLicenseCodeProducts(t *testing.T) {
	db := needDB(t)
	h := newHarness(t, db)
	sel := seedSeller(t, db)
	put := func(body string) *httptest.ResponseRecorder {
		return h.do(t, "PUT", "/v1/products/"+uid("prod"), `{"sellerId":"`+sel+`","name":"N","billingMode":"yearly","commissionRate":1500,"acceptanceCriteria":"works",`+body+`}`, opsBy("alice"))
	}
	wantProblem(t, put(`"type":"saas","licenseCode":true`), http.StatusBadRequest, CodeInvalidField, "licenseCode")
	wantProblem(t, put(`"type":"license","licenseCode":true,"trialDays":7`), http.StatusBadRequest, CodeInvalidField, "trialDays")
	wantProblem(t, put(`"type":"license","licenseCode":true,"supervised":false`), http.StatusBadRequest, CodeInvalidField, "supervised")
	rec := put(`"type":"license","licenseCode":true`)
	wantStatus(t, rec, http.StatusCreated)
	var p productResponse
	decodeInto(t, rec, &p)
	if !p.LicenseCode || !p.Supervised {
		t.Fatalf("product %+v", p)
	}
	rec = h.do(t, "GET", "/v1/products/"+p.ProductID, "", opsBy("alice"))
	decodeInto(t, rec, &p)
	if !p.LicenseCode {
		t.Fatalf("GET lost licenseCode: %+v", p)
	}
}
