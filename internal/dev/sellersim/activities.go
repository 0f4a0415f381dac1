package sellersim

import (
	"crypto/rand"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

// dispatch runs one authenticated activity. The caller holds s.mu.
func (s *Simulator) dispatch(sel *seller, activity sellerapi.Activity, body []byte, now time.Time) sellerapi.Response {
	switch activity {
	case sellerapi.ActivityNewInstance:
		var req sellerapi.NewInstanceRequest
		if err := json.Unmarshal(body, &req); err != nil || req.OrderID == "" || req.OrderLineID == "" || req.BusinessID == "" {
			return answer(sellerapi.CodeInvalidParameter, "newInstance needs orderId, orderLineId and businessId")
		}
		return s.newInstance(sel, req, now)
	case sellerapi.ActivityQueryInstance:
		var req sellerapi.QueryInstanceRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return answer(sellerapi.CodeInvalidParameter, "queryInstance: invalid JSON")
		}
		return queryInstance(sel, req, now)
	case sellerapi.ActivityRefreshInstance:
		var req sellerapi.RefreshInstanceRequest
		if err := json.Unmarshal(body, &req); err != nil || req.InstanceID == "" || req.OrderID == "" || req.OrderLineID == "" {
			return answer(sellerapi.CodeInvalidParameter, "refreshInstance needs instanceId, orderId, orderLineId, scene and expireTime")
		}
		return refreshInstance(sel, req)
	case sellerapi.ActivityUpdateInstanceStatus:
		var req sellerapi.UpdateInstanceStatusRequest
		if err := json.Unmarshal(body, &req); err != nil || req.InstanceID == "" {
			return answer(sellerapi.CodeInvalidParameter, "updateInstanceStatus needs instanceId and status")
		}
		return updateInstanceStatus(sel, req)
	case sellerapi.ActivityReleaseInstance:
		var req sellerapi.ReleaseInstanceRequest
		if err := json.Unmarshal(body, &req); err != nil || req.InstanceID == "" {
			return answer(sellerapi.CodeInvalidParameter, "releaseInstance needs instanceId")
		}
		return releaseInstance(sel, req)
	}
	if resp, ok := s.dispatchChanges(sel, activity, body, now); ok {
		return resp
	}
	return answer(sellerapi.CodeInvalidParameter, "unknown or missing activity")
}

// newInstance creates the instance of an order line once; repeats get the same one.
// In async mode it answers 000004 with the instanceId until the delay has passed.
func (s *Simulator) newInstance(sel *seller, req sellerapi.NewInstanceRequest, now time.Time) sellerapi.Response {
	key := orderKey{req.OrderID, req.OrderLineID}
	inst := sel.byOrder[key]
	if inst == nil {
		var delay time.Duration
		if sel.beh.Mode == modeAsync {
			delay = time.Duration(sel.beh.AsyncDelayMs) * time.Millisecond
		}
		sel.seq++
		inst = &instance{
			InstanceID:  "inst-" + uuid.NewString(),
			OrderID:     req.OrderID,
			OrderLineID: req.OrderLineID,
			Status:      statusActive,
			readyAt:     now.Add(delay),
			password:    rand.Text()[:16],
			seq:         sel.seq,
		}
		sel.instances[inst.InstanceID] = inst
		sel.byOrder[key] = inst
		if sel.beh.License != licenseNone {
			inst.License = produceLicense(sel.accessKey, req.OrderID, req.OrderLineID)
		}
		if sel.beh.License == licenseCallback {
			s.deliverLater(sel, inst, time.Duration(sel.beh.LicenseDelayMs)*time.Millisecond)
		}
	}
	inst.CreateCalls++
	if now.Before(inst.readyAt) {
		return sellerapi.Response{ResultCode: sellerapi.CodePending, ResultMsg: "instance is being provisioned", InstanceID: inst.InstanceID}
	}
	resp := sellerapi.Response{ResultCode: sellerapi.CodeSuccess, ResultMsg: "success", InstanceID: inst.InstanceID}
	if sel.beh.License == licenseAnswer {
		resp.License = inst.License
	}
	return resp
}

