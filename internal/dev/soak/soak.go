// Package soak is the fault soak of the whole system (`make soak`, and a short run in
// `make test`): it starts the real stack as separate processes (PostgreSQL, the Temporal
// server, the seller simulator, the API, the workers), drives orders of every product type
// and billing mode through the HTTP API as the web tier, billing, ops and the sellers
// would, while the simulator injects latency, failures of every retryable result-code
// class, lost answers, asynchronous answers and a share of refusals, the workers are
// SIGKILLed at random moments and restarted, and PostgreSQL and the Temporal server are
// each restarted once. Then it checks, from PostgreSQL, the simulator and Temporal, what
// must hold whatever happened: every order where its script leaves it, no workflow failed
// or open without a flag, no order with two instances at the seller, no settlement posted
// twice, the ledger balanced per currency, every audit trail whole, every seller request
// validly signed, every order's events delivered to a subscriber in order and signed. Run
// prints a table of the figures and the checks.
package soak

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// Options configures Run.
type Options struct {
	// Orders is how many orders to drive (rounded up to a multiple of the 20 product type
	// and billing mode pairs).
	Orders int
	// Seed draws the scripts, the faults' timing and the simulator's faults; 0 = from the clock.
	Seed int64
	// BinDir holds the devstack, orders and sellersim binaries.
	BinDir string
	// Dir keeps the run's data and each process's log; it is created if missing.
	Dir string
	// Workers is how many worker processes run (each SIGKILLed in turn).
	Workers int
	// InFlight bounds the orders (or pay-per-use customers) driven at once.
	InFlight int
	// KillEvery is the range of the random pause between two worker kills.
	KillEvery [2]time.Duration
	// Logger gets progress; Out the final table.
	Logger *slog.Logger
	Out    io.Writer
}

// Result is what a run found; OK says whether every check held.
type Result struct {
	Checks  []*check
	OK      bool
	Elapsed time.Duration
}

// faults counts what the soak did to the stack.
type faults struct {
	workerKills, unexpectedExits atomic.Int64
	pgRestart, temporalRestart   time.Duration
	pgAt, temporalAt             time.Duration // since the drive began
	mu                           sync.Mutex
	errs                         []string
}

func (f *faults) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, err.Error())
}

