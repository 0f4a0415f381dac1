package orderflow

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"

	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/lifecycle"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/searchattr"
	"github.com/cloudmarket/orders/workflows/loop"
)

// setup registers the state query and one update per action. A validator runs Check on the
// state as it is, so a refusal costs no history and the API answers 409 at once; the
// handler hands the event to the loop and answers once the loop has recorded it (a GET
// right after reads what the answer says).
func (o *orderImpl) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, order.QueryState, func() (order.View, error) { return o.view, nil }); err != nil {
		return err
	}
	regs := []error{
		register(ctx, o, order.UpdateAccept, func(r order.ActionRequest) lifecycle.Event {
			return lifecycle.Event{Kind: lifecycle.EvAccept, Actor: r.Actor}
		}),
		register(ctx, o, order.UpdateReject, func(r order.ActionRequest) lifecycle.Event {
			return lifecycle.Event{Kind: lifecycle.EvReject, Actor: r.Actor, Reason: r.Reason}
		}),
		register(ctx, o, order.UpdateDeliver, func(r order.DeliveryRequest) lifecycle.Event {
			return lifecycle.Event{Kind: lifecycle.EvDeliver, Actor: r.Actor, Note: r.Note, OpenedAt: r.OpenedAt}
		}),
		register(ctx, o, order.UpdateDeploy, func(r order.DeploymentReport) lifecycle.Event {
			return lifecycle.Event{Kind: lifecycle.EvDeploy, Actor: r.Actor, Deploy: r, OpenedAt: r.OpenedAt}
		}),
		register(ctx, o, order.UpdateShip, func(r order.ShipmentRequest) lifecycle.Event {
			return lifecycle.Event{Kind: lifecycle.EvShip, Actor: r.Actor, Shipment: r}
		}),
		register(ctx, o, order.UpdateSignoff, func(r order.SignoffRequest) lifecycle.Event {
			return lifecycle.Event{Kind: lifecycle.EvSignoff, Actor: r.Actor, SignedAt: r.SignedAt}
		}),
		register(ctx, o, order.UpdateLicense, func(r order.LicenseDelivery) lifecycle.Event {
			return lifecycle.Event{Kind: lifecycle.EvLicense, Actor: r.Actor, License: r.License, OpenedAt: r.OpenedAt}
		}),
		register(ctx, o, order.UpdateActivateLicenseCode, func(r order.LicenseCodeActivation) lifecycle.Event {
			return lifecycle.Event{Kind: lifecycle.EvActivate, Actor: r.Actor, CodeSHA256: r.SHA256}
		}),
		register(ctx, o, order.UpdateResolve, func(r order.AppealResolution) lifecycle.Event {
			return lifecycle.Event{Kind: lifecycle.EvResolve, Actor: r.Actor, Resolution: r}
		}),
		register(ctx, o, order.UpdateRetry, func(r order.ActionRequest) lifecycle.Event {
			return lifecycle.Event{Kind: lifecycle.EvRetry, Actor: r.Actor}
		}),
		register(ctx, o, order.UpdateOps, func(r order.OpsRequest) lifecycle.Event {
			return lifecycle.Event{Kind: lifecycle.EvOps, Actor: r.Actor, Ops: r}
		}),
		registerAsking(ctx, o, order.UpdateRenew, func(r order.RenewalRequest) lifecycle.Event {
			return lifecycle.Event{Kind: lifecycle.EvRenew, Actor: r.Actor, Renewal: r}
		}, func(ctx workflow.Context, r order.RenewalRequest) error {
			if r.Change == nil {
				return nil
			}
			return o.checkChange(ctx, *r.Change) // a renewal with a change: the seller says first whether it can be done
		}),
		register(ctx, o, order.UpdateUnsubscribe, func(r order.UnsubscribeRequest) lifecycle.Event {
			return lifecycle.Event{Kind: lifecycle.EvUnsubscribe, Actor: r.Actor, Unsubscribe: r}
		}),
		register(ctx, o, order.UpdateChange, func(r order.ChangeRequest) lifecycle.Event {
			return lifecycle.Event{Kind: lifecycle.EvChange, Actor: r.Actor, Change: r}
		}),
		register(ctx, o, order.UpdateConvert, func(r order.ConversionRequest) lifecycle.Event {
			return lifecycle.Event{Kind: lifecycle.EvConvert, Actor: r.Actor, Convert: r}
		}),
		register(ctx, o, order.UpdateWithdrawRenewal, func(r order.RenewalWithdrawal) lifecycle.Event {
			return lifecycle.Event{Kind: lifecycle.EvWithdraw, Actor: r.Actor, Withdraw: r}
		}),
		workflow.SetUpdateHandlerWithOptions(ctx, order.UpdateAppeal,
			func(ctx workflow.Context, req order.AppealRequest) (order.AppealAnswer, error) {
				r, err := o.submit(ctx, lifecycle.Event{Kind: lifecycle.EvAppeal, Actor: req.Actor, Appeal: req})
				if err != nil || r.err != nil {
					return order.AppealAnswer{}, firstErr(err, r)
				}
				return order.AppealAnswer{AppealID: r.view.Appeal.AppealID, Order: r.view}, nil
			},
			workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req order.AppealRequest) error {
				return asApplicationError(lifecycle.Check(&o.st, lifecycle.Event{Kind: lifecycle.EvAppeal, Actor: req.Actor, Appeal: req,
					At: workflow.Now(ctx)}))
			}}),
	}
	for _, err := range regs {
		if err != nil {
			return err
		}
	}
	return nil
}

