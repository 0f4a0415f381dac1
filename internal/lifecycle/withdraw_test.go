package lifecycle

import (
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

func TestWithdrawRenewal(t *testing.T) {
	billing := order.Actor{Kind: order.ActorBilling, ID: "billing"}
	renew := func(m *machine, id string, exp time.Time) {
		m.apply(Event{Kind: EvRenew, Actor: billing, Renewal: order.RenewalRequest{Actor: billing, RenewalOrderID: id, RenewalOrderLineID: id + "-1", ExpireTime: exp}})
	}
	withdraw := func(id string) Event {
		return Event{Kind: EvWithdraw, Actor: billing, Withdraw: order.RenewalWithdrawal{Actor: billing, RenewalOrderID: id,
			UnsubscribeOrderID: id + "-W", UnsubscribeOrderLineID: id + "-W-1"}}
	}
	start := func(t *testing.T) (*machine, time.Time) {
		m := opsInService(t, order.BillingMonthly)
		m.result(ok(CallRefresh, "")) // the acceptance's refresh, if any
		exp := *m.s.currentExpire()
		renew(m, "R1", exp.AddDate(0, 1, 0))
		renew(m, "R2", exp.AddDate(0, 2, 0))
		return m, exp
	}
	t.Run("the latest, before its period", func(t *testing.T) {
		m, exp := start(t)
		m.refused(withdraw("R1"), order.ErrInvalidTransition) // not the latest
		m.refused(withdraw("R9"), order.ErrInvalidTransition)
		out := m.apply(withdraw("R2"))
		if got := m.s.currentExpire(); !got.Equal(exp.AddDate(0, 1, 0)) {
			t.Fatalf("expiry %s, want R1's %s", got, exp.AddDate(0, 1, 0))
		}
		if got := m.posted(); got[len(got)-1] != "refund renewal R2" {
			t.Fatalf("postings %v", got)
		}
		if m.s.Refresh == nil || m.s.Refresh.Scene != order.RefreshSceneWithdrawal || m.s.Refresh.RenewalOrderID != "R2-W" {
			t.Fatalf("refresh %+v", m.s.Refresh)
		}
		if len(out.Steps) != 1 || out.Steps[0].Event != order.StepRenewalWithdrawn {
			t.Fatalf("steps %+v", out.Steps)
		}
		if out := m.apply(withdraw("R2")); out.Noop == "" {
			t.Fatal("a repeat must change nothing")
		}
		m.apply(withdraw("R1")) // now the latest
		if got := m.s.currentExpire(); !got.Equal(exp) {
			t.Fatalf("expiry %s, want the order's own %s", got, exp)
		}
	})
	t.Run("refused once the period began", func(t *testing.T) {
		m, exp := start(t)
		m.advance(exp.AddDate(0, 1, 1).Sub(m.now)) // R2's period began a day ago
		m.refused(withdraw("R2"), order.ErrInvalidTransition)
	})
}
