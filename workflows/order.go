package workflows

import (
	"encoding/json"
	"errors"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/activities/sellerapi"
	"github.com/cloudmarket/orders/internal/order"
)

// Activity receivers. Their methods are referenced as method values (type-checked); the
// worker registers real instances under the same names.
var (
	store  *activities.Store
	seller *activities.Seller
)

// ChangeLateResultKept is the version marker (workflow.GetVersion) of the change that keeps
// a completed order's instance when a provisioning result comes after completion: before
// it, the late result released the buyer's instance and turned the order released.
const ChangeLateResultKept = "late-result-kept"

// Order is the order workflow (order.WorkflowType): one per marketplace order, with ID
// order.WorkflowID(orderId). It returns the final view of the order.
//
// Versioning: this workflow replaced the first one's command sequence entirely, so it is a
// new workflow type, and the first (workflows/orderv1, type order.WorkflowTypeV1) stays
// registered, unchanged, while orders placed before still run on it. A change to this
// one's command sequence goes behind workflow.GetVersion, and its histories are recorded
// under a new HistoryVersion (workflows/testdata/README.md); TestReplayRecordedHistories
// replays both types' histories.
func Order(ctx workflow.Context, in order.StartInput) (order.View, error) {
	o := &orderImpl{
		st:      State{In: in},
		wfID:    workflow.GetInfo(ctx).WorkflowExecution.ID,
		logger:  log.With(workflow.GetLogger(ctx), "order_id", in.OrderID),
		inbox:   workflow.NewBufferedChannel(ctx, 1000),
		arrears: workflow.GetSignalChannel(ctx, order.SignalArrears),
		// The API starts the workflow with these set (order.InitialView's).
		published: map[string]any{
			"OrderStatus": string(order.InitialView(in).Status), "SellerId": in.SellerID,
			"CustomerId": in.CustomerID, "ProductId": in.ProductID, "ProductType": string(in.ProductType),
		},
	}
	if len(in.Resume) > 0 {
		// A new run of a long-lived order: the state comes from the last run.
		var r resumed
		if err := json.Unmarshal(in.Resume, &r); err != nil {
			return o.view, temporal.NewNonRetryableApplicationError("resume order "+in.OrderID+": "+err.Error(), "BadResume", err)
		}
		o.st, o.seq, o.published = r.State, r.Seq, map[string]any{}
		o.view = View(&o.st, workflow.Now(ctx))
		if err := o.setup(ctx); err != nil {
			return o.view, err
		}
		o.publish(ctx)
		o.resumeCalls(ctx)
		return o.run(ctx, nil, Outcome{})
	}
	// The order starts before any handler can see it: an update that arrives with the
	// first workflow task is checked against the started order, not an empty one.
	start := Event{Kind: EvStart, At: workflow.Now(ctx)}
	started := Apply(&o.st, start)
	o.view = View(&o.st, start.At)
	if err := o.setup(ctx); err != nil {
		return o.view, err
	}
	return o.run(ctx, &start, started)
}

// resumed is what a run hands the next when it continues as new.
type resumed struct {
	State State `json:"state"`
	Seq   int   `json:"seq"`
}

// orderImpl is the loop's own bookkeeping around the State.
type orderImpl struct {
	st     State
	view   order.View
	wfID   string
	seq    int // audit lines recorded
	logger log.Logger

	inbox   workflow.Channel        // *request, from the update handlers
	arrears workflow.ReceiveChannel // order.ArrearsSignal, from the account workflow
	running []*running              // calls in flight, in the order they began
	// draining: the run's history is long enough; no new call starts, and once the
	// running ones are in, the order continues as new.
	draining bool
	timer    *armedTimer // the timer of the earliest clock

	published map[string]any // search attributes as last upserted
}

// request is an update waiting for the loop to take its event.
type request struct {
	ev   Event
	done bool
	err  error
	view order.View
}

// running is a call in flight.
type running struct {
	kind CallKind
	f    workflow.Future
}

// armedTimer is the one timer the loop keeps: for the earliest running clock.
type armedTimer struct {
	at     time.Time
	f      workflow.Future
	cancel workflow.CancelFunc
}

