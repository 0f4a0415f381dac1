package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/orders/internal/order"
)

// invalidTransition is the validator's refusal of an action the order's state does not allow;
// the API turns its type into 409 invalid_transition.
func invalidTransition(action string, s order.Status) error {
	return temporal.NewApplicationError(fmt.Sprintf("cannot %s an order that is %s", action, s), order.ErrInvalidTransition)
}

// validActor refuses an update from an actor kind that may not perform it.
func validActor(a order.Actor, allowed ...order.ActorKind) error {
	for _, k := range allowed {
		if a.Kind == k {
			return nil
		}
	}
	return temporal.NewApplicationError(fmt.Sprintf("actor %q may not do this", a.Kind), order.ErrInvalidTransition)
}

// sellerFailure describes why a seller call failed, for the audit event and the view:
// "seller_refused" for a business refusal (non-retryable result), "window_exhausted" when
// the retry window ran out.
func sellerFailure(err error) map[string]string {
	d := map[string]string{"reason": "window_exhausted", "message": err.Error()}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		d["errorType"] = appErr.Type()
		d["message"] = appErr.Message()
		if appErr.NonRetryable() {
			d["reason"] = "seller_refused"
		}
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		d["reason"] = "window_exhausted"
	}
	return d
}
