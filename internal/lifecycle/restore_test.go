package lifecycle

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// current starts an order under the current rules, as the workflow starts new orders.
func current(t *testing.T, typ order.ProductType, mode order.BillingMode, supervised bool) *machine {
	m := &machine{t: t, s: State{In: startInput(typ, mode, supervised), Rules: RulesCurrent}, now: t0}
	m.apply(Event{Kind: EvStart})
	return m
}

// TestRestore drives orders with the machine to a point, loses their state (only the view
// is kept, as the read model keeps it), restores it, and checks that the order stands where
// it stood: the same status, phase, instance, holds, appeal, settlement and running
// deadlines, the calls it may have had in flight running again, and a flag for ops where
// the restore had to guess.
func TestRestore(t *testing.T) {
	restarter := order.Actor{Kind: order.ActorOps, ID: "alice"}
	tests := []struct {
		name string
		// build drives the order; it returns the view to restore from (the machine's view,
		// possibly edited as a lost transition would leave it) and the attention's cause.
		build       func(t *testing.T) (*machine, order.View, string)
		inputLost   bool
		arrears     order.AccountState
		lifted      bool // the arrears hold is lifted: the restored order shows in service
		calls       []CallKind
		paused      []ClockName // supervision clocks the restore sets paused
		guessed     bool
		cause       string // the attention cause after the restore
		sameClocks  bool   // the restored running deadlines are the view's
		refreshSent string
	}{
		{
			name: "provisioning: newInstance again",
			build: func(t *testing.T) (*machine, order.View, string) {
				m := current(t, order.TypeSaaS, order.BillingMonthly, true)
				return m, View(&m.s, m.now), ""
			},
			calls: []CallKind{CallNewInstance}, sameClocks: true,
		},
		{
			name: "provisioning pending: poll again",
			build: func(t *testing.T) (*machine, order.View, string) {
				m := current(t, order.TypeSaaS, order.BillingMonthly, true)
				m.result(CallResult{Call: CallNewInstance, OK: true, Pending: true, InstanceID: "inst-1"})
				return m, View(&m.s, m.now), ""
			},
			calls: []CallKind{CallQuery}, sameClocks: true,
		},
		{
			name: "awaiting acceptance: nothing to call, the auto-accept as it was",
			build: func(t *testing.T) (*machine, order.View, string) {
				m := current(t, order.TypeSaaS, order.BillingMonthly, true)
				m.provisioned()
				m.advance(time.Hour)
				return m, View(&m.s, m.now), ""
			},
			sameClocks: true,
		},
		{
			name: "appeal open while awaiting acceptance: the paused auto-accept set anew",
			build: func(t *testing.T) (*machine, order.View, string) {
				m := current(t, order.TypeSaaS, order.BillingMonthly, true)
				m.provisioned()
				m.apply(Event{Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Actor: buyer, Reason: "broken"}})
				return m, View(&m.s, m.now), ""
			},
			paused: []ClockName{ClockAutoAccept}, guessed: true, cause: CauseRestarted, sameClocks: true,
		},
		{
			name: "in service with a renewal: its refresh sent again",
			build: func(t *testing.T) (*machine, order.View, string) {
				m := current(t, order.TypeSaaS, order.BillingMonthly, true)
				m.provisioned()
				m.apply(Event{Kind: EvAccept, Actor: buyer})
				exp := m.s.In.ExpireTime.Add(30 * 24 * time.Hour)
				m.apply(Event{Kind: EvRenew, Actor: billing, Renewal: order.RenewalRequest{Actor: billing,
					RenewalOrderID: "R-1", RenewalOrderLineID: "R-1-1", ExpireTime: exp}})
				return m, View(&m.s, m.now), ""
			},
			calls: []CallKind{CallRefresh}, refreshSent: "R-1", sameClocks: true,
		},
		{
			name: "frozen for expiry: FREEZE again, release as it was",
			build: func(t *testing.T) (*machine, order.View, string) {
				m := current(t, order.TypeSaaS, order.BillingMonthly, true)
				m.provisioned()
				m.apply(Event{Kind: EvAccept, Actor: buyer})
				v := View(&m.s, m.now)
				v.Frozen = []string{string(HoldExpiry)}
				v.Deadlines = []order.Deadline{{Action: string(ClockRelease), At: m.now.Add(time.Hour)}}
				v.Status = order.StatusFrozen
				return m, v, ""
			},
			calls: []CallKind{CallFreeze}, sameClocks: true,
		},
		{
			name: "expired while the grace's level lookup ran: expires again at once",
			build: func(t *testing.T) (*machine, order.View, string) {
				m := current(t, order.TypeSaaS, order.BillingMonthly, true)
				m.provisioned()
				m.apply(Event{Kind: EvAccept, Actor: buyer})
				m.now = m.s.In.ExpireTime.Add(time.Minute)
				v := View(&m.s, m.now)
				v.Deadlines = []order.Deadline{} // the expire clock had fired
				return m, v, ""
			},
		},
		{
			name: "cancelled whose release failed: release again, the flag stands",
			build: func(t *testing.T) (*machine, order.View, string) {
				m := current(t, order.TypeSaaS, order.BillingMonthly, true)
				m.provisioned()
				m.apply(Event{Kind: EvAppeal, Actor: buyer, Appeal: order.AppealRequest{Actor: buyer, Reason: "broken"}})
				m.apply(Event{Kind: EvResolve, Actor: opsA, Resolution: order.AppealResolution{
					Actor: opsA, AppealID: m.s.Appeal.AppealID, Outcome: order.OutcomeRefund}})
				m.result(CallResult{Call: CallRelease, ErrorType: "WindowExhausted"})
				return m, View(&m.s, m.now), "call:release"
			},
			calls: []CallKind{CallRelease}, cause: "call:release", sameClocks: true,
		},
		{
			name: "held for arrears, the account released it: release again",
			build: func(t *testing.T) (*machine, order.View, string) {
				m := current(t, order.TypeSaaS, order.BillingPayPerUse, false)
				m.provisioned()
				sys := order.Actor{Kind: order.ActorSystem}
				m.apply(Event{Kind: EvArrears, Actor: sys, Arrears: order.ArrearsSignal{Action: order.ArrearsFreeze, CaseID: "AR1", Actor: sys}})
				return m, View(&m.s, m.now), ""
			},
			arrears: order.AccountReleased, calls: []CallKind{CallRelease}, sameClocks: true,
		},
		{
			name: "held for arrears, the account paid: UNFREEZE again",
			build: func(t *testing.T) (*machine, order.View, string) {
				m := current(t, order.TypeSaaS, order.BillingPayPerUse, false)
				m.provisioned()
				sys := order.Actor{Kind: order.ActorSystem}
				m.apply(Event{Kind: EvArrears, Actor: sys, Arrears: order.ArrearsSignal{Action: order.ArrearsFreeze, CaseID: "AR1", Actor: sys}})
				return m, View(&m.s, m.now), ""
			},
			arrears: order.AccountNone, calls: []CallKind{CallUnfreeze}, lifted: true, sameClocks: true,
		},
		{
			name: "deploying past its SLA: the flag inferred behind a later one",
			build: func(t *testing.T) (*machine, order.View, string) {
				m := current(t, order.TypePackage, order.BillingOneTime, true)
				m.advance(m.s.In.Windows.DeploymentSLA + time.Minute)
				v := View(&m.s, m.now)
				v.Attention = "something later"
				return m, v, "call:freeze"
			},
			cause: "call:freeze", sameClocks: true,
		},
		{
			name: "completed: nothing owed",
			build: func(t *testing.T) (*machine, order.View, string) {
				m := current(t, order.TypeService, order.BillingOneTime, true)
				m.apply(Event{Kind: EvDeliver, Actor: sellerA, Note: "done"})
				m.apply(Event{Kind: EvAccept, Actor: buyer})
				return m, View(&m.s, m.now), ""
			},
			sameClocks: true,
		},
		{
			name: "input rebuilt: flagged for ops",
			build: func(t *testing.T) (*machine, order.View, string) {
				m := current(t, order.TypeHardware, order.BillingOneTime, true)
				return m, View(&m.s, m.now), ""
			},
			inputLost: true, guessed: true, cause: CauseRestarted, sameClocks: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, v, cause := tt.build(t)
			in := m.s.In
			if tt.inputLost {
				in = RebuildInput(v, in.CommissionBps, in.Windows, in.Fingerprint)
			}
			now := m.now.Add(time.Minute)
			r, err := Restore(Snapshot{In: in, View: v, Appeals: m.s.Appeals, AttentionCause: cause,
				InputRebuilt: tt.inputLost, Arrears: tt.arrears, Restarter: restarter}, now)
			if err != nil {
				t.Fatal(err)
			}
			s := r.State
			got := View(&s, now)
			if tt.lifted {
				if len(got.Frozen) != 0 || got.Status != order.Status(order.PhaseInService) || !s.SellerFrozen {
					t.Errorf("hold not lifted: %+v, seller frozen %v", got, s.SellerFrozen)
				}
				got.Frozen, got.Status = v.Frozen, v.Status
			}
			if got.Status != v.Status || got.Phase != v.Phase || got.InstanceID != v.InstanceID ||
				!slices.Equal(got.Frozen, v.Frozen) || got.Settlement != v.Settlement || (got.Appeal == nil) != (v.Appeal == nil) ||
				got.Rejections != v.Rejections || !equalTimes(got.ExpireTime, v.ExpireTime) {
				t.Errorf("restored view %+v\nwant as %+v", got, v)
			}
			if tt.sameClocks && !slices.Equal(got.Deadlines, v.Deadlines) {
				t.Errorf("deadlines %v, want %v", got.Deadlines, v.Deadlines)
			}
			var calls []CallKind
			for _, c := range s.Calls {
				if c.State != CallRunning {
					t.Errorf("call %s restored %s", c.Kind, c.State)
				}
				calls = append(calls, c.Kind)
			}
			if !slices.Equal(calls, tt.calls) {
				t.Errorf("calls %v, want %v", calls, tt.calls)
			}
			for _, name := range tt.paused {
				if c, ok := s.Clocks.Get(name); !ok || !c.Paused || c.Left <= 0 {
					t.Errorf("clock %s = %+v, want paused with time left", name, c)
				}
			}
			if (len(r.Guessed) > 0) != tt.guessed {
				t.Errorf("guessed %v, want guessed=%v", r.Guessed, tt.guessed)
			}
			if s.AttentionCause != tt.cause || (tt.cause != "") != got.NeedsAttention {
				t.Errorf("attention %q (cause %q), want cause %q", s.Attention, s.AttentionCause, tt.cause)
			}
			if tt.name == "deploying past its SLA: the flag inferred behind a later one" &&
				(len(s.Flags) != 2 || s.Flags[0].Cause != string(ClockDeploymentSLA)) {
				t.Errorf("flags %+v, want the deployment SLA's behind the latest", s.Flags)
			}
			if tt.cause == CauseRestarted && !slices.ContainsFunc(s.Flags, func(f Flag) bool { return f.Cause == CauseRestarted }) {
				t.Errorf("flags %+v lack %s", s.Flags, CauseRestarted)
			}
			if s.RefreshSent != tt.refreshSent || (tt.refreshSent != "") != (s.Refresh != nil) {
				t.Errorf("refresh %+v sent %q, want %q", s.Refresh, s.RefreshSent, tt.refreshSent)
			}
			if s.Rules != RulesCurrent || len(s.In.Resume) != 0 {
				t.Errorf("rules %d, resume %s", s.Rules, s.In.Resume)
			}
			// What follows works: the restored order goes on through the machine.
			for _, k := range s.Calls.Failed() {
				t.Errorf("a failed call %s was restored", k)
			}
			if due := s.Clocks.Due(now); tt.name == "expired while the grace's level lookup ran: expires again at once" &&
				!slices.Equal(due, []ClockName{ClockExpire}) {
				t.Errorf("due %v, want the expiry at once", due)
			}
		})
	}
}

