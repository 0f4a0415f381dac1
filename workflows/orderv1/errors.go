package orderv1

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
// the retry window ran out. It keeps the error class only: the seller's own message and
// endpoint stay in seller_calls and the activity's failure, for ops, and never reach the
// buyer's view of the order.
func sellerFailure(err error) map[string]string {
	d := map[string]string{"reason": "window_exhausted", "errorType": "unknown"}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		d["errorType"] = appErr.Type()
		if appErr.NonRetryable() {
			d["reason"] = "seller_refused"
		}
	}
	d["message"] = d["reason"] + " (" + d["errorType"] + ")"
	return d
}
