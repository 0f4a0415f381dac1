package soak

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudmarket/orders/internal/dev/stack"
)

// How long the soak keeps a killed process down before it starts it again, where the
// point of the fault is that the rest goes on without it: a history process (its shards
// move to the other one) and an API process (clients go on through the other, behind the
// proxy). Long enough for the membership to declare the history process faulty.
const (
	historyDownFor = 20 * time.Second
	apiDownFor     = 10 * time.Second
	// faultGap separates one scheduled fault's recovery from the next one's start.
	faultGap = 2 * time.Second
)

// outage is one fault: what was done to which service, when, and how long it was down
// (from the fault to the service being ready again).
type outage struct {
	service, what string
	began, ended  time.Time
	// transitions is how many order transitions happened while it was down (filled in
	// after the drive from the audit trail): orders going on through the fault.
	transitions int
}

// faults counts what the soak did to the stack.
type faults struct {
	startup                      time.Duration
	driveBegan                   time.Time
	resim                        func(context.Context) error // the sellers again at a restarted simulator
	simKnows                     string                      // a seller the soak registered at the simulator
	workerKills, unexpectedExits atomic.Int64
	mu                           sync.Mutex
	errs                         []string
	outages                      []*outage
	done                         map[string]bool // scheduled faults that happened
	simStateLost                 bool
	simOrders                    map[string]bool // orders with a live instance at the simulator when it was killed
}

// excused is the orders whose instance a restarted simulator forgot (nil if it forgot
// nothing).
func (f *faults) excused() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.simStateLost {
		return nil
	}
	return f.simOrders
}

func (f *faults) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, err.Error())
}

func (f *faults) record(o *outage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outages = append(f.outages, o)
}

// scheduled is one fault the soak injects once, when the share at of the scripts has
// finished.
type scheduled struct {
	name string
	at   float64
	// downFor > 0: the process stays down that long while the drive goes on; else it is
	// started again at once.
	downFor time.Duration
	// process names the victim (a Process of the stack); empty = PostgreSQL.
	process string
}

// schedule is the faults of a topology besides the random worker kills.
func schedule(t stack.Topology) []scheduled {
	if t == stack.Cluster {
		return []scheduled{
			{name: "SIGKILL history-1", at: 0.05, downFor: historyDownFor, process: "history-1"},
			{name: "PostgreSQL crash (immediate stop)", at: 0.20},
			{name: "SIGKILL matching", at: 0.30, process: "matching"},
			{name: "SIGKILL frontend", at: 0.40, process: "frontend"},
			{name: "SIGKILL api-1", at: 0.50, downFor: apiDownFor, process: "api-1"},
			{name: "SIGKILL sellersim", at: 0.60, process: "sellersim"},
		}
	}
	return []scheduled{
		{name: "PostgreSQL crash (immediate stop)", at: 0.2},
		{name: "SIGKILL temporal", at: 0.5, process: "temporal"},
	}
}

// missing names the faults that did not happen.
func (f *faults) missing(t stack.Topology) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, s := range schedule(t) {
		if !f.done[s.name] {
			out = append(out, s.name)
		}
	}
	if f.workerKills.Load() == 0 {
		out = append(out, "a worker SIGKILL")
	}
	return out
}

// pendingStart is a killed process to start again at a time.
type pendingStart struct {
	o   *outage
	at  time.Time
	sch scheduled
}

