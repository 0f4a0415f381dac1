// Package orderv1 is the first order workflow (workflow type order.WorkflowTypeV1, "Order"):
// a straight script for SaaS orders. It is frozen: new orders run on the event-driven
// workflow of package workflows/orderflow (order.WorkflowType), and this code stays registered,
// unchanged, only while orders placed before that change still run on it. Its recorded
// histories (workflows/testdata/*.json without a version prefix) are replayed against it.
// Versioning by workflow type rather than workflow.GetVersion: the new workflow is a
// different shape altogether (an event loop), not a change in a few commands.
//
// Do not edit: any change to its command sequence would break the orders still on it.
package orderv1

import (
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/searchattr"
	"github.com/cloudmarket/orders/internal/sellerapi"
	"github.com/cloudmarket/orders/workflows/loop"
)

// Activity receivers. Their methods are referenced as method values (type-checked); the
// worker registers real instances under the same names.
var (
	store  *activities.Store
	seller *activities.Seller
)

// Order is the first order workflow: one per marketplace order, with ID order.WorkflowID(orderId).
// It follows order-states.md for the SaaS path: production at the seller (with the policy's
// retry window and polling after 000004), buyer acceptance (an update) or auto-acceptance,
// settlement, service until expiry, grace, freeze, retention and release. It returns the
// final view of the order.
func Order(ctx workflow.Context, in order.StartInput) (order.View, error) {
	o := &orderRun{
		in:     in,
		view:   order.InitialView(in),
		wfID:   workflow.GetInfo(ctx).WorkflowExecution.ID,
		logger: log.With(workflow.GetLogger(ctx), "order_id", in.OrderID),
	}
	if err := o.setup(ctx); err != nil {
		return o.view, err
	}
	return o.run(ctx)
}

// orderRun is the state of one order workflow run.
type orderRun struct {
	in     order.StartInput
	view   order.View
	wfID   string
	seq    int // number of the last transition recorded
	logger log.Logger

	// Requests handed over by update handlers to the main loop, which consumes them.
	acceptBy *order.Actor
	retryBy  *order.Actor
	// awaitingRetry is true only while a failure waits for ops to retry, so that a retry
	// can neither be queued for a later failure nor race the refund.
	awaitingRetry bool
}

// setup registers the query and the updates. Validators only read state: a refused update
// leaves no trace in history, and the API answers 409 at once.
func (o *orderRun) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, order.QueryState, func() (order.View, error) {
		return o.view, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, order.UpdateAccept,
		func(ctx workflow.Context, req order.ActionRequest) (order.View, error) {
			if o.acceptBy == nil {
				o.acceptBy = &req.Actor
			}
			err := workflow.Await(ctx, func() bool { return o.view.Phase != order.PhaseAwaitingAcceptance })
			return o.view, err
		},
		workflow.UpdateHandlerOptions{Validator: func(req order.ActionRequest) error {
			// The same buyer repeating an acceptance still being processed (a client retry
			// without Idempotency-Key) waits for the same outcome; anyone else is refused.
			if o.view.Phase != order.PhaseAwaitingAcceptance || (o.acceptBy != nil && *o.acceptBy != req.Actor) {
				return invalidTransition("accept", o.view.Status)
			}
			if req.Actor.Kind == order.ActorBuyer && req.Actor.ID != o.in.CustomerID {
				// The API checks ownership too; the workflow does not rely on it.
				return temporal.NewApplicationError("only the order's buyer may accept it", order.ErrInvalidTransition)
			}
			return validActor(req.Actor, order.ActorBuyer, order.ActorOps)
		}},
	); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, order.UpdateRetry,
		func(ctx workflow.Context, req order.ActionRequest) (order.View, error) {
			o.retryBy = &req.Actor
			err := workflow.Await(ctx, func() bool { return o.retryBy == nil })
			return o.view, err
		},
		workflow.UpdateHandlerOptions{Validator: func(req order.ActionRequest) error {
			if !o.awaitingRetry || o.retryBy != nil {
				return invalidTransition("retry", o.view.Status)
			}
			return validActor(req.Actor, order.ActorOps)
		}},
	)
}

