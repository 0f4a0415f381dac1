package orderflow

import (
	"errors"
	"strings"
	"unicode/utf8"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/lifecycle"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/sellerapi"
	"github.com/cloudmarket/orders/workflows/loop"
)

// Activity receivers. Their methods are referenced as method values (type-checked); the
// worker registers real instances under the same names (workflows.Register).
var (
	store  *activities.Store
	seller *activities.Seller
)

// running is a call in flight.
type running struct {
	kind   lifecycle.CallKind
	f      workflow.Future
	cancel workflow.CancelFunc
}

// abandon cancels the running attempt of a call ops retried while it was stuck: its answer
// is no longer awaited (the loop forgets it), and the call starts afresh.
func (o *orderImpl) abandon(k lifecycle.CallKind) {
	for i, rc := range o.running {
		if rc.kind == k {
			rc.cancel()
			o.running = append(o.running[:i], o.running[i+1:]...)
			return
		}
	}
}

// resumeCalls starts, in a new run, the calls the state says are running: those the last
// run held back while it drained.
func (o *orderImpl) resumeCalls(ctx workflow.Context) {
	for _, c := range o.st.Calls {
		if c.State == lifecycle.CallRunning {
			o.startCall(ctx, c.Kind)
		}
	}
}

// startCall starts a call as an activity that runs beside the loop: while it retries,
// clocks and updates go on.
func (o *orderImpl) startCall(ctx workflow.Context, k lifecycle.CallKind) {
	ctx, cancel := workflow.WithCancel(ctx)
	w, in := o.st.In.Windows, o.st.In
	call := activities.SellerCall{
		OrderID: in.OrderID, OrderLineID: in.OrderLineID, SellerID: in.SellerID, ProductID: in.ProductID,
		InstanceID: o.st.InstanceID, KeepLicense: in.ProductType == order.TypeLicense,
	}
	if f, ok := o.startCodeCall(ctx, k, call); ok {
		o.running = append(o.running, &running{kind: k, f: f, cancel: cancel})
		return
	}
	var f workflow.Future
	switch k {
	case lifecycle.CallLevel:
		f = workflow.ExecuteLocalActivity(loop.Lookup(ctx, "customer level: "+o.st.LevelFor),
			store.CustomerClocks, o.st.In.CustomerID, o.st.In.Windows.TimeScale)
	case lifecycle.CallNewInstance, lifecycle.CallRecover:
		call.MaxAttempts = w.NewInstance.Attempts
		summary := "newInstance at the seller"
		if k == lifecycle.CallRecover {
			summary = "newInstance again: find what to release"
		}
		f = workflow.ExecuteActivity(loop.Seller(ctx, w.NewInstance, summary), seller.NewInstance, call)
	case lifecycle.CallQuery:
		call.MaxAttempts = w.Poll.Attempts
		f = workflow.ExecuteActivity(loop.Seller(ctx, w.Poll, "queryInstance: poll until ready"), seller.QueryInstance, call)
	case lifecycle.CallFreeze, lifecycle.CallUnfreeze:
		call.MaxAttempts = w.SellerCall.Attempts
		status, summary := sellerapi.StatusFreeze, "FREEZE at the seller"
		if k == lifecycle.CallUnfreeze {
			status, summary = sellerapi.StatusUnfreeze, "UNFREEZE at the seller"
		}
		f = workflow.ExecuteActivity(loop.Seller(ctx, w.SellerCall, summary), seller.UpdateInstanceStatus, call, status)
	case lifecycle.CallRelease:
		call.MaxAttempts = w.SellerCall.Attempts
		if u := o.st.Unsubscription; u != nil && u.UnsubscribeOrderID != "" {
			call.About = &activities.OtherOrder{OrderID: u.UnsubscribeOrderID, OrderLineID: u.UnsubscribeOrderLineID}
		}
		f = workflow.ExecuteActivity(loop.Seller(ctx, w.SellerCall, "releaseInstance at the seller"), seller.ReleaseInstance, call)
	case lifecycle.CallNotify:
		f = startNotify(ctx, w, call)
	case lifecycle.CallUpgrade:
		f = o.startUpgrade(ctx, call)
	case lifecycle.CallRefresh:
		r := o.st.Refresh
		call.MaxAttempts = w.SellerCall.Attempts
		call.About = &activities.OtherOrder{OrderID: r.RenewalOrderID, OrderLineID: r.RenewalOrderLineID}
		call.ExpireTime = &r.ExpireTime
		call.Scene = sellerapi.Scene(r.Scene) // empty: RENEWAL
		if r.Change != nil {
			call.NewProductID = r.Change.ProductID // RENEWAL_CHANGE
		}
		summary := "refreshInstance at the seller: renewal " + r.RenewalOrderID
		switch {
		case r.RenewalOrderID == in.OrderID:
			summary = "refreshInstance at the seller: validity from the acceptance"
		case r.Scene == order.RefreshSceneWithdrawal:
			summary = "refreshInstance at the seller: renewal period taken back (" + r.RenewalOrderID + ")"
		}
		f = workflow.ExecuteActivity(loop.Seller(ctx, w.SellerCall, summary), seller.RefreshInstance, call)
	}
	o.running = append(o.running, &running{kind: k, f: f, cancel: cancel})
}

