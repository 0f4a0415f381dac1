package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/orders/internal/order"
)

// describeResponse is what DescribeWorkflowExecution answers for an order workflow in
// status st whose memo holds fingerprint fp.
func describeResponse(t *testing.T, st enumspb.WorkflowExecutionStatus, fp string) *workflowservice.DescribeWorkflowExecutionResponse {
	return describeResponseWithPlaced(t, st, fp, nil)
}

// describeResponseWithPlaced is describeResponse with the placed view in the memo too.
func describeResponseWithPlaced(t *testing.T, st enumspb.WorkflowExecutionStatus, fp string, placed *order.View) *workflowservice.DescribeWorkflowExecutionResponse {
	t.Helper()
	dc := converter.GetDefaultDataConverter()
	p, err := dc.ToPayload(fp)
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]*commonpb.Payload{memoFingerprint: p}
	if placed != nil {
		if fields[memoPlaced], err = dc.ToPayload(placed); err != nil {
			t.Fatal(err)
		}
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{
		WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
			Status: st,
			Memo:   &commonpb.Memo{Fields: fields},
		},
	}
}

// TestUpdateErrorMapping: POST .../retry (ops) of an order the read model has, against a
// mock Temporal client, one outcome of the update per case.
func TestUpdateErrorMapping(t *testing.T) {
	db := needDB(t)
	tests := []struct {
		name       string
		updateErr  error // from UpdateWorkflow
		getErr     error // from the handle's Get
		describe   error // when set with describeSt unset: Describe fails with it
		describeSt enumspb.WorkflowExecutionStatus
		status     int
		code       string
		detail     string
	}{
		{name: "validator refusal", getErr: temporal.NewApplicationError("cannot retry an order that is in_service", order.ErrInvalidTransition),
			status: 409, code: CodeInvalidTransition, detail: "cannot retry an order that is in_service"},
		{name: "appeal open", getErr: temporal.NewApplicationError("an appeal is open", order.ErrAppealOpen),
			status: 409, code: CodeAppealOpen, detail: "an appeal is open"},
		{name: "rejection limit", getErr: temporal.NewApplicationError("limit reached; appeal", order.ErrRejectionLimit),
			status: 409, code: CodeRejectionLimit, detail: "limit reached; appeal"},
		{name: "wrapped refusal", getErr: errors.Join(errors.New("update failed"), temporal.NewApplicationError("no", order.ErrInvalidTransition)),
			status: 409, code: CodeInvalidTransition, detail: "no"},
		{name: "workflow closed while the update ran", getErr: temporal.NewApplicationError("Workflow Update failed because the Workflow completed before the Update completed.", updateCompletedWorkflow),
			status: 409, code: CodeInvalidTransition, detail: "order is closed"},
		{name: "no such order", updateErr: serviceerror.NewNotFound("workflow not found"), describe: serviceerror.NewNotFound("workflow not found"),
			status: 404, code: CodeOrderNotFound},
		{name: "closed order", updateErr: serviceerror.NewNotFound("workflow execution already completed"), describeSt: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED,
			status: 409, code: CodeInvalidTransition, detail: "order is closed"},
		{name: "terminated order", updateErr: serviceerror.NewNotFound("workflow execution already completed"), describeSt: enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED,
			status: 409, code: CodeInvalidTransition, detail: "order is closed"},
		{name: "Temporal down", updateErr: serviceerror.NewUnavailable("connection refused"), status: 503, code: CodeUnavailable},
		{name: "Temporal slow", updateErr: context.DeadlineExceeded, status: 503, code: CodeUnavailable},
		{name: "busy workflow", updateErr: &serviceerror.ResourceExhausted{Message: "closing"}, status: 503, code: CodeUnavailable},
		{name: "unknown application error", getErr: temporal.NewApplicationError("boom", "SomethingElse"), status: 500, code: CodeInternal},
		{name: "unexpected service error", updateErr: serviceerror.NewInvalidArgument("bad"), status: 500, code: CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, db)
			id := uid("o")
			wfID := order.WorkflowID(id)
			seedOrder(t, db, viewOf(id, "cust-1", "seller-1", testNow), "fp")
			if tt.updateErr != nil {
				h.tc.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(nil, tt.updateErr).Once()
			} else {
				handle := mocks.NewWorkflowUpdateHandle(t)
				handle.On("Get", mock.Anything, mock.Anything).Return(tt.getErr).Once()
				h.tc.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(handle, nil).Once()
			}
			switch {
			case tt.describeSt != 0:
				h.tc.On("DescribeWorkflowExecution", mock.Anything, wfID, "").Return(describeResponse(t, tt.describeSt, ""), nil).Once()
			case tt.describe != nil:
				h.tc.On("DescribeWorkflowExecution", mock.Anything, wfID, "").Return(nil, tt.describe).Once()
			}
			rec := h.do(t, http.MethodPost, "/v1/orders/"+id+"/retry", "", opsBy("alice"))
			field := ""
			if tt.code == CodeOrderNotFound {
				field = "orderId"
			}
			p := wantProblem(t, rec, tt.status, tt.code, field)
			if tt.detail != "" && p.Detail != tt.detail {
				t.Errorf("detail = %q, want %q", p.Detail, tt.detail)
			}
			if tt.status == 500 && strings.Contains(p.Detail, "boom") {
				t.Errorf("internal detail leaked: %q", p.Detail)
			}
		})
	}
}

