package sim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/cloudmarket/orders/internal/arrears"
	"github.com/cloudmarket/orders/internal/books"
	"github.com/cloudmarket/orders/internal/lifecycle"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/policy"
	"github.com/cloudmarket/orders/internal/usage"
)

// The world a simulation runs: the orders (each the order machine as its Temporal loop
// would run it: the calls it started in flight, continue-as-new), the customers' accounts
// (the account machine, its level lookup and its hold activity), the books, the sellers'
// side of each order, and a clock that moves in jumps. Everything here mirrors what the
// loops and activities do around the pure machines; nothing decides a rule of its own.

var epoch = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	customers = 2
	currency  = "CNY"
	unitPrice = 25 // minor units per unit of usage
)

// simOrder is one order: the machine's state and the loop's bookkeeping around it.
type simOrder struct {
	id       string
	customer int
	st       lifecycle.State
	// inflight are the calls the loop started and whose results have not come (the
	// loop's own list: it may hold a call the machine no longer counts as running).
	inflight []lifecycle.CallKind
	// draining: continue-as-new was asked for while calls ran; new calls are held in the
	// state until the run ends (then resumeCalls starts them).
	draining bool
	seller   sellerSide

	// The truth the money is checked against: what the buyer paid (the order, its
	// renewals) and what billing refunded (an unsubscription); refundedAll once the whole
	// order was refunded (an appeal's refund, a cancellation).
	paid        int64
	unsubRefund int64
	refundedAll bool
	// usage stored for the order's instance.
	usage []usage.Period
	// trace is a running hash of what happened to the order, for counting distinct
	// sequences.
	trace uint64
	// renewals counts renewal IDs handed out.
	renewals int
}

// sellerSide is what the seller did for an order (its idempotent production).
type sellerSide struct {
	made, frozen, released bool
}

// simAccount is a customer's account workflow.
type simAccount struct {
	a arrears.Account
	// level: the level lookup is in flight.
	level bool
	// telling: the hold activity runs; targets are the orders it signals (listed when it
	// starts), next the one it signals next.
	telling bool
	listed  bool
	targets []int
	next    int
}

// World is one simulation run's state.
type World struct {
	cfg      Config
	now      time.Time
	orders   []*simOrder
	accounts [customers]*simAccount
	books    *books.Memory
	policy   *policy.Policy
	stats    *Stats
	// violations found by the last step.
	violations []Violation
	// stated: orders stated by the last statement run (for its checks).
	stated map[string]bool
}

func newWorld(cfg Config, stats *Stats) *World {
	return &World{cfg: cfg, now: epoch, books: books.NewMemory(), policy: policy.Default(), stats: stats}
}

func (w *World) violate(name, format string, args ...any) {
	w.violations = append(w.violations, Violation{Invariant: name, Detail: fmt.Sprintf(format, args...)})
}

func (w *World) order(i int) *simOrder {
	if i < 0 || i >= len(w.orders) {
		return nil
	}
	return w.orders[i]
}

func (w *World) customerID(c int) string { return fmt.Sprintf("c%d", c) }

func sellerOf(s *lifecycle.State) order.Actor {
	return order.Actor{Kind: order.ActorSeller, ID: s.In.SellerID}
}

// Shapes of an order: every product type x billing mode, supervised or not.
var (
	productTypes = []order.ProductType{order.TypeSaaS, order.TypeLicense, order.TypePackage, order.TypeHardware, order.TypeService}
	billingModes = []order.BillingMode{order.BillingMonthly, order.BillingYearly, order.BillingOneTime, order.BillingPayPerUse}
)