// Run starts the stack, drives the orders with faults, checks, prints and stops the stack.
// An error means the soak itself could not run; violations are in the Result.
func Run(ctx context.Context, opts Options) (*Result, error) {
	began := time.Now()
	if opts.Seed == 0 {
		opts.Seed = time.Now().UnixNano() % 1_000_000
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	if opts.InFlight <= 0 {
		opts.InFlight = 100
	}
	if opts.KillEvery[1] <= 0 {
		opts.KillEvery = [2]time.Duration{5 * time.Second, 25 * time.Second}
	}
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0x50a4))
	run := fmt.Sprintf("%04d", opts.Seed%10000)
	log.Info("soak starting", "orders", opts.Orders, "seed", opts.Seed, "dir", opts.Dir)

	st, err := startStack(ctx, opts, log)
	if err != nil {
		return nil, err
	}
	defer st.stop()
	log.Info("stack ready", "api", st.apiBase, "temporalUI", st.uiURL, "sellersim", st.simBase,
		"postgres", st.pg.URL("orders"), "startup", time.Since(began).Round(time.Millisecond))

	api := newAPIClient(st.apiBase)
	sim := &simClient{base: st.simBase, http: &http.Client{Timeout: 30 * time.Second}}
	singles, groups, customers := makePlans(opts.Orders, run, rng)
	drv := &driver{api: api, keys: map[string]string{}}
	if err := setUp(ctx, api, sim, drv, customers, opts.Seed); err != nil {
		return nil, fmt.Errorf("set up the catalogue: %w", err)
	}
	// The event subscriber, registered before the first order, so it must receive every event.
	sub, err := startSubscriber()
	if err != nil {
		return nil, err
	}
	defer sub.stop()
	if err := sub.register(ctx, api); err != nil {
		return nil, fmt.Errorf("register the event subscriber: %w", err)
	}
	var plans []*plan
	plans = append(plans, singles...)
	for _, g := range groups {
		plans = append(plans, g.orders...)
	}

	// Drive: every script in its own goroutine, at most InFlight at once, while the faults
	// goroutine kills and restarts.
	driveBegan := time.Now()
	var f faults
	faultCtx, stopFaults := context.WithCancel(ctx)
	var faultsDone sync.WaitGroup
	// The faults draw from a source of their own: rng is the drive's.
	faultRng := rand.New(rand.NewPCG(uint64(opts.Seed), 0xfa17))
	faultsDone.Go(func() { injectFaults(faultCtx, st, &f, drv, len(plans), opts, faultRng, driveBegan, log) })
	progressDone := make(chan struct{})
	go progress(faultCtx, drv, len(plans), &f, log, progressDone)

	sem := make(chan struct{}, opts.InFlight)
	var wg sync.WaitGroup
	units := make([]func(), 0, len(singles)+len(groups))
	for _, p := range singles {
		units = append(units, func() { drv.runSingle(ctx, p) })
	}
	for _, g := range groups {
		units = append(units, func() { drv.runGroup(ctx, g) })
	}
	rng.Shuffle(len(units), func(a, b int) { units[a], units[b] = units[b], units[a] })
	for _, u := range units {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			u()
		})
	}
	wg.Wait()
	stopFaults()
	faultsDone.Wait()
	<-progressDone
	driveTime := time.Since(driveBegan)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	log.Info("every script played; checking", "drive", driveTime.Round(time.Second))

	checks, err := verify(ctx, st, sim, plans, drv)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	byID := map[string]*plan{}
	for _, p := range plans {
		byID[p.id] = p
	}
	evChecks, err := eventChecks(ctx, st, api, sub, byID)
	if err != nil {
		return nil, fmt.Errorf("check events: %w", err)
	}
	checks = append(checks, evChecks...)
	// What the soak itself saw go wrong.
	procs := &check{name: "process crashes, races or panics"}
	for range f.unexpectedExits.Load() {
		procs.add("a process exited that the soak did not stop")
	}
	for _, p := range st.logProblems() {
		procs.add(p)
	}
	procs.detail = "every process's log"
	apiChecks := &check{name: "API answers 500 or no answer within 3 min"}
	for range api.internal.Load() + api.failures.Load() {
		apiChecks.violations++
	}
	apiChecks.examples = api.failNotes
	apiChecks.detail = fmt.Sprintf("%d retries", api.retries.Load())
	unexpected := &check{name: "refusals the scripts did not expect", violations: int(drv.refusals.Load()), examples: drv.refusalNotes}
	unexpected.detail = "4xx other than 409"
	faultErrs := &check{name: "faults the soak failed to inject", violations: len(f.errs), examples: f.errs}
	if f.pgRestart == 0 {
		faultErrs.add("PostgreSQL was not restarted")
	}
	if f.temporalRestart == 0 {
		faultErrs.add("Temporal was not restarted")
	}
	if f.workerKills.Load() == 0 {
		faultErrs.add("no worker was killed")
	}
	checks = append(checks, procs, apiChecks, unexpected, faultErrs)

	res := &Result{Checks: checks, OK: true, Elapsed: time.Since(began)}
	for _, c := range checks {
		if c.violations > 0 {
			res.OK = false
		}
	}
	var stats simStats
	_ = sim.do(ctx, "GET", "/admin/stats", nil, &stats)
	printReport(opts.Out, opts, plans, drv, api, &f, stats, checks, driveTime, res)
	return res, nil
}

