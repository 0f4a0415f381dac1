package sellercheck

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

// The calls a product needs only for some features (seller-protocol.md, "Which calls a
// product needs"): upgradeInstance and changeInstanceCheck where the product allows changes,
// orderNotify where it asks to be told of orders, and the licence-code calls for licence-code
// products (License 2.0). A run checks them when they are named (ParseCalls) or the
// products need them (CallsForProducts); otherwise their checks are skipped.

// OptionalCalls are the calls checked only when asked for.
var OptionalCalls = []sellerapi.Activity{
	sellerapi.ActivityUpgradeInstance, sellerapi.ActivityChangeInstanceCheck, sellerapi.ActivityOrderNotify,
	sellerapi.ActivityRefreshLicenseCode, sellerapi.ActivityUpdateLicenseCodeStatus, sellerapi.ActivityReleaseLicenseCode,
}

// LicenseCodeCalls are the calls of a licence-code product.
var LicenseCodeCalls = []sellerapi.Activity{
	sellerapi.ActivityRefreshLicenseCode, sellerapi.ActivityUpdateLicenseCodeStatus, sellerapi.ActivityReleaseLicenseCode,
}

// EveryCall is AllCalls and OptionalCalls: a seller selling every kind of product.
var EveryCall = append(slices.Clone(AllCalls), OptionalCalls...)

// Names of the checks of the optional calls, stable like the others.
const (
	CheckUpgrade                      = "upgrade"
	CheckUpgradeIdempotent            = "upgrade_idempotent"
	CheckChangeCheckAnswered          = "change_check_answered"
	CheckOrderNotify                  = "order_notify"
	CheckOrderNotifyIdempotent        = "order_notify_idempotent"
	CheckLicenseCodeFreeze            = "license_code_freeze"
	CheckLicenseCodeUnfreeze          = "license_code_unfreeze"
	CheckLicenseCodeRefresh           = "license_code_refresh"
	CheckLicenseCodeRelease           = "license_code_release"
	CheckLicenseCodeReleaseIdempotent = "license_code_release_idempotent"
)

// instanceChecks are the optional checks that need the mock instance; otherChecks those
// that do not.
var (
	instanceChecks = []string{CheckUpgrade, CheckUpgradeIdempotent, CheckChangeCheckAnswered}
	otherChecks    = []string{CheckOrderNotify, CheckOrderNotifyIdempotent, CheckLicenseCodeFreeze, CheckLicenseCodeUnfreeze,
		CheckLicenseCodeRefresh, CheckLicenseCodeRelease, CheckLicenseCodeReleaseIdempotent}
)

// Product is what decides the calls one product needs.
type Product struct {
	BillingMode string // yearly, monthly, one_time, pay_per_use
	// Changes: the product allows upgrades and renewals with a change (an instance product
	// with a period or pay-per-use billing).
	Changes bool
	// NotifyOrders: the product asks for orderNotify.
	NotifyOrders bool
	// LicenseCode: a licence-code product (the licence-code calls instead of the instance's
	// status, refresh and release calls, which are still checked on the mock instance).
	LicenseCode bool
}

// CallsForProducts gives the calls a seller's products need: CallsFor their billing modes,
// and the optional calls their features need.
func CallsForProducts(products []Product) ([]sellerapi.Activity, error) {
	modes := make([]string, 0, len(products))
	var extra []sellerapi.Activity
	for _, p := range products {
		modes = append(modes, p.BillingMode)
		if p.Changes {
			extra = append(extra, sellerapi.ActivityUpgradeInstance, sellerapi.ActivityChangeInstanceCheck)
		}
		if p.NotifyOrders {
			extra = append(extra, sellerapi.ActivityOrderNotify)
		}
		if p.LicenseCode {
			extra = append(extra, LicenseCodeCalls...)
		}
	}
	calls, err := CallsFor(modes)
	if err != nil {
		return nil, err
	}
	calls = append(calls, extra...)
	slices.Sort(calls)
	return slices.Compact(calls), nil
}

