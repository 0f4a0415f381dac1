package workflows

import (
	"encoding/json"
	"strconv"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/order"
)

// accounts receives the account activities' method values (registered by the worker).
var accounts *activities.Accounts

// AccountWorkflow is the account workflow (order.AccountWorkflowType): one per customer who
// ever had arrears, ID order.AccountWorkflowID. Billing's reports and payments arrive as
// signals (signal-with-start); the level's pay-per-use grace and retention run as the one
// timer; the customer's pay-per-use orders are told to hold, free or release through an
// activity that signals each. It lives as long as the customer, continuing as new when its
// history grows.
func AccountWorkflow(ctx workflow.Context, in order.AccountInput) error {
	w := &accountImpl{
		a:        Account{In: in, State: order.AccountNone},
		logger:   log.With(workflow.GetLogger(ctx), "customer_id", in.CustomerID),
		reported: workflow.GetSignalChannel(ctx, order.SignalArrearsReported),
		paid:     workflow.GetSignalChannel(ctx, order.SignalPayment),
	}
	if len(in.Resume) > 0 {
		var r accountResumed
		if err := json.Unmarshal(in.Resume, &r); err != nil {
			return temporal.NewNonRetryableApplicationError("resume account "+in.CustomerID+": "+err.Error(), "BadResume", err)
		}
		w.a, w.seq = r.Account, r.Seq
		w.a.In.Resume = nil
	}
	if err := workflow.SetQueryHandler(ctx, order.QueryAccount, func() (order.AccountView, error) {
		return AccountViewOf(&w.a, workflow.Now(ctx)), nil
	}); err != nil {
		return err
	}
	w.publish(ctx)
	// What the last run left running starts again (nothing, on a first run).
	if w.a.LevelFor != "" {
		w.lookUp(ctx)
	}
	if w.a.Telling != "" {
		w.tell(ctx, w.a.Telling)
	}
	return w.run(ctx)
}

type accountResumed struct {
	Account Account `json:"account"`
	Seq     int     `json:"seq"`
}

type accountImpl struct {
	a        Account
	seq      int
	logger   log.Logger
	reported workflow.ReceiveChannel
	paid     workflow.ReceiveChannel
	level    workflow.Future // the level lookup in flight
	telling  workflow.Future // the hold action in flight
	timer    *armedTimer
	// published: the search attributes as last upserted.
	published struct {
		state    order.AccountState
		deadline time.Time
		set      bool
	}
}

func (w *accountImpl) run(ctx workflow.Context) error {
	for {
		if w.level == nil && w.telling == nil && w.longEnough(ctx) {
			return w.continueAsNew(ctx)
		}
		var err error
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(w.reported, func(c workflow.ReceiveChannel, _ bool) {
			var r order.ArrearsReport
			c.Receive(ctx, &r)
			err = w.process(ctx, AccountEvent{Kind: AccReported, Report: r})
		})
		sel.AddReceive(w.paid, func(c workflow.ReceiveChannel, _ bool) {
			var p order.Payment
			c.Receive(ctx, &p)
			err = w.process(ctx, AccountEvent{Kind: AccPaid, Payment: p})
		})
		if w.level != nil {
			sel.AddFuture(w.level, func(f workflow.Future) {
				w.level = nil
				var c activities.Clocks
				if err = f.Get(ctx, &c); err == nil {
					err = w.process(ctx, AccountEvent{Kind: AccLevel, Grace: c.Grace, Retention: c.Retention})
				}
			})
		}
		if w.telling != nil {
			sel.AddFuture(w.telling, func(f workflow.Future) {
				w.telling = nil
				if err = f.Get(ctx, nil); err == nil {
					err = w.process(ctx, AccountEvent{Kind: AccTold})
				}
			})
		}
		if f := w.armTimer(ctx); f != nil {
			sel.AddFuture(f, func(workflow.Future) {
				w.timer = nil
				err = w.process(ctx, AccountEvent{Kind: AccDeadline})
			})
		}
		sel.Select(ctx)
		if err != nil {
			return err // only when the workflow is being cancelled: its activities retry
		}
	}
}

// process checks and applies one event, records it, and starts what follows.
func (w *accountImpl) process(ctx workflow.Context, ev AccountEvent) error {
	ev.At = workflow.Now(ctx)
	if err := CheckAccount(&w.a, ev); err != nil {
		w.logger.Warn("account signal not taken", "event", ev.Kind, "reason", err.Error())
		return nil
	}
	out := ApplyAccount(&w.a, ev)
	if len(out.Steps) > 0 {
		rec := activities.AccountRecord{FirstSeq: w.seq + 1, At: ev.At, View: AccountViewOf(&w.a, ev.At), CaseID: w.a.CaseID}
		for _, st := range out.Steps {
			rec.Steps = append(rec.Steps, activities.AccountRecordStep{Event: st.Event, From: string(st.From), To: string(st.To),
				Amount: st.Amount, Actor: st.Actor})
			w.logger.Info("account transition", "event", st.Event, "from", st.From, "to", st.To)
		}
		if err := workflow.ExecuteLocalActivity(recordCtx(ctx), accounts.RecordAccount, rec).Get(ctx, nil); err != nil {
			return err
		}
		w.seq += len(out.Steps)
	}
	w.publish(ctx)
	if out.LevelLookup {
		w.lookUp(ctx)
	}
	if out.Tell != "" {
		w.tell(ctx, out.Tell)
	}
	return nil
}

