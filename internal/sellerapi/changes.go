package sellerapi

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// The activities of changes to a running instance, of order notification and of online
// licences (seller-protocol.md, "Activities"). They are declared apart from the original
// five because a product needs them only when it allows changes, asks to be told of
// orders, or sells online licences.
const (
	ActivityUpgradeInstance     Activity = "upgradeInstance"
	ActivityChangeInstanceCheck Activity = "changeInstanceCheck"
	ActivityOrderNotify         Activity = "orderNotify"
	ActivityGetLicenseAsync     Activity = "getLicenseAsync"
)

// MaxDeviceFingerprint is the longest deviceFingerprint getLicenseAsync may carry, in
// characters; a longer one is refused before it is sent, as a seller would refuse it.
const MaxDeviceFingerprint = 1024

// ErrInvalidRequest is the cause of every Validate error: the request breaks the protocol
// and no retry can fix it, so callers make it a non-retryable failure (and a seller answers
// it with 000002).
var ErrInvalidRequest = errors.New("invalid request")

// invalid wraps ErrInvalidRequest with what is wrong.
func invalid(act Activity, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", act, fmt.Sprintf(format, args...), ErrInvalidRequest)
}

// Validate checks what refreshInstance requires: a known scene, the causing order's IDs,
// the instance, and an expireTime in ExpireTimeLayout.
func (r RefreshInstanceRequest) Validate() error {
	switch {
	case !r.Scene.Valid():
		return invalid(ActivityRefreshInstance, "unknown scene %q", r.Scene)
	case r.OrderID == "" || r.OrderLineID == "" || r.InstanceID == "":
		return invalid(ActivityRefreshInstance, "orderId, orderLineId and instanceId are required")
	case !validTime(r.ExpireTime):
		return invalid(ActivityRefreshInstance, "expireTime must be yyyyMMddHHmmss (UTC)")
	}
	return nil
}

// UpgradeInstanceRequest tells the seller that an upgrade or scale-up order was paid. The
// instance keeps its ID; OrderID/OrderLineID are the upgrade order's, and the seller
// applies an upgrade once per OrderID however often it is sent (retries, lost answers).
type UpgradeInstanceRequest struct {
	Activity    Activity `json:"activity"`
	InstanceID  string   `json:"instanceId"`
	OrderID     string   `json:"orderId"`
	OrderLineID string   `json:"orderLineId"`
	TestFlag    string   `json:"testFlag,omitempty"`
}

// Validate checks that the instance and the upgrade order are named.
func (r UpgradeInstanceRequest) Validate() error {
	if r.InstanceID == "" || r.OrderID == "" || r.OrderLineID == "" {
		return invalid(ActivityUpgradeInstance, "instanceId, orderId and orderLineId are required")
	}
	return nil
}

// ProductInfo is the target of a change: which product, which SKU, how many. The seller
// judges feasibility from it (for example a downgrade below current usage).
type ProductInfo struct {
	ProductID string `json:"productId"`
	SKUCode   string `json:"skuCode"`
	Quantity  int    `json:"quantity"`
}

// ChangeInstanceCheckRequest asks, before a renewal with a change, whether the instance
// may be changed to ProductInfo. The answer 000000 means feasible; a refusal code (000002
// or 000100-000107) with a resultMsg saying why is an answer too, not a failed call.
type ChangeInstanceCheckRequest struct {
	Activity    Activity    `json:"activity"`
	InstanceID  string      `json:"instanceId"`
	ProductInfo ProductInfo `json:"productInfo"`
	TestFlag    string      `json:"testFlag,omitempty"`
}

// Validate checks that the instance and a complete target (positive quantity) are named.
func (r ChangeInstanceCheckRequest) Validate() error {
	p := r.ProductInfo
	switch {
	case r.InstanceID == "":
		return invalid(ActivityChangeInstanceCheck, "instanceId is required")
	case p.ProductID == "" || p.SKUCode == "":
		return invalid(ActivityChangeInstanceCheck, "productInfo needs productId and skuCode")
	case p.Quantity < 1:
		return invalid(ActivityChangeInstanceCheck, "productInfo.quantity must be at least 1")
	}
	return nil
}

