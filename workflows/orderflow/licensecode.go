package orderflow

import (
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/lifecycle"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/sellerapi"
	"github.com/cloudmarket/orders/workflows/loop"
)

// startCodeCall starts, for an order of a licence-code product, the licence-code activity
// that stands for the machine's call k: updateLicenseCodeStatus for a freeze or unfreeze,
// refreshLicenseCode for a refresh, releaseLicenseCode for a release. ok is false for every
// other order or call (startCall goes on as before). No version marker: only licence-code
// orders, which did not exist before this code, take these branches.
func (o *orderImpl) startCodeCall(ctx workflow.Context, k lifecycle.CallKind, call activities.SellerCall) (f workflow.Future, ok bool) {
	in, w := o.st.In, o.st.In.Windows
	if in.LicenseCode == nil {
		return nil, false
	}
	call.MaxAttempts = w.SellerCall.Attempts
	switch k {
	case lifecycle.CallFreeze, lifecycle.CallUnfreeze:
		status, summary := sellerapi.StatusFreeze, "updateLicenseCodeStatus FREEZE at the seller"
		if k == lifecycle.CallUnfreeze {
			status, summary = sellerapi.StatusUnfreeze, "updateLicenseCodeStatus UNFREEZE at the seller"
		}
		return workflow.ExecuteActivity(loop.Seller(ctx, w.SellerCall, summary), seller.UpdateLicenseCodeStatus, call, status), true
	case lifecycle.CallRelease:
		if u := o.st.Unsubscription; u != nil && u.UnsubscribeOrderID != "" {
			call.About = &activities.OtherOrder{OrderID: u.UnsubscribeOrderID, OrderLineID: u.UnsubscribeOrderLineID}
		}
		return workflow.ExecuteActivity(loop.Seller(ctx, w.SellerCall, "releaseLicenseCode at the seller"), seller.ReleaseLicenseCode, call), true
	case lifecycle.CallRefresh:
		r := o.st.Refresh
		call.About = &activities.OtherOrder{OrderID: r.RenewalOrderID, OrderLineID: r.RenewalOrderLineID}
		call.ExpireTime = &r.ExpireTime
		call.Scene = sellerapi.Scene(r.Scene) // empty: RENEWAL
		summary := "refreshLicenseCode at the seller: renewal " + r.RenewalOrderID
		if r.Scene == order.RefreshSceneWithdrawal {
			summary = "refreshLicenseCode at the seller: renewal period taken back (" + r.RenewalOrderID + ")"
		}
		return workflow.ExecuteActivity(loop.Seller(ctx, w.SellerCall, summary), seller.RefreshLicenseCode, call), true
	}
	return nil, false
}