// place is the web tier's POST /v1/orders: the API refuses a pay-per-use order of a
// customer whose account is frozen or released (customer_in_arrears), else the workflow
// starts.
func (w *World) place(a Action) {
	c := ((a.C % customers) + customers) % customers
	typ := productTypes[a.V%len(productTypes)]
	mode := billingModes[(a.V/len(productTypes))%len(billingModes)]
	supervised := typ.SupervisedByDefault()
	if (a.V/20)%3 == 2 {
		supervised = !supervised
	}
	if mode == order.BillingPayPerUse {
		if acc := w.accounts[c]; acc != nil && (acc.a.State == order.AccountFrozen || acc.a.State == order.AccountReleased) {
			w.stats.refusal("place", "customer_in_arrears")
			return
		}
	}
	id := fmt.Sprintf("O%d", len(w.orders))
	seller := fmt.Sprintf("s%d", (a.V/60)%2)
	bps := 1500
	if (a.V/120)%2 == 1 {
		bps = 333
	}
	in := order.StartInput{
		OrderID: id, OrderLineID: id + "-1", CustomerID: w.customerID(c), ProductID: "p-" + string(typ), SellerID: seller,
		ProductType: typ, BillingMode: mode, Supervised: supervised, Quantity: 1,
		Amount: order.Money{Value: 9900, Currency: currency}, CommissionBps: bps,
		PlacedAt: w.now, Fingerprint: "fp-" + id, Windows: w.policy.Windows(typ),
		// A third of the products ask to hear of paid orders (orderNotify).
		NotifyOrders: !w.cfg.Legacy && (a.V/240)%3 == 2,
	}
	switch mode {
	case order.BillingMonthly:
		exp := w.now.AddDate(0, 1, 0)
		in.ExpireTime = &exp
	case order.BillingYearly:
		exp := w.now.AddDate(1, 0, 0)
		in.ExpireTime = &exp
	case order.BillingPayPerUse:
		in.UnitPrice = &order.Money{Value: unitPrice, Currency: currency}
	}
	if !w.cfg.Legacy && mode.Periodic() && (a.V/720)%4 == 3 {
		// A free trial of 14 days: nothing paid, converted by billing or released.
		exp := w.now.AddDate(0, 0, 14)
		in.OrderType, in.ExpireTime, in.Amount.Value = order.OrderTypeTrial, &exp, 0
	}
	if !w.cfg.Legacy && typ == order.TypeLicense && (a.V/2880)%2 == 1 {
		codeOrder(&in, w.now)
	}
	o := &simOrder{id: id, customer: c, st: lifecycle.State{In: in, Rules: w.cfg.rules()}, paid: in.Amount.Value}
	w.orders = append(w.orders, o)
	w.stats.Orders++
	w.process(o, lifecycle.Event{Kind: lifecycle.EvStart}, true)
}

