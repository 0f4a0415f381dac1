package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/internal/order"
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
		register(ctx, o, order.UpdateAccept, func(r order.ActionRequest) Event { return Event{Kind: EvAccept, Actor: r.Actor} }),
		register(ctx, o, order.UpdateReject, func(r order.ActionRequest) Event {
			return Event{Kind: EvReject, Actor: r.Actor, Reason: r.Reason}
		}),
		register(ctx, o, order.UpdateDeliver, func(r order.DeliveryRequest) Event {
			return Event{Kind: EvDeliver, Actor: r.Actor, Note: r.Note}
		}),
		register(ctx, o, order.UpdateDeploy, func(r order.DeploymentReport) Event {
			return Event{Kind: EvDeploy, Actor: r.Actor, Deploy: r}
		}),
		register(ctx, o, order.UpdateShip, func(r order.ShipmentRequest) Event {
			return Event{Kind: EvShip, Actor: r.Actor, Shipment: r}
		}),
		register(ctx, o, order.UpdateSignoff, func(r order.SignoffRequest) Event {
			return Event{Kind: EvSignoff, Actor: r.Actor, SignedAt: r.SignedAt}
		}),
		register(ctx, o, order.UpdateLicense, func(r order.LicenseDelivery) Event {
			return Event{Kind: EvLicense, Actor: r.Actor, License: r.License}
		}),
		register(ctx, o, order.UpdateResolve, func(r order.AppealResolution) Event {
			return Event{Kind: EvResolve, Actor: r.Actor, Resolution: r}
		}),
		register(ctx, o, order.UpdateRetry, func(r order.ActionRequest) Event { return Event{Kind: EvRetry, Actor: r.Actor} }),
		register(ctx, o, order.UpdateRenew, func(r order.RenewalRequest) Event {
			return Event{Kind: EvRenew, Actor: r.Actor, Renewal: r}
		}),
		register(ctx, o, order.UpdateUnsubscribe, func(r order.UnsubscribeRequest) Event {
			return Event{Kind: EvUnsubscribe, Actor: r.Actor, Unsubscribe: r}
		}),
		workflow.SetUpdateHandlerWithOptions(ctx, order.UpdateAppeal,
			func(ctx workflow.Context, req order.AppealRequest) (order.AppealAnswer, error) {
				r, err := o.submit(ctx, Event{Kind: EvAppeal, Actor: req.Actor, Appeal: req})
				if err != nil || r.err != nil {
					return order.AppealAnswer{}, firstErr(err, r)
				}
				return order.AppealAnswer{AppealID: r.view.Appeal.AppealID, Order: r.view}, nil
			},
			workflow.UpdateHandlerOptions{Validator: func(req order.AppealRequest) error {
				return asApplicationError(Check(&o.st, Event{Kind: EvAppeal, Actor: req.Actor, Appeal: req}))
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
func register[T any](ctx workflow.Context, o *orderImpl, name string, toEvent func(T) Event) error {
	return workflow.SetUpdateHandlerWithOptions(ctx, name,
		func(ctx workflow.Context, req T) (order.View, error) {
			r, err := o.submit(ctx, toEvent(req))
			if err != nil || r.err != nil {
				return order.View{}, firstErr(err, r)
			}
			return r.view, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(req T) error {
			return asApplicationError(Check(&o.st, toEvent(req)))
		}})
}

// submit hands an event to the loop and waits until the loop has taken it.
func (o *orderImpl) submit(ctx workflow.Context, ev Event) (*request, error) {
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
// Temporal UI shows. Upserting only what changed keeps the history short.
func (o *orderImpl) publish(ctx workflow.Context) {
	v := o.view
	want := map[string]any{
		"OrderStatus": string(v.Status), "WaitingOn": string(v.WaitingOn), "NeedsAttention": v.NeedsAttention,
		"AppealOpen": o.st.AppealOpen(), "AppealTier": int64(0), "NextDeadline": time.Time{},
	}
	if o.st.AppealOpen() {
		want["AppealTier"] = int64(o.st.Appeal.Tier)
	}
	if c, ok := o.st.Clocks.Next(); ok {
		want["NextDeadline"] = c.At.UTC()
	}
	var updates []temporal.SearchAttributeUpdate
	for _, k := range []string{"OrderStatus", "WaitingOn", "NeedsAttention", "AppealOpen", "AppealTier", "NextDeadline"} {
		if prev, ok := o.published[k]; ok && prev == want[k] {
			continue
		}
		o.published[k] = want[k]
		switch k {
		case "OrderStatus":
			updates = append(updates, order.SAOrderStatus.ValueSet(want[k].(string)))
		case "WaitingOn":
			updates = append(updates, order.SAWaitingOn.ValueSet(want[k].(string)))
		case "NeedsAttention":
			updates = append(updates, order.SANeedsAttention.ValueSet(want[k].(bool)))
		case "AppealOpen":
			updates = append(updates, order.SAAppealOpen.ValueSet(want[k].(bool)))
		case "AppealTier":
			updates = append(updates, order.SAAppealTier.ValueSet(want[k].(int64)))
		case "NextDeadline":
			if t := want[k].(time.Time); t.IsZero() {
				updates = append(updates, order.SANextDeadline.ValueUnset())
			} else {
				updates = append(updates, order.SANextDeadline.ValueSet(t))
			}
		}
	}
	if len(updates) > 0 {
		if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
			o.logger.Warn("upsert search attributes", "error", err)
		}
	}
	workflow.SetCurrentDetails(ctx, currentDetails(&o.st, v))
}
