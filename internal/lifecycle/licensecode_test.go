package lifecycle

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// Licence codes through the pure machine: issue, activation (passes supervision, validity
// from the activation), the never-activated flag, and what the seller is told after.

var codeRef = order.LicenseRef{SHA256: strings.Repeat("c0de", 16), Masked: "ABCD…WXYZ", Via: "generated"}

// codeOrder places a licence-code order (monthly, expiring 30 days after t0) under the
// current rules.
func codeOrder(t *testing.T, mode order.BillingMode) *machine {
	in := startInput(order.TypeLicense, mode, true)
	ref := codeRef
	ref.ReceivedAt = t0
	in.LicenseCode = &ref
	m := &machine{t: t, s: State{In: in, Rules: RulesCurrent}, now: t0}
	m.apply(Event{Kind: EvStart})
	return m
}

func activation(by order.Actor, sha string) Event {
	return Event{Kind: EvActivate, Actor: by, CodeSHA256: sha}
}

func TestLicenseCodeIsIssuedWithoutSellerCalls(t *testing.T) {
	m := codeOrder(t, order.BillingMonthly)
	m.status(order.Status(order.PhaseAwaitingAcceptance))
	m.lastSteps("placed", "license_code_issued")
	if len(m.calls) != 0 {
		t.Fatalf("calls %v: a licence code asks the seller for nothing", m.calls)
	}
	if m.s.License == nil || m.s.License.SHA256 != codeRef.SHA256 {
		t.Fatalf("licence %+v, want the code's reference", m.s.License)
	}
	if !m.s.Clocks.Has(ClockActivation) || m.s.Clocks.Has(ClockAutoAccept) {
		t.Fatalf("clocks %v: want the activation window and no auto-accept", m.s.Clocks)
	}
	if v := View(&m.s, m.now); v.WaitingOn != order.WaitBuyer {
		t.Fatalf("waiting on %s, want the buyer (to use the code)", v.WaitingOn)
	}
}

func TestLicenseCodeActivatedRenewedFrozenReleased(t *testing.T) {
	m := codeOrder(t, order.BillingMonthly)
	m.advance(2 * day)
	m.apply(activation(sellerA, codeRef.SHA256))
	m.lastSteps("license_code_activated", "accepted")
	m.status(order.Status(order.PhaseInService))
	if a := m.actors[len(m.actors)-1]; a != sellerA {
		t.Fatalf("accepted by %+v, want the seller's software", a)
	}
	// The actual open time is the activation time: a month counts from it.
	want := t0.Add(2*day).AddDate(0, 1, 0)
	if got := m.s.currentExpire(); got == nil || !got.Equal(want) {
		t.Fatalf("expireTime %v, want %v (validity from the activation)", got, want)
	}
	if m.s.CodeActivatedAt == nil || !m.s.CodeActivatedAt.Equal(t0.Add(2*day)) {
		t.Fatalf("activated at %v", m.s.CodeActivatedAt)
	}
	if slices.Contains(m.calls, CallRefresh) {
		t.Fatal("the seller learns the expiry from the activation's answer: no refresh")
	}
	if !slices.Contains(m.posted(), "post order") {
		t.Fatalf("postings %v: the order's line is due at activation", m.posted())
	}
	// Renewal: refreshLicenseCode (the machine's refresh call).
	m.apply(renewal("R-1", want.AddDate(0, 1, 0)))
	if m.calls[len(m.calls)-1] != CallRefresh {
		t.Fatalf("calls %v, want a refresh", m.calls)
	}
	m.result(ok(CallRefresh, ""))
	// Expiry, grace, freeze, retention, release.
	m.advance(want.AddDate(0, 1, 0).Sub(m.now))
	m.result(CallResult{Call: CallLevel, OK: true, Grace: day, Retention: day})
	m.advance(day)
	m.result(CallResult{Call: CallLevel, OK: true, Grace: day, Retention: day})
	m.status(order.StatusFrozen)
	if m.calls[len(m.calls)-1] != CallFreeze {
		t.Fatalf("calls %v, want FREEZE", m.calls)
	}
	m.result(ok(CallFreeze, ""))
	m.advance(day)
	if m.calls[len(m.calls)-1] != CallRelease {
		t.Fatalf("calls %v, want the release", m.calls)
	}
	m.result(ok(CallRelease, ""))
	m.status(order.Status(order.PhaseReleased))
	if !m.s.Done() {
		t.Fatal("released order not done")
	}
}