func (w *accountImpl) lookUp(ctx workflow.Context) {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: callTimeout,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
		Summary:             "customer level: pay-per-use " + w.a.LevelFor,
	})
	w.level = workflow.ExecuteLocalActivity(lctx, store.PayPerUseClocks, w.a.In.CustomerID, w.a.In.TimeScale)
}

// tell has the customer's pay-per-use orders told a hold action. The activity retries until
// it has signalled every order (our side only: nothing to give up on).
func (w *accountImpl) tell(ctx workflow.Context, action order.ArrearsAction) {
	by := timer
	if action == order.ArrearsUnfreeze {
		by = order.Actor{Kind: order.ActorBilling}
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
		Summary:             string(action) + " the customer's pay-per-use orders (" + w.a.CaseID + ")",
	})
	w.telling = workflow.ExecuteActivity(actx, accounts.HoldOrders, activities.HoldRequest{
		CustomerID: w.a.In.CustomerID, Action: action, CaseID: w.a.CaseID, Actor: by,
	})
}

func (w *accountImpl) armTimer(ctx workflow.Context) workflow.Future {
	at, ok := w.a.Deadline()
	if w.timer != nil && (!ok || !w.timer.at.Equal(at)) {
		w.timer.cancel()
		w.timer = nil
	}
	if !ok {
		return nil
	}
	if w.timer == nil {
		summary := "arrears grace ends: freeze pay-per-use orders"
		if w.a.State == order.AccountFrozen {
			summary = "arrears retention ends: release pay-per-use orders"
		}
		tctx, cancel := workflow.WithCancel(ctx)
		f := workflow.NewTimerWithOptions(tctx, max(at.Sub(workflow.Now(ctx)), 0), workflow.TimerOptions{Summary: summary})
		w.timer = &armedTimer{at: at, f: f, cancel: cancel}
	}
	return w.timer.f
}

// publish upserts ArrearsState and NextDeadline when they change, and sets the current
// details the Temporal UI shows.
func (w *accountImpl) publish(ctx workflow.Context) {
	deadline, _ := w.a.Deadline()
	p := &w.published
	if !p.set || p.state != w.a.State || !p.deadline.Equal(deadline) {
		updates := []temporal.SearchAttributeUpdate{order.SAArrearsState.ValueSet(string(w.a.State))}
		if deadline.IsZero() {
			updates = append(updates, order.SANextDeadline.ValueUnset())
		} else {
			updates = append(updates, order.SANextDeadline.ValueSet(deadline.UTC()))
		}
		if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
			w.logger.Warn("upsert search attributes", "error", err)
		}
		p.state, p.deadline, p.set = w.a.State, deadline, true
	}
	v := AccountViewOf(&w.a, workflow.Now(ctx))
	details := "**" + string(v.State) + "**"
	if v.Outstanding.Value > 0 {
		details += " — owes " + formatMoney(v.Outstanding)
	}
	if v.GraceEnds != nil {
		details += "\n\nGrace ends (pay-per-use orders frozen) at " + v.GraceEnds.UTC().Format(time.RFC3339)
	}
	if v.RetentionEnds != nil {
		details += "\n\nRetention ends (pay-per-use orders released) at " + v.RetentionEnds.UTC().Format(time.RFC3339)
	}
	workflow.SetCurrentDetails(ctx, details)
}

// longEnough: the run's history reached the limit (or Temporal suggests continuing).
func (w *accountImpl) longEnough(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	limit := w.a.In.HistoryLimit
	return info.GetContinueAsNewSuggested() || (limit > 0 && info.GetCurrentHistoryLength() >= limit)
}

// continueAsNew takes the signals already received, then hands the account to a new run.
func (w *accountImpl) continueAsNew(ctx workflow.Context) error {
	for {
		var r order.ArrearsReport
		var p order.Payment
		switch {
		case w.reported.ReceiveAsync(&r):
			if err := w.process(ctx, AccountEvent{Kind: AccReported, Report: r}); err != nil {
				return err
			}
		case w.paid.ReceiveAsync(&p):
			if err := w.process(ctx, AccountEvent{Kind: AccPaid, Payment: p}); err != nil {
				return err
			}
		default:
			raw, err := json.Marshal(accountResumed{Account: w.a, Seq: w.seq})
			if err != nil {
				return err
			}
			in := w.a.In
			in.Resume = raw
			return workflow.NewContinueAsNewError(ctx, order.AccountWorkflowType, in)
		}
	}
}

func formatMoney(m order.Money) string {
	return strconv.FormatInt(m.Value, 10) + " " + m.Currency + " (minor units)"
}
