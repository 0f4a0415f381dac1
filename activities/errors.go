package activities

import (
	"go.temporal.io/sdk/temporal"
)

// Application error types of our own activities (seller result classes carry the types of
// sellerapi.Class.ErrorType). Workflows branch on these strings, so they are stable.
const (
	// ErrTypeSellerNotFound: the order names a seller the catalogue does not have.
	ErrTypeSellerNotFound = "SellerNotFound"
	// ErrTypeInvalidInput: an activity was called with input it can never accept.
	ErrTypeInvalidInput = "InvalidActivityInput"
	// ErrTypeOurFault: a seller call could not be made for a reason of ours (PostgreSQL,
	// the keys): retried, never counted against the seller.
	ErrTypeOurFault = "OurFault"
)

// nonRetryable wraps err as a non-retryable application error of type typ: a business
// failure that no retry can fix.
func nonRetryable(typ string, err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), typ, nil)
}
