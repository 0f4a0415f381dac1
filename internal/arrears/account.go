// Package arrears is the account machine: a customer's arrears (order-states.md, section
// 4) as pure state and rules, like the order's (internal/lifecycle): billing's reports and
// payments, the level's grace and retention deadlines, and what the customer's pay-per-use
// orders must be told (hold, free, release). It imports only the domain vocabulary; the
// Temporal loop is workflows/accountflow, and the simulation (internal/sim) drives it with
// the orders it holds.
package arrears

import (
	"strconv"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// Account is the account workflow's whole state.
type Account struct {
	In    order.AccountInput `json:"in"`
	State order.AccountState `json:"state"`
	// Cases counts arrears episodes; CaseID names the current one (AR<n>).
	Cases       int         `json:"cases"`
	CaseID      string      `json:"caseId,omitempty"`
	Outstanding order.Money `json:"outstanding"`
	Since       *time.Time  `json:"since,omitempty"`
	// GraceEnds and RetentionEnds are the deadlines on the workflow's clock.
	GraceEnds     *time.Time `json:"graceEnds,omitempty"`
	RetentionEnds *time.Time `json:"retentionEnds,omitempty"`
	// LevelFor is what a running level lookup is for (grace or retention).
	LevelFor string `json:"levelFor,omitempty"`
	// Told is the last hold action the orders have all been told; Telling the one being
	// told now ("" for none). One at a time: the next follows when the last is done.
	Told    order.ArrearsAction `json:"told,omitempty"`
	Telling order.ArrearsAction `json:"telling,omitempty"`
	// PerCase (set when the account workflow starts, behind the version marker
	// accountflow.ChangeToldPerCase) makes a hold told for one arrears case not count for
	// the next: a freeze told while a new case began lists the orders of before, so the new
	// case's freeze is told again (an order placed in between would never be held).
	// ToldCase and TellingCase are the cases of Told and Telling.
	PerCase     bool   `json:"perCase,omitempty"`
	ToldCase    string `json:"toldCase,omitempty"`
	TellingCase string `json:"tellingCase,omitempty"`
}

// EventKind names what happened to an account.
type EventKind string

// Account events.
const (
	EvReported EventKind = "reported" // billing: arrears
	EvPaid     EventKind = "paid"     // billing: a payment
	EvDeadline EventKind = "deadline" // the grace or the retention ran out
	EvLevel    EventKind = "level"    // the level lookup answered
	EvTold     EventKind = "told"     // the orders were all told Telling
	// EvOverride: an order says ops lifted its arrears hold by hand, or put it back.
	EvOverride EventKind = "override"
)

// Event is one thing that happened to the account.
type Event struct {
	Kind    EventKind
	At      time.Time
	Report  order.ArrearsReport
	Payment order.Payment
	// Grace and Retention answer EvLevel.
	Grace, Retention time.Duration
	// Override is EvOverride's word from the order.
	Override order.HoldOverride
}

// Outcome is what applying an event produced: audit steps, a level lookup to make,
// a hold action to tell the orders.
type Outcome struct {
	Steps       []order.AccountStep
	LevelLookup bool
	Tell        order.ArrearsAction
}

// Check refuses what the account cannot take: a report or payment in another
// currency than the arrears outstanding, or not positive. The API checks the same against
// the read model; a signal that slips through is logged and dropped.
func Check(a *Account, ev Event) error {
	var m order.Money
	switch ev.Kind {
	case EvReported:
		m = ev.Report.Amount
	case EvPaid:
		m = ev.Payment.Amount
	default:
		return nil
	}
	if m.Value <= 0 {
		return invalid("the amount must be positive")
	}
	if a.Outstanding.Currency != "" && a.Outstanding.Value > 0 && m.Currency != a.Outstanding.Currency {
		return invalid("the arrears outstanding are in %s, not %s", a.Outstanding.Currency, m.Currency)
	}
	return nil
}

// Apply applies a checked event.
func Apply(a *Account, ev Event) Outcome {
	var o Outcome
	switch ev.Kind {
	case EvReported:
		a.reported(ev, &o)
	case EvPaid:
		a.paid(ev, &o)
	case EvDeadline:
		switch a.State {
		case order.AccountGrace:
			a.lookUp(&o, levelForRetention) // the retention is the level's when it starts
		case order.AccountFrozen:
			a.step(&o, "released", order.AccountReleased, order.Money{}, timer, func() { a.RetentionEnds = nil })
		}
	case EvLevel:
		a.levelRead(ev, &o)
	case EvOverride:
		ov := ev.Override
		a.step(&o, order.AccountStepOrderOverride, a.State, order.Money{}, ov.Actor, nil)
		o.Steps[len(o.Steps)-1].Detail = map[string]string{"orderId": ov.OrderID, "held": strconv.FormatBool(ov.Held), "reason": ov.Reason}
	case EvTold:
		a.Told, a.Telling = a.Telling, ""
		a.ToldCase, a.TellingCase = a.TellingCase, ""
	}
	if a.Telling == "" {
		want := a.wanted()
		stale := a.PerCase && want != order.ArrearsUnfreeze && a.ToldCase != a.CaseID
		if want != "" && (want != a.Told || stale) {
			a.Telling, o.Tell = want, want
			if a.PerCase {
				a.TellingCase = a.CaseID
			}
		}
	}
	return o
}

// wanted is what the orders should have been told last, given the state.
func (a *Account) wanted() order.ArrearsAction {
	switch a.State {
	case order.AccountFrozen:
		return order.ArrearsFreeze
	case order.AccountReleased:
		return order.ArrearsRelease
	}
	// none or grace: orders frozen by this account are freed; released ones stay released.
	if a.Told == order.ArrearsFreeze {
		return order.ArrearsUnfreeze
	}
	return a.Told
}

func (a *Account) reported(ev Event, o *Outcome) {
	r := ev.Report
	if a.State == order.AccountNone {
		a.Cases++
		a.CaseID = "AR" + strconv.Itoa(a.Cases)
		since := r.Since.UTC()
		a.step(o, order.AccountStepReported, order.AccountGrace, r.Amount, r.Actor, func() {
			a.Outstanding, a.Since = r.Amount, &since
		})
		a.lookUp(o, levelForGrace)
		return
	}
	// More arrears: added up, deadlines unchanged.
	a.step(o, order.AccountStepAdded, a.State, r.Amount, r.Actor, func() { a.Outstanding.Value += r.Amount.Value })
}

func (a *Account) paid(ev Event, o *Outcome) {
	p := ev.Payment
	if a.State == order.AccountNone {
		a.step(o, order.AccountStepPaymentNoDebt, a.State, p.Amount, p.Actor, nil)
		return
	}
	if p.Amount.Value < a.Outstanding.Value {
		a.step(o, order.AccountStepPaymentPartial, a.State, p.Amount, p.Actor, func() { a.Outstanding.Value -= p.Amount.Value })
		return
	}
	a.step(o, order.AccountStepPaid, order.AccountNone, p.Amount, p.Actor, func() {
		a.Outstanding = order.Money{Currency: a.Outstanding.Currency}
		a.Since, a.GraceEnds, a.RetentionEnds, a.LevelFor = nil, nil, nil, ""
	})
}

func (a *Account) lookUp(o *Outcome, what string) {
	a.LevelFor = what
	o.LevelLookup = true
}

// levelRead starts the period the lookup was for, unless a payment made it moot. A grace
// of zero freezes at once.
func (a *Account) levelRead(ev Event, o *Outcome) {
	what := a.LevelFor
	a.LevelFor = ""
	switch {
	case what == levelForGrace && a.State == order.AccountGrace:
		if ev.Grace <= 0 {
			a.lookUp(o, levelForRetention)
			return
		}
		at := ev.At.Add(ev.Grace)
		a.step(o, order.AccountStepGraceStarted, order.AccountGrace, order.Money{}, timer, func() { a.GraceEnds = &at })
	case what == levelForRetention && a.State == order.AccountGrace:
		at := ev.At.Add(ev.Retention)
		a.step(o, order.AccountStepFrozen, order.AccountFrozen, order.Money{}, timer, func() { a.GraceEnds, a.RetentionEnds = nil, &at })
	}
}

// Deadline is the account's running deadline, if any.
func (a *Account) Deadline() (time.Time, bool) {
	switch {
	case a.State == order.AccountGrace && a.GraceEnds != nil && a.LevelFor == "":
		return *a.GraceEnds, true
	case a.State == order.AccountFrozen && a.RetentionEnds != nil:
		return *a.RetentionEnds, true
	}
	return time.Time{}, false
}

func (a *Account) step(o *Outcome, name order.AccountStepName, to order.AccountState, m order.Money, by order.Actor, change func()) {
	from := a.State
	if change != nil {
		change()
	}
	a.State = to
	o.Steps = append(o.Steps, order.AccountStep{Event: name, From: from, To: to, Amount: m, Actor: by})
}

// View is the account as the API shows it.
func View(a *Account, now time.Time) order.AccountView {
	return order.AccountView{
		CustomerID: a.In.CustomerID, State: a.State, CaseID: a.CaseID, Outstanding: a.Outstanding,
		Since: a.Since, GraceEnds: a.GraceEnds, RetentionEnds: a.RetentionEnds, UpdatedAt: now,
	}
}

// What a level lookup is for.
const (
	levelForGrace     = "grace"
	levelForRetention = "retention"
)

// timer is the actor of what the account's own deadlines do.
var timer = order.Actor{Kind: order.ActorTimer}

func invalid(format string, args ...any) *order.Refusal {
	return order.Refuse(order.ErrInvalidTransition, format, args...)
}