func (o *orderRun) run(ctx workflow.Context) (order.View, error) {
	if err := o.transition(ctx, "placed", order.Actor{Kind: order.ActorSystem}, nil, func(v *order.View) {
		v.Phase, v.WaitingOn = order.PhaseProvisioning, order.WaitSeller
	}); err != nil {
		return o.view, err
	}
	done, err := o.produce(ctx)
	if err != nil || done {
		return o.view, err
	}
	actor := order.Actor{Kind: order.ActorSystem}
	if o.in.Supervised {
		if actor, err = o.awaitAcceptance(ctx); err != nil {
			return o.view, err
		}
	}
	if err := o.accept(ctx, actor); err != nil {
		return o.view, err
	}
	if o.view.Phase == order.PhaseCompleted {
		return o.view, nil
	}
	return o.view, o.serve(ctx)
}

// produce gets the instance made at the seller. A failure (window exhausted or refusal)
// moves the order to provision_failed, where ops may retry within the refund hold; after
// it the buyer is refunded and the order is cancelled (done = true).
func (o *orderRun) produce(ctx workflow.Context) (done bool, err error) {
	for {
		failure, err := o.provision(ctx)
		if err != nil || failure == nil {
			return false, err
		}
		hold := workflow.Now(ctx).Add(o.in.Windows.RefundHold)
		if err := o.transition(ctx, "provision_failed", order.Actor{Kind: order.ActorSystem}, failure, func(v *order.View) {
			v.Phase, v.WaitingOn = order.PhaseProvisionFailed, order.WaitOps
			v.LastError = failure["message"]
			o.awaitingRetry = true // from the moment anyone can see the failure
			v.Deadlines = []order.Deadline{{Action: "refund", At: hold}}
		}); err != nil {
			return false, err
		}
		retried, err := o.awaitRetry(ctx, o.in.Windows.RefundHold)
		if err != nil {
			return false, err
		}
		if !retried && o.retryBy == nil { // a retry taken in the same instant as the timeout wins
			return true, o.refund(ctx, "provision_failed")
		}
		actor := *o.retryBy
		o.retryBy = nil
		if err := o.transition(ctx, "retry_requested", actor, nil, func(v *order.View) {
			v.Phase, v.WaitingOn, v.LastError = order.PhaseProvisioning, order.WaitSeller, ""
		}); err != nil {
			return false, err
		}
	}
}

// provision runs newInstance with the policy's retry window, then polls queryInstance while
// the seller answers 000004. It returns the failure detail, or nil when the instance exists.
func (o *orderRun) provision(ctx workflow.Context) (failure map[string]string, err error) {
	w := o.in.Windows
	call := o.sellerCall()
	o.setDeadlines(ctx, order.Deadline{Action: "give_up_provisioning", At: workflow.Now(ctx).Add(w.NewInstance.Window)})
	var inst activities.Instance
	err = workflow.ExecuteActivity(loop.V1Window(ctx, w.NewInstance), seller.NewInstance, call).Get(ctx, &inst)
	if err != nil {
		return sellerFailure(err), nil
	}
	if !inst.Ready {
		pollUntil := workflow.Now(ctx).Add(w.Poll.Window)
		if err := o.transition(ctx, "instance_pending", order.Actor{Kind: order.ActorSeller, ID: o.in.SellerID},
			map[string]string{"instanceId": inst.InstanceID}, func(v *order.View) {
				v.InstanceID = inst.InstanceID
				v.Deadlines = []order.Deadline{{Action: "give_up_polling", At: pollUntil}}
			}); err != nil {
			return nil, err
		}
		call.InstanceID = inst.InstanceID
		if err := workflow.ExecuteActivity(loop.V1Window(ctx, w.Poll), seller.QueryInstance, call).Get(ctx, &inst); err != nil {
			return sellerFailure(err), nil
		}
	}
	return nil, o.transition(ctx, "instance_created", order.Actor{Kind: order.ActorSeller, ID: o.in.SellerID},
		map[string]string{"instanceId": inst.InstanceID}, func(v *order.View) {
			v.InstanceID, v.FrontEndURL = inst.InstanceID, inst.FrontEndURL
			v.Deadlines = []order.Deadline{}
		})
}

