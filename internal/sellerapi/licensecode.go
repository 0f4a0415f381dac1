package sellerapi

import "strings"

// The activities of licence codes (License 2.0, seller-protocol.md): the marketplace
// generated the code and the seller's software activated it, so the code, not an instance,
// names what the seller froze, renewed or releases. A product uses these instead of
// refreshInstance, updateInstanceStatus and releaseInstance (and never gets newInstance).
const (
	ActivityRefreshLicenseCode      Activity = "refreshLicenseCode"
	ActivityUpdateLicenseCodeStatus Activity = "updateLicenseCodeStatus"
	ActivityReleaseLicenseCode      Activity = "releaseLicenseCode"
)

// RefreshLicenseCodeRequest moves a licence code's expiry: a renewal (RENEWAL) or a renewal
// period taken back (UNSUBSCRIBE_RENEWAL_PERIOD). OrderID/OrderLineID are those of the
// order that caused it. License is the code: a secret, never logged (the client logs the
// activity, never a body).
type RefreshLicenseCodeRequest struct {
	Activity    Activity `json:"activity"`
	Scene       Scene    `json:"scene"`
	OrderID     string   `json:"orderId"`
	OrderLineID string   `json:"orderLineId"`
	License     string   `json:"license"`
	ProductID   string   `json:"productId,omitempty"`
	ExpireTime  string   `json:"expireTime"`
	TestFlag    string   `json:"testFlag,omitempty"`
}

// Validate checks a scene licence codes know, the causing order, the code and expireTime.
func (r RefreshLicenseCodeRequest) Validate() error {
	switch {
	case r.Scene != SceneRenewal && r.Scene != SceneUnsubscribeRenewalPeriod:
		return invalid(ActivityRefreshLicenseCode, "scene %q is not one of RENEWAL, UNSUBSCRIBE_RENEWAL_PERIOD", r.Scene)
	case r.OrderID == "" || r.OrderLineID == "" || r.License == "":
		return invalid(ActivityRefreshLicenseCode, "orderId, orderLineId and license are required")
	case !validTime(r.ExpireTime):
		return invalid(ActivityRefreshLicenseCode, "expireTime must be yyyyMMddHHmmss (UTC)")
	}
	return nil
}

// UpdateLicenseCodeStatusRequest freezes a licence code when the grace is over, or
// unfreezes it when that is cleared; a repeat is a success that changes nothing.
type UpdateLicenseCodeStatusRequest struct {
	Activity Activity       `json:"activity"`
	License  string         `json:"license"`
	Status   InstanceStatus `json:"status"`
	TestFlag string         `json:"testFlag,omitempty"`
}

// Validate checks the code and the status.
func (r UpdateLicenseCodeStatusRequest) Validate() error {
	if r.License == "" || (r.Status != StatusFreeze && r.Status != StatusUnfreeze) {
		return invalid(ActivityUpdateLicenseCodeStatus, "license and a status FREEZE or UNFREEZE are required")
	}
	return nil
}

// ReleaseLicenseCodeRequest releases a licence code at the end of the retention or on
// unsubscription (OrderID/OrderLineID of the unsubscribe order when there is one). A
// repeat, or a code the seller no longer knows (000003), is done.
type ReleaseLicenseCodeRequest struct {
	Activity    Activity `json:"activity"`
	License     string   `json:"license"`
	OrderID     string   `json:"orderId,omitempty"`
	OrderLineID string   `json:"orderLineId,omitempty"`
	TestFlag    string   `json:"testFlag,omitempty"`
}

// Validate checks the code.
func (r ReleaseLicenseCodeRequest) Validate() error {
	if r.License == "" {
		return invalid(ActivityReleaseLicenseCode, "license is required")
	}
	return nil
}

func (r RefreshLicenseCodeRequest) activity() Activity      { return r.Activity }
func (r UpdateLicenseCodeStatusRequest) activity() Activity { return r.Activity }
func (r ReleaseLicenseCodeRequest) activity() Activity      { return r.Activity }

// RedactCode removes a licence code from a text that is to be kept (an error message that
// quotes a seller's resultMsg echoing the code back): codes never reach histories or logs.
func RedactCode(text, code string) string {
	if code == "" {
		return text
	}
	return strings.ReplaceAll(text, code, "[licence code]")
}
