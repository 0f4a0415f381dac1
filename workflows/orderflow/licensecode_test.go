package orderflow

import (
	"context"
	"strings"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/sellerapi"
)

// codeInput is a licence-code order (monthly): its code issued at placement, by reference.
func codeInput() order.StartInput {
	in := startInput(order.TypeLicense, order.BillingMonthly, true)
	in.LicenseCode = &order.LicenseRef{SHA256: strings.Repeat("c0de", 16), Masked: "ABCD…WXYZ", Via: "generated", ReceivedAt: t0}
	return in
}

// onCodeCalls answers the licence-code activities, counting them by wire name.
func (s *orderSuite) onCodeCalls() {
	s.env.OnActivity(seller.UpdateLicenseCodeStatus, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_ context.Context, _ activities.SellerCall, st sellerapi.InstanceStatus) error {
			return s.called("updateLicenseCodeStatus " + string(st))
		})
	s.env.OnActivity(seller.RefreshLicenseCode, mock.Anything, mock.Anything).Return(
		func(_ context.Context, c activities.SellerCall) error {
			s.sent(c)
			return s.called("refreshLicenseCode")
		})
	s.env.OnActivity(seller.ReleaseLicenseCode, mock.Anything, mock.Anything).Return(
		func(_ context.Context, c activities.SellerCall) error {
			s.sent(c)
			return s.called("releaseLicenseCode")
		})
}

func (s *orderSuite) TestLicenseCodeActivatedRenewedFrozenReleased() {
	s.onCodeCalls()
	in := codeInput()
	activate := order.LicenseCodeActivation{Actor: sellerA, SHA256: in.LicenseCode.SHA256}
	s.update(order.UpdateActivateLicenseCode, order.LicenseCodeActivation{Actor: sellerA, SHA256: strings.Repeat("f", 64)}, day,
		s.wantRefused(order.ErrInvalidTransition))
	opened := t0.Add(2 * day)
	s.update(order.UpdateActivateLicenseCode, activate, 2*day, func(v order.View, err error) {
		s.NoError(err)
		s.Equal(order.Status(order.PhaseInService), v.Status)
		s.Equal(opened, *v.LicenseCodeActivatedAt)
		s.Equal(opened.AddDate(0, 1, 0), *v.ExpireTime, "validity counts from the activation")
	})
	s.update(order.UpdateActivateLicenseCode, activate, 3*day, s.wantRefused(order.ErrLicenseCodeActivated))
	exp := opened.AddDate(0, 2, 0)
	s.update(order.UpdateRenew, order.RenewalRequest{Actor: billing, RenewalOrderID: "R-1", RenewalOrderLineID: "R-1-1", ExpireTime: exp},
		4*day, s.wantOK(order.Status(order.PhaseInService)))
	s.env.ExecuteWorkflow(Order, in)
	v := s.result()
	s.Equal(order.PhaseReleased, v.Phase)
	s.Equal([]string{"placed", "license_code_issued", "license_code_activated", "accepted", "renewed", "expired", "frozen", "released"},
		s.events())
	s.Equal(0, s.count("newInstance"), "a licence code has no instance")
	s.Equal(1, s.count("refreshLicenseCode"))
	s.Equal(1, s.count("updateLicenseCodeStatus FREEZE"))
	s.Equal(1, s.count("releaseLicenseCode"))
	s.Equal(0, s.count("FREEZE")+s.count("release")+s.count("refresh"), "no instance calls")
	s.Require().Len(s.sellerCalls, 2)
	s.Equal("R-1", s.sellerCalls[0].About.OrderID)
	s.Equal(exp, *s.sellerCalls[0].ExpireTime)
}

func (s *orderSuite) TestLicenseCodeNeverActivatedIsFlaggedThenCancelled() {
	s.onCodeCalls()
	in := codeInput()
	window := in.Windows.ActivationWindow
	s.env.RegisterDelayedCallback(func() {
		v := s.query()
		s.True(v.NeedsAttention)
		s.Equal("license_code_not_activated", v.AttentionCause)
	}, window+time.Hour)
	s.update(order.UpdateOps, order.OpsRequest{Actor: opsA, Action: order.OpsCancel, Reason: "the buyer never used it"}, window+2*time.Hour,
		s.wantOK(order.Status(order.PhaseCancelled)))
	s.env.ExecuteWorkflow(Order, in)
	v := s.result()
	s.Equal(order.PhaseCancelled, v.Phase)
	s.Equal(0, s.count("releaseLicenseCode"), "the seller never knew the code")
}

// query answers the order's state query.
func (s *orderSuite) query() order.View {
	val, err := s.env.QueryWorkflow(order.QueryState)
	s.Require().NoError(err)
	var v order.View
	s.Require().NoError(val.Get(&v))
	return v
}