// TestUpdateRequest: the update carries the actor and waits for completion; with an
// Idempotency-Key its ID is derived from the caller and the key, and a repeat is answered
// from the idempotency store without reaching Temporal; without one the ID is fresh.
func TestUpdateRequest(t *testing.T) {
	db := needDB(t)
	h := newHarness(t, db)
	id := uid("o")
	seedOrder(t, db, viewOf(id, "cust-1", "seller-1", testNow), "fp")
	path := "/v1/orders/" + id + "/retry"
	want := order.View{OrderID: id, Status: order.Status(order.PhaseProvisioning), Phase: order.PhaseProvisioning}
	var sent []client.UpdateWorkflowOptions
	for range 3 {
		handle := mocks.NewWorkflowUpdateHandle(t)
		handle.On("Get", mock.Anything, mock.AnythingOfType("*order.View")).Run(func(args mock.Arguments) {
			*args.Get(1).(*order.View) = want
		}).Return(nil).Once()
		h.tc.On("UpdateWorkflow", mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
			sent = append(sent, args.Get(1).(client.UpdateWorkflowOptions))
		}).Return(handle, nil).Once()
	}
	withKey := merge(opsBy("alice"), map[string]string{headerIdempotencyKey: "retry 42"})
	rec := h.do(t, http.MethodPost, path, "", withKey)
	wantStatus(t, rec, http.StatusOK)
	var got order.View
	decodeInto(t, rec, &got)
	if got.OrderID != id || got.Phase != order.PhaseProvisioning {
		t.Errorf("answer = %+v", got)
	}
	first := rec.Body.String()
	// The repeat is the first answer, replayed.
	rec = h.do(t, http.MethodPost, path, "", withKey)
	wantStatus(t, rec, http.StatusOK)
	if rec.Body.String() != first || rec.Header().Get(headerReplayed) != "true" {
		t.Errorf("repeat answered %q (replayed %q), want the first answer replayed", rec.Body.String(), rec.Header().Get(headerReplayed))
	}
	rec = h.do(t, http.MethodPost, path, "{}", opsBy("bob"))
	wantStatus(t, rec, http.StatusOK)
	// No body but a JSON Content-Type, as many clients send: accepted.
	rec = h.do(t, http.MethodPost, path, "", merge(opsBy("bob"), map[string]string{"Content-Type": "application/json"}))
	wantStatus(t, rec, http.StatusOK)

	if len(sent) != 3 {
		t.Fatalf("%d updates sent, want 3 (the repeat is not sent)", len(sent))
	}
	first0, second := sent[0], sent[1]
	if want := updateIDFor(order.UpdateRetry, callerKey(opsToken, "ops", "alice"), "retry 42"); first0.UpdateID != want {
		t.Errorf("UpdateID = %q, want %q", first0.UpdateID, want)
	}
	if second.UpdateID == "" || second.UpdateID == first0.UpdateID {
		t.Errorf("without a key the UpdateID must be fresh, got %q", second.UpdateID)
	}
	if first0.WorkflowID != order.WorkflowID(id) || first0.UpdateName != order.UpdateRetry ||
		first0.WaitForStage != client.WorkflowUpdateStageCompleted {
		t.Errorf("options = %+v", first0)
	}
	if len(first0.Args) != 1 || first0.Args[0] != (order.ActionRequest{Actor: order.Actor{Kind: order.ActorOps, ID: "alice"}}) {
		t.Errorf("args = %+v, want ops alice", first0.Args)
	}
}

func TestUpdateInputValidation(t *testing.T) {
	h := newHarness(t, nil)
	for _, tt := range []struct {
		name  string
		body  string
		hdr   map[string]string
		code  string
		field string
	}{
		{"key too long", "", map[string]string{headerIdempotencyKey: strings.Repeat("k", 129)}, CodeInvalidField, headerIdempotencyKey},
		{"key not ASCII", "", map[string]string{headerIdempotencyKey: "clé"}, CodeInvalidField, headerIdempotencyKey},
		{"body with a field", `{"force":true}`, nil, CodeInvalidField, "force"},
		{"body not an object", `[]`, nil, CodeInvalidJSON, ""},
		{"body as text", `{}`, map[string]string{"Content-Type": "text/plain"}, CodeUnsupportedMediaType, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := h.do(t, http.MethodPost, "/v1/orders/o-1/retry", tt.body, merge(opsBy("alice"), tt.hdr))
			status := http.StatusBadRequest
			if tt.code == CodeUnsupportedMediaType {
				status = http.StatusUnsupportedMediaType
			}
			wantProblem(t, rec, status, tt.code, tt.field)
		})
	}
}

func TestTemporalFailure(t *testing.T) {
	for _, tt := range []struct {
		err    error
		status int
	}{
		{serviceerror.NewUnavailable("x"), 503},
		{&serviceerror.DeadlineExceeded{Message: "x"}, 503},
		{&serviceerror.WorkflowNotReady{Message: "x"}, 503},
		{context.Canceled, 503},
		{serviceerror.NewNotFound("x"), 404},
		{temporal.NewApplicationError("x", order.ErrAppealOpen), 409},
		{serviceerror.NewPermissionDenied("x", ""), 500},
		{errors.New("x"), 500},
	} {
		if got := toProblem(temporalFailure("op", "o-1", tt.err)).Status; got != tt.status {
			t.Errorf("temporalFailure(%T) = %d, want %d", tt.err, got, tt.status)
		}
	}
}

func invalidTransitionErr() error {
	return temporal.NewApplicationError("cannot retry an order that is in_service", order.ErrInvalidTransition)
}