// process is the loop's process and commit: check the event (a refusal answers it with a
// code), apply it, write the outcome to the books, start the calls it asks for.
func (w *World) process(o *simOrder, ev lifecycle.Event, party bool) {
	ev.At = w.now
	if err := lifecycle.Check(&o.st, ev); err != nil {
		var r *order.Refusal
		code := "none"
		if ok := asRefusal(err, &r); ok {
			code = r.Code
		}
		if !knownCodes[code] {
			w.violate("events", "order %s: %s refused without a stable code: %v", o.id, ev.Kind, err)
		}
		w.stats.refusal(string(ev.Kind), code)
		o.hash(string(ev.Kind) + "!" + code)
		return
	}
	var before []byte
	if party {
		before, _ = json.Marshal(&o.st)
	}
	out := lifecycle.Apply(&o.st, ev)
	w.stats.applied(string(ev.Kind))
	o.hash(string(ev.Kind) + ">" + string(o.st.Status()))
	if party && len(out.Steps) == 0 && len(out.Postings) == 0 && len(out.Calls) == 0 && out.Noop == "" {
		after, _ := json.Marshal(&o.st)
		if string(before) == string(after) {
			w.violate("events", "order %s: %s taken in %s and dropped silently: no step, no change, no reason", o.id, ev.Kind, o.st.Status())
		}
	}
	for _, st := range out.Steps {
		switch st.Event {
		case order.StepRefunded:
			if st.Detail["part"] == "true" { // ops cancelled with a part refund
				part, _ := strconv.ParseInt(st.Detail["refund"], 10, 64)
				o.unsubRefund += part
				break
			}
			o.refundedAll = true
		case order.StepRenewed:
			o.paid += o.renewalPaid(st)
		case order.StepChangeRequested:
			o.paid += o.st.Changes[len(o.st.Changes)-1].Settlement.Gross // the change order's money
		case order.StepChangeFailed:
			for _, c := range o.st.Changes {
				if c.ChangeOrderID == st.Detail["changeOrderId"] {
					o.unsubRefund += c.Settlement.Gross // refunded: the order goes on unchanged
				}
			}
		case order.StepConverted:
			o.paid += o.st.Renewals[len(o.st.Renewals)-1].Settlement.Gross // the formal order's money
		case order.StepRenewalWithdrawn:
			o.unsubRefund += o.renewalPaid(st) // the renewal's money goes back in full
		case order.StepUnsubscribed:
			if u := o.st.Unsubscription; u != nil {
				o.unsubRefund = u.Refund.Gross
			}
		}
	}
	if out.Appeal != nil && out.Appeal.Kind == order.AppealResolved && out.Appeal.Appeal.Outcome == order.OutcomeRefund {
		o.refundedAll = true
	}
	for _, p := range out.Postings {
		if p.Action == order.PostingPost {
			if r, ok := w.books.Row(o.id, p.Kind, p.Key); ok && r.Status.Posted() {
				w.violate("money", "order %s: %s line %q posted twice", o.id, p.Kind, p.Key)
			}
		}
		if err := w.books.Post(o.id, o.st.In.SellerID, p, w.now); err != nil {
			w.violate("money", "order %s: the books refuse %s %s %q: %v", o.id, p.Action, p.Kind, p.Key, err)
		}
	}
	for _, k := range out.Restart {
		// The loop abandons the running attempt: its answer never comes.
		if i := slices.Index(o.inflight, k); i >= 0 {
			o.inflight = slices.Delete(o.inflight, i, i+1)
		}
	}
	if !o.draining {
		o.inflight = append(o.inflight, out.Calls...)
		if out.LevelLookup {
			o.inflight = append(o.inflight, lifecycle.CallLevel)
		}
	}
	w.maybeContinue(o)
}

// renewalPaid is what the renewal just applied was paid.
func (o *simOrder) renewalPaid(st order.Step) int64 {
	for _, r := range o.st.Renewals {
		if r.RenewalOrderID == st.Detail["renewalOrderId"] {
			return r.Settlement.Gross
		}
	}
	return 0
}

func (o *simOrder) hash(token string) {
	h := o.trace
	if h == 0 {
		h = 14695981039346656037
	}
	for i := 0; i < len(token); i++ {
		h ^= uint64(token[i])
		h *= 1099511628211
	}
	h ^= '|'
	h *= 1099511628211
	o.trace = h
}

// continueAsNew is the loop's: once no call is in flight, the state goes through JSON into
// a new run, which starts the calls the state says are running.
func (w *World) continueAsNew(o *simOrder) {
	if len(o.inflight) > 0 {
		o.draining = true
		return
	}
	raw, err := json.Marshal(&o.st)
	if err != nil {
		w.violate("continue-as-new", "order %s: state does not encode: %v", o.id, err)
		return
	}
	var next lifecycle.State
	if err := json.Unmarshal(raw, &next); err != nil {
		w.violate("continue-as-new", "order %s: state does not decode: %v", o.id, err)
		return
	}
	again, _ := json.Marshal(&next)
	if string(again) != string(raw) {
		w.violate("continue-as-new", "order %s: state changes across continue-as-new:\n%s\n%s", o.id, raw, again)
	}
	o.st, o.draining = next, false
	for _, c := range o.st.Calls {
		if c.State == lifecycle.CallRunning {
			o.inflight = append(o.inflight, c.Kind)
		}
	}
	w.stats.ContinuedAsNew++
}

func (w *World) maybeContinue(o *simOrder) {
	if o.draining && len(o.inflight) == 0 {
		w.continueAsNew(o)
	}
}

