// Package sim is the deterministic simulation of the order back office's rules: a seeded
// generator drives the pure order machine (internal/lifecycle), the account machine
// (internal/arrears) and the books (internal/books: postings, usage pricing, statements)
// together, through random interleavings of every event any actor can send: buyers,
// sellers, ops, billing, the machines' own clocks, seller answers that come late, are
// refused, are lost after the work was done or say 000003, appeals at any moment,
// renewals, unsubscriptions, arrears and payments, usage pushes, statement runs and
// continue-as-new. Time moves in jumps, firing every deadline on the way in time order.
//
// After every step it checks the invariants of money, cases, holds, clocks and events
// (invariants.go): they are the specification of where features meet. A violation stops
// the run; the shrinker reduces its actions to a minimal sequence that still breaks the
// same invariant, printed with the seed, and each such sequence becomes a table test
// (regressions_test.go). It is TigerBeetle's VOPR and FoundationDB's simulation testing at
// the scale of one service: no Temporal, no database, only the machines, a clock and
// models of the sellers' and billing's answers.
package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cloudmarket/orders/internal/arrears"
	"github.com/cloudmarket/orders/internal/lifecycle"
	"github.com/cloudmarket/orders/internal/order"
)

// Config is one simulation's settings.
type Config struct {
	// Seed makes the run repeatable: the same seed, the same actions.
	Seed uint64
	// Steps is how many actions a run takes before it settles (default 400).
	Steps int
	// MaxOrders bounds the orders a run places (default 8).
	MaxOrders int
	// Legacy runs the rules before 2026-12 (lifecycle rules 0, the holds query of orders in
	// service only, statements that carry nothing, usage unchecked): what the simulation
	// found in them is what the 2026-12 rules fix.
	Legacy bool
}

func (c Config) rules() int {
	if c.Legacy {
		return 0
	}
	return lifecycle.RulesCurrent
}

func (c *Config) defaults() {
	if c.Steps <= 0 {
		c.Steps = 400
	}
	if c.MaxOrders <= 0 {
		c.MaxOrders = 8
	}
}

// Violation is an invariant found broken.
type Violation struct {
	Invariant string
	Detail    string
}

// String writes the violation as people read it.
func (v Violation) String() string { return v.Invariant + ": " + v.Detail }

// Result is what one run found.
type Result struct {
	Seed    uint64
	Actions []Action
	// Violation is the first invariant broken (nil: none); Step the action that broke it.
	Violation *Violation
	Step      int
}

