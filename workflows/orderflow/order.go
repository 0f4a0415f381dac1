// Package orderflow runs the order machine (internal/lifecycle) as a Temporal workflow: the
// order workflow (order.WorkflowType), one per marketplace order. Its loop only waits: for
// updates, for the account workflow's signals, for the timer of the earliest clock and for
// calls still running; then it checks and applies the event with the machine, records the
// outcome in PostgreSQL in one local activity and starts what follows. A seller call that
// is retrying never stops a clock. Workflow code uses only workflow.* APIs.
//
// The first order workflow (a straight script for SaaS) is package orderv1, frozen and kept
// registered while orders run on it.
package orderflow

import (
	"encoding/json"
	"errors"
	"fmt"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/lifecycle"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/searchattr"
	"github.com/cloudmarket/orders/workflows/loop"
)

// ChangeLateResultKept is the version marker (workflow.GetVersion) of the change that keeps
// a completed order's instance when a provisioning result comes after completion: before
// it, the late result released the buyer's instance and turned the order released.
const ChangeLateResultKept = "late-result-kept"

// ChangeSeams is the version marker of the rules of 2026-12 (lifecycle.RulesSeams): read
// once, when an order starts, it puts the order under the new rules, which it keeps for
// life (the state carries them across continue-as-new). Histories recorded before replay
// with the rules they ran under.
const ChangeSeams = "rules-seams"

// ChangeOps is the version marker of the ops rules (lifecycle.RulesOps, issue 16): flags
// with causes and since, provision_failed flagged, calls failing on our side flagged, the
// AttentionCause search attribute. Read once when an order starts, like ChangeSeams.
const ChangeOps = "rules-ops"

// Order is the order workflow (order.WorkflowType): one per marketplace order, with ID
// order.WorkflowID(orderId). It returns the final view of the order.
//
// Versioning: this workflow replaced the first one's command sequence entirely, so it is a
// new workflow type, and the first (workflows/orderv1, type order.WorkflowTypeV1) stays
// registered, unchanged, while orders placed before still run on it. A change to this
// one's command sequence goes behind workflow.GetVersion, and its histories are recorded
// under a new HistoryVersion (workflows/testdata/README.md); the replay test replays every
// recorded history of every type.
func Order(ctx workflow.Context, in order.StartInput) (order.View, error) {
	o := &orderImpl{
		st:      lifecycle.State{In: in},
		wfID:    workflow.GetInfo(ctx).WorkflowExecution.ID,
		logger:  log.With(workflow.GetLogger(ctx), "order_id", in.OrderID),
		inbox:   workflow.NewBufferedChannel(ctx, 1000),
		arrears: workflow.GetSignalChannel(ctx, order.SignalArrears),
	}
	if len(in.Resume) > 0 {
		// A new run of a long-lived order: the state comes from the last run.
		var r resumed
		if err := json.Unmarshal(in.Resume, &r); err != nil {
			return o.view, temporal.NewNonRetryableApplicationError("resume order "+in.OrderID+": "+err.Error(), "BadResume", err)
		}
		o.st, o.seq = r.State, r.Seq
		o.view = lifecycle.View(&o.st, workflow.Now(ctx))
		if err := o.setup(ctx); err != nil {
			return o.view, err
		}
		o.publish(ctx)
		o.resumeCalls(ctx)
		return o.run(ctx, nil, lifecycle.Outcome{})
	}
	// The API starts the workflow with these search attributes set (order.InitialView's).
	o.published.Seed(map[string]any{
		searchattr.OrderStatus.GetName(): string(order.InitialView(in).Status), searchattr.SellerID.GetName(): in.SellerID,
		searchattr.CustomerID.GetName(): in.CustomerID, searchattr.ProductID.GetName(): in.ProductID,
		searchattr.ProductType.GetName(): string(in.ProductType),
	})
	switch {
	case in.Rules > lifecycle.RulesCurrent:
		// Placed by an API newer than this worker: fail the workflow task (it is retried)
		// until a worker that knows these rules takes it, rather than run it under others.
		panic(fmt.Sprintf("order %s was placed under rules %d, which this worker does not know", in.OrderID, in.Rules))
	case in.Rules > 0:
		// The generation chosen at placing, carried in the input: no version marker.
		o.st.Rules = in.Rules
	case workflow.GetVersion(ctx, ChangeSeams, workflow.DefaultVersion, 1) >= 1:
		// Orders placed before inputs carried their rules read them from markers.
		o.st.Rules = lifecycle.RulesSeams
		if workflow.GetVersion(ctx, ChangeOps, workflow.DefaultVersion, 1) >= 1 {
			o.st.Rules = lifecycle.RulesOps
		}
	}
	// The order starts before any handler can see it: an update that arrives with the
	// first workflow task is checked against the started order, not an empty one.
	start := lifecycle.Event{Kind: lifecycle.EvStart, At: workflow.Now(ctx)}
	started := lifecycle.Apply(&o.st, start)
	o.view = lifecycle.View(&o.st, start.At)
	if err := o.setup(ctx); err != nil {
		return o.view, err
	}
	return o.run(ctx, &start, started)
}

// resumed is what a run hands the next when it continues as new.
type resumed struct {
	State lifecycle.State `json:"state"`
	Seq   int             `json:"seq"`
}

// ResumePayload encodes a state and the number of audit lines recorded so far as the
// workflow's StartInput.Resume, exactly as a run hands them to the next when it continues
// as new. It lets a lost order be started again from a state rebuilt outside the workflow
// (lifecycle.Restore): the new run takes the resume path, so it issues the commands a
// continued run issues, and numbers its audit lines from seq+1.
func ResumePayload(st lifecycle.State, seq int) (json.RawMessage, error) {
	raw, err := json.Marshal(resumed{State: st, Seq: seq})
	if err != nil {
		return nil, fmt.Errorf("encode resume of order %s: %w", st.In.OrderID, err)
	}
	return raw, nil
}

