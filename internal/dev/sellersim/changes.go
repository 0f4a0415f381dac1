package sellersim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

// This file serves the calls about a running instance and its orders that came after the
// original five: refreshInstance's scenes (recorded per instance), upgradeInstance,
// changeInstanceCheck, orderNotify and getLicenseAsync. It is kept apart from
// activities.go so that dispatch only needs one line to reach it.

// instanceChanges is what the newer calls did to an instance. It is embedded in instance,
// so its fields appear in the admin instance listing.
type instanceChanges struct {
	// ProductID is the product the instance was last changed to by a RENEWAL_CHANGE (or
	// any refresh naming a productId); "" while it is the product it was bought as.
	ProductID string `json:"productId,omitempty"`
	// Refreshes lists the refreshInstance orders received, one entry per scene and order
	// line, oldest first; a repeat updates its entry (Calls counts the repeats).
	Refreshes []refreshRecord `json:"refreshes,omitempty"`
	// Upgrades lists the upgrade orders applied, once each, in the order applied;
	// UpgradeCalls counts every upgradeInstance received, repeats included.
	Upgrades     []orderRef `json:"upgrades,omitempty"`
	UpgradeCalls int        `json:"upgradeCalls,omitempty"`
	// ChangeChecks counts changeInstanceCheck calls; ChangeRefusals those refused.
	ChangeChecks   int `json:"changeChecks,omitempty"`
	ChangeRefusals int `json:"changeRefusals,omitempty"`
	// AsyncLicenses counts the distinct getLicenseAsync requests (eventId + fingerprint)
	// answered, LicenseCalls every one received; the licences themselves are derived, not
	// stored, and are never shown here.
	AsyncLicenses int `json:"asyncLicenses,omitempty"`
	LicenseCalls  int `json:"licenseCalls,omitempty"`

	licenseEvents map[string]bool // eventId + "\x00" + fingerprint seen
}

// refreshRecord is one refreshInstance order as the instance listing shows it.
type refreshRecord struct {
	Scene       sellerapi.Scene `json:"scene"`
	OrderID     string          `json:"orderId"`
	OrderLineID string          `json:"orderLineId"`
	ExpireTime  string          `json:"expireTime"`
	ProductID   string          `json:"productId,omitempty"`
	Calls       int             `json:"calls"`
}

// orderRef names an order line.
type orderRef struct {
	OrderID     string `json:"orderId"`
	OrderLineID string `json:"orderLineId"`
}

// notification is one order line a seller was told about, as GET .../notifications shows.
type notification struct {
	OrderID     string    `json:"orderId"`
	OrderLineID string    `json:"orderLineId"`
	Calls       int       `json:"calls"`
	FirstAt     time.Time `json:"firstAt"`
	LastAt      time.Time `json:"lastAt"`
}

// sellerChanges is a seller's state of the newer calls that is not about one instance.
// Its maps are made on first use, so newSeller needs not know about it.
type sellerChanges struct {
	notifications map[orderKey]*notification
	notifyOrder   []orderKey // first receipt order, for a stable listing
	// codes are the licence codes the seller was told about, by SHA-256 (licensecodes.go).
	codes     map[string]*licenseCode
	codeOrder []string
}

// maxNotifications bounds the order lines a seller remembers being told of.
const maxNotifications = 10000

// changeCheck is the behaviour of changeInstanceCheck (the "changeCheck" object of PUT
// .../behaviour; a PUT replaces it wholesale). A change to a target quantity below
// RefuseBelowQuantity is refused with ResultCode and ResultMsg, as a seller refuses a
// downgrade below current usage; everything else is feasible. All zero: always feasible.
type changeCheck struct {
	RefuseBelowQuantity int    `json:"refuseBelowQuantity"`
	ResultCode          string `json:"resultCode,omitempty"` // "" = defaultRefusalCode
	ResultMsg           string `json:"resultMsg,omitempty"`  // "" = a message naming both quantities
}

// defaultRefusalCode is the changeCheck refusal when none is configured: a seller refusing
// the order (000100-000107).
const defaultRefusalCode = "000102"