// injectFaults runs the topology's scheduled faults as the scripts finish, kills a worker
// (sometimes every worker) at random moments and restarts it, and restarts any process
// that died without being told to (counting it).
func injectFaults(ctx context.Context, st *soakStack, f *faults, drv *driver, total int, opts Options, rng *rand.Rand,
	began time.Time, log *slog.Logger) {
	f.done = map[string]bool{}
	plan := schedule(opts.Topology)
	nextKill := time.Now().Add(randBetween(rng, opts.KillEvery))
	var lastFault time.Time
	var pending []pendingStart
	downOnPurpose := map[string]bool{}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	// Restarts after the drive ended still happen: the checks need the whole stack.
	bg := context.WithoutCancel(ctx)
	defer func() {
		for _, p := range pending {
			startAgain(bg, st, f, p.o, p.sch, log)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		// A process down that the soak did not take down: count it and bring it back.
		for _, p := range st.Processes() {
			if p.Running() || downOnPurpose[p.Name()] || ctx.Err() != nil {
				continue
			}
			f.unexpectedExits.Add(1)
			f.fail(fmt.Errorf("%s exited on its own (see %s)", p.Name(), p.LogPath()))
			log.Error("a process exited on its own; restarting it", "process", p.Name())
			if err := p.Start(bg); err != nil {
				f.fail(err)
			}
		}
		now := time.Now()
		// Killed processes whose time down is over.
		for i := 0; i < len(pending); i++ {
			if now.Before(pending[i].at) {
				continue
			}
			p := pending[i]
			pending = append(pending[:i], pending[i+1:]...)
			i--
			startAgain(bg, st, f, p.o, p.sch, log)
			delete(downOnPurpose, p.sch.process)
			lastFault = time.Now()
		}
		finished := int(drv.done.Load())
		if len(plan) > 0 && finished >= int(plan[0].at*float64(total)) && time.Since(lastFault) >= faultGap && len(pending) == 0 {
			s := plan[0]
			plan = plan[1:]
			log.Info("fault", "what", s.name, "finished", finished)
			o := &outage{service: s.process, what: s.name, began: time.Now()}
			if s.process == "" {
				o.service = "postgresql"
				if _, err := st.RestartPostgres(bg, true); err != nil {
					f.fail(err)
					continue
				}
				o.ended = time.Now()
				f.record(o)
				f.markDone(s.name)
			} else {
				p := st.Process(s.process)
				if p == st.Sim {
					f.snapshotSim(bg, st)
				}
				if p == nil {
					f.fail(fmt.Errorf("%s: no process %s", s.name, s.process))
					continue
				}
				if err := p.Kill(); err != nil {
					f.fail(err)
					continue
				}
				if s.downFor > 0 {
					downOnPurpose[s.process] = true
					pending = append(pending, pendingStart{o: o, at: time.Now().Add(s.downFor), sch: s})
					continue
				}
				startAgain(bg, st, f, o, s, log)
			}
			lastFault = time.Now()
			continue
		}
		if now.After(nextKill) && len(st.Workers) > 0 {
			victims := []int{rng.IntN(len(st.Workers))}
			if rng.IntN(4) == 0 {
				victims = victims[:0]
				for i := range st.Workers {
					victims = append(victims, i)
				}
			}
			killed := time.Now()
			for _, i := range victims {
				if err := st.Workers[i].Kill(); err != nil {
					f.fail(err)
				}
				f.workerKills.Add(1)
			}
			log.Info("SIGKILLed workers", "workers", len(victims), "kills", f.workerKills.Load())
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(rng.Int64N(int64(3 * time.Second)))):
			}
			for _, i := range victims {
				o := &outage{service: st.Workers[i].Name(), what: "SIGKILL worker", began: killed}
				if err := st.Workers[i].Start(bg); err != nil {
					f.fail(err)
					continue
				}
				o.ended = time.Now()
				f.record(o)
			}
			nextKill = time.Now().Add(randBetween(rng, opts.KillEvery))
		}
	}
}

func (f *faults) markDone(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done[name] = true
}

// startAgain starts a killed process and waits for it to be ready; a restarted simulator
// gets the soak's sellers again.
func startAgain(ctx context.Context, st *soakStack, f *faults, o *outage, s scheduled, log *slog.Logger) {
	p := st.Process(s.process)
	if err := p.Start(ctx); err != nil {
		f.fail(fmt.Errorf("%s: start again: %w", s.name, err))
		return
	}
	if p == st.Sim {
		lost, err := simLostState(ctx, st, f.simKnows)
		if err != nil {
			f.fail(err)
		}
		if lost {
			f.mu.Lock()
			f.simStateLost = true
			f.mu.Unlock()
			log.Warn("the simulator came back without its state (it keeps it in memory); registering the sellers again")
		}
		if err := f.resim(ctx); err != nil {
			f.fail(fmt.Errorf("sellers at the restarted simulator: %w", err))
		}
	}
	o.ended = time.Now()
	f.record(o)
	f.markDone(s.name)
	log.Info("fault over", "what", s.name, "down", o.ended.Sub(o.began).Round(time.Millisecond))
}

// snapshotSim notes the orders that have a live instance at the simulator.
func (f *faults) snapshotSim(ctx context.Context, st *soakStack) {
	sim := &simClient{base: st.SimBase, http: &http.Client{Timeout: 30 * time.Second}}
	orders := map[string]bool{}
	for _, s := range sellerSpecs(0) {
		if !callsSeller(s.typ) {
			continue
		}
		var list []simInstance
		if err := sim.do(ctx, "GET", "/admin/sellers/"+s.id+"/instances", nil, &list); err != nil {
			f.fail(fmt.Errorf("instances at the simulator before its kill: %w", err))
			continue
		}
		for _, in := range list {
			if in.Status != "released" {
				orders[in.OrderID] = true
			}
		}
	}
	f.mu.Lock()
	f.simOrders = orders
	f.mu.Unlock()
}