// answer finishes one call in flight with the outcome the action says, as the seller (and
// the activity's retries) would have made it, and hands the result to the machine.
func (w *World) answer(o *simOrder, a Action) {
	if len(o.inflight) == 0 {
		return
	}
	i := a.V % len(o.inflight)
	k := o.inflight[i]
	o.inflight = slices.Delete(o.inflight, i, i+1)
	r := lifecycle.CallResult{Call: k}
	inst := "i-" + o.id
	ok := func() { r.OK = true }
	failed := func() { r.ErrorType = "WindowExhausted" }
	refused := func(t string) { r.Refused, r.ErrorType = true, t }
	sd := &o.seller
	if o.st.In.LicenseCode != nil && o.st.CodeActivatedAt != nil {
		sd.made = true // the seller's software activated the code: the seller knows it
	}
	switch k {
	case lifecycle.CallLevel:
		grace := []time.Duration{0, 24 * time.Hour, 7 * 24 * time.Hour}[a.V%3]
		retention := []time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 15 * 24 * time.Hour}[(a.V/3)%3]
		r.OK, r.Grace, r.Retention = true, grace, retention
	case lifecycle.CallNewInstance, lifecycle.CallRecover, lifecycle.CallQuery:
		switch a.Out {
		case "ok", "pending":
			sd.made = true
			r.OK, r.InstanceID = true, inst
			if a.Out == "pending" && k != lifecycle.CallQuery {
				r.Pending = true
			} else if o.st.In.ProductType == order.TypeLicense && (a.V/3)%2 == 0 {
				r.License = licence("a", "answer", w.now)
			}
		case "refused", "gone":
			if sd.made && k != lifecycle.CallQuery {
				// The seller made it before (a lost answer): its idempotency answers it.
				r.OK, r.InstanceID = true, inst
				break
			}
			refused("SellerRefused")
		case "lost":
			sd.made = true
			failed()
		default:
			failed()
		}
	case lifecycle.CallFreeze, lifecycle.CallUnfreeze:
		freeze := k == lifecycle.CallFreeze
		switch {
		case !sd.made || sd.released || a.Out == "gone":
			refused("InstanceNotFound")
		case a.Out == "ok" || a.Out == "pending":
			sd.frozen = freeze
			ok()
		case a.Out == "refused":
			refused("SellerRefused")
		case a.Out == "lost":
			sd.frozen = freeze
			failed()
		default:
			failed()
		}
	case lifecycle.CallRelease:
		switch a.Out {
		case "ok", "pending", "gone":
			sd.released, sd.frozen = true, false
			ok() // 000003: nothing left to release, done
		case "refused":
			refused("SellerRefused")
		case "lost":
			sd.released, sd.frozen = true, false
			failed()
		default:
			failed()
		}
	case lifecycle.CallUpgrade:
		switch a.Out {
		case "ok", "pending":
			ok()
		case "refused", "gone":
			refused("SellerRefused")
		default:
			failed()
		}
	case lifecycle.CallNotify:
		if a.Out == "failed" || a.Out == "lost" {
			failed()
		} else {
			ok()
		}
	case lifecycle.CallRefresh:
		switch {
		case !sd.made || sd.released:
			refused("InstanceNotFound")
		case a.Out == "ok" || a.Out == "pending":
			ok()
		default:
			failed()
		}
	}
	ev := lifecycle.Event{Kind: lifecycle.EvResult, Result: r}
	if o.st.Phase.Final() && o.st.Phase != order.PhaseCancelled && (k == lifecycle.CallNewInstance || k == lifecycle.CallQuery) {
		ev.KeepLateInstance = true // orderflow: version marker late-result-kept
	}
	o.hash("answer:" + string(k) + ":" + a.Out)
	w.process(o, ev, false)
}

func licence(v, via string, at time.Time) *order.LicenseRef {
	sum := "a"
	if v == "b" {
		sum = "b"
	}
	full := ""
	for range 64 {
		full += sum
	}
	return &order.LicenseRef{SHA256: full, Masked: "L…" + v, ReceivedAt: at, Via: via}
}