// validate lists every problem of c, for behaviourPatch.validate.
func (c changeCheck) validate() []error {
	var errs []error
	if c.RefuseBelowQuantity < 0 || c.RefuseBelowQuantity > 1_000_000 {
		errs = append(errs, errors.New("changeCheck.refuseBelowQuantity must be 0-1000000"))
	}
	if c.ResultCode != "" && !sellerapi.IsChangeRefusal(c.ResultCode) {
		errs = append(errs, errors.New("changeCheck.resultCode must be a refusal: 000002 or 000100-000107"))
	}
	if len(c.ResultMsg) > 200 {
		errs = append(errs, errors.New("changeCheck.resultMsg must be at most 200 bytes"))
	}
	return errs
}

// dispatchChanges runs the newer activities; ok is false for an activity it does not know.
// The caller holds s.mu.
func (s *Simulator) dispatchChanges(sel *seller, activity sellerapi.Activity, body []byte, now time.Time) (resp sellerapi.Response, ok bool) {
	switch activity {
	case sellerapi.ActivityUpgradeInstance:
		var req sellerapi.UpgradeInstanceRequest
		if bad := decodeValid(activity, body, &req); bad != nil {
			return *bad, true
		}
		return upgradeInstance(sel, req), true
	case sellerapi.ActivityChangeInstanceCheck:
		var req sellerapi.ChangeInstanceCheckRequest
		if bad := decodeValid(activity, body, &req); bad != nil {
			return *bad, true
		}
		return changeInstanceCheck(sel, req), true
	case sellerapi.ActivityOrderNotify:
		var req sellerapi.OrderNotifyRequest
		if bad := decodeValid(activity, body, &req); bad != nil {
			return *bad, true
		}
		return orderNotify(sel, req, now), true
	case sellerapi.ActivityGetLicenseAsync:
		var req sellerapi.GetLicenseAsyncRequest
		if bad := decodeValid(activity, body, &req); bad != nil {
			return *bad, true
		}
		return getLicenseAsync(sel, req), true
	}
	return s.dispatchCodes(sel, activity, body)
}

// decodeValid decodes and validates a request; a non-nil answer is the 000002 to send.
func decodeValid(activity sellerapi.Activity, body []byte, req interface{ Validate() error }) *sellerapi.Response {
	if err := json.Unmarshal(body, req); err != nil {
		r := answer(sellerapi.CodeInvalidParameter, string(activity)+": invalid JSON")
		return &r
	}
	if err := req.Validate(); err != nil {
		r := answer(sellerapi.CodeInvalidParameter, err.Error())
		return &r
	}
	return nil
}

// liveInstance is the instance of id unless it does not exist or was released.
func liveInstance(sel *seller, id string) *instance {
	inst := sel.instances[id]
	if inst == nil || inst.gone() {
		return nil
	}
	return inst
}

// recordRefresh notes a refreshInstance order on the instance, once per scene and order
// line, and applies a product change.
func recordRefresh(inst *instance, req sellerapi.RefreshInstanceRequest) {
	if req.ProductID != "" {
		inst.ProductID = req.ProductID
	}
	for i := range inst.Refreshes {
		r := &inst.Refreshes[i]
		if r.Scene == req.Scene && r.OrderID == req.OrderID && r.OrderLineID == req.OrderLineID {
			r.ExpireTime, r.ProductID = req.ExpireTime, req.ProductID
			r.Calls++
			return
		}
	}
	inst.Refreshes = append(inst.Refreshes, refreshRecord{
		Scene: req.Scene, OrderID: req.OrderID, OrderLineID: req.OrderLineID,
		ExpireTime: req.ExpireTime, ProductID: req.ProductID, Calls: 1,
	})
}

// upgradeInstance applies an upgrade order once per orderId: a repeat (a retry after a
// lost answer) succeeds without applying it again. The instance keeps its ID.
func upgradeInstance(sel *seller, req sellerapi.UpgradeInstanceRequest) sellerapi.Response {
	inst := liveInstance(sel, req.InstanceID)
	if inst == nil {
		return answer(sellerapi.CodeInstanceNotFound, "instance does not exist")
	}
	inst.UpgradeCalls++
	if !slices.ContainsFunc(inst.Upgrades, func(o orderRef) bool { return o.OrderID == req.OrderID }) {
		inst.Upgrades = append(inst.Upgrades, orderRef{OrderID: req.OrderID, OrderLineID: req.OrderLineID})
	}
	return answer(sellerapi.CodeSuccess, "success")
}