// run is the loop: wait for an update, a signal, the earliest clock or a call; check it,
// apply it, record and publish what changed, start what follows. It ends when the order is
// final and nothing is owed to the seller, once every update handler has finished; a long
// life continues as new first (continueAsNew).
func (o *orderImpl) run(ctx workflow.Context, start *Event, started Outcome) (order.View, error) {
	if start != nil {
		if err := o.commit(ctx, *start, started); err != nil {
			return o.view, err
		}
	}
	var loopErr error
	for !o.st.Done() && loopErr == nil {
		if o.longEnough(ctx) {
			if done, err := o.continueAsNew(ctx); done {
				return o.view, err
			}
			continue
		}
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(o.inbox, func(c workflow.ReceiveChannel, _ bool) {
			var r *request
			c.Receive(ctx, &r)
			loopErr = o.process(ctx, r.ev, r)
		})
		sel.AddReceive(o.arrears, func(c workflow.ReceiveChannel, _ bool) {
			var sig order.ArrearsSignal
			c.Receive(ctx, &sig)
			loopErr = o.signalled(ctx, sig)
		})
		for _, rc := range o.running {
			sel.AddFuture(rc.f, func(f workflow.Future) { loopErr = o.finished(ctx, rc, f) })
		}
		if f := o.armTimer(ctx); f != nil {
			sel.AddFuture(f, func(workflow.Future) { loopErr = o.fireClocks(ctx) })
		}
		sel.Select(ctx)
	}
	if loopErr != nil {
		return o.view, loopErr
	}
	if o.timer != nil {
		o.timer.cancel()
	}
	// Updates that arrive now are refused (the order is final); the workflow ends once
	// every handler has answered.
	for {
		if err := workflow.Await(ctx, func() bool { return o.inbox.Len() > 0 || workflow.AllHandlersFinished(ctx) }); err != nil {
			return o.view, err
		}
		if o.inbox.Len() == 0 {
			return o.view, nil
		}
		var r *request
		o.inbox.Receive(ctx, &r)
		_ = o.process(ctx, r.ev, r)
	}
}

// signalled takes the account workflow's word. A signal cannot be refused: one the order
// cannot take now (not pay-per-use, not in service) is logged and dropped.
func (o *orderImpl) signalled(ctx workflow.Context, sig order.ArrearsSignal) error {
	ev := Event{Kind: EvArrears, Actor: sig.Actor, Arrears: sig}
	if err := Check(&o.st, ev); err != nil {
		o.logger.Info("arrears signal not taken", "action", sig.Action, "case_id", sig.CaseID, "reason", err.Error())
		return nil
	}
	return o.process(ctx, ev, nil)
}

// longEnough says whether this run should continue as new: its history has reached the
// order's limit (or Temporal suggests it). From then on it drains: no new call starts, and
// once none is in flight (a running activity cannot move to the next run) it says yes.
func (o *orderImpl) longEnough(ctx workflow.Context) bool {
	if !o.draining {
		info := workflow.GetInfo(ctx)
		limit := o.st.In.Windows.HistoryLimit
		o.draining = info.GetContinueAsNewSuggested() || (limit > 0 && info.GetCurrentHistoryLength() >= limit)
	}
	return o.draining && len(o.running) == 0
}

// continueAsNew hands the order to a new run with its state, once every update the
// validators accepted and every signal received has been taken and every handler has
// answered. It reports false when taking them started a call (the loop goes on first).
func (o *orderImpl) continueAsNew(ctx workflow.Context) (bool, error) {
	for {
		for o.inbox.Len() > 0 {
			var r *request
			o.inbox.Receive(ctx, &r)
			if err := o.process(ctx, r.ev, r); err != nil {
				return true, err
			}
		}
		var sig order.ArrearsSignal
		for o.arrears.ReceiveAsync(&sig) {
			if err := o.signalled(ctx, sig); err != nil {
				return true, err
			}
		}
		if o.st.Done() {
			return false, nil
		}
		if workflow.AllHandlersFinished(ctx) && o.inbox.Len() == 0 {
			break
		}
		if err := workflow.Await(ctx, func() bool { return o.inbox.Len() > 0 || workflow.AllHandlersFinished(ctx) }); err != nil {
			return true, err
		}
	}
	raw, err := json.Marshal(resumed{State: o.st, Seq: o.seq})
	if err != nil {
		return true, err
	}
	in := o.st.In
	in.Resume = raw
	o.logger.Info("order continues as new", "history_length", workflow.GetInfo(ctx).GetCurrentHistoryLength())
	return true, workflow.NewContinueAsNewError(ctx, order.WorkflowType, in)
}