// queryInstance answers 000000 with info when every listed instance is ready, 000004
// while any is still being provisioned, and 000003 if any does not exist.
func queryInstance(sel *seller, req sellerapi.QueryInstanceRequest, now time.Time) sellerapi.Response {
	ids := strings.Split(req.InstanceID, ",")
	if len(ids) > sellerapi.MaxQueryInstances {
		return answer(sellerapi.CodeInvalidParameter, "at most 100 instanceIds")
	}
	info := make([]sellerapi.InstanceInfo, 0, len(ids))
	pending := false
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if id == "" {
			return answer(sellerapi.CodeInvalidParameter, "empty instanceId")
		}
		inst := sel.instances[id]
		if inst == nil || inst.gone() {
			return answer(sellerapi.CodeInstanceNotFound, "instance "+id+" does not exist")
		}
		if now.Before(inst.readyAt) {
			pending = true
			continue
		}
		ii := instanceInfo(inst)
		if sel.beh.License == licenseQuery {
			ii.License = inst.License
		}
		info = append(info, ii)
	}
	if pending {
		return answer(sellerapi.CodePending, "instance is being provisioned")
	}
	return sellerapi.Response{ResultCode: sellerapi.CodeSuccess, ResultMsg: "success", Info: info}
}

// instanceInfo is what a buyer is shown; the URLs use the reserved .invalid domain
// because nothing is served there.
func instanceInfo(inst *instance) sellerapi.InstanceInfo {
	base := "https://sellersim.invalid/instances/" + inst.InstanceID
	return sellerapi.InstanceInfo{
		InstanceID: inst.InstanceID,
		AppInfo: sellerapi.AppInfo{
			FrontEndURL: base,
			AdminURL:    base + "/admin",
			UserName:    "admin",
			Password:    inst.password,
			Memo:        "simulated instance",
		},
	}
}

// refreshInstance moves the expiry and records the scene and order (changes.go); repeating
// it with the same expireTime changes nothing. A productId (RENEWAL_CHANGE) changes the
// instance's product.
func refreshInstance(sel *seller, req sellerapi.RefreshInstanceRequest) sellerapi.Response {
	if !req.Scene.Valid() {
		return answer(sellerapi.CodeInvalidParameter, "unknown scene")
	}
	t, err := time.Parse(sellerapi.ExpireTimeLayout, req.ExpireTime)
	if err != nil || t.Format(sellerapi.ExpireTimeLayout) != req.ExpireTime {
		return answer(sellerapi.CodeInvalidParameter, "expireTime must be yyyyMMddHHmmss (UTC)")
	}
	inst := sel.instances[req.InstanceID]
	if inst == nil || inst.gone() {
		return answer(sellerapi.CodeInstanceNotFound, "instance does not exist")
	}
	inst.ExpireTime = req.ExpireTime
	recordRefresh(inst, req)
	return answer(sellerapi.CodeSuccess, "success")
}

// updateInstanceStatus freezes or unfreezes; a repeat is a success that changes nothing.
func updateInstanceStatus(sel *seller, req sellerapi.UpdateInstanceStatusRequest) sellerapi.Response {
	var target string
	switch req.Status {
	case sellerapi.StatusFreeze:
		target = statusFrozen
	case sellerapi.StatusUnfreeze:
		target = statusActive
	default:
		return answer(sellerapi.CodeInvalidParameter, "status must be FREEZE or UNFREEZE")
	}
	inst := sel.instances[req.InstanceID]
	if inst == nil || inst.gone() {
		return answer(sellerapi.CodeInstanceNotFound, "instance does not exist")
	}
	inst.Status = target
	return answer(sellerapi.CodeSuccess, "success")
}

// releaseInstance releases once; releasing again succeeds, an unknown id is 000003.
func releaseInstance(sel *seller, req sellerapi.ReleaseInstanceRequest) sellerapi.Response {
	inst := sel.instances[req.InstanceID]
	if inst == nil {
		return answer(sellerapi.CodeInstanceNotFound, "instance does not exist")
	}
	inst.Status = statusReleased
	return answer(sellerapi.CodeSuccess, "success")
}