// changeInstanceCheck answers whether the instance may be changed to the target: feasible
// unless the behaviour's changeCheck refuses the target quantity. It changes nothing.
func changeInstanceCheck(sel *seller, req sellerapi.ChangeInstanceCheckRequest) sellerapi.Response {
	inst := liveInstance(sel, req.InstanceID)
	if inst == nil {
		return answer(sellerapi.CodeInstanceNotFound, "instance does not exist")
	}
	inst.ChangeChecks++
	cc := sel.beh.ChangeCheck
	if q := req.ProductInfo.Quantity; q < cc.RefuseBelowQuantity {
		inst.ChangeRefusals++
		code, msg := cc.ResultCode, cc.ResultMsg
		if code == "" {
			code = defaultRefusalCode
		}
		if msg == "" {
			msg = fmt.Sprintf("target quantity %d is below the %d in use", q, cc.RefuseBelowQuantity)
		}
		return answer(code, msg)
	}
	return answer(sellerapi.CodeSuccess, "change is feasible")
}

// orderNotify records that the seller was told of an order line; a repeat is counted on
// the same entry and succeeds.
func orderNotify(sel *seller, req sellerapi.OrderNotifyRequest, now time.Time) sellerapi.Response {
	c := &sel.changes
	if c.notifications == nil {
		c.notifications = map[orderKey]*notification{}
	}
	k := orderKey{req.OrderID, req.OrderLineID}
	n := c.notifications[k]
	if n == nil {
		if len(c.notifyOrder) >= maxNotifications { // forget the oldest, like the call log
			delete(c.notifications, c.notifyOrder[0])
			c.notifyOrder = c.notifyOrder[1:]
		}
		n = &notification{OrderID: req.OrderID, OrderLineID: req.OrderLineID, FirstAt: now}
		c.notifications[k] = n
		c.notifyOrder = append(c.notifyOrder, k)
	}
	n.Calls++
	n.LastAt = now
	return answer(sellerapi.CodeSuccess, "success")
}

// getLicenseAsync answers 000000 with a licence derived from the seller's key, the
// instance, the eventId and the fingerprint: the same request (a retry) gets the same
// licence, a new eventId or another device a new one.
func getLicenseAsync(sel *seller, req sellerapi.GetLicenseAsyncRequest) sellerapi.Response {
	inst := liveInstance(sel, req.InstanceID)
	if inst == nil {
		return answer(sellerapi.CodeInstanceNotFound, "instance does not exist")
	}
	inst.LicenseCalls++
	if inst.licenseEvents == nil {
		inst.licenseEvents = map[string]bool{}
	}
	ev := req.EventID + "\x00" + req.DeviceFingerprint
	if !inst.licenseEvents[ev] {
		inst.licenseEvents[ev] = true
		inst.AsyncLicenses++
	}
	resp := answer(sellerapi.CodeSuccess, "success")
	resp.License = asyncLicense(sel.accessKey, req.InstanceID, req.EventID, req.DeviceFingerprint)
	return resp
}

// asyncLicense derives a getLicenseAsync licence, so that it needs no storage and a
// restarted simulator gives the same one.
func asyncLicense(accessKey, instanceID, eventID, fingerprint string) string {
	m := hmac.New(sha256.New, []byte(accessKey))
	m.Write([]byte("licenseAsync\x00" + instanceID + "\x00" + eventID + "\x00" + fingerprint))
	sum := strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
	return "LIC-A-" + sum[:8] + "-" + sum[8:16] + "-" + sum[16:24] + "-" + sum[24:32]
}

// handleNotifications lists the order lines a seller was told of, in first-receipt order:
// GET /admin/sellers/{id}/notifications answers [{orderId, orderLineId, calls, firstAt,
// lastAt}].
func (s *Simulator) handleNotifications(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sel := s.adminSeller(w, r.PathValue("sellerId"))
	if sel == nil {
		return
	}
	list := make([]notification, 0, len(sel.changes.notifyOrder))
	for _, k := range sel.changes.notifyOrder {
		list = append(list, *sel.changes.notifications[k])
	}
	writeJSON(w, http.StatusOK, list)
}