// process takes one event: checks it (a refusal answers its update), applies it, records
// and publishes the result, and starts the calls that follow.
func (o *orderImpl) process(ctx workflow.Context, ev Event, r *request) error {
	ev.At = workflow.Now(ctx)
	if err := Check(&o.st, ev); err != nil {
		if r != nil {
			r.err, r.done = asApplicationError(err), true
		}
		return nil
	}
	out := Apply(&o.st, ev)
	err := o.commit(ctx, ev, out)
	if r != nil {
		r.view, r.err, r.done = o.view, err, true
	}
	return err
}

// commit records the outcome in PostgreSQL (one local activity: audit lines, read model,
// money, appeal), publishes it for ops and starts the calls it asks for.
func (o *orderImpl) commit(ctx workflow.Context, ev Event, out Outcome) error {
	o.view = View(&o.st, ev.At)
	if len(out.Steps) > 0 {
		rec := activities.Record{
			WorkflowID: o.wfID, Fingerprint: o.st.In.Fingerprint, FirstSeq: o.seq + 1, At: ev.At,
			View: o.view, Postings: out.Postings,
		}
		for _, s := range out.Steps {
			rec.Steps = append(rec.Steps, activities.RecordStep{Event: s.Event, Actor: s.Actor, From: s.From, To: s.To, Detail: s.Detail})
			o.logger.Info("order transition", "event", s.Event, "from", s.From, "to", s.To)
		}
		if a := out.Appeal; a != nil {
			rec.Appeal = &activities.AppealRecord{Kind: string(a.Kind), Actor: a.Actor, Appeal: a.Appeal}
		}
		if err := workflow.ExecuteLocalActivity(recordCtx(ctx), store.Record, rec).Get(ctx, nil); err != nil {
			return err // only when the workflow is being cancelled: the local activity retries
		}
		o.seq += len(out.Steps)
	}
	o.publish(ctx)
	if o.draining {
		return nil // the next run starts them (resumeCalls)
	}
	for _, k := range out.Calls {
		o.startCall(ctx, k)
	}
	if out.LevelLookup {
		o.startCall(ctx, CallLevel)
	}
	return nil
}

// resumeCalls starts, in a new run, the calls the state says are running: those the last
// run held back while it drained.
func (o *orderImpl) resumeCalls(ctx workflow.Context) {
	for _, c := range o.st.Calls {
		if c.State == CallRunning {
			o.startCall(ctx, c.Kind)
		}
	}
}

// startCall starts a seller call as an activity that runs beside the loop: while it
// retries, clocks and updates go on.
func (o *orderImpl) startCall(ctx workflow.Context, k CallKind) {
	w, in := o.st.In.Windows, o.st.In
	call := activities.SellerCall{
		OrderID: in.OrderID, OrderLineID: in.OrderLineID, SellerID: in.SellerID, ProductID: in.ProductID,
		InstanceID: o.st.InstanceID, KeepLicense: in.ProductType == order.TypeLicense,
	}
	var f workflow.Future
	switch k {
	case CallLevel:
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: callTimeout,
			RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
			Summary:             "customer level: " + o.st.LevelFor,
		})
		f = workflow.ExecuteLocalActivity(lctx, store.CustomerClocks, o.st.In.CustomerID, o.st.In.Windows.TimeScale)
	case CallNewInstance, CallRecover:
		call.MaxAttempts = w.NewInstance.Attempts
		summary := "newInstance at the seller"
		if k == CallRecover {
			summary = "newInstance again: find what to release"
		}
		f = workflow.ExecuteActivity(sellerCtx(ctx, w.NewInstance, summary), seller.NewInstance, call)
	case CallQuery:
		call.MaxAttempts = w.Poll.Attempts
		f = workflow.ExecuteActivity(sellerCtx(ctx, w.Poll, "queryInstance: poll until ready"), seller.QueryInstance, call)
	case CallFreeze, CallUnfreeze:
		call.MaxAttempts = w.SellerCall.Attempts
		status, summary := sellerapi.StatusFreeze, "FREEZE at the seller"
		if k == CallUnfreeze {
			status, summary = sellerapi.StatusUnfreeze, "UNFREEZE at the seller"
		}
		f = workflow.ExecuteActivity(sellerCtx(ctx, w.SellerCall, summary), seller.UpdateInstanceStatus, call, status)
	case CallRelease:
		call.MaxAttempts = w.SellerCall.Attempts
		if u := o.st.Unsubscription; u != nil && u.UnsubscribeOrderID != "" {
			call.About = &activities.OtherOrder{OrderID: u.UnsubscribeOrderID, OrderLineID: u.UnsubscribeOrderLineID}
		}
		f = workflow.ExecuteActivity(sellerCtx(ctx, w.SellerCall, "releaseInstance at the seller"), seller.ReleaseInstance, call)
	case CallRefresh:
		r := o.st.Refresh
		call.MaxAttempts = w.SellerCall.Attempts
		call.About = &activities.OtherOrder{OrderID: r.RenewalOrderID, OrderLineID: r.RenewalOrderLineID}
		call.ExpireTime = &r.ExpireTime
		f = workflow.ExecuteActivity(sellerCtx(ctx, w.SellerCall, "refreshInstance at the seller: renewal "+r.RenewalOrderID),
			seller.RefreshInstance, call)
	}
	o.running = append(o.running, &running{kind: k, f: f})
}

