// Package accountflow runs the account machine (internal/arrears) as a Temporal workflow:
// one per customer who ever had arrears. Billing's reports and payments arrive as signals
// (signal-with-start); the level's pay-per-use grace and retention run as the one timer;
// the customer's pay-per-use orders are told to hold, free or release through an activity
// that signals each.
package accountflow

import (
	"encoding/json"
	"strconv"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/arrears"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/searchattr"
	"github.com/cloudmarket/orders/workflows/loop"
)

// Activity receivers, referenced by method value (registered by workflows.Register).
var (
	accounts *activities.Accounts
	store    *activities.Store
)

// AccountWorkflow is the account workflow (order.AccountWorkflowType): one per customer who
// ever had arrears, ID order.AccountWorkflowID. It lives as long as the customer,
// continuing as new when its history grows.
func AccountWorkflow(ctx workflow.Context, in order.AccountInput) error {
	w := &accountImpl{
		a:        arrears.Account{In: in, State: order.AccountNone},
		logger:   log.With(workflow.GetLogger(ctx), "customer_id", in.CustomerID),
		reported: workflow.GetSignalChannel(ctx, order.SignalArrearsReported),
		paid:     workflow.GetSignalChannel(ctx, order.SignalPayment),
		override: workflow.GetSignalChannel(ctx, order.SignalHoldOverride),
	}
	if len(in.Resume) > 0 {
		var r accountResumed
		if err := json.Unmarshal(in.Resume, &r); err != nil {
			return temporal.NewNonRetryableApplicationError("resume account "+in.CustomerID+": "+err.Error(), "BadResume", err)
		}
		w.a, w.seq = r.Account, r.Seq
		w.a.In.Resume = nil
	} else if workflow.GetVersion(ctx, ChangeToldPerCase, workflow.DefaultVersion, 1) >= 1 {
		w.a.PerCase = true
	}
	if err := workflow.SetQueryHandler(ctx, order.QueryAccount, func() (order.AccountView, error) {
		return arrears.View(&w.a, workflow.Now(ctx)), nil
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

// ChangeToldPerCase is the version marker of the account rule that a hold told for one
// arrears case does not count for the next (arrears.Account.PerCase): read once when an
// account starts, carried across continue-as-new.
const ChangeToldPerCase = "told-per-case"

type accountResumed struct {
	Account arrears.Account `json:"account"`
	Seq     int             `json:"seq"`
}

type accountImpl struct {
	a         arrears.Account
	seq       int
	logger    log.Logger
	reported  workflow.ReceiveChannel
	paid      workflow.ReceiveChannel
	override  workflow.ReceiveChannel // order.HoldOverride, from orders ops acted on
	level     workflow.Future         // the level lookup in flight
	telling   workflow.Future         // the hold action in flight
	timer     loop.Timer
	published loop.Published
}

func (w *accountImpl) run(ctx workflow.Context) error {
	for {
		if w.level == nil && w.telling == nil && loop.LongEnough(ctx, w.a.In.HistoryLimit) {
			return w.continueAsNew(ctx)
		}
		var err error
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(w.reported, func(c workflow.ReceiveChannel, _ bool) {
			var r order.ArrearsReport
			c.Receive(ctx, &r)
			err = w.process(ctx, arrears.Event{Kind: arrears.EvReported, Report: r})
		})
		sel.AddReceive(w.paid, func(c workflow.ReceiveChannel, _ bool) {
			var p order.Payment
			c.Receive(ctx, &p)
			err = w.process(ctx, arrears.Event{Kind: arrears.EvPaid, Payment: p})
		})
		sel.AddReceive(w.override, func(c workflow.ReceiveChannel, _ bool) {
			var ov order.HoldOverride
			c.Receive(ctx, &ov)
			err = w.process(ctx, arrears.Event{Kind: arrears.EvOverride, Override: ov})
		})
		if w.level != nil {
			sel.AddFuture(w.level, func(f workflow.Future) {
				w.level = nil
				var c activities.Clocks
				if err = f.Get(ctx, &c); err == nil {
					err = w.process(ctx, arrears.Event{Kind: arrears.EvLevel, Grace: c.Grace, Retention: c.Retention})
				}
			})
		}
		if w.telling != nil {
			sel.AddFuture(w.telling, func(f workflow.Future) {
				w.telling = nil
				if err = f.Get(ctx, nil); err == nil {
					err = w.process(ctx, arrears.Event{Kind: arrears.EvTold})
				}
			})
		}
		at, ok := w.a.Deadline()
		if f := w.timer.Arm(ctx, at, ok, w.timerSummary); f != nil {
			sel.AddFuture(f, func(workflow.Future) {
				w.timer.Fired()
				err = w.process(ctx, arrears.Event{Kind: arrears.EvDeadline})
			})
		}
		sel.Select(ctx)
		if err != nil {
			return err // only when the workflow is being cancelled: its activities retry
		}
	}
}

func (w *accountImpl) timerSummary() string {
	if w.a.State == order.AccountFrozen {
		return "arrears retention ends: release pay-per-use orders"
	}
	return "arrears grace ends: freeze pay-per-use orders"
}

// process checks and applies one event, records it, and starts what follows.
func (w *accountImpl) process(ctx workflow.Context, ev arrears.Event) error {
	ev.At = workflow.Now(ctx)
	if err := arrears.Check(&w.a, ev); err != nil {
		w.logger.Warn("account signal not taken", "event", ev.Kind, "reason", err.Error())
		return nil
	}
	out := arrears.Apply(&w.a, ev)
	if len(out.Steps) > 0 {
		rec := activities.AccountRecord{FirstSeq: w.seq + 1, At: ev.At, View: arrears.View(&w.a, ev.At), CaseID: w.a.CaseID, Steps: out.Steps}
		for _, st := range out.Steps {
			w.logger.Info("account transition", "event", st.Event, "from", st.From, "to", st.To)
		}
		if err := workflow.ExecuteLocalActivity(loop.Record(ctx), accounts.RecordAccount, rec).Get(ctx, nil); err != nil {
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
	w.level = workflow.ExecuteLocalActivity(loop.Lookup(ctx, "customer level: pay-per-use "+w.a.LevelFor),
		store.PayPerUseClocks, w.a.In.CustomerID, w.a.In.TimeScale)
}

// tell has the customer's pay-per-use orders told a hold action. The activity retries until
// it has signalled every order (our side only: nothing to give up on).
func (w *accountImpl) tell(ctx workflow.Context, action order.ArrearsAction) {
	by := order.Actor{Kind: order.ActorTimer}
	if action == order.ArrearsUnfreeze {
		by = order.Actor{Kind: order.ActorBilling}
	}
	actx := loop.Tell(ctx, string(action)+" the customer's pay-per-use orders ("+w.a.CaseID+")")
	w.telling = workflow.ExecuteActivity(actx, accounts.HoldOrders, activities.HoldRequest{
		CustomerID: w.a.In.CustomerID, Action: action, CaseID: w.a.CaseID, Actor: by,
	})
}

// publish upserts ArrearsState and NextDeadline when either changes, and sets the current
// details the Temporal UI shows.
func (w *accountImpl) publish(ctx workflow.Context) {
	deadline, _ := w.a.Deadline()
	w.published.Upsert(ctx, w.logger,
		loop.Keyword(searchattr.ArrearsState, string(w.a.State)),
		loop.Time(searchattr.NextDeadline, deadline),
	)
	v := arrears.View(&w.a, workflow.Now(ctx))
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

// continueAsNew takes the signals already received, then hands the account to a new run.
func (w *accountImpl) continueAsNew(ctx workflow.Context) error {
	for {
		var r order.ArrearsReport
		var p order.Payment
		var ov order.HoldOverride
		switch {
		case w.reported.ReceiveAsync(&r):
			if err := w.process(ctx, arrears.Event{Kind: arrears.EvReported, Report: r}); err != nil {
				return err
			}
		case w.paid.ReceiveAsync(&p):
			if err := w.process(ctx, arrears.Event{Kind: arrears.EvPaid, Payment: p}); err != nil {
				return err
			}
		case w.override.ReceiveAsync(&ov):
			if err := w.process(ctx, arrears.Event{Kind: arrears.EvOverride, Override: ov}); err != nil {
				return err
			}
		default:
			raw, err := json.Marshal(accountResumed{Account: w.a, Seq: w.seq})
			if err != nil {
				return err
			}
			in := w.a.In
			in.Resume = raw
			return loop.ContinueAsNew(ctx, w.logger, order.AccountWorkflowType, in)
		}
	}
}

func formatMoney(m order.Money) string {
	return strconv.FormatInt(m.Value, 10) + " " + m.Currency + " (minor units)"
}