// IsChangeRefusal reports whether a changeInstanceCheck result code is the seller's
// considered "no" (000002 or a refusal code 000100-000107): the check was answered, and
// retrying would only get the same answer. Every other failing code keeps its usual Class.
func IsChangeRefusal(code string) bool {
	switch Classify(code) {
	case ClassRefused, ClassInvalidParameter:
		return true
	}
	return false
}

// OrderNotifyRequest tells a seller that asked for it that an order of its product was
// paid (any product type). A seller must accept a repeat of the same order line.
type OrderNotifyRequest struct {
	Activity    Activity `json:"activity"`
	OrderID     string   `json:"orderId"`
	OrderLineID string   `json:"orderLineId"`
	TestFlag    string   `json:"testFlag,omitempty"`
}

// Validate checks that the order line is named.
func (r OrderNotifyRequest) Validate() error {
	if r.OrderID == "" || r.OrderLineID == "" {
		return invalid(ActivityOrderNotify, "orderId and orderLineId are required")
	}
	return nil
}

// GetLicenseAsyncRequest asks an online-licence seller for a licence. EventID is the
// marketplace's serial of the request: together with DeviceFingerprint it identifies a
// retried request, so the seller answers a repeat with the same licence. Times are in
// ExpireTimeLayout (UTC); ExpireTime is omitted for licences without an end (one-time
// purchases). DeviceFingerprint is optional and at most MaxDeviceFingerprint characters.
// The answer's License is a secret: never log it.
type GetLicenseAsyncRequest struct {
	Activity          Activity `json:"activity"`
	InstanceID        string   `json:"instanceId"`
	EffectiveTime     string   `json:"effectiveTime"`
	ExpireTime        string   `json:"expireTime,omitempty"`
	EventID           string   `json:"eventId"`
	DeviceFingerprint string   `json:"deviceFingerprint,omitempty"`
	TestFlag          string   `json:"testFlag,omitempty"`
}

// Validate checks the instance, the eventId, the times' layout and the fingerprint's length.
func (r GetLicenseAsyncRequest) Validate() error {
	switch {
	case r.InstanceID == "" || r.EventID == "":
		return invalid(ActivityGetLicenseAsync, "instanceId and eventId are required")
	case !validTime(r.EffectiveTime):
		return invalid(ActivityGetLicenseAsync, "effectiveTime must be yyyyMMddHHmmss (UTC)")
	case r.ExpireTime != "" && !validTime(r.ExpireTime):
		return invalid(ActivityGetLicenseAsync, "expireTime must be yyyyMMddHHmmss (UTC)")
	case utf8.RuneCountInString(r.DeviceFingerprint) > MaxDeviceFingerprint:
		return invalid(ActivityGetLicenseAsync, "deviceFingerprint longer than %d characters", MaxDeviceFingerprint)
	}
	return nil
}

// validTime reports whether s is a time in ExpireTimeLayout exactly (no other forms that
// time.Parse would also take).
func validTime(s string) bool {
	t, err := time.Parse(ExpireTimeLayout, s)
	return err == nil && t.Format(ExpireTimeLayout) == s
}

func (r UpgradeInstanceRequest) activity() Activity     { return r.Activity }
func (r ChangeInstanceCheckRequest) activity() Activity { return r.Activity }
func (r OrderNotifyRequest) activity() Activity         { return r.Activity }
func (r GetLicenseAsyncRequest) activity() Activity     { return r.Activity }

// SafeResultMsg makes a seller's resultMsg fit to keep (workflow history, order records):
// at most 200 bytes and without either of the seller's keys, should a seller echo one
// back. It is what CallError.Msg quotes, for answers that are kept rather than failed,
// such as a changeInstanceCheck refusal's reason.
func SafeResultMsg(msg string, keys Keys) string {
	return sellerMsg(sellerMsg(RedactCode(msg, keys.Redact), keys.Sign), keys.Pending)
}