// Run generates and runs one simulation from cfg.Seed, then settles it (settle.go) and
// checks the end state.
func Run(cfg Config, stats *Stats) Result {
	cfg.defaults()
	if stats == nil {
		stats = NewStats()
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	w := newWorld(cfg, stats)
	res := Result{Seed: cfg.Seed}
	for step := 0; step < cfg.Steps && !w.spent(); step++ {
		a := w.generate(rng)
		res.Actions = append(res.Actions, a)
		if v := w.step(a); v != nil {
			res.Violation, res.Step = v, len(res.Actions)-1
			return res
		}
	}
	if v := w.settle(); v != nil {
		res.Violation, res.Step = v, len(res.Actions)
		return res
	}
	stats.endRun(w)
	return res
}

// spent reports whether the run has nothing left to explore: it placed all its orders and
// every one has ended.
func (w *World) spent() bool {
	if len(w.orders) < w.cfg.MaxOrders {
		return false
	}
	for _, o := range w.orders {
		if !o.st.Done() {
			return false
		}
	}
	return true
}

// settle brings the run to rest (settleNext) and checks the end state.
func (w *World) settle() *Violation {
	for i := 0; ; i++ {
		a, more := w.settleNext()
		if !more {
			break
		}
		if i == settleLimit {
			return &Violation{Invariant: "clocks", Detail: "the run does not come to rest"}
		}
		if v := w.step(a); v != nil {
			return v
		}
	}
	return w.checkEnd()
}

// Replay runs a given sequence of actions (a shrunk one, a regression) and returns the
// first violation, if any, and the index of the action that broke it (len(actions): the
// settling or the end checks). The run settles and is checked at its end, as Run's are.
func Replay(cfg Config, actions []Action) (*Violation, int) {
	cfg.defaults()
	w := newWorld(cfg, NewStats())
	for i, a := range actions {
		if v := w.step(a); v != nil {
			return v, i
		}
	}
	return w.settle(), len(actions)
}

// step applies one action and checks every invariant.
func (w *World) step(a Action) *Violation {
	w.violations = w.violations[:0]
	if !w.apply(a) {
		return nil
	}
	w.stats.Steps++
	w.check()
	if len(w.violations) > 0 {
		v := w.violations[0]
		return &v
	}
	return nil
}

// apply carries out an action; false: it named nothing that exists (it does nothing).
func (w *World) apply(a Action) bool {
	switch a.Kind {
	case ActPlace:
		if len(w.orders) >= 64 {
			return false
		}
		w.place(a)
	case ActUpdate:
		o := w.order(a.O)
		if o == nil || o.st.Done() {
			return false
		}
		ev, ok := w.event(o, a)
		if !ok {
			return false
		}
		if a.Ev == lifecycle.EvRenew {
			o.renewals = max(o.renewals, renewalNumber(o, a.V>>2)) // billing handed out its ID
		}
		w.process(o, ev, true)
	case ActAnswer:
		o := w.order(a.O)
		if o == nil || len(o.inflight) == 0 {
			return false
		}
		w.answer(o, a)
	case ActAdvance:
		if a.D <= 0 {
			return false
		}
		w.advanceTo(w.now.Add(a.D))
	case ActNext:
		next, ok := w.nextDeadline()
		if !ok {
			return false
		}
		t := next.Add(time.Duration(a.V-1) * time.Nanosecond)
		if t.Before(w.now) {
			t = w.now
		}
		w.advanceTo(t)
	case ActArrears:
		c := a.C % customers
		if w.accounts[c] == nil {
			// Billing's signal-with-start.
			w.accounts[c] = &simAccount{a: arrears.Account{In: order.AccountInput{CustomerID: w.customerID(c), TimeScale: 1}, State: order.AccountNone, PerCase: !w.cfg.Legacy}}
		}
		amount := int64(1000 * (1 + a.V%3))
		w.account(c, arrears.Event{Kind: arrears.EvReported, Report: order.ArrearsReport{Amount: order.Money{Value: amount, Currency: currency},
			Since: w.now, Actor: order.Actor{Kind: order.ActorBilling, ID: "billing"}}})
	case ActPay:
		c := a.C % customers
		acc := w.accounts[c]
		if acc == nil {
			return false
		}
		m := order.Money{Value: acc.a.Outstanding.Value, Currency: currency}
		switch a.V % 4 {
		case 1:
			m.Value /= 2
		case 2:
			m.Value += 500
		case 3:
			m.Currency = "USD"
		}
		if m.Value <= 0 {
			m.Value = 100
		}
		w.account(c, arrears.Event{Kind: arrears.EvPaid, Payment: order.Payment{Amount: m, Actor: order.Actor{Kind: order.ActorBilling, ID: "billing"}}})
	case ActLevel:
		acc := w.accounts[a.C%customers]
		if acc == nil || !acc.level {
			return false
		}
		acc.level = false
		grace := []time.Duration{0, 24 * time.Hour, 7 * 24 * time.Hour}[a.V%3]
		retention := []time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 15 * 24 * time.Hour}[(a.V/3)%3]
		w.account(a.C%customers, arrears.Event{Kind: arrears.EvLevel, Grace: grace, Retention: retention})
	case ActTell:
		acc := w.accounts[a.C%customers]
		if acc == nil || !acc.telling {
			return false
		}
		w.tell(a.C % customers)
	case ActUsage:
		o := w.order(a.O)
		if o == nil {
			return false
		}
		w.pushUsage(o, a)
	case ActStatement:
		w.statement()
	case ActCAN:
		if a.O >= 0 {
			o := w.order(a.O)
			if o == nil || o.st.Done() || o.draining {
				return false
			}
			w.continueAsNew(o)
			return true
		}
		acc := w.accounts[a.C%customers]
		if acc == nil || acc.level || acc.telling {
			return false
		}
		w.accountContinueAsNew(a.C % customers)
	default:
		return false
	}
	return true
}

