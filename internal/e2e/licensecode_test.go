package e2e

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/licenses"
	"github.com/cloudmarket/orders/internal/order"
)

// Licence codes (License 2.0) on the real stack: the marketplace generates the code, the
// buyer sees it, the seller's software (here: the test, signing as the seller) activates it
// and reports its use; renewal, freeze and release reach the simulated seller as
// refreshLicenseCode, updateLicenseCodeStatus and releaseLicenseCode; a code never activated
// is flagged to ops.

// licenseCodeCatalogue registers a seller and a monthly licence-code product.
func licenseCodeCatalogue(t *testing.T, sellerID, productID string) {
	t.Helper()
	catalogueOf(t, sellerID, productID, order.TypeLicense, order.BillingMonthly, nil)
	if r := do(t, ops("PUT", "/v1/products/"+productID, map[string]any{
		"sellerId": sellerID, "name": "Product " + productID, "type": "license", "billingMode": "monthly",
		"commissionRate": 1500, "acceptanceCriteria": "it opens", "licenseCode": true,
	})); r.status/100 != 2 {
		t.Fatalf("PUT product: %d %s", r.status, r.body)
	}
}

// codeCall is a seller open API licence-code call, signed by the seller.
func codeCall(sellerID, what, code string) call {
	body := `{"license":"` + code + `"}`
	return call{method: "POST", path: "/v1/seller-api/license-codes/" + what, body: body,
		headers: signedHeaders(sellerID, "sk-"+sellerID+"-0123456789", time.Now(), body)}
}

// simCode is the simulated seller's record of a licence code.
type simCode struct {
	Frozen     bool   `json:"frozen"`
	Released   bool   `json:"released"`
	ExpireTime string `json:"expireTime"`
	Refreshes  []struct {
		Scene   string `json:"scene"`
		OrderID string `json:"orderId"`
	} `json:"refreshes"`
}