// orderImpl is the loop's own bookkeeping around the machine's State.
type orderImpl struct {
	st     lifecycle.State
	view   order.View
	wfID   string
	seq    int // audit lines recorded
	logger log.Logger

	inbox   workflow.Channel        // *request, from the update handlers
	arrears workflow.ReceiveChannel // order.ArrearsSignal, from the account workflow
	running []*running              // calls in flight, in the order they began
	// draining: the run's history is long enough; no new call starts, and once the
	// running ones are in, the order continues as new.
	draining  bool
	timer     loop.Timer // the timer of the earliest clock
	published loop.Published
}

// request is an update waiting for the loop to take its event.
type request struct {
	ev   lifecycle.Event
	done bool
	err  error
	view order.View
}

// run is the loop: wait for an update, a signal, the earliest clock or a call; check it,
// apply it, record and publish what changed, start what follows. It ends when the order is
// done (final, and nothing owed to the seller) once every update handler has finished; a
// long life continues as new first (continueAsNew).
func (o *orderImpl) run(ctx workflow.Context, start *lifecycle.Event, started lifecycle.Outcome) (order.View, error) {
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
		next, ok := o.st.Clocks.Next()
		if f := o.timer.Arm(ctx, next.At, ok, func() string { return o.st.ClockSummary(next.Name) }); f != nil {
			sel.AddFuture(f, func(workflow.Future) { loopErr = o.fireClocks(ctx) })
		}
		sel.Select(ctx)
	}
	if loopErr != nil {
		return o.view, loopErr
	}
	o.timer.Stop()
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

// signalled takes the account workflow's word. A signal cannot be refused to its sender:
// one the order cannot take now is logged with the machine's refusal and its code.
func (o *orderImpl) signalled(ctx workflow.Context, sig order.ArrearsSignal) error {
	ev := lifecycle.Event{Kind: lifecycle.EvArrears, Actor: sig.Actor, Arrears: sig}
	if err := lifecycle.Check(&o.st, ev); err != nil {
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
		o.draining = loop.LongEnough(ctx, o.st.In.Windows.HistoryLimit)
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
	return true, loop.ContinueAsNew(ctx, o.logger, order.WorkflowType, in)
}

// process takes one event: checks it (a refusal answers its update), applies it, records
// and publishes the result, and starts the calls that follow.
func (o *orderImpl) process(ctx workflow.Context, ev lifecycle.Event, r *request) error {
	ev.At = workflow.Now(ctx)
	if err := lifecycle.Check(&o.st, ev); err != nil {
		if r != nil {
			r.err, r.done = asApplicationError(err), true
		}
		return nil
	}
	out := lifecycle.Apply(&o.st, ev)
	err := o.commit(ctx, ev, out)
	if r != nil {
		r.view, r.err, r.done = o.view, err, true
	}
	return err
}

// commit records the outcome in PostgreSQL (one local activity: audit lines, read model,
// money, appeal), publishes it for ops and starts the calls it asks for.
func (o *orderImpl) commit(ctx workflow.Context, ev lifecycle.Event, out lifecycle.Outcome) error {
	o.view = lifecycle.View(&o.st, ev.At)
	if len(out.Steps) > 0 {
		rec := activities.Record{
			WorkflowID: o.wfID, Fingerprint: o.st.In.Fingerprint, FirstSeq: o.seq + 1, At: ev.At,
			View: o.view, Steps: out.Steps, Postings: out.Postings, Appeal: out.Appeal,
		}
		for _, s := range out.Steps {
			o.logger.Info("order transition", "event", s.Event, "from", s.From, "to", s.To)
		}
		if err := workflow.ExecuteLocalActivity(loop.Record(ctx), store.Record, rec).Get(ctx, nil); err != nil {
			return err // only when the workflow is being cancelled: the local activity retries
		}
		o.seq += len(out.Steps)
	}
	o.publish(ctx)
	for _, k := range out.Restart {
		o.abandon(k)
	}
	if t := out.TellAccount; t != nil {
		// The account owns arrears holds: its trail says ops lifted or put back this one.
		// A signal the account cannot take (no account workflow) is logged, not retried.
		f := workflow.SignalExternalWorkflow(ctx, order.AccountWorkflowID(o.st.In.CustomerID), "", order.SignalHoldOverride, *t)
		if err := f.Get(ctx, nil); err != nil {
			o.logger.Warn("tell the account of a hold override", "error", err)
		}
	}
	if o.draining {
		return nil // the next run starts them (resumeCalls)
	}
	for _, k := range out.Calls {
		o.startCall(ctx, k)
	}
	if out.LevelLookup {
		o.startCall(ctx, lifecycle.CallLevel)
	}
	return nil
}

// fireClocks runs out every clock that is due, earliest first.
func (o *orderImpl) fireClocks(ctx workflow.Context) error {
	o.timer.Fired()
	for _, name := range o.st.Clocks.Due(workflow.Now(ctx)) {
		if !o.st.Clocks.Has(name) {
			continue // stopped by an earlier clock of the same moment
		}
		if err := o.process(ctx, lifecycle.Event{Kind: lifecycle.EvClock, Clock: name}, nil); err != nil {
			return err
		}
	}
	return nil
}

// asApplicationError turns a refusal into the error an update fails with: its type is the
// problem code the API answers 409 with.
func asApplicationError(err error) error {
	var r *order.Refusal
	if errors.As(err, &r) {
		return temporal.NewApplicationError(r.Msg, r.Code)
	}
	return err
}