// setUp registers the sellers at the simulator and in the catalogue, their products of
// every billing mode, and the customers' levels, through the API as ops would.
func setUp(ctx context.Context, api *apiClient, sim *simClient, drv *driver, customers map[string]string, seed int64) error {
	for _, s := range sellerSpecs(seed) {
		key := "sk-soak-" + s.id + "-0123456789"
		drv.keys[s.id] = key
		if err := sim.do(ctx, "PUT", "/admin/sellers/"+s.id, map[string]any{"accessKey": key}, nil); err != nil {
			return err
		}
		if err := sim.do(ctx, "PUT", "/admin/sellers/"+s.id+"/behaviour", s.behaviour, nil); err != nil {
			return err
		}
		if err := put(ctx, api, "/v1/sellers/"+s.id, map[string]any{
			"name": "Soak seller " + s.id, "endpoint": sim.base + "/sellers/" + s.id + "/produce", "accessKey": key}); err != nil {
			return err
		}
		for _, m := range modes {
			product := map[string]any{
				"sellerId": s.id, "name": "Soak " + string(s.typ) + " " + string(m), "type": string(s.typ), "billingMode": string(m),
				"commissionRate": commissionBps, "acceptanceCriteria": "it does what the listing says", "supervised": s.supervised,
			}
			if m == order.BillingPayPerUse {
				product["unitPrice"] = money(25, s.currency)
			}
			if err := put(ctx, api, "/v1/products/"+productID(s.id, m), product); err != nil {
				return err
			}
		}
	}
	for id, level := range customers {
		if err := put(ctx, api, "/v1/customers/"+id, map[string]any{"level": level}); err != nil {
			return err
		}
	}
	return nil
}

func put(ctx context.Context, api *apiClient, path string, body any) error {
	a, err := api.call(ctx, ops, http.MethodPut, path, "", body, nil)
	if err != nil {
		return err
	}
	if !a.ok() {
		return fmt.Errorf("PUT %s: %d %s", path, a.status, a.body)
	}
	return nil
}

// injectFaults kills a worker (sometimes every worker) at random moments and restarts it,
// restarts PostgreSQL once a fifth of the scripts have finished and Temporal once half have
// (the rest still in flight), and restarts any worker that died without being told to
// (counting it).
func injectFaults(ctx context.Context, st *stack, f *faults, drv *driver, total int, opts Options, rng *rand.Rand,
	began time.Time, log *slog.Logger) {
	nextKill := time.Now().Add(randBetween(rng, opts.KillEvery))
	pgDone, temporalDone := false, false
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		// A process down that the soak did not take down: count it and bring it back.
		for i, w := range st.workers {
			if !w.running() {
				f.unexpectedExits.Add(1)
				log.Error("a worker exited on its own; restarting it", "process", w.name)
				if err := st.restartWorker(ctx, i); err != nil && ctx.Err() == nil {
					f.fail(err)
				}
			}
		}
		for _, p := range []*process{st.api, st.sim, st.temporal} {
			if !p.running() && ctx.Err() == nil {
				f.unexpectedExits.Add(1)
				f.fail(fmt.Errorf("%s exited on its own (see %s)", p.name, p.logPath))
				log.Error("a process exited on its own; the soak cannot go on meaningfully", "process", p.name)
				return
			}
		}
		finished := int(drv.done.Load())
		switch {
		case !pgDone && finished >= total/5:
			pgDone = true
			log.Info("restarting PostgreSQL", "finished", finished)
			d, err := st.restartPostgres(ctx)
			if err != nil {
				f.fail(err)
				continue
			}
			f.pgRestart, f.pgAt = d, time.Since(began)
			log.Info("PostgreSQL back", "down", d.Round(time.Millisecond))
		case !temporalDone && finished >= total/2:
			temporalDone = true
			log.Info("restarting the Temporal server", "finished", finished)
			d, err := st.restartTemporal(ctx)
			if err != nil {
				f.fail(err)
				continue
			}
			f.temporalRestart, f.temporalAt = d, time.Since(began)
			log.Info("Temporal server back", "down", d.Round(time.Millisecond))
		case time.Now().After(nextKill):
			victims := []int{rng.IntN(len(st.workers))}
			if rng.IntN(4) == 0 {
				victims = victims[:0]
				for i := range st.workers {
					victims = append(victims, i)
				}
			}
			for _, i := range victims {
				if err := st.workers[i].kill(); err != nil {
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
				if err := st.restartWorker(context.WithoutCancel(ctx), i); err != nil {
					f.fail(err)
				}
			}
			nextKill = time.Now().Add(randBetween(rng, opts.KillEvery))
		}
	}
}

