package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/orders/internal/order"
)

// memoFingerprint is the memo key under which a started order keeps its request
// fingerprint, so a concurrent duplicate start can be told apart from a conflicting one
// before the read model has a row.
const memoFingerprint = "fingerprint"

// memoPlaced is the memo key under which orders started before 2026-12-07 keep their view
// as placed (order.InitialView). New orders do not: the read model row has it, and the
// memo's bytes are stored three times per open order by the Temporal server.
const memoPlaced = "placed"

// orderDescription is what the server says of an order's workflow without asking a worker.
type orderDescription struct {
	Status      enumspb.WorkflowExecutionStatus
	Fingerprint string
	Placed      *order.View // only for orders started before 2026-12-07
}

// updateCompletedWorkflow is the application error type the server gives an update that
// was accepted but whose workflow closed before the update finished.
const updateCompletedWorkflow = "AcceptedUpdateCompletedWorkflow"

// conflictTypes are the application error types the order workflow's update validators
// and handlers use; each becomes 409 with the same code.
var conflictTypes = map[string]bool{
	order.ErrInvalidTransition: true,
	order.ErrAppealOpen:        true,
	order.ErrRejectionLimit:    true,
	order.ErrLicenseMismatch:   true,
	order.ErrAppealLimit:       true,
	order.ErrChangeRefused:     true,
	// A second activation of a licence code (licensecodes.go).
	order.ErrLicenseCodeActivated: true,
}

func conflict(code, detail string) *Problem {
	return newProblem(http.StatusConflict, code, detail)
}

func orderClosed(cause error) *Problem {
	p := conflict(CodeInvalidTransition, "order is closed")
	p.cause = cause
	return p
}

// temporalFailure maps an error from a Temporal call about order orderID:
//   - an application error of a known type (validator refusal, handler failure) -> 409
//     with that type as code and its message as detail;
//   - NotFound -> 404 order_not_found;
//   - the server or the connection not answering (Unavailable, DeadlineExceeded,
//     ResourceExhausted, WorkflowNotReady, a context deadline) -> 503 unavailable;
//   - anything else is unexpected -> 500, with the cause logged.
func temporalFailure(what, orderID string, err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		if conflictTypes[appErr.Type()] {
			p := conflict(appErr.Type(), appErr.Message())
			p.cause = err
			return p
		}
		if appErr.Type() == updateCompletedWorkflow {
			return orderClosed(err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		p := orderNotFound(orderID)
		p.cause = err
		return p
	}
	if temporalUnavailable(err) {
		return unavailable("Temporal", fmt.Errorf("%s: %w", what, err))
	}
	return fmt.Errorf("%s: %w", what, err)
}

// temporalUnavailable reports an error of Temporal that a retry may not see: the server
// is down, busy or slow. NamespaceNotFound counts too: the API serves one namespace that
// exists (the workers and the dev stack register it), so the server saying otherwise means
// it could not read its namespace registry; the cluster soak sees it while Temporal's
// PostgreSQL restarts after a crash.
func temporalUnavailable(err error) bool {
	var (
		nsGone   *serviceerror.NamespaceNotFound
		unav     *serviceerror.Unavailable
		deadline *serviceerror.DeadlineExceeded
		busy     *serviceerror.ResourceExhausted
		notReady *serviceerror.WorkflowNotReady
		canceled *serviceerror.Canceled
	)
	return errors.As(err, &unav) || errors.As(err, &nsGone) || errors.As(err, &deadline) || errors.As(err, &busy) ||
		errors.As(err, &notReady) || errors.As(err, &canceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// describeOrder returns the status and memo of an order's workflow.
func (s *server) describeOrder(ctx context.Context, orderID string) (orderDescription, error) {
	var d orderDescription
	resp, err := s.tc.DescribeWorkflowExecution(ctx, order.WorkflowID(orderID), "")
	if err != nil {
		return d, err
	}
	info := resp.GetWorkflowExecutionInfo()
	d.Status = info.GetStatus()
	fields := info.GetMemo().GetFields()
	if p := fields[memoFingerprint]; p != nil {
		if err := converter.GetDefaultDataConverter().FromPayload(p, &d.Fingerprint); err != nil {
			return d, fmt.Errorf("decode memo fingerprint of order %s: %w", orderID, err)
		}
	}
	if p := fields[memoPlaced]; p != nil {
		var v order.View
		if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil {
			return d, fmt.Errorf("decode memo view of order %s: %w", orderID, err)
		}
		d.Placed = &v
	}
	return d, nil
}