// waitSimCode waits until the seller's record of the code satisfies ok.
func waitSimCode(t *testing.T, sellerID, code string, within time.Duration, ok func(simCode) bool) simCode {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var list []simCode
		_ = json.Unmarshal(sim(t, "GET", "/admin/sellers/"+sellerID+"/license-codes?sha256="+licenses.CodeSHA256(code), nil), &list)
		if len(list) == 1 && ok(list[0]) {
			return list[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the seller's record of the licence code: %+v", list)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLicenseCodeActivatedRenewedFrozenReleased(t *testing.T) {
	licenseCodeCatalogue(t, "s-code", "p-code")
	// V4 in the test policy: 300 ms of grace, 300 ms of retention.
	if r := do(t, ops("PUT", "/v1/customers/c-code", map[string]any{"level": "V4"})); r.status/100 != 2 {
		t.Fatalf("PUT customer: %d %s", r.status, r.body)
	}
	// CODE-2 is never activated: placed first, it is flagged while CODE-1 runs.
	wantOK(t, do(t, buyer("c-code", "POST", "/v1/orders", newOrder("CODE-2", "c-code", "p-code", 2000, time.Hour))), "POST CODE-2")
	placed := time.Now()
	wantOK(t, do(t, buyer("c-code", "POST", "/v1/orders", newOrder("CODE-1", "c-code", "p-code", 2000, 2*time.Second))), "POST CODE-1")
	v := waitStatus(t, "CODE-1", order.Status(order.PhaseAwaitingAcceptance), 10*time.Second)
	if v.License == nil || v.License.Via != licenses.ViaGenerated || v.License.Text != "" || v.InstanceID != "" {
		t.Fatalf("ops' view of the code: %+v, instance %q", v.License, v.InstanceID)
	}
	// Not received by the buyer yet: the seller's software cannot have it.
	if r := do(t, codeCall("s-code", "activation", "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE")); r.status != http.StatusNotFound ||
		code(t, r) != "license_code_not_found" {
		t.Fatalf("an unknown code: %d %s", r.status, r.body)
	}
	// The buyer reads the code (and so has received it); the seller sees it masked.
	text := view(t, do(t, buyer("c-code", "GET", "/v1/orders/CODE-1", nil))).License.Text
	if len(text) != 29 || strings.Count(text, "-") != 4 {
		t.Fatalf("the buyer's code %q", text)
	}
	if got := view(t, do(t, seller("s-code", "GET", "/v1/orders/CODE-1", nil))); got.License.Text != "" {
		t.Fatal("the seller's web view shows the code")
	}
	catalogueOf(t, "s-code-other", "p-code-other", order.TypeLicense, order.BillingMonthly, nil)
	if r := do(t, codeCall("s-code-other", "activation", text)); r.status != http.StatusNotFound {
		t.Fatalf("another seller activating the code: %d %s", r.status, r.body)
	}
	if r := do(t, codeCall("s-code", "heartbeats", text)); r.status != http.StatusConflict || code(t, r) != order.ErrLicenseCodeNotActivated {
		t.Fatalf("a heartbeat before activation: %d %s", r.status, r.body)
	}
	// Activation (as typed: lower case) passes supervision.
	r := do(t, codeCall("s-code", "activation", strings.ToLower(text)))
	wantOK(t, r, "activation")
	var act struct {
		OrderID     string       `json:"orderId"`
		Status      order.Status `json:"status"`
		ActivatedAt *time.Time   `json:"activatedAt"`
		ExpireTime  *time.Time   `json:"expireTime"`
	}
	r.json(t, &act)
	if act.OrderID != "CODE-1" || act.Status != order.Status(order.PhaseInService) || act.ActivatedAt == nil || act.ExpireTime == nil ||
		act.ActivatedAt.Before(placed.Add(-time.Second)) {
		t.Fatalf("activation answer %s", r.body)
	}
	if strings.Contains(string(r.body), text) {
		t.Fatal("the activation's answer echoes the code")
	}
	if r := do(t, codeCall("s-code", "activation", text)); r.status != http.StatusConflict || code(t, r) != order.ErrLicenseCodeActivated {
		t.Fatalf("a second activation: %d %s", r.status, r.body)
	}
	v = view(t, do(t, ops("GET", "/v1/orders/CODE-1", nil)))
	if v.AcceptedBy == nil || v.AcceptedBy.Kind != order.ActorSeller || v.Settlement.Status != order.SettlementPending || v.LicenseCodeActivatedAt == nil {
		t.Fatalf("after activation: accepted by %+v, settlement %s, activated %v", v.AcceptedBy, v.Settlement.Status, v.LicenseCodeActivatedAt)
	}
	// Heartbeats: one record a day, later ones counted.
	var hb struct {
		First bool `json:"first"`
		Beats int  `json:"beats"`
	}
	do(t, codeCall("s-code", "heartbeats", text)).json(t, &hb)
	if !hb.First || hb.Beats != 1 {
		t.Fatalf("first heartbeat %+v", hb)
	}
	do(t, codeCall("s-code", "heartbeats", text)).json(t, &hb)
	if hb.First || hb.Beats != 2 {
		t.Fatalf("second heartbeat %+v", hb)
	}
	// Renewal: refreshLicenseCode at the seller.
	exp := time.Now().Add(3 * time.Second).UTC().Truncate(time.Second)
	wantOK(t, do(t, billingCall("POST", "/v1/orders/CODE-1/renewal", map[string]any{
		"renewalOrderId": "CODE-1-R1", "renewalOrderLineId": "CODE-1-R1-1", "expireTime": exp.Format(time.RFC3339)})), "renewal")
	waitSimCode(t, "s-code", text, 10*time.Second, func(c simCode) bool {
		return len(c.Refreshes) == 1 && c.Refreshes[0].OrderID == "CODE-1-R1" && c.ExpireTime == exp.Format("20060102150405")
	})
	// Expiry, grace: updateLicenseCodeStatus FREEZE; retention: releaseLicenseCode.
	waitSimCode(t, "s-code", text, 15*time.Second, func(c simCode) bool { return c.Frozen || c.Released })
	waitStatus(t, "CODE-1", order.Status(order.PhaseReleased), 15*time.Second)
	waitSimCode(t, "s-code", text, 5*time.Second, func(c simCode) bool { return c.Released })
	if r := do(t, codeCall("s-code", "heartbeats", text)); r.status != http.StatusConflict {
		t.Fatalf("a heartbeat of a released code: %d %s", r.status, r.body)
	}
	var calls []struct {
		Activity string `json:"activity"`
	}
	_ = json.Unmarshal(sim(t, "GET", "/admin/sellers/s-code/calls", nil), &calls)
	var seen []string
	for _, c := range calls {
		seen = append(seen, c.Activity)
	}
	for _, want := range []string{"refreshLicenseCode", "updateLicenseCodeStatus", "releaseLicenseCode"} {
		if !slices.Contains(seen, want) {
			t.Errorf("the seller never got %s: %v", want, seen)
		}
	}
	for _, never := range []string{"newInstance", "refreshInstance", "updateInstanceStatus", "releaseInstance"} {
		if slices.Contains(seen, never) {
			t.Errorf("a licence-code product's seller got %s", never)
		}
	}
	assertNoSecretInHistory(t, "CODE-1", text)
	recordHistory(t, "CODE-1", "licensecode_activated_renewed_frozen_released")

	// CODE-2: never activated, flagged after the activation window (5 s in the test
	// policy); ops cancel it and the seller, which never knew the code, hears nothing.
	var page struct {
		Items []struct {
			OrderID string `json:"orderId"`
			Cause   string `json:"cause"`
		} `json:"items"`
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		do(t, ops("GET", "/v1/attention?cause=license_code_not_activated&sellerId=s-code", nil)).json(t, &page)
		if len(page.Items) == 1 && page.Items[0].OrderID == "CODE-2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("attention list %+v", page)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wantOK(t, do(t, ops("POST", "/v1/orders/CODE-2/cancellation", map[string]any{"reason": "the buyer never used the code"})), "cancel CODE-2")
	waitStatus(t, "CODE-2", order.Status(order.PhaseCancelled), 10*time.Second)
	text2 := view(t, do(t, buyer("c-code", "GET", "/v1/orders/CODE-2", nil))).License.Text
	var list []simCode
	_ = json.Unmarshal(sim(t, "GET", "/admin/sellers/s-code/license-codes?sha256="+licenses.CodeSHA256(text2), nil), &list)
	if len(list) != 0 {
		t.Fatalf("the seller was told of a code it never activated: %+v", list)
	}
	recordHistory(t, "CODE-2", "licensecode_never_activated_flagged_cancelled")
}