// TestRestoredOrderGoesOn: a restored order awaiting acceptance takes the buyer's
// acceptance and goes into service, as the lost one would have.
func TestRestoredOrderGoesOn(t *testing.T) {
	m := current(t, order.TypeSaaS, order.BillingMonthly, true)
	m.provisioned()
	r, err := Restore(Snapshot{In: m.s.In, View: View(&m.s, m.now)}, m.now)
	if err != nil {
		t.Fatal(err)
	}
	m.s = r.State
	m.apply(Event{Kind: EvAccept, Actor: buyer})
	m.status(order.Status(order.PhaseInService))
	if !m.s.Clocks.Has(ClockExpire) || m.s.Settlement.Status != order.SettlementPending {
		t.Fatalf("clocks %+v, settlement %+v", m.s.Clocks, m.s.Settlement)
	}
}

func TestRestoreRefusesWhatItCannotRebuild(t *testing.T) {
	m := current(t, order.TypeSaaS, order.BillingMonthly, true)
	good := View(&m.s, m.now)
	tests := []struct {
		name string
		edit func(v *order.View)
	}{
		{"another order's view", func(v *order.View) { v.OrderID = "O-2" }},
		{"unknown phase", func(v *order.View) { v.Phase = "limbo" }},
		{"unknown clock", func(v *order.View) { v.Deadlines = []order.Deadline{{Action: "doomsday", At: t0}} }},
		{"unknown hold", func(v *order.View) { v.Frozen = []string{"whim"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := good
			v.Deadlines = slices.Clone(good.Deadlines)
			tt.edit(&v)
			if _, err := Restore(Snapshot{In: m.s.In, View: v}, m.now); !errors.Is(err, ErrNotRestorable) {
				t.Fatalf("err = %v, want ErrNotRestorable", err)
			}
		})
	}
}

func equalTimes(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