// register sets the handler and validator of an update whose answer is the order.
func register[T any](ctx workflow.Context, o *orderImpl, name string, toEvent func(T) lifecycle.Event) error {
	return registerAsking(ctx, o, name, toEvent, nil)
}

// registerAsking is register with a question the handler asks before the loop takes the
// event (ask, when not nil, may run activities; its error answers the update).
func registerAsking[T any](ctx workflow.Context, o *orderImpl, name string, toEvent func(T) lifecycle.Event,
	ask func(workflow.Context, T) error) error {
	return workflow.SetUpdateHandlerWithOptions(ctx, name,
		func(ctx workflow.Context, req T) (order.View, error) {
			if ask != nil {
				if err := ask(ctx, req); err != nil {
					return order.View{}, err
				}
			}
			r, err := o.submit(ctx, toEvent(req))
			if err != nil || r.err != nil {
				return order.View{}, firstErr(err, r)
			}
			return r.view, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req T) error {
			// The check sees the time the loop would (an actual open time in the future is
			// refused by it).
			ev := toEvent(req)
			ev.At = workflow.Now(ctx)
			return asApplicationError(lifecycle.Check(&o.st, ev))
		}})
}

// submit hands an event to the loop and waits until the loop has taken it.
func (o *orderImpl) submit(ctx workflow.Context, ev lifecycle.Event) (*request, error) {
	r := &request{ev: ev}
	o.inbox.Send(ctx, r)
	return r, workflow.Await(ctx, func() bool { return r.done })
}

func firstErr(err error, r *request) error {
	if err != nil {
		return err
	}
	return r.err
}

// publish upserts the search attributes that changed and sets the current details the
// Temporal UI shows.
func (o *orderImpl) publish(ctx workflow.Context) {
	v := o.view
	var tier int64
	if o.st.AppealOpen() {
		tier = int64(o.st.Appeal.Tier)
	}
	var next time.Time
	if c, ok := o.st.Clocks.Next(); ok {
		next = c.At
	}
	attrs := []loop.Attr{
		loop.Keyword(searchattr.OrderStatus, string(v.Status)),
		loop.Keyword(searchattr.WaitingOn, string(v.WaitingOn)),
		loop.Bool(searchattr.NeedsAttention, v.NeedsAttention),
		loop.Bool(searchattr.AppealOpen, o.st.AppealOpen()),
		loop.Int(searchattr.AppealTier, tier),
		loop.Time(searchattr.NextDeadline, next),
	}
	if o.st.Rules >= lifecycle.RulesOps {
		attrs = append(attrs, loop.OptionalKeyword(searchattr.AttentionCause, v.AttentionCause))
	}
	o.published.Upsert(ctx, o.logger, attrs...)
	workflow.SetCurrentDetails(ctx, lifecycle.Details(&o.st, v))
}

// checkChange asks the seller whether a renewal's change can be done (changeInstanceCheck),
// in the update's own handler: billing waits for the answer, and a refusal is 409
// change_refused with the seller's reason.
func (o *orderImpl) checkChange(ctx workflow.Context, c order.RenewalChange) error {
	in, w := o.st.In, o.st.In.Windows
	call := activities.SellerCall{OrderID: in.OrderID, OrderLineID: in.OrderLineID, SellerID: in.SellerID, ProductID: in.ProductID,
		InstanceID: o.st.InstanceID, MaxAttempts: w.SellerCall.Attempts}
	var answer activities.ChangeCheck
	err := workflow.ExecuteActivity(loop.Seller(ctx, w.SellerCall, "changeInstanceCheck at the seller"), seller.ChangeInstanceCheck, call,
		activities.ProductInfo{ProductID: c.ProductID, SKUCode: c.SKUCode, Quantity: c.Quantity}).Get(ctx, &answer)
	if err != nil {
		msg := err.Error()
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			msg = appErr.Message()
		}
		return temporal.NewApplicationError("the seller could not be asked whether the change can be done: "+msg, order.ErrChangeRefused)
	}
	if !answer.Feasible {
		return temporal.NewApplicationError("the seller refuses the change: "+answer.Reason, order.ErrChangeRefused)
	}
	return nil
}