func TestLicenseCodeRefusals(t *testing.T) {
	otherSeller := order.Actor{Kind: order.ActorSeller, ID: "seller-2"}
	tests := []struct {
		name  string
		setup func(m *machine)
		ev    Event
		code  string
	}{
		{"another seller", nil, activation(otherSeller, codeRef.SHA256), order.ErrInvalidTransition},
		{"the buyer", nil, activation(buyer, codeRef.SHA256), order.ErrInvalidTransition},
		{"another code", nil, activation(sellerA, "ff"+codeRef.SHA256[2:]), order.ErrInvalidTransition},
		{"twice", func(m *machine) { m.apply(activation(sellerA, codeRef.SHA256)) }, activation(sellerA, codeRef.SHA256),
			order.ErrLicenseCodeActivated},
		{"appeal open", func(m *machine) {
			m.apply(Event{Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Actor: buyer, Reason: "no code", Evidence: []order.Evidence{}}})
		}, activation(sellerA, codeRef.SHA256), order.ErrAppealOpen},
		{"cancelled", func(m *machine) { m.apply(opsEv(order.OpsCancel)) }, activation(sellerA, codeRef.SHA256), order.ErrInvalidTransition},
		{"rejected by the buyer", nil, Event{Kind: EvReject, Actor: buyer, Reason: "does not work"}, order.ErrInvalidTransition},
		{"a seller's licence", nil, Event{Kind: EvLicense, Actor: sellerA, License: codeRef}, order.ErrInvalidTransition},
		{"a delivery", nil, Event{Kind: EvDeliver, Actor: sellerA, Note: "here"}, order.ErrInvalidTransition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := codeOrder(t, order.BillingMonthly)
			if tt.setup != nil {
				tt.setup(m)
			}
			m.refused(tt.ev, tt.code)
		})
	}
}

func TestLicenseCodeNeverActivatedIsFlagged(t *testing.T) {
	m := codeOrder(t, order.BillingYearly)
	m.advance(m.s.In.Windows.ActivationWindow + time.Second)
	m.status(order.Status(order.PhaseAwaitingAcceptance))
	v := View(&m.s, m.now)
	if !v.NeedsAttention || v.AttentionCause != CauseLicenseCodeNotActivated {
		t.Fatalf("attention %v %q, want cause %s", v.NeedsAttention, v.AttentionCause, CauseLicenseCodeNotActivated)
	}
	if ForeverWait(&m.s) != WaitFlagged {
		t.Fatalf("wait %q: a flagged order may wait for ever", ForeverWait(&m.s))
	}
	// Activated late after all: the flag clears and the order is accepted.
	m.apply(activation(sellerA, codeRef.SHA256))
	m.status(order.Status(order.PhaseInService))
	if v := View(&m.s, m.now); v.NeedsAttention {
		t.Fatalf("still flagged: %s", v.Attention)
	}
}