// fireDue fires every clock and account deadline due at w.now: each order's in time order
// (the loop's fireClocks), then each account's.
func (w *World) fireDue() {
	for _, o := range w.orders {
		for _, name := range o.st.Clocks.Due(w.now) {
			if !o.st.Clocks.Has(name) {
				continue
			}
			w.process(o, lifecycle.Event{Kind: lifecycle.EvClock, Clock: name}, false)
		}
	}
	for c, acc := range w.accounts {
		if acc == nil {
			continue
		}
		if at, ok := acc.a.Deadline(); ok && !at.After(w.now) {
			w.account(c, arrears.Event{Kind: arrears.EvDeadline})
		}
	}
}

// nextDeadline is the earliest deadline of any order or account.
func (w *World) nextDeadline() (time.Time, bool) {
	var best time.Time
	found := false
	consider := func(t time.Time) {
		if !found || t.Before(best) {
			best, found = t, true
		}
	}
	for _, o := range w.orders {
		if c, ok := o.st.Clocks.Next(); ok {
			consider(c.At)
		}
	}
	for _, acc := range w.accounts {
		if acc == nil {
			continue
		}
		if at, ok := acc.a.Deadline(); ok {
			consider(at)
		}
	}
	return best, found
}

// advanceTo moves time to t, firing every deadline on the way in time order.
func (w *World) advanceTo(t time.Time) {
	for range 10000 {
		next, ok := w.nextDeadline()
		if !ok || next.After(t) {
			break
		}
		if next.After(w.now) {
			w.now = next
		}
		w.fireDue()
	}
	if t.After(w.now) {
		w.now = t
	}
	w.fireDue()
}

// account applies an event to customer c's account, as its loop does, and starts what
// follows (the level lookup, the hold activity).
func (w *World) account(c int, ev arrears.Event) {
	acc := w.accounts[c]
	ev.At = w.now
	if err := arrears.Check(&acc.a, ev); err != nil {
		var r *order.Refusal
		code := "none"
		if asRefusal(err, &r) {
			code = r.Code
		}
		if !knownCodes[code] {
			w.violate("events", "account c%d: %s refused without a stable code: %v", c, ev.Kind, err)
		}
		w.stats.refusal("account:"+string(ev.Kind), code)
		return
	}
	out := arrears.Apply(&acc.a, ev)
	w.stats.applied("account:" + string(ev.Kind))
	if out.LevelLookup {
		acc.level = true
	}
	if out.Tell != "" {
		acc.telling, acc.listed, acc.targets, acc.next = true, false, nil, 0
	}
	for _, st := range out.Steps {
		if st.Event == order.AccountStepPaid {
			// The account's record posts the usage lines its arrears held back.
			if err := w.books.PostClearedUsage(func(id string) bool { return w.customerOf(id) == c }, w.now); err != nil {
				w.violate("money", "post cleared usage of c%d: %v", c, err)
			}
		}
	}
}

func (w *World) customerOf(orderID string) int {
	for _, o := range w.orders {
		if o.id == orderID {
			return o.customer
		}
	}
	return -1
}

// tell is one step of the account's hold activity: it lists the customer's pay-per-use
// orders when it starts (HoldOrders' query), then signals them one at a time; when all are
// told, the account hears it.
func (w *World) tell(c int) {
	acc := w.accounts[c]
	if acc == nil || !acc.telling {
		return
	}
	if !acc.listed {
		acc.listed = true
		for i, o := range w.orders {
			if o.customer != c || o.st.In.BillingMode != order.BillingPayPerUse {
				continue
			}
			if w.cfg.Legacy && o.st.Phase != order.PhaseInService {
				continue // the query before 2026-12 listed orders in service only
			}
			if !w.cfg.Legacy && o.st.Phase.Final() {
				continue
			}
			acc.targets = append(acc.targets, i)
		}
	}
	if acc.next < len(acc.targets) {
		o := w.orders[acc.targets[acc.next]]
		acc.next++
		action := acc.a.Telling
		by := order.Actor{Kind: order.ActorTimer}
		if action == order.ArrearsUnfreeze {
			by = order.Actor{Kind: order.ActorBilling}
		}
		sig := order.ArrearsSignal{Action: action, CaseID: acc.a.CaseID, Actor: by}
		if !o.st.Done() {
			w.process(o, lifecycle.Event{Kind: lifecycle.EvArrears, Actor: sig.Actor, Arrears: sig}, true)
		}
		return
	}
	acc.telling = false
	w.account(c, arrears.Event{Kind: arrears.EvTold})
}