// simLostState reports whether a restarted simulator has forgotten the soak's seller.
func simLostState(ctx context.Context, st *soakStack, seller string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.SimBase+"/admin/sellers/"+seller+"/stats", nil)
	if err != nil {
		return false, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("simulator after its restart: %w", err)
	}
	res.Body.Close()
	return res.StatusCode == http.StatusNotFound, nil
}

// gaps is how long orders went without progress during the drive, from the audit trail.
type gaps struct {
	// all is the longest time in which no order made any transition; allAt when it began
	// (since the drive began).
	all, allAt time.Duration
	// one is the longest time one order went between two transitions (waits the scripts
	// and the policy make included, e.g. a V5 customer's minute of retention), and which.
	one     time.Duration
	oneNote string
}

// progressGaps reads the audit trail of the drive and fills in each outage's transitions.
func progressGaps(ctx context.Context, st *soakStack, from, to time.Time, f *faults) (gaps, error) {
	var g gaps
	db, err := pgxpool.New(ctx, st.DBURL)
	if err != nil {
		return g, err
	}
	defer db.Close()
	rows, err := db.Query(ctx, `SELECT order_id, at, from_status, to_status FROM order_events
		WHERE at BETWEEN $1 AND $2 ORDER BY order_id, seq`, from, to)
	if err != nil {
		return g, fmt.Errorf("read the audit trail: %w", err)
	}
	defer rows.Close()
	var all []time.Time
	var prevID, prevTo string
	var prevAt time.Time
	for rows.Next() {
		var id, fromS, toS string
		var at time.Time
		if err := rows.Scan(&id, &at, &fromS, &toS); err != nil {
			return g, err
		}
		all = append(all, at)
		if id == prevID {
			if d := at.Sub(prevAt); d > g.one {
				g.one, g.oneNote = d, fmt.Sprintf("%s, %s to %s", id, prevTo, toS)
			}
		}
		prevID, prevAt, prevTo = id, at, toS
	}
	if err := rows.Err(); err != nil {
		return g, err
	}
	slices.SortFunc(all, func(a, b time.Time) int { return a.Compare(b) })
	last := from
	for _, at := range all {
		if d := at.Sub(last); d > g.all {
			g.all, g.allAt = d, last.Sub(from)
		}
		last = at
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.outages {
		for _, at := range all {
			if !at.Before(o.began) && !at.After(o.ended) {
				o.transitions++
			}
		}
	}
	return g, nil
}

// print writes the faults: one line per service with its outages, then the gaps.
func (f *faults) print(w io.Writer, g gaps) {
	began := f.driveBegan
	f.mu.Lock()
	defer f.mu.Unlock()
	fmt.Fprintf(w, "Faults: %d worker SIGKILLs.\n", f.workerKills.Load())
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tFAULT\tTIMES\tAT (s into the drive)\tDOWN (each)\tDOWN (total)\tORDER TRANSITIONS WHILE DOWN")
	type row struct {
		service, what string
		ats, downs    []string
		total         time.Duration
		transitions   int
	}
	var rows []*row
	index := map[string]*row{}
	for _, o := range f.outages {
		k := o.service + "\x00" + o.what
		r := index[k]
		if r == nil {
			r = &row{service: o.service, what: o.what}
			index[k] = r
			rows = append(rows, r)
		}
		d := o.ended.Sub(o.began)
		r.total += d
		r.transitions += o.transitions
		if len(r.ats) < 6 {
			r.ats = append(r.ats, fmt.Sprintf("%.0f", o.began.Sub(began).Seconds()))
			r.downs = append(r.downs, d.Round(100*time.Millisecond).String())
		}
	}
	for _, r := range rows {
		n := 0
		for _, o := range f.outages {
			if o.service == r.service && o.what == r.what {
				n++
			}
		}
		more := ""
		if n > len(r.ats) {
			more = ", …"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s%s\t%s%s\t%v\t%d\n", r.service, r.what, n, strings.Join(r.ats, ", "), more,
			strings.Join(r.downs, ", "), more, r.total.Round(100*time.Millisecond), r.transitions)
	}
	tw.Flush()
	if f.simStateLost {
		fmt.Fprintln(w, "The simulator came back without its state (kept in memory): its sellers were registered again, its instances were lost.")
	}
	fmt.Fprintf(w, "Longest time no order made progress: %v (from %v into the drive). Longest one order went between two steps: %v (%s).\n",
		g.all.Round(100*time.Millisecond), g.allAt.Round(time.Second), g.one.Round(100*time.Millisecond), g.oneNote)
}