// Stats count what the simulation explored.
type Stats struct {
	Runs, Steps, Orders, ContinuedAsNew, Statements int
	// Applied and Refused count events by kind (and refusal code).
	Applied map[string]int
	Refused map[string]int
	// sequences are the distinct histories of orders (a hash of each order's events and
	// the statuses they led to).
	sequences map[uint64]struct{}
	// statuses are the distinct final statuses reached.
	Final map[order.Status]int
}

// NewStats returns empty counters.
func NewStats() *Stats {
	return &Stats{Applied: map[string]int{}, Refused: map[string]int{}, sequences: map[uint64]struct{}{}, Final: map[order.Status]int{}}
}

func (s *Stats) applied(kind string)       { s.Applied[kind]++ }
func (s *Stats) refusal(kind, code string) { s.Refused[kind+" "+code]++ }

func (s *Stats) endRun(w *World) {
	s.Runs++
	for _, o := range w.orders {
		s.sequences[o.trace] = struct{}{}
		if o.st.Done() {
			s.Final[o.st.Status()]++
		}
	}
}

// Sequences is how many distinct order histories the runs produced.
func (s *Stats) Sequences() int { return len(s.sequences) }

// Merge adds another's counts.
func (s *Stats) Merge(o *Stats) {
	s.Runs += o.Runs
	s.Steps += o.Steps
	s.Orders += o.Orders
	s.ContinuedAsNew += o.ContinuedAsNew
	s.Statements += o.Statements
	for k, v := range o.Applied {
		s.Applied[k] += v
	}
	for k, v := range o.Refused {
		s.Refused[k] += v
	}
	for k := range o.sequences {
		s.sequences[k] = struct{}{}
	}
	for k, v := range o.Final {
		s.Final[k] += v
	}
}

// Table writes the counts for people.
func (s *Stats) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "runs %d, steps %d, orders %d, distinct order histories %d, continue-as-new %d, statement runs %d\n",
		s.Runs, s.Steps, s.Orders, s.Sequences(), s.ContinuedAsNew, s.Statements)
	keys := func(m map[string]int) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	b.WriteString("events applied:")
	for _, k := range keys(s.Applied) {
		fmt.Fprintf(&b, " %s=%d", k, s.Applied[k])
	}
	b.WriteString("\nevents refused (by code):")
	for _, k := range keys(s.Refused) {
		fmt.Fprintf(&b, " %s=%d", strings.ReplaceAll(k, " ", ":"), s.Refused[k])
	}
	b.WriteString("\norders ended:")
	finals := make([]string, 0, len(s.Final))
	for k := range s.Final {
		finals = append(finals, string(k))
	}
	slices.Sort(finals)
	for _, k := range finals {
		fmt.Fprintf(&b, " %s=%d", k, s.Final[order.Status(k)])
	}
	b.WriteByte('\n')
	return b.String()
}

// Trace replays a sequence and writes, after each action, the action and every order's
// status, calls in flight and clocks: how a person reads what a shrunk sequence does.
func Trace(cfg Config, actions []Action, out func(string)) *Violation {
	cfg.defaults()
	w := newWorld(cfg, NewStats())
	show := func(prefix string) {
		for _, o := range w.orders {
			s := &o.st
			out(fmt.Sprintf("    %s %s %s/%s phase=%s inflight=%v calls=%v clocks=%v holds=%v appeal=%v attention=%q settlement=%s",
				prefix, o.id, s.In.ProductType, s.In.BillingMode, s.Phase, o.inflight, s.Calls, s.Clocks, s.Holds, s.AppealOpen(), s.Attention, s.Settlement.Status))
		}
		for c := range customers {
			if acc := w.accounts[c]; acc != nil {
				out(fmt.Sprintf("    %s c%d account=%s told=%s telling=%v(%s) targets=%v", prefix, c, acc.a.State, acc.a.Told, acc.telling, acc.a.Telling, acc.targets))
			}
		}
	}
	for i, a := range actions {
		out(fmt.Sprintf("%3d %s   (now %s)", i, a, w.now.Format(time.RFC3339)))
		v := w.step(a)
		show("")
		if v != nil {
			out("  VIOLATION " + v.String())
			return v
		}
	}
	out("settle")
	v := w.settle()
	show("")
	if v != nil {
		out("  VIOLATION " + v.String())
	}
	return v
}
