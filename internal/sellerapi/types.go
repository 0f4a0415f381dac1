package sellerapi

// Activity is the `activity` field of a request body: it names the scenario, because a
// product has one production endpoint for all of them.
type Activity string

// The activities the marketplace sends (seller-protocol.md, "Activities").
const (
	ActivityNewInstance          Activity = "newInstance"
	ActivityQueryInstance        Activity = "queryInstance"
	ActivityRefreshInstance      Activity = "refreshInstance"
	ActivityUpdateInstanceStatus Activity = "updateInstanceStatus"
	ActivityReleaseInstance      Activity = "releaseInstance"
)

// TestFlagDebug is the testFlag value of a debug call; production calls omit the field so
// that a seller can never mistake a real order for a test.
const TestFlagDebug = "1"

// NewInstanceRequest asks the seller to produce what a paid order line bought.
//
// Decision (ours): a seller that provisions asynchronously answers `000004` together with
// the instanceId to poll; the marketplace then sends QueryInstanceRequest for that id,
// which is answered `000004` while the instance is not ready and `000000` with Info once
// it is. BusinessID is a new UUID on every request, retries included; sellers must key
// idempotency on OrderID+OrderLineID only. The field order here is the wire order.
type NewInstanceRequest struct {
	Activity    Activity `json:"activity"`
	OrderID     string   `json:"orderId"`
	OrderLineID string   `json:"orderLineId"`
	BusinessID  string   `json:"businessId"`
	TestFlag    string   `json:"testFlag,omitempty"`
}

// QueryInstanceRequest asks for instance details, for polling after `000004` and for
// showing the buyer the resource. InstanceID may list up to MaxQueryInstances ids
// separated by commas.
type QueryInstanceRequest struct {
	Activity   Activity `json:"activity"`
	InstanceID string   `json:"instanceId"`
	TestFlag   string   `json:"testFlag,omitempty"`
}

// MaxQueryInstances is the most ids one queryInstance may carry.
const MaxQueryInstances = 100

// Scene says why a refreshInstance is sent; sellers may bill or notify differently.
type Scene string

// The refreshInstance scenes. Each names the order that caused the refresh: a renewal, a
// trial's conversion, a renewal with a change of product, or a renewal period taken back.
const (
	SceneRenewal                  Scene = "RENEWAL"
	SceneTrialToFormal            Scene = "TRIAL_TO_FORMAL"
	SceneRenewalChange            Scene = "RENEWAL_CHANGE"
	SceneUnsubscribeRenewalPeriod Scene = "UNSUBSCRIBE_RENEWAL_PERIOD"
)

// Valid reports whether sc is one of the protocol's scenes; a seller answers any other
// with 000002, so we refuse to send it.
func (sc Scene) Valid() bool {
	switch sc {
	case SceneRenewal, SceneTrialToFormal, SceneRenewalChange, SceneUnsubscribeRenewalPeriod:
		return true
	}
	return false
}

// ExpireTimeLayout is the Go layout of expireTime (yyyyMMddHHmmss, always UTC).
const ExpireTimeLayout = "20060102150405"

// RefreshInstanceRequest moves an instance's expiry (renewal, trial to formal, renewal
// with a change, renewal period taken back). OrderID/OrderLineID are those of the order
// that caused the change, not of the original purchase, so the seller can relate it to its
// own records. ProductID is sent only when the product changes (RENEWAL_CHANGE, or a new
// period type) and omitted otherwise, so a seller can tell "unchanged" from "changed".
type RefreshInstanceRequest struct {
	Activity    Activity `json:"activity"`
	Scene       Scene    `json:"scene"`
	OrderID     string   `json:"orderId"`
	OrderLineID string   `json:"orderLineId"`
	InstanceID  string   `json:"instanceId"`
	ExpireTime  string   `json:"expireTime"`
	ProductID   string   `json:"productId,omitempty"`
	TestFlag    string   `json:"testFlag,omitempty"`
}

// InstanceStatus is the target state of updateInstanceStatus.
type InstanceStatus string

// The states an instance can be put in; sellers must treat a repeat as success.
const (
	StatusFreeze   InstanceStatus = "FREEZE"
	StatusUnfreeze InstanceStatus = "UNFREEZE"
)

// UpdateInstanceStatusRequest freezes an instance at the end of the grace period or
// unfreezes it after payment, renewal or a won appeal.
type UpdateInstanceStatusRequest struct {
	Activity   Activity       `json:"activity"`
	InstanceID string         `json:"instanceId"`
	Status     InstanceStatus `json:"status"`
	TestFlag   string         `json:"testFlag,omitempty"`
}

// ReleaseInstanceRequest releases an instance at the end of retention or on unsubscribe.
// OrderID/OrderLineID name the unsubscribe order when there is one, and are omitted when
// the release is caused by expiry.
type ReleaseInstanceRequest struct {
	Activity    Activity `json:"activity"`
	InstanceID  string   `json:"instanceId"`
	OrderID     string   `json:"orderId,omitempty"`
	OrderLineID string   `json:"orderLineId,omitempty"`
	TestFlag    string   `json:"testFlag,omitempty"`
}

// Response is every answer's body. InstanceID comes with newInstance (with `000000`, and
// with `000004` to name the instance to poll); Info comes with a ready queryInstance. It
// may carry a licence: never log it.
type Response struct {
	ResultCode string         `json:"resultCode"`
	ResultMsg  string         `json:"resultMsg"`
	InstanceID string         `json:"instanceId,omitempty"`
	Info       []InstanceInfo `json:"info,omitempty"`
	// License comes with a licence product's newInstance answer when the seller produces
	// the licence at once (else in queryInstance's info, or later by the licence callback).
	License string `json:"license,omitempty"`
}

// InstanceInfo describes one produced instance as the buyer will see it. It may carry a
// password: never log it.
type InstanceInfo struct {
	InstanceID string  `json:"instanceId"`
	AppInfo    AppInfo `json:"appInfo"`
	License    string  `json:"license,omitempty"`
}

// AppInfo is how the buyer reaches a SaaS instance.
type AppInfo struct {
	FrontEndURL string `json:"frontEndUrl"`
	AdminURL    string `json:"adminUrl,omitempty"`
	UserName    string `json:"userName,omitempty"`
	Password    string `json:"password,omitempty"`
	Memo        string `json:"memo,omitempty"`
}
