package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/order"
)

// workflowRun is a started run with this run ID.
func workflowRun(t *testing.T, runID string) *mocks.WorkflowRun {
	r := mocks.NewWorkflowRun(t)
	r.On("GetRunID").Return(runID).Maybe()
	return r
}

// TestRunHealthCheck: ops start the health check, of every product or of one, under an ID
// of its own; the answer names the run, the ops audit trail the person and the reason.
// Products the check cannot judge are refused before Temporal is asked.
func TestRunHealthCheck(t *testing.T) {
	db := needDB(t)
	sellerID := seedSeller(t, db)
	listed := seedProduct(t, db, sellerID, order.TypeSaaS, order.BillingMonthly, true)
	delisted := seedProduct(t, db, sellerID, order.TypeSaaS, order.BillingMonthly, false)
	stamp := testNow.UTC().Format("20060102T150405Z")

	tests := []struct {
		name, body string
		wantID     string
		wantInput  order.HealthInput
		target     string
	}{
		{"every product", `{"reason":"seller outage over"}`, "product-health-ops-all-" + stamp, order.HealthInput{}, "products"},
		{"one product", `{"reason":"seller says fixed","productId":"` + listed + `"}`, "product-health-ops-product-" + listed + "-" + stamp,
			order.HealthInput{ProductID: listed}, listed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, db)
			var opts client.StartWorkflowOptions
			var in order.HealthInput
			h.tc.On("ExecuteWorkflow", mock.Anything, mock.Anything, order.HealthWorkflowType, mock.Anything).Run(func(args mock.Arguments) {
				opts, in = args.Get(1).(client.StartWorkflowOptions), args.Get(3).(order.HealthInput)
			}).Return(workflowRun(t, "run-h1"), nil).Once()
			before, _ := activities.OpsActions(context.Background(), db, tt.target)
			rec := h.do(t, http.MethodPost, "/v1/health-checks/runs", tt.body, merge(opsBy("alice"), map[string]string{"Idempotency-Key": uid("k")}))
			wantStatus(t, rec, http.StatusAccepted)
			var got healthRun
			decodeInto(t, rec, &got)
			if got.WorkflowID != tt.wantID || got.RunID != "run-h1" || got.ProductID != tt.wantInput.ProductID {
				t.Errorf("answer %+v", got)
			}
			if opts.ID != tt.wantID || opts.TaskQueue != "orders-test" || in != tt.wantInput ||
				opts.WorkflowIDConflictPolicy != enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING {
				t.Errorf("start %+v with %+v", opts, in)
			}
			after, err := activities.OpsActions(context.Background(), db, tt.target)
			if err != nil || len(after) != len(before)+1 {
				t.Fatalf("ops actions %d -> %d (%v)", len(before), len(after), err)
			}
			if a := after[len(after)-1]; a.Actor != "alice" || a.Action != activities.OpsActionHealthCheck ||
				!strings.HasPrefix(a.Reason, "seller") || a.Detail["workflowId"] != tt.wantID || a.Detail["runId"] != "run-h1" {
				t.Errorf("audit line %+v", a)
			}
		})
	}

	refusals := []struct {
		name, body      string
		status          int
		code, field     string
		temporal        error // the start's failure; nil: Temporal is not reached
		reachesTemporal bool
	}{
		{"no reason", `{}`, 400, CodeInvalidField, "reason", nil, false},
		{"empty reason", `{"reason":""}`, 400, CodeInvalidField, "reason", nil, false},
		{"reason too long", `{"reason":"` + strings.Repeat("x", 2001) + `"}`, 400, CodeInvalidField, "reason", nil, false},
		{"bad productId", `{"reason":"x","productId":"a b"}`, 400, CodeInvalidField, "productId", nil, false},
		{"unknown member", `{"reason":"x","force":true}`, 400, CodeInvalidField, "force", nil, false},
		{"unknown product", `{"reason":"x","productId":"` + uid("nope") + `"}`, 422, CodeProductNotFound, "productId", nil, false},
		{"delisted product", `{"reason":"x","productId":"` + delisted + `"}`, 409, CodeProductDelisted, "productId", nil, false},
		{"Temporal unavailable", `{"reason":"x"}`, 503, CodeUnavailable, "", serviceerror.NewUnavailable("down"), true},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, db, func(c *config.Config) { c.APIMaxBodyBytes = 8 << 10 })
			if tt.reachesTemporal {
				h.tc.On("ExecuteWorkflow", mock.Anything, mock.Anything, order.HealthWorkflowType, mock.Anything).Return(nil, tt.temporal).Once()
			}
			wantProblem(t, h.do(t, http.MethodPost, "/v1/health-checks/runs", tt.body, opsBy("alice")), tt.status, tt.code, tt.field)
		})
	}
}