// startNotify is orderNotify's activity (a paid order, for a product that asks).
func startNotify(ctx workflow.Context, w order.Windows, call activities.SellerCall) workflow.Future {
	call.MaxAttempts = w.SellerCall.Attempts
	return workflow.ExecuteActivity(loop.Seller(ctx, w.SellerCall, "orderNotify at the seller"), seller.OrderNotify, call)
}

// finished turns a finished call into an event.
func (o *orderImpl) finished(ctx workflow.Context, rc *running, f workflow.Future) error {
	for i, x := range o.running {
		if x == rc {
			o.running = append(o.running[:i], o.running[i+1:]...)
			break
		}
	}
	ev := lifecycle.Event{Kind: lifecycle.EvResult, Result: resultOf(ctx, rc.kind, f)}
	if late := o.st.Phase.Final() && o.st.Phase != order.PhaseCancelled; late && (rc.kind == lifecycle.CallNewInstance || rc.kind == lifecycle.CallQuery) {
		// Before this change a late result released the instance even of a completed
		// order; histories recorded then replay that way.
		// Orders whose input carries their rules were placed long after the change.
		ev.KeepLateInstance = o.st.In.Rules > 0 || workflow.GetVersion(ctx, ChangeLateResultKept, workflow.DefaultVersion, 1) >= 1
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

func resultOf(ctx workflow.Context, k lifecycle.CallKind, f workflow.Future) lifecycle.CallResult {
	r := lifecycle.CallResult{Call: k}
	var err error
	if k == lifecycle.CallLevel {
		var c activities.Clocks
		err = f.Get(ctx, &c)
		r.Grace, r.Retention = c.Grace, c.Retention
	} else {
		var inst activities.Instance
		err = f.Get(ctx, &inst)
		r.InstanceID, r.FrontEndURL, r.License = inst.InstanceID, inst.FrontEndURL, inst.License
		r.Pending = err == nil && !inst.Ready && (k == lifecycle.CallNewInstance || k == lifecycle.CallRecover)
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
		r.ErrorText = errorText(appErr.Message())
	}
	return r
}

// maxErrorText bounds the error text an order carries (its state, view and audit line).
const maxErrorText = 300

// errorText is an activity failure's message as ops read it: one line, bounded. The seller
// client's messages name the call and endpoint and never a key (internal/sellerapi).
func errorText(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// startUpgrade is upgradeInstance's activity for the pending change order, retried like
// newInstance (about hourly for 3 hours); its failure fails the change, not the order.
func (o *orderImpl) startUpgrade(ctx workflow.Context, call activities.SellerCall) workflow.Future {
	w := o.st.In.Windows
	call.MaxAttempts = w.NewInstance.Attempts
	id := ""
	for _, c := range o.st.Changes {
		if c.State == order.ChangePending {
			call.About = &activities.OtherOrder{OrderID: c.ChangeOrderID, OrderLineID: c.ChangeOrderLineID}
			id = c.ChangeOrderID
		}
	}
	return workflow.ExecuteActivity(loop.Seller(ctx, w.NewInstance, "upgradeInstance at the seller: change "+id), seller.UpgradeInstance, call)
}