// statement runs every seller's statement now: usage priced, cleared usage posted, then
// books.Statement over what is unstated.
func (w *World) statement() {
	w.stated = map[string]bool{}
	month := w.now.Format("2006-01")
	end := w.now.Add(time.Nanosecond)
	orderOf := func(id string) (books.UsageOrder, bool) {
		for _, o := range w.orders {
			if o.id == id {
				acc := w.accounts[o.customer]
				return books.UsageOrder{SellerID: o.st.In.SellerID, UnitPrice: unitPrice, Bps: o.st.In.CommissionBps, Currency: currency,
					InArrears: acc != nil && acc.a.State != order.AccountNone}, true
			}
		}
		return books.UsageOrder{}, false
	}
	appealOpen := func(id string) bool {
		if w.cfg.Legacy {
			return false // before 2026-12 statements carried nothing
		}
		for _, o := range w.orders {
			if o.id == id {
				return o.st.AppealOpen()
			}
		}
		return false
	}
	for _, seller := range []string{"s0", "s1"} {
		if err := w.books.PriceUsage(seller, month, end, orderOf, w.now); err != nil {
			w.violate("money", "price usage of %s: %v", seller, err)
		}
		if err := w.books.PostClearedUsage(func(id string) bool {
			acc := w.accounts[w.customerOf(id)]
			return acc == nil || acc.a.State == order.AccountNone
		}, w.now); err != nil {
			w.violate("money", "post cleared usage: %v", err)
		}
		st, err := w.books.State(seller, end, appealOpen, w.now)
		if err != nil {
			w.violate("money", "statement of %s: %v", seller, err)
		}
		for _, l := range st.Stated {
			w.stated[l.OrderID] = true
		}
	}
	w.stats.Statements++
	w.checkStatement()
}

// pushUsage is the seller's POST /v1/seller-api/usage for one record of order o: the API
// takes it when its instance is the order's and usage.Admit agrees (before 2026-12: when
// the instance was a pay-per-use order's).
func (w *World) pushUsage(o *simOrder, a Action) {
	if o.st.In.BillingMode != order.BillingPayPerUse || o.st.InstanceID == "" {
		w.stats.refusal("usage", string(usage.ReasonUnknownInstance))
		return
	}
	length := []time.Duration{0, time.Hour, 24 * time.Hour, 3 * 24 * time.Hour}[a.V%4]
	begin := w.now.Add(-a.D)
	if (a.V/4)%3 == 2 && len(o.usage) > 0 {
		last := o.usage[len(o.usage)-1]
		begin = last.Begin.Add(last.End.Sub(last.Begin) / 2) // overlaps the last one
	}
	end := begin.Add(length)
	if end.After(w.now) {
		end = w.now
		if begin.After(end) {
			begin = end
		}
	}
	p := usage.Period{Begin: begin, End: end}
	if !w.cfg.Legacy {
		v := lifecycle.View(&o.st, w.now)
		if reason := usage.Admit(p, usage.ServiceOf(v), o.usage); reason != "" {
			w.stats.refusal("usage", string(reason))
			return
		}
	}
	quantity := int64(1+a.V%7) * 10000
	o.usage = append(o.usage, p)
	w.books.AddUsage(o.id, end, quantity, unitPrice)
	w.stats.applied("usage")
}

func asRefusal(err error, r **order.Refusal) bool {
	x, ok := err.(*order.Refusal)
	if ok {
		*r = x
	}
	return ok
}

// knownCodes are the stable problem codes the machines refuse with (internal/order).
var knownCodes = map[string]bool{
	order.ErrInvalidTransition: true, order.ErrAppealOpen: true, order.ErrRejectionLimit: true,
	order.ErrLicenseMismatch: true, order.ErrAppealLimit: true, order.ErrLicenseCodeActivated: true,
}
