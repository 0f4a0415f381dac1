package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/orders/internal/licenses"
	"github.com/cloudmarket/orders/internal/sellerapi"
)

// The seller calls of licence-code orders (License 2.0): the code names what the seller
// holds, so each call reads the order's code, sealed in order_licenses, inside the activity.
// The code is never in the activity's input or result, so it never enters workflow history;
// a seller's answer echoing it is redacted from errors and logs (SellerCall.redact).

// openCode reads the order's licence code. Failing to is our fault: retried, never counted
// against the seller's window.
func (s *Seller) openCode(ctx context.Context, c *SellerCall) error {
	code, err := licenses.Open(ctx, s.DB, s.Keys, c.OrderID)
	if errors.Is(err, licenses.ErrNotFound) {
		return nonRetryable(ErrTypeInvalidInput, fmt.Errorf("order %s has no licence code", c.OrderID))
	}
	if err != nil {
		return temporal.NewApplicationError(fmt.Sprintf("before calling the seller: %v", err), ErrTypeOurFault)
	}
	c.redact = code
	return nil
}

// RefreshLicenseCode tells the seller a licence code's new expiry: a renewal (scene
// RENEWAL) or a renewal period taken back (UNSUBSCRIBE_RENEWAL_PERIOD), naming the order
// that caused it (c.About). Other scenes do not exist for licence codes and fail at once.
func (s *Seller) RefreshLicenseCode(ctx context.Context, c SellerCall) error {
	if c.About == nil || c.ExpireTime == nil {
		return nonRetryable(ErrTypeInvalidInput, fmt.Errorf("refreshLicenseCode for order %s: no renewal order or expireTime", c.OrderID))
	}
	scene := c.Scene
	if scene == "" {
		scene = sellerapi.SceneRenewal
	}
	if err := s.openCode(ctx, &c); err != nil {
		return err
	}
	req := sellerapi.RefreshLicenseCodeRequest{
		Activity: sellerapi.ActivityRefreshLicenseCode, Scene: scene, OrderID: c.About.OrderID, OrderLineID: c.About.OrderLineID,
		License: c.redact, ProductID: c.NewProductID, ExpireTime: c.ExpireTime.UTC().Format(sellerapi.ExpireTimeLayout),
		TestFlag: s.testFlag(),
	}
	if err := req.Validate(); err != nil {
		return nonRetryable(ErrTypeInvalidInput, fmt.Errorf("order %s: %w", c.OrderID, err))
	}
	_, _, err := s.call(ctx, c, sellerapi.ActivityRefreshLicenseCode, "", req)
	return err
}

// UpdateLicenseCodeStatus freezes or unfreezes the order's licence code; a repeat is a
// no-op at the seller.
func (s *Seller) UpdateLicenseCodeStatus(ctx context.Context, c SellerCall, status sellerapi.InstanceStatus) error {
	if err := s.openCode(ctx, &c); err != nil {
		return err
	}
	req := sellerapi.UpdateLicenseCodeStatusRequest{
		Activity: sellerapi.ActivityUpdateLicenseCodeStatus, License: c.redact, Status: status, TestFlag: s.testFlag(),
	}
	if err := req.Validate(); err != nil {
		return nonRetryable(ErrTypeInvalidInput, fmt.Errorf("order %s: %w", c.OrderID, err))
	}
	_, _, err := s.call(ctx, c, sellerapi.ActivityUpdateLicenseCodeStatus, "", req)
	return err
}

// ReleaseLicenseCode releases the order's licence code, naming the unsubscribe order when
// there is one. A code the seller no longer knows (000003) has nothing left to release.
func (s *Seller) ReleaseLicenseCode(ctx context.Context, c SellerCall) error {
	if err := s.openCode(ctx, &c); err != nil {
		return err
	}
	req := sellerapi.ReleaseLicenseCodeRequest{Activity: sellerapi.ActivityReleaseLicenseCode, License: c.redact, TestFlag: s.testFlag()}
	if c.About != nil {
		req.OrderID, req.OrderLineID = c.About.OrderID, c.About.OrderLineID
	}
	_, _, err := s.call(ctx, c, sellerapi.ActivityReleaseLicenseCode, "", req)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == sellerapi.ClassInstanceNotFound.ErrorType() {
		return nil
	}
	return err
}