func TestLicenseCodeNeverActivatedIsReleasedWithoutTheSeller(t *testing.T) {
	t.Run("cancelled before activation", func(t *testing.T) {
		m := codeOrder(t, order.BillingMonthly)
		m.apply(opsEv(order.OpsCancel))
		m.status(order.Status(order.PhaseCancelled))
		if len(m.calls) != 0 || !m.s.Done() {
			t.Fatalf("calls %v, done %v: the seller never knew the code", m.calls, m.s.Done())
		}
	})
	t.Run("accepted by the buyer, released unactivated", func(t *testing.T) {
		m := codeOrder(t, order.BillingMonthly)
		m.apply(Event{Kind: EvAccept, Actor: buyer})
		m.status(order.Status(order.PhaseInService))
		if m.s.Clocks.Has(ClockActivation) {
			t.Fatal("the activation window outlived the acceptance")
		}
		m.apply(Event{Kind: EvUnsubscribe, Actor: billing, Unsubscribe: order.UnsubscribeRequest{UnsubscribeOrderID: "U-1", Reason: "no longer needed"}})
		m.status(order.Status(order.PhaseReleased))
		if slices.Contains(m.calls, CallRelease) {
			t.Fatalf("calls %v: nothing to release at the seller", m.calls)
		}
	})
	t.Run("accepted by the buyer, activated later, then released at the seller", func(t *testing.T) {
		m := codeOrder(t, order.BillingMonthly)
		m.apply(Event{Kind: EvAccept, Actor: buyer})
		exp := *m.s.currentExpire()
		m.apply(activation(sellerA, codeRef.SHA256))
		m.lastSteps("license_code_activated")
		if !m.s.currentExpire().Equal(exp) {
			t.Fatal("an activation after the acceptance moved the expiry")
		}
		m.apply(Event{Kind: EvUnsubscribe, Actor: billing, Unsubscribe: order.UnsubscribeRequest{UnsubscribeOrderID: "U-1", Reason: "no longer needed"}})
		if m.calls[len(m.calls)-1] != CallRelease {
			t.Fatalf("calls %v, want releaseLicenseCode", m.calls)
		}
	})
}

func TestLicenseCodeRenewalWithAChangeIsRefused(t *testing.T) {
	m := codeOrder(t, order.BillingMonthly)
	m.apply(activation(sellerA, codeRef.SHA256))
	ev := renewal("R-1", m.s.currentExpire().AddDate(0, 1, 0))
	ev.Renewal.Change = &order.RenewalChange{ProductID: "prod-2", SKUCode: "sku", Quantity: 2}
	m.refused(ev, order.ErrInvalidTransition)
	m.refused(Event{Kind: EvChange, Actor: billing, Change: order.ChangeRequest{ChangeOrderID: "C-1", Quantity: 2,
		Amount: order.Money{Value: 1, Currency: "CNY"}}}, order.ErrInvalidTransition)
}

func TestLicenseCodeRestoredBeforeItsFirstStep(t *testing.T) {
	in := codeOrder(t, order.BillingMonthly).s.In
	r, err := Restore(Snapshot{In: in, View: order.InitialView(in)}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r.State.Phase != order.PhaseAwaitingAcceptance || r.State.License == nil || !r.State.Clocks.Has(ClockActivation) {
		t.Fatalf("restored %s, licence %v, clocks %v", r.State.Phase, r.State.License, r.State.Clocks)
	}
	if !r.State.Calls.Empty() {
		t.Fatalf("calls %v: a licence code calls nobody to begin with", r.State.Calls)
	}
}

// TestLicenseCodeFailedCallNamesTheCallSent: a licence-code order's failed refresh is shown
// to ops as the refreshLicenseCode it was at the seller, not as refreshInstance; the audit
// detail keeps the machine's call kind (a stable key for queries).
func TestLicenseCodeFailedCallNamesTheCallSent(t *testing.T) {
	m := codeOrder(t, order.BillingMonthly)
	m.apply(activation(sellerA, codeRef.SHA256))
	m.apply(renewal("R-1", t0.AddDate(0, 2, 0)))
	m.result(CallResult{Call: CallRefresh, ErrorType: "SellerInternalError", ErrorText: "seller answered 000005"})
	if !strings.HasPrefix(m.s.LastError, "refreshLicenseCode failed") {
		t.Fatalf("last error %q, want it to name refreshLicenseCode", m.s.LastError)
	}
	if v := View(&m.s, m.now); !v.NeedsAttention || !strings.Contains(v.Attention, "refreshLicenseCode failed") {
		t.Fatalf("attention %q, want it to name refreshLicenseCode", v.Attention)
	}
}
