package soak

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/cloudmarket/orders/internal/order"
)

// settleWithin bounds the wait for open order workflows to finish before the checks.
const settleWithin = time.Minute

// check is one invariant: how many violations, and a few examples.
type check struct {
	name       string
	violations int
	detail     string   // the figure behind it, e.g. "1,000 of 1,000"
	examples   []string // at most a few
}

func (c *check) add(example string) {
	c.violations++
	if len(c.examples) < 5 {
		c.examples = append(c.examples, example)
	}
}

// simInstance is an instance as the simulator's admin API lists it.
type simInstance struct {
	InstanceID    string `json:"instanceId"`
	OrderID       string `json:"orderId"`
	Status        string `json:"status"`
	License       string `json:"license"`
	LicenseStatus int    `json:"licenseStatus"`
}

// simStats is GET /admin/stats.
type simStats struct {
	Sellers map[string]struct {
		Calls         map[string]map[string]int `json:"calls"`
		BadSignatures int                       `json:"badSignatures"`
		Instances     int                       `json:"instances"`
	} `json:"sellers"`
}

// verify runs every invariant against PostgreSQL, the simulator and Temporal.
func verify(ctx context.Context, st *stack, sim *simClient, plans []*plan, drv *driver) ([]*check, error) {
	db, err := pgxpool.New(ctx, st.dbURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	byID := map[string]*plan{}
	for _, p := range plans {
		byID[p.id] = p
	}
	// Let the workflows finish what they still do (a release, a late answer), then read
	// every order again: what counts is where the order is now, not where the driver left it.
	settleBegan := time.Now()
	for time.Since(settleBegan) < settleWithin {
		open, err := listWorkflows(ctx, st, fmt.Sprintf(`WorkflowType = %q AND ExecutionStatus = "Running"`, order.WorkflowType))
		if err != nil {
			return nil, err
		}
		if len(open) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, p := range plans {
		if !p.placed {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if v, err := drv.get(ctx, p.id); err == nil {
				p.final = v
			}
		})
	}
	wg.Wait()
	var checks []*check

	// 1. Every order where its script must have left it.
	states := &check{name: "orders in their expected final state"}
	ok := 0
	for _, p := range plans {
		if p.final.Status == p.expect {
			ok++
			continue
		}
		why := p.driveError
		if p.final.NeedsAttention {
			why += " (needsAttention: " + p.final.Attention + ")"
		}
		states.add(fmt.Sprintf("%s %s/%s %s+%s: %q, want %q %s", p.id, p.typ, p.mode, p.delivery, p.after, p.final.Status, p.expect, why))
	}
	states.detail = fmt.Sprintf("%d of %d", ok, len(plans))
	checks = append(checks, states)

	// The read model agrees with what the API answered.
	readModel := &check{name: "read model agrees with the API"}
	rows, err := db.Query(ctx, `SELECT order_id, status FROM orders`)
	if err != nil {
		return nil, err
	}
	seen := 0
	for rows.Next() {
		var id, status string
		if err := rows.Scan(&id, &status); err != nil {
			return nil, err
		}
		if p := byID[id]; p != nil {
			seen++
			if order.Status(status) != p.final.Status {
				readModel.add(fmt.Sprintf("%s: read model %q, API %q", id, status, p.final.Status))
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	placed := int(drv.placed.Load())
	if seen != placed {
		readModel.add(fmt.Sprintf("%d orders placed, %d in the read model", placed, seen))
	}
	readModel.detail = fmt.Sprintf("%d orders", seen)
	checks = append(checks, readModel)

	// 2. No workflow failed, and none left open without a flag.
	wf := &check{name: "workflows failed, terminated or timed out"}
	for _, status := range []string{"Failed", "Terminated", "TimedOut", "Canceled"} {
		ids, err := listWorkflows(ctx, st, fmt.Sprintf(`ExecutionStatus = %q`, status))
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			wf.add(status + " " + id)
		}
	}
	wf.detail = "all workflow types"
	checks = append(checks, wf)
	stuck := &check{name: "order workflows open without needsAttention"}
	flagged := 0
	open, err := listWorkflows(ctx, st, fmt.Sprintf(`WorkflowType = %q AND ExecutionStatus = "Running"`, order.WorkflowType))
	if err != nil {
		return nil, err
	}
	for _, id := range open {
		oid := strings.TrimPrefix(id, "order-")
		if p := byID[oid]; p != nil && p.final.NeedsAttention {
			flagged++
			continue
		}
		stuck.add(id)
	}
	stuck.detail = fmt.Sprintf("%d open, %d of them flagged", len(open), flagged)
	checks = append(checks, stuck)

	// 3. The seller's side: one instance per order, none left behind by an ended order.
	double := &check{name: "orders with two instances at the seller"}
	leaked := &check{name: "instances left active for released or cancelled orders"}
	instances := 0
	for _, s := range sellerSpecs(0) {
		if !callsSeller(s.typ) {
			continue
		}
		var list []simInstance
		if err := sim.do(ctx, "GET", "/admin/sellers/"+s.id+"/instances", nil, &list); err != nil {
			return nil, err
		}
		per := map[string]int{}
		for _, in := range list {
			p := byID[in.OrderID]
			if p == nil {
				continue
			}
			instances++
			per[in.OrderID]++
			if per[in.OrderID] == 2 {
				double.add(in.OrderID)
			}
			if (p.final.Status == order.Status(order.PhaseReleased) || p.final.Status == order.Status(order.PhaseCancelled)) && in.Status != "released" {
				leaked.add(fmt.Sprintf("%s (%s) %s at %s", in.InstanceID, p.id, in.Status, s.id))
			}
		}
	}
	double.detail = fmt.Sprintf("%d instances", instances)
	leaked.detail = double.detail
	checks = append(checks, double, leaked)

	// 4. Money: no settlement twice, renewals as many as billing made, ledger balanced.
	twice := &check{name: "settlements posted twice"}
	var dupRows int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM settlements GROUP BY order_id, kind, period_key HAVING count(*) > 1) d`).Scan(&dupRows); err != nil {
		return nil, err
	}
	for range dupRows {
		twice.add("a (order, kind, period) with two settlements")
	}
	var dupPostings int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM ledger_entries GROUP BY settlement_id, posting, account, direction HAVING count(*) > 1) d`).Scan(&dupPostings); err != nil {
		return nil, err
	}
	for range dupPostings {
		twice.add("a ledger line posted twice")
	}
	renewals := &check{name: "renewal settlements differ from renewals made"}
	rows, err = db.Query(ctx, `SELECT order_id, count(*) FILTER (WHERE kind = 'order'), count(*) FILTER (WHERE kind = 'renewal'), count(*) FROM settlements GROUP BY order_id`)
	if err != nil {
		return nil, err
	}
	settlements := 0
	for rows.Next() {
		var id string
		var first, renewed, all int
		if err := rows.Scan(&id, &first, &renewed, &all); err != nil {
			return nil, err
		}
		settlements += all
		p := byID[id]
		if p == nil {
			continue
		}
		if first > 1 {
			twice.add(fmt.Sprintf("%s: %d order settlements", id, first))
		}
		if renewed != p.renewals {
			renewals.add(fmt.Sprintf("%s: %d renewal settlements, billing renewed %d times", id, renewed, p.renewals))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	twice.detail = fmt.Sprintf("%d settlements", settlements)
	renewals.detail = twice.detail
	checks = append(checks, twice, renewals)

	ledger := &check{name: "currencies whose ledger does not balance"}
	rows, err = db.Query(ctx, `SELECT currency, coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0),
		coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0), count(*) FROM ledger_entries GROUP BY currency ORDER BY currency`)
	if err != nil {
		return nil, err
	}
	var sums []string
	for rows.Next() {
		var cur string
		var debit, credit, n int64
		if err := rows.Scan(&cur, &debit, &credit, &n); err != nil {
			return nil, err
		}
		sums = append(sums, fmt.Sprintf("%s %d lines, debit %d = credit %d", cur, n, debit, credit))
		if debit != credit {
			ledger.add(fmt.Sprintf("%s: debit %d, credit %d", cur, debit, credit))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	ledger.detail = strings.Join(sums, "; ")
	checks = append(checks, ledger)

	// 5. Audit trails: seq 1..n without a gap, the read model at the last one.
	audit := &check{name: "audit trails with a gap"}
	rows, err = db.Query(ctx, `SELECT o.order_id, coalesce(e.n, 0), coalesce(e.lo, 0), coalesce(e.hi, 0), o.seq, coalesce(last.to_status, '')
		FROM orders o
		LEFT JOIN (SELECT order_id, count(*) n, min(seq) lo, max(seq) hi FROM order_events GROUP BY order_id) e USING (order_id)
		LEFT JOIN order_events last ON last.order_id = o.order_id AND last.seq = e.hi`)
	if err != nil {
		return nil, err
	}
	trails, events := 0, 0
	for rows.Next() {
		var id, lastTo string
		var n, lo, hi, seq int
		if err := rows.Scan(&id, &n, &lo, &hi, &seq, &lastTo); err != nil {
			return nil, err
		}
		if byID[id] == nil {
			continue
		}
		trails++
		events += n
		if n == 0 || lo != 1 || hi != n || seq != hi {
			audit.add(fmt.Sprintf("%s: %d events, seq %d..%d, read model at %d", id, n, lo, hi, seq))
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var accountGaps int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM (SELECT customer_id FROM arrears_events GROUP BY customer_id
		HAVING min(seq) <> 1 OR max(seq) <> count(*)) g`).Scan(&accountGaps); err != nil {
		return nil, err
	}
	for range accountGaps {
		audit.add("an arrears account's trail has a gap")
	}
	audit.detail = fmt.Sprintf("%d orders, %d events", trails, events)
	checks = append(checks, audit)

	// 6. Signatures: every request the simulator got was validly signed, and every licence
	// it delivered to us was accepted as signed.
	sigs := &check{name: "seller requests not validly signed"}
	var stats simStats
	if err := sim.do(ctx, "GET", "/admin/stats", nil, &stats); err != nil {
		return nil, err
	}
	requests := 0
	for id, s := range stats.Sellers {
		for _, outcomes := range s.Calls {
			for _, n := range outcomes {
				requests += n
			}
		}
		if s.BadSignatures > 0 {
			sigs.add(fmt.Sprintf("%s: %d requests failed signature checks", id, s.BadSignatures))
		}
	}
	sigs.detail = fmt.Sprintf("%d requests", requests)
	checks = append(checks, sigs)
	return checks, nil
}

// listWorkflows lists the IDs of the workflows a visibility query matches.
func listWorkflows(ctx context.Context, st *stack, query string) ([]string, error) {
	var ids []string
	var token []byte
	for {
		res, err := st.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: namespace, Query: query, PageSize: 1000, NextPageToken: token})
		if err != nil {
			return nil, fmt.Errorf("list workflows %s: %w", query, err)
		}
		for _, e := range res.GetExecutions() {
			ids = append(ids, e.GetExecution().GetWorkflowId())
		}
		if token = res.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	sort.Strings(ids)
	return slices.Compact(ids), nil
}

// outcomeTotals sums the simulator's outcome counts over sellers and activities, by the
// outcome's class (the part before a colon for injected outcomes).
func outcomeTotals(stats simStats) map[string]int {
	out := map[string]int{}
	for _, s := range stats.Sellers {
		for _, outcomes := range s.Calls {
			for k, n := range outcomes {
				out[k] += n
			}
		}
	}
	return out
}
