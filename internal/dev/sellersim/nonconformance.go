package sellersim

import (
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

// Non-conformance modes: each makes a seller break one rule of seller-protocol.md, so that
// the seller conformance checker (internal/sellercheck) can be shown to catch it. They are
// set with PUT /admin/sellers/{id}/behaviour {"nonConformance": ["slow", ...]} (the list
// replaces the previous one; [] is a conforming seller again).
const (
	// NCUnsignedResponses sends answers without the Body-Sign header.
	NCUnsignedResponses = "unsignedResponses"
	// NCBadResultCode answers a successful updateInstanceStatus with "SUCCESS", a code
	// that is not in the protocol's table.
	NCBadResultCode = "badResultCode"
	// NCNewInstanceNotIdempotent makes a new instance on every newInstance, repeats of the
	// same orderId+orderLineId included.
	NCNewInstanceNotIdempotent = "newInstanceNotIdempotent"
	// NCReleaseNotIdempotent answers a repeated releaseInstance with 000005 ("already
	// released") instead of success.
	NCReleaseNotIdempotent = "releaseNotIdempotent"
	// NCAsyncNeverReady answers newInstance 000004 and never makes the instance ready.
	NCAsyncNeverReady = "asyncNeverReady"
	// NCSlow answers every call after SlowDelay, beyond the protocol's 5 s timeout.
	NCSlow = "slow"
	// NCAcceptReplayedNonce accepts a request whose nonce was seen within the window.
	NCAcceptReplayedNonce = "acceptReplayedNonce"
	// NCAcceptStaleTimestamp accepts a request whose timestamp is outside the window.
	NCAcceptStaleTimestamp = "acceptStaleTimestamp"
	// NCAcceptWrongSignature accepts a request whose signature does not match.
	NCAcceptWrongSignature = "acceptWrongSignature"
)

// NonConformanceModes lists every mode, in the order the checker's test table uses.
var NonConformanceModes = []string{
	NCUnsignedResponses, NCBadResultCode, NCNewInstanceNotIdempotent, NCReleaseNotIdempotent,
	NCAsyncNeverReady, NCSlow, NCAcceptReplayedNonce, NCAcceptStaleTimestamp, NCAcceptWrongSignature,
	NCLicenseCodeReleaseNotIdempotent,
}

// SlowDelay is how long a seller in the slow mode takes to answer: longer than the
// protocol's request timeout, so the marketplace gives up first. The simulator stops
// waiting as soon as the caller does.
const SlowDelay = sellerapi.DefaultTimeout + time.Second

// badResultCode is what NCBadResultCode answers instead of 000000.
const badResultCode = "SUCCESS"

// validateNonConformance refuses an unknown mode, so a misspelt one is not silently a
// conforming seller.
func validateNonConformance(modes []string) error {
	var errs []error
	for _, m := range modes {
		if !slices.Contains(NonConformanceModes, m) {
			errs = append(errs, errors.New("nonConformance: unknown mode "+m))
		}
	}
	return errors.Join(errs...)
}

// breaks reports whether the seller is told to break the rule of mode. The caller holds s.mu.
func (sel *seller) breaks(mode string) bool {
	return slices.Contains(sel.beh.NonConformance, mode)
}

// nonConformingLatency is the extra wait of the slow mode. The caller holds s.mu.
func (sel *seller) nonConformingLatency() time.Duration {
	if sel.breaks(NCSlow) {
		return SlowDelay
	}
	return 0
}

// nonConformingDispatch runs an authenticated activity the way a broken seller would; it is
// dispatch itself for activities and modes that break nothing. The caller holds s.mu.
func (s *Simulator) nonConformingDispatch(sel *seller, activity sellerapi.Activity, body []byte, now time.Time) sellerapi.Response {
	if len(sel.beh.NonConformance) == 0 {
		return s.dispatch(sel, activity, body, now)
	}
	var ids struct {
		OrderID     string `json:"orderId"`
		OrderLineID string `json:"orderLineId"`
		InstanceID  string `json:"instanceId"`
	}
	_ = json.Unmarshal(body, &ids) // dispatch judges the body; this only looks up state
	switch activity {
	case sellerapi.ActivityNewInstance:
		if sel.breaks(NCNewInstanceNotIdempotent) {
			delete(sel.byOrder, orderKey{ids.OrderID, ids.OrderLineID}) // forget: the repeat makes another
		}
		resp := s.dispatch(sel, activity, body, now)
		if inst := sel.instances[resp.InstanceID]; inst != nil && sel.breaks(NCAsyncNeverReady) {
			inst.readyAt = now.Add(100 * 365 * 24 * time.Hour)
			resp = sellerapi.Response{ResultCode: sellerapi.CodePending, ResultMsg: "instance is being provisioned", InstanceID: inst.InstanceID}
		}
		return resp
	case sellerapi.ActivityReleaseInstance:
		if inst := sel.instances[ids.InstanceID]; inst != nil && inst.gone() && sel.breaks(NCReleaseNotIdempotent) {
			return answer(sellerapi.CodeInternalError, "instance already released")
		}
	case sellerapi.ActivityUpdateInstanceStatus:
		resp := s.dispatch(sel, activity, body, now)
		if resp.ResultCode == sellerapi.CodeSuccess && sel.breaks(NCBadResultCode) {
			resp.ResultCode = badResultCode
		}
		return resp
	}
	return s.dispatch(sel, activity, body, now)
}
