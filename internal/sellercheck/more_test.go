package sellercheck_test

import (
	"context"
	"slices"
	"testing"

	"github.com/cloudmarket/orders/internal/sellerapi"
	"github.com/cloudmarket/orders/internal/sellercheck"
	"github.com/cloudmarket/orders/internal/testkit"
)

// The optional calls follow the products: a licence-code product's calls are checked, a
// product without changes is not asked for upgrades.
func TestCallsForProducts(t *testing.T) {
	calls, err := sellercheck.CallsForProducts([]sellercheck.Product{{BillingMode: "monthly", LicenseCode: true}, {BillingMode: "one_time", NotifyOrders: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range append(slices.Clone(sellercheck.LicenseCodeCalls), sellerapi.ActivityOrderNotify, sellerapi.ActivityRefreshInstance) {
		if !slices.Contains(calls, a) {
			t.Errorf("calls %v lack %s", calls, a)
		}
	}
	if slices.Contains(calls, sellerapi.ActivityUpgradeInstance) || slices.Contains(calls, sellerapi.ActivityChangeInstanceCheck) {
		t.Errorf("calls %v ask for changes no product allows", calls)
	}
	if _, err := sellercheck.CallsForProducts([]sellercheck.Product{{BillingMode: "weekly"}}); err == nil {
		t.Error("an unknown billing mode was accepted")
	}

	s := newSim(t)
	o := opts(&testkit.SyncBuffer{})
	o.Calls = calls
	rep, err := sellercheck.Run(context.Background(), sellercheck.Target{SellerID: sellerID, Endpoint: s.endpoint(), AccessKey: key, VerifyBodySign: true}, o)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Passed {
		t.Fatalf("failed: %v", rep.Failed())
	}
	for name, want := range map[string]string{
		sellercheck.CheckLicenseCodeRelease: sellercheck.StatusPass, sellercheck.CheckLicenseCodeReleaseIdempotent: sellercheck.StatusPass,
		sellercheck.CheckLicenseCodeRefresh: sellercheck.StatusPass, sellercheck.CheckOrderNotifyIdempotent: sellercheck.StatusPass,
		sellercheck.CheckUpgrade: sellercheck.StatusSkip, sellercheck.CheckChangeCheckAnswered: sellercheck.StatusSkip,
	} {
		if c, _ := rep.Check(name); c.Status != want {
			t.Errorf("%s = %+v, want %s", name, c, want)
		}
	}
}

// A seller that refuses a change must say why; the simulator's refusal does.
func TestChangeCheckRefusalIsAnAnswer(t *testing.T) {
	s := newSim(t)
	s.behave(t, `{"changeCheck":{"refuseBelowQuantity":5}}`)
	o := opts(&testkit.SyncBuffer{})
	o.Calls = sellercheck.EveryCall
	rep, err := sellercheck.Run(context.Background(), sellercheck.Target{SellerID: sellerID, Endpoint: s.endpoint(), AccessKey: key, VerifyBodySign: true}, o)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := rep.Check(sellercheck.CheckChangeCheckAnswered)
	if c.Status != sellercheck.StatusPass || !rep.Passed {
		t.Fatalf("change check %+v, failed %v", c, rep.Failed())
	}
}