// knownCall reports whether a is a call the checker knows.
func knownCall(a sellerapi.Activity) bool {
	return slices.Contains(AllCalls, a) || slices.Contains(OptionalCalls, a)
}

// callNames lists the known calls for an error message.
func callNames() string {
	names := make([]string, 0, len(EveryCall))
	for _, a := range EveryCall {
		names = append(names, string(a))
	}
	return strings.Join(names, ", ")
}

// changes checks upgradeInstance (applied once per upgrade order, a repeat succeeds) and
// changeInstanceCheck (answered: feasible, or a refusal code with a reason) on the mock
// instance, before it is released.
func (r *runner) changes(ctx context.Context) {
	if r.wants(sellerapi.ActivityUpgradeInstance) {
		uid, uline := r.mockOrder("CHANGE")
		up := sellerapi.UpgradeInstanceRequest{Activity: sellerapi.ActivityUpgradeInstance, InstanceID: r.instance,
			OrderID: uid, OrderLineID: uline, TestFlag: sellerapi.TestFlagDebug}
		x := r.call(ctx, up)
		r.add(x.check(CheckUpgrade, x.success(), "upgrade order "+uid+": "+x.outcome()+wantSuccess(x)))
		y := r.call(ctx, up)
		r.add(y.check(CheckUpgradeIdempotent, y.success(), "the same upgrade order again: "+y.outcome()+
			map[bool]string{true: "", false: "; want 000000 (applied once, a repeat succeeds)"}[y.success()]))
	} else {
		r.skip(CheckUpgrade, sellerapi.ActivityUpgradeInstance, "not needed by the products checked")
		r.skip(CheckUpgradeIdempotent, sellerapi.ActivityUpgradeInstance, "not needed by the products checked")
	}
	if r.wants(sellerapi.ActivityChangeInstanceCheck) {
		x := r.call(ctx, sellerapi.ChangeInstanceCheckRequest{Activity: sellerapi.ActivityChangeInstanceCheck, InstanceID: r.instance,
			ProductInfo: sellerapi.ProductInfo{ProductID: "MOCK-PRODUCT", SKUCode: "MOCK-SKU", Quantity: 1}, TestFlag: sellerapi.TestFlagDebug})
		refusal := x.parsed && x.err == "" && sellerapi.IsChangeRefusal(x.resp.ResultCode)
		switch {
		case x.success():
			r.add(x.check(CheckChangeCheckAnswered, true, "feasible: "+x.outcome()))
		case refusal && strings.TrimSpace(x.resp.ResultMsg) != "":
			r.add(x.check(CheckChangeCheckAnswered, true, "refused with a reason: "+x.outcome()))
		case refusal:
			r.add(x.check(CheckChangeCheckAnswered, false, "refused without a resultMsg: "+x.outcome()+"; a refusal must say why"))
		default:
			r.add(x.check(CheckChangeCheckAnswered, false, "changeInstanceCheck: "+x.outcome()+
				"; want 000000 (feasible) or a refusal (000002, 000100-000107) with its reason"))
		}
	} else {
		r.skip(CheckChangeCheckAnswered, sellerapi.ActivityChangeInstanceCheck, "not needed by the products checked")
	}
}