// finished turns a finished call into an event.
func (o *orderImpl) finished(ctx workflow.Context, rc *running, f workflow.Future) error {
	for i, x := range o.running {
		if x == rc {
			o.running = append(o.running[:i], o.running[i+1:]...)
			break
		}
	}
	ev := Event{Kind: EvResult, Result: resultOf(ctx, rc.kind, f)}
	if late := o.st.Phase.Final() && o.st.Phase != order.PhaseCancelled; late && (rc.kind == CallNewInstance || rc.kind == CallQuery) {
		// Before this change a late result released the instance even of a completed
		// order; histories recorded then replay that way.
		ev.KeepLateInstance = workflow.GetVersion(ctx, ChangeLateResultKept, workflow.DefaultVersion, 1) >= 1
	}
	return o.process(ctx, ev, nil)
}

// refusedTypes are the error types of a seller's definite refusal: it made nothing.
var refusedTypes = map[string]bool{
	sellerapi.ClassRefused.ErrorType():          true,
	sellerapi.ClassLicenseRefused.ErrorType():   true,
	sellerapi.ClassInvalidParameter.ErrorType(): true,
	sellerapi.ClassInstanceNotFound.ErrorType(): true,
}

func resultOf(ctx workflow.Context, k CallKind, f workflow.Future) CallResult {
	r := CallResult{Call: k}
	var err error
	if k == CallLevel {
		var c activities.Clocks
		err = f.Get(ctx, &c)
		r.Grace, r.Retention = c.Grace, c.Retention
	} else {
		var inst activities.Instance
		err = f.Get(ctx, &inst)
		r.InstanceID, r.FrontEndURL, r.License = inst.InstanceID, inst.FrontEndURL, inst.License
		r.Pending = err == nil && !inst.Ready && (k == CallNewInstance || k == CallRecover)
	}
	if err == nil {
		r.OK = true
		return r
	}
	r.ErrorType = "unknown"
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		r.ErrorType = appErr.Type()
		r.Refused = refusedTypes[appErr.Type()]
	}
	return r
}

// armTimer keeps one timer for the earliest running clock, replacing it only when that
// deadline moves, and returns its future (nil: no clock runs).
func (o *orderImpl) armTimer(ctx workflow.Context) workflow.Future {
	next, ok := o.st.Clocks.Next()
	if o.timer != nil && (!ok || !o.timer.at.Equal(next.At)) {
		o.timer.cancel()
		o.timer = nil
	}
	if !ok {
		return nil
	}
	if o.timer == nil {
		tctx, cancel := workflow.WithCancel(ctx)
		d := max(next.At.Sub(workflow.Now(ctx)), 0)
		f := workflow.NewTimerWithOptions(tctx, d, workflow.TimerOptions{Summary: o.st.clockSummary(next.Name)})
		o.timer = &armedTimer{at: next.At, f: f, cancel: cancel}
	}
	return o.timer.f
}

// fireClocks runs out every clock that is due, earliest first.
func (o *orderImpl) fireClocks(ctx workflow.Context) error {
	o.timer = nil
	for _, name := range o.st.Clocks.Due(workflow.Now(ctx)) {
		if !o.st.Clocks.Has(name) {
			continue // stopped by an earlier clock of the same moment
		}
		if err := o.process(ctx, Event{Kind: EvClock, Clock: name}, nil); err != nil {
			return err
		}
	}
	return nil
}

// asApplicationError turns a refusal into the error an update fails with: its type is the
// problem code the API answers 409 with.
func asApplicationError(err error) error {
	var r *Refusal
	if errors.As(err, &r) {
		return temporal.NewApplicationError(r.Msg, r.Code)
	}
	return err
}