func randBetween(rng *rand.Rand, r [2]time.Duration) time.Duration {
	if r[1] <= r[0] {
		return r[0]
	}
	return r[0] + time.Duration(rng.Int64N(int64(r[1]-r[0])))
}

// progress logs how far the drive is every 15 seconds.
func progress(ctx context.Context, drv *driver, total int, f *faults, log *slog.Logger, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			log.Info("soak progress", "placed", drv.placed.Load(), "finished", drv.done.Load(), "of", total,
				"workerKills", f.workerKills.Load(), "retries", drv.api.retries.Load())
		}
	}
}

// printReport writes the figures and the checks: two aligned tables (orders, checks) and
// the faults as plain lines.
func printReport(w io.Writer, opts Options, plans []*plan, drv *driver, api *apiClient, f *faults, stats simStats,
	checks []*check, drive time.Duration, res *Result) {
	fmt.Fprintf(w, "SOAK: %d orders, seed %d, %d workers; drive %v, total %v\n\n", len(plans), opts.Seed, opts.Workers,
		drive.Round(time.Second), res.Elapsed.Round(time.Second))
	byCombo := map[string]map[order.Status]int{}
	for _, p := range plans {
		k := string(p.typ) + "\t" + string(p.mode)
		if byCombo[k] == nil {
			byCombo[k] = map[order.Status]int{}
		}
		byCombo[k][p.final.Status]++
	}
	keys := make([]string, 0, len(byCombo))
	for k := range byCombo {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tBILLING\tFINAL STATUS")
	for _, k := range keys {
		var parts []string
		for s, n := range byCombo[k] {
			parts = append(parts, fmt.Sprintf("%s %d", s, n))
		}
		sort.Strings(parts)
		fmt.Fprintf(tw, "%s\t%s\n", k, strings.Join(parts, ", "))
	}
	tw.Flush()
	scripts := map[string]int{}
	for _, p := range plans {
		scripts[string(p.delivery)]++
		scripts[string(p.after)]++
		if p.refused {
			scripts["refused by the seller"]++
		}
	}
	api.mu.Lock()
	retried := map[string]int{}
	for k, n := range api.byStatus {
		retried[k] = n
	}
	api.mu.Unlock()
	fmt.Fprintf(w, "\nScripts: %s.\n", joinCounts(scripts))
	fmt.Fprintf(w, "Faults: %d worker SIGKILLs; PostgreSQL restarted at %v (down %v); Temporal SIGKILLed and restarted at %v (down %v).\n",
		f.workerKills.Load(), f.pgAt.Round(time.Second), f.pgRestart.Round(time.Millisecond),
		f.temporalAt.Round(time.Second), f.temporalRestart.Round(time.Millisecond))
	fmt.Fprintf(w, "Seller answers: %s.\n", joinCounts(outcomeTotals(stats)))
	fmt.Fprintf(w, "API attempts retried: %s; orders not readable for a while after their 201: %d.\n\n",
		joinCounts(retried), drv.notFound.Load())
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tVIOLATIONS\tOVER")
	for _, c := range checks {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", c.name, c.violations, c.detail)
	}
	tw.Flush()
	for _, c := range checks {
		for _, e := range c.examples {
			if c.violations > 0 {
				fmt.Fprintf(w, "  ! %s: %s\n", c.name, e)
			}
		}
	}
	if res.OK {
		fmt.Fprintln(w, "SOAK PASSED")
	} else {
		fmt.Fprintln(w, "SOAK FAILED: see the checks above and the logs in", filepath.Join(opts.Dir, "logs"))
	}
}

func joinCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