// notifyAndCodes checks orderNotify (a repeat succeeds) and the life of a mock licence
// code: frozen, unfrozen, renewed, released, released again.
func (r *runner) notifyAndCodes(ctx context.Context) {
	if r.wants(sellerapi.ActivityOrderNotify) {
		oid, oline := r.mockOrder("NOTIFY")
		n := sellerapi.OrderNotifyRequest{Activity: sellerapi.ActivityOrderNotify, OrderID: oid, OrderLineID: oline, TestFlag: sellerapi.TestFlagDebug}
		x := r.call(ctx, n)
		r.add(x.check(CheckOrderNotify, x.success(), "order "+oid+": "+x.outcome()+wantSuccess(x)))
		y := r.call(ctx, n)
		r.add(y.check(CheckOrderNotifyIdempotent, y.success(), "the same order line again: "+y.outcome()+wantSuccess(y)))
	} else {
		r.skip(CheckOrderNotify, sellerapi.ActivityOrderNotify, "not needed by the products checked")
		r.skip(CheckOrderNotifyIdempotent, sellerapi.ActivityOrderNotify, "not needed by the products checked")
	}
	// A mock code of this run (the marketplace's codes are five groups of five).
	code := fmt.Sprintf("MOCK0-%s-CODE0-CHECK-00001", r.runID[:5])
	if r.wants(sellerapi.ActivityUpdateLicenseCodeStatus) {
		for _, st := range []struct {
			name   string
			status sellerapi.InstanceStatus
		}{{CheckLicenseCodeFreeze, sellerapi.StatusFreeze}, {CheckLicenseCodeUnfreeze, sellerapi.StatusUnfreeze}} {
			x := r.call(ctx, sellerapi.UpdateLicenseCodeStatusRequest{Activity: sellerapi.ActivityUpdateLicenseCodeStatus,
				License: code, Status: st.status, TestFlag: sellerapi.TestFlagDebug})
			r.add(x.check(st.name, x.success(), string(st.status)+" of a mock licence code: "+x.outcome()+wantSuccess(x)))
		}
	} else {
		r.skip(CheckLicenseCodeFreeze, sellerapi.ActivityUpdateLicenseCodeStatus, "not needed by the products checked")
		r.skip(CheckLicenseCodeUnfreeze, sellerapi.ActivityUpdateLicenseCodeStatus, "not needed by the products checked")
	}
	if r.wants(sellerapi.ActivityRefreshLicenseCode) {
		rid, rline := r.mockOrder("RENEWAL")
		x := r.call(ctx, sellerapi.RefreshLicenseCodeRequest{Activity: sellerapi.ActivityRefreshLicenseCode, Scene: sellerapi.SceneRenewal,
			OrderID: rid, OrderLineID: rline, License: code,
			ExpireTime: r.o.Now().UTC().Add(renewalExpiry).Format(sellerapi.ExpireTimeLayout), TestFlag: sellerapi.TestFlagDebug})
		r.add(x.check(CheckLicenseCodeRefresh, x.success(), "RENEWAL order "+rid+" of a mock licence code: "+x.outcome()+wantSuccess(x)))
	} else {
		r.skip(CheckLicenseCodeRefresh, sellerapi.ActivityRefreshLicenseCode, "not needed by the products checked")
	}
	if r.wants(sellerapi.ActivityReleaseLicenseCode) {
		uid, uline := r.mockOrder("UNSUBSCRIBE")
		rel := sellerapi.ReleaseLicenseCodeRequest{Activity: sellerapi.ActivityReleaseLicenseCode, License: code,
			OrderID: uid, OrderLineID: uline, TestFlag: sellerapi.TestFlagDebug}
		x := r.call(ctx, rel)
		// 000003 (a code the seller never saw: no activation in a debug run) is done too.
		done := x.success() || (x.parsed && x.err == "" && x.resp.ResultCode == sellerapi.CodeInstanceNotFound)
		r.add(x.check(CheckLicenseCodeRelease, done, "release of a mock licence code: "+x.outcome()+
			map[bool]string{true: "", false: "; want 000000 (or 000003, taken as done)"}[done]))
		y := r.call(ctx, rel)
		again := y.success() || (y.parsed && y.err == "" && y.resp.ResultCode == sellerapi.CodeInstanceNotFound)
		r.add(y.check(CheckLicenseCodeReleaseIdempotent, again, "repeated release: "+y.outcome()+
			map[bool]string{true: "", false: "; want 000000 (or 000003, taken as done)"}[again]))
	} else {
		r.skip(CheckLicenseCodeRelease, sellerapi.ActivityReleaseLicenseCode, "not needed by the products checked")
		r.skip(CheckLicenseCodeReleaseIdempotent, sellerapi.ActivityReleaseLicenseCode, "not needed by the products checked")
	}
}