// awaitAcceptance waits for the buyer (or ops) to accept; when the acceptance window runs out
// the order is accepted by the timer.
func (o *orderRun) awaitAcceptance(ctx workflow.Context) (order.Actor, error) {
	window := o.in.Windows.AcceptanceWindow
	until := workflow.Now(ctx).Add(window)
	if err := o.transition(ctx, "delivered", order.Actor{Kind: order.ActorSeller, ID: o.in.SellerID}, nil, func(v *order.View) {
		v.Phase, v.WaitingOn = order.PhaseAwaitingAcceptance, order.WaitBuyer
		v.Deadlines = []order.Deadline{{Action: "auto_accept", At: until}}
	}); err != nil {
		return order.Actor{}, err
	}
	accepted, err := workflow.AwaitWithTimeout(ctx, window, func() bool { return o.acceptBy != nil })
	if err != nil {
		return order.Actor{}, err
	}
	if !accepted {
		// Taken by the timer: a buyer's acceptance arriving while the settlement is being
		// posted is refused by the validator instead of being told it succeeded.
		o.acceptBy = &order.Actor{Kind: order.ActorTimer}
	}
	return *o.acceptBy, nil
}

// accept records the acceptance, posts the settlement and moves the order into service (or
// completes a one-time order).
func (o *orderRun) accept(ctx workflow.Context, actor order.Actor) error {
	var s order.Settlement
	err := workflow.ExecuteActivity(loop.V1Store(ctx), store.PostSettlement, activities.SettlementRequest{
		OrderID: o.in.OrderID, SellerID: o.in.SellerID, Gross: o.in.Amount, CommissionBps: o.in.CommissionBps,
	}).Get(ctx, &s)
	if err != nil {
		return err
	}
	expiry, hasExpiry := o.expiry()
	return o.transition(ctx, "accepted", actor, nil, func(v *order.View) {
		v.Settlement = s
		v.Deadlines = []order.Deadline{}
		if !o.in.BillingMode.Subscribed() {
			v.Phase, v.WaitingOn = order.PhaseCompleted, order.WaitNone
			return
		}
		v.Phase, v.WaitingOn = order.PhaseInService, order.WaitTimer
		if hasExpiry {
			v.Deadlines = []order.Deadline{{Action: "expire", At: expiry}}
		}
	})
}

