package sellersim

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

// Licence codes (License 2.0): the marketplace generates the code and the seller's software
// activates it through the marketplace's open API, so the simulated seller knows a code from
// the first call that names it (as a seller knows every code its software activated). It
// answers refreshLicenseCode, updateLicenseCodeStatus and releaseLicenseCode idempotently:
// a repeated FREEZE, UNFREEZE or release succeeds and changes nothing; a code released is
// gone (000003 to anything but another release). Codes are secrets: the simulator keeps and
// shows them by SHA-256 only.

// licenseCode is what the simulated seller holds of one code.
type licenseCode struct {
	SHA256     string          `json:"sha256"`
	Frozen     bool            `json:"frozen"`
	Released   bool            `json:"released"`
	ExpireTime string          `json:"expireTime,omitempty"`
	ProductID  string          `json:"productId,omitempty"`
	Refreshes  []refreshRecord `json:"refreshes,omitempty"`
	// Calls counts every licence-code call about the code, repeats included.
	Calls int `json:"calls"`
}

// maxLicenseCodes bounds the codes a seller remembers (the oldest is forgotten first).
const maxLicenseCodes = 10000

// NCLicenseCodeReleaseNotIdempotent answers a repeated releaseLicenseCode with 000005
// ("already released") instead of success (licensecodes.go).
const NCLicenseCodeReleaseNotIdempotent = "licenseCodeReleaseNotIdempotent"

// codeKey is how the simulator names a code: its SHA-256, never the code.
func codeKey(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// code finds or makes the state of a code. The caller holds s.mu.
func (sel *seller) code(code string) *licenseCode {
	c := &sel.changes
	if c.codes == nil {
		c.codes = map[string]*licenseCode{}
	}
	k := codeKey(code)
	lc := c.codes[k]
	if lc == nil {
		if len(c.codeOrder) >= maxLicenseCodes {
			delete(c.codes, c.codeOrder[0])
			c.codeOrder = c.codeOrder[1:]
		}
		lc = &licenseCode{SHA256: k}
		c.codes[k] = lc
		c.codeOrder = append(c.codeOrder, k)
	}
	lc.Calls++
	return lc
}

// dispatchCodes runs the licence-code activities; ok is false for another activity. The
// caller holds s.mu.
func (s *Simulator) dispatchCodes(sel *seller, activity sellerapi.Activity, body []byte) (resp sellerapi.Response, ok bool) {
	switch activity {
	case sellerapi.ActivityRefreshLicenseCode:
		var req sellerapi.RefreshLicenseCodeRequest
		if bad := decodeValid(activity, body, &req); bad != nil {
			return *bad, true
		}
		lc := sel.code(req.License)
		if lc.Released {
			return answer(sellerapi.CodeInstanceNotFound, "licence code released"), true
		}
		lc.ExpireTime = req.ExpireTime
		if req.ProductID != "" {
			lc.ProductID = req.ProductID
		}
		i := slices.IndexFunc(lc.Refreshes, func(r refreshRecord) bool {
			return r.Scene == req.Scene && r.OrderID == req.OrderID && r.OrderLineID == req.OrderLineID
		})
		if i < 0 {
			lc.Refreshes = append(lc.Refreshes, refreshRecord{Scene: req.Scene, OrderID: req.OrderID, OrderLineID: req.OrderLineID})
			i = len(lc.Refreshes) - 1
		}
		lc.Refreshes[i].ExpireTime, lc.Refreshes[i].ProductID = req.ExpireTime, req.ProductID
		lc.Refreshes[i].Calls++
		return answer(sellerapi.CodeSuccess, "success"), true
	case sellerapi.ActivityUpdateLicenseCodeStatus:
		var req sellerapi.UpdateLicenseCodeStatusRequest
		if bad := decodeValid(activity, body, &req); bad != nil {
			return *bad, true
		}
		lc := sel.code(req.License)
		if lc.Released {
			return answer(sellerapi.CodeInstanceNotFound, "licence code released"), true
		}
		lc.Frozen = req.Status == sellerapi.StatusFreeze
		return answer(sellerapi.CodeSuccess, "success"), true
	case sellerapi.ActivityReleaseLicenseCode:
		var req sellerapi.ReleaseLicenseCodeRequest
		if bad := decodeValid(activity, body, &req); bad != nil {
			return *bad, true
		}
		lc := sel.code(req.License)
		if lc.Released && sel.breaks(NCLicenseCodeReleaseNotIdempotent) {
			return answer(sellerapi.CodeInternalError, "licence code already released"), true
		}
		lc.Released = true
		return answer(sellerapi.CodeSuccess, "success"), true
	}
	return sellerapi.Response{}, false
}

// handleLicenseCodes lists the licence codes a seller was told about, by SHA-256, in first
// receipt order: GET /admin/sellers/{id}/license-codes (?sha256= for one).
func (s *Simulator) handleLicenseCodes(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sel := s.adminSeller(w, r.PathValue("sellerId"))
	if sel == nil {
		return
	}
	want := strings.ToLower(r.URL.Query().Get("sha256"))
	list := make([]licenseCode, 0, len(sel.changes.codeOrder))
	for _, k := range sel.changes.codeOrder {
		if want == "" || k == want {
			list = append(list, *sel.changes.codes[k])
		}
	}
	writeJSON(w, http.StatusOK, list)
}