// serve keeps the order in service until it expires, then runs the customer level's grace
// period (the service stays usable), freezes the instance, and releases it when the
// retention period is over (order-states.md, section 2, reason expiry).
func (o *orderRun) serve(ctx workflow.Context) error {
	expiry, ok := o.expiry()
	if !ok {
		// Pay-per-use without an end: in service until released by a later event.
		return workflow.Await(ctx, func() bool { return false })
	}
	if d := expiry.Sub(workflow.Now(ctx)); d > 0 {
		if err := workflow.Sleep(ctx, d); err != nil {
			return err
		}
	}
	var clocks activities.Clocks
	if err := workflow.ExecuteActivity(loop.V1Store(ctx), store.CustomerClocks, o.in.CustomerID, o.in.Windows.TimeScale).Get(ctx, &clocks); err != nil {
		return err
	}
	freezeAt := workflow.Now(ctx).Add(clocks.Grace)
	if err := o.transition(ctx, "expired", order.Actor{Kind: order.ActorTimer}, map[string]string{"grace": clocks.Grace.String()}, func(v *order.View) {
		v.WaitingOn = order.WaitBilling
		v.Deadlines = []order.Deadline{{Action: "freeze", At: freezeAt}}
	}); err != nil {
		return err
	}
	if err := workflow.Sleep(ctx, clocks.Grace); err != nil {
		return err
	}
	call := o.sellerCall()
	if err := o.callSeller(ctx, "updateInstanceStatus", seller.UpdateInstanceStatus, call, sellerapi.StatusFreeze); err != nil {
		return err
	}
	releaseAt := workflow.Now(ctx).Add(clocks.Retention)
	if err := o.transition(ctx, "frozen", order.Actor{Kind: order.ActorTimer}, map[string]string{"reason": "expiry"}, func(v *order.View) {
		v.Frozen = []string{"expiry"}
		v.Deadlines = []order.Deadline{{Action: "release", At: releaseAt}}
	}); err != nil {
		return err
	}
	if err := workflow.Sleep(ctx, clocks.Retention); err != nil {
		return err
	}
	if err := o.callSeller(ctx, "releaseInstance", seller.ReleaseInstance, call); err != nil {
		return err
	}
	return o.transition(ctx, "released", order.Actor{Kind: order.ActorTimer}, nil, func(v *order.View) {
		v.Phase, v.WaitingOn = order.PhaseReleased, order.WaitNone
		v.Frozen = []string{}
		v.Deadlines = []order.Deadline{}
	})
}

// callSeller runs a seller call (freeze, unfreeze, release) within the policy's window. When
// the window runs out the order is flagged needsAttention and waits for ops to retry:
// nothing is silently dropped (seller-protocol.md, retry windows).
func (o *orderRun) callSeller(ctx workflow.Context, name string, fn any, args ...any) error {
	for {
		err := workflow.ExecuteActivity(loop.V1Window(ctx, o.in.Windows.SellerCall), fn, args...).Get(ctx, nil)
		if err == nil {
			if !o.view.NeedsAttention {
				return nil
			}
			return o.transition(ctx, "seller_call_succeeded", order.Actor{Kind: order.ActorSystem}, map[string]string{"call": name}, func(v *order.View) {
				v.NeedsAttention, v.LastError = false, ""
			})
		}
		detail := sellerFailure(err)
		detail["call"] = name
		if err := o.transition(ctx, "needs_attention", order.Actor{Kind: order.ActorSystem}, detail, func(v *order.View) {
			v.NeedsAttention, v.LastError = true, detail["message"]
			o.awaitingRetry = true // from the moment anyone can see the failure
		}); err != nil {
			return err
		}
		if _, err := o.awaitRetry(ctx, 0); err != nil {
			return err
		}
		actor := *o.retryBy
		o.retryBy = nil
		if err := o.transition(ctx, "retry_requested", actor, map[string]string{"call": name}, func(*order.View) {}); err != nil {
			return err
		}
	}
}

// awaitRetry waits for ops to retry (at most timeout; 0 = without limit). Ops may retry a
// failed production, or a seller call that ran out of its window, from the transition that
// shows the failure (which sets awaitingRetry) until this wait ends: never after the refund
// has begun, and never ahead of a failure that has not happened.
func (o *orderRun) awaitRetry(ctx workflow.Context, timeout time.Duration) (bool, error) {
	defer func() { o.awaitingRetry = false }()
	if timeout == 0 {
		return true, workflow.Await(ctx, func() bool { return o.retryBy != nil })
	}
	return workflow.AwaitWithTimeout(ctx, timeout, func() bool { return o.retryBy != nil })
}

// refund records the buyer's refund and cancels the order.
func (o *orderRun) refund(ctx workflow.Context, reason string) error {
	var s order.Settlement
	err := workflow.ExecuteActivity(loop.V1Store(ctx), store.RecordRefund, activities.RefundRequest{
		OrderID: o.in.OrderID, SellerID: o.in.SellerID, Amount: o.in.Amount, Reason: reason,
	}).Get(ctx, &s)
	if err != nil {
		return err
	}
	return o.transition(ctx, "refunded", order.Actor{Kind: order.ActorTimer}, map[string]string{"reason": reason}, func(v *order.View) {
		v.Phase, v.WaitingOn = order.PhaseCancelled, order.WaitNone
		v.Settlement = s
		v.Deadlines = []order.Deadline{}
	})
}

// expiry is when the order expires on the workflow's clock: the time from placing to
// expireTime divided by the order's time scale, so a demo watches a month pass in minutes.
func (o *orderRun) expiry() (time.Time, bool) {
	if o.in.ExpireTime == nil {
		return time.Time{}, false
	}
	scale := o.in.Windows.TimeScale
	if scale <= 0 {
		scale = 1
	}
	d := o.in.ExpireTime.Sub(o.in.PlacedAt)
	return o.in.PlacedAt.Add(time.Duration(float64(d) / scale)), true
}

func (o *orderRun) sellerCall() activities.SellerCall {
	return activities.SellerCall{
		OrderID: o.in.OrderID, OrderLineID: o.in.OrderLineID, SellerID: o.in.SellerID,
		ProductID: o.in.ProductID, InstanceID: o.view.InstanceID,
	}
}

// setDeadlines changes the running clocks shown without recording a transition.
func (o *orderRun) setDeadlines(ctx workflow.Context, ds ...order.Deadline) {
	o.view.Deadlines = ds
	o.publish(ctx)
}

// transition applies change to the view, then publishes it: search attributes and current
// details for ops in the Temporal UI, and the audit event plus read model in PostgreSQL.
func (o *orderRun) transition(ctx workflow.Context, event string, actor order.Actor, detail map[string]string, change func(*order.View)) error {
	from := o.view.Status
	if o.seq == 0 {
		from = ""
	}
	change(&o.view)
	o.view.Status = order.DeriveStatus(o.view.Phase, len(o.view.Frozen) > 0, false)
	now := workflow.Now(ctx)
	o.view.UpdatedAt = now
	o.seq++
	o.publish(ctx)
	o.logger.Info("order transition", "event", event, "from", from, "to", o.view.Status, "seq", o.seq)
	return workflow.ExecuteActivity(loop.V1Store(ctx), store.RecordTransition, activities.Transition{
		WorkflowID: o.wfID, Fingerprint: o.in.Fingerprint, Seq: o.seq, At: now, Event: event,
		From: from, Actor: actor, Detail: detail, View: o.view,
	}).Get(ctx, nil)
}

// publish upserts the search attributes and sets the current details shown in the UI.
func (o *orderRun) publish(ctx workflow.Context) {
	v := o.view
	next := temporal.SearchAttributeUpdate(searchattr.NextDeadline.ValueUnset())
	if len(v.Deadlines) > 0 {
		earliest := v.Deadlines[0].At
		for _, d := range v.Deadlines[1:] {
			if d.At.Before(earliest) {
				earliest = d.At
			}
		}
		next = searchattr.NextDeadline.ValueSet(earliest)
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		searchattr.OrderStatus.ValueSet(string(v.Status)),
		searchattr.SellerID.ValueSet(v.SellerID),
		searchattr.CustomerID.ValueSet(v.CustomerID),
		searchattr.ProductID.ValueSet(v.ProductID),
		searchattr.ProductType.ValueSet(string(v.ProductType)),
		searchattr.WaitingOn.ValueSet(string(v.WaitingOn)),
		searchattr.NeedsAttention.ValueSet(v.NeedsAttention),
		next,
	); err != nil {
		o.logger.Warn("upsert search attributes", "error", err)
	}
	workflow.SetCurrentDetails(ctx, currentDetails(v))
}
