package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// pollEvery is how often the driver reads an order it waits on (plus up to as much again
// at random, so that a thousand orders do not poll in step).
const pollEvery = time.Second

// readLag is how long a placed order may be missing from the read model.
const readLag = 2 * time.Minute

// finalWithin bounds the wait for an order's last status once its script is played.
const finalWithin = 5 * time.Minute

// view is the part of GET /v1/orders/{id} the driver acts on.
type view struct {
	Status         order.Status `json:"status"`
	Phase          order.Phase  `json:"phase"`
	InstanceID     string       `json:"instanceId"`
	NeedsAttention bool         `json:"needsAttention"`
	Attention      string       `json:"attention"`
	Rejections     int          `json:"rejections"`
	RenewalCount   int          `json:"renewalCount"`
	Frozen         []string     `json:"frozen"`
	Shipment       *struct {
		SignedAt *time.Time `json:"signedAt"`
	} `json:"shipment"`
	Deployment []struct {
		Phase string `json:"phase"`
		State string `json:"state"`
	} `json:"deployment"`
	Appeal *struct {
		AppealID string `json:"appealId"`
		State    string `json:"state"`
	} `json:"appeal"`
}

func (v view) final() bool { return order.Phase(v.Status).Final() }

// driver plays every order's script through the API, as the web tier (buyers and sellers),
// billing, ops and the sellers' own signed calls would.
type driver struct {
	api  *apiClient
	keys map[string]string // sellerId -> access key

	placed, done atomic.Int64
	notFound     atomic.Int64 // orders a GET did not find for a while after their 201
	refusals     atomic.Int64 // 4xx answers a script did not expect
	mu           sync.Mutex
	refusalNotes []string
}

// refused records an answer the script did not expect (never a 409 from a race with the
// order's own clocks, which the loop re-reads and goes on from).
func (d *driver) refused(p *plan, what string, a answer) {
	d.refusals.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.refusalNotes) < 20 {
		d.refusalNotes = append(d.refusalNotes, fmt.Sprintf("%s %s: %d %.200s", p.id, what, a.status, a.body))
	}
}

// get reads the order as ops. A 404 for an order the API has placed is read again for up
// to readLag (counted): the read model's row is written by the API after the start and by
// the workflow's first transition, so an outage at placement delays it.
func (d *driver) get(ctx context.Context, id string) (view, error) {
	deadline := time.Now().Add(readLag)
	for lagged := false; ; {
		a, err := d.api.call(ctx, ops, http.MethodGet, "/v1/orders/"+id, "", nil, nil)
		if err != nil {
			return view{}, err
		}
		if a.status == http.StatusNotFound && time.Now().Before(deadline) {
			if !lagged {
				lagged = true
				d.notFound.Add(1)
			}
			if err := sleepPoll(ctx); err != nil {
				return view{}, err
			}
			continue
		}
		if !a.ok() {
			return view{}, fmt.Errorf("GET order %s: %d %.200s", id, a.status, a.body)
		}
		var v view
		return v, a.decode(&v)
	}
}

// act sends one action; a 409 (the order moved on meanwhile) is not an error, any other
// refusal is recorded.
func (d *driver) act(ctx context.Context, p *plan, who caller, method, path, key string, body any) (answer, error) {
	a, err := d.api.call(ctx, who, method, path, key, body, nil)
	if err != nil {
		return a, err
	}
	if !a.ok() && a.status != http.StatusConflict {
		d.refused(p, method+" "+path, a)
	}
	return a, nil
}

func sleepPoll(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(pollEvery + rand.N(pollEvery)):
		return nil
	}
}

func money(v int64, cur string) map[string]any { return map[string]any{"value": v, "currency": cur} }

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// place buys the order as its buyer.
func (d *driver) place(ctx context.Context, p *plan) error {
	body := map[string]any{
		"orderId": p.id, "orderLineId": p.id + "-1", "customerId": p.customer, "productId": p.productID,
		"quantity": 1, "amount": money(p.value, p.currency),
	}
	switch {
	case p.after == afterExpire || p.after == afterExpireRenew:
		body["expireTime"] = ts(time.Now().Add(expiringLife))
	case p.mode == order.BillingMonthly:
		body["expireTime"] = ts(time.Now().Add(30 * 24 * time.Hour))
	case p.mode == order.BillingYearly:
		body["expireTime"] = ts(time.Now().Add(365 * 24 * time.Hour))
	}
	a, err := d.api.call(ctx, buyer(p.customer), http.MethodPost, "/v1/orders", "place-"+p.id, body, nil)
	if err != nil {
		return err
	}
	if !a.ok() {
		d.refused(p, "POST /v1/orders", a)
		return fmt.Errorf("place: %d %.200s", a.status, a.body)
	}
	d.placed.Add(1)
	p.placed = true
	return nil
}

// deliver takes the order through its delivery path until it is in service or final: the
// seller deploys, ships or delivers; the buyer signs off, rejects, appeals or accepts; ops
// resolve appeals.
func (d *driver) deliver(ctx context.Context, p *plan) (view, error) {
	deadline := time.Now().Add(10 * time.Minute)
	appealed := false
	for round := 0; ; round++ {
		// Each round's actions have keys of their own: a retry of one request is answered
		// from its key, a new decision after a re-read is a new request.
		k := fmt.Sprintf("-%s-%d", p.id, round)
		v, err := d.get(ctx, p.id)
		if err != nil {
			return v, err
		}
		base := "/v1/orders/" + p.id
		switch v.Status {
		case order.Status(order.PhaseInService), order.StatusFrozen:
			return v, nil
		case order.Status(order.PhaseDeploying):
			d.deploy(ctx, p, v, k)
		case order.Status(order.PhaseShipping):
			if v.Shipment == nil {
				d.ship(ctx, p, v, k)
			} else if v.Shipment.SignedAt == nil {
				d.act(ctx, p, buyer(p.customer), http.MethodPost, base+"/shipment/signoff", "signoff"+k,
					map[string]any{"signedAt": ts(time.Now())})
			}
		case order.Status(order.PhaseDelivering):
			d.act(ctx, p, seller(p.sellerID), http.MethodPost, base+"/delivery", "deliver"+k, map[string]any{"note": "delivered on site"})
		case order.Status(order.PhaseRejected):
			switch p.typ {
			case order.TypePackage:
				d.deploy(ctx, p, v, k)
			case order.TypeHardware:
				d.ship(ctx, p, v, k)
			default:
				d.act(ctx, p, seller(p.sellerID), http.MethodPost, base+"/delivery", "redeliver"+k,
					map[string]any{"note": "fixed what the buyer found"})
			}
		case order.Status(order.PhaseAwaitingAcceptance):
			switch {
			case p.delivery == deliverRejectOnce && v.Rejections == 0:
				d.act(ctx, p, buyer(p.customer), http.MethodPost, base+"/rejection", "reject"+k,
					map[string]any{"reason": "the admin console does not open"})
			case p.delivery != deliverAccept && p.delivery != deliverRejectOnce && !appealed:
				a, err := d.act(ctx, p, buyer(p.customer), http.MethodPost, base+"/appeals", "appeal"+k,
					map[string]any{"reason": "it is not what the listing promised"})
				if err != nil {
					return v, err
				}
				if a.ok() {
					appealed = true
					var ans struct {
						AppealID string `json:"appealId"`
					}
					if err := a.decode(&ans); err != nil {
						return v, err
					}
					d.resolve(ctx, p, ans.AppealID, k)
				}
			default:
				d.act(ctx, p, buyer(p.customer), http.MethodPost, base+"/acceptance", "accept"+k, nil)
			}
		case order.StatusAppealing:
			if v.Appeal != nil && v.Appeal.State == "open" {
				appealed = true
				d.resolve(ctx, p, v.Appeal.AppealID, k)
			}
		default:
			if v.final() {
				return v, nil
			}
			// provisioning, provision_failed: the seller and the clocks decide.
		}
		if time.Now().After(deadline) {
			return v, fmt.Errorf("still %s after 10 minutes of delivery", v.Status)
		}
		if err := sleepPoll(ctx); err != nil {
			return v, err
		}
	}
}

// resolve is ops deciding an appeal as the script says.
func (d *driver) resolve(ctx context.Context, p *plan, appealID, k string) {
	outcome := map[deliveryScript]string{deliverAppealContinue: "continue", deliverAppealAccept: "accept", deliverAppealRefund: "refund"}[p.delivery]
	if outcome == "" {
		outcome = "continue" // an appeal the script did not open
	}
	d.act(ctx, p, ops, http.MethodPost, "/v1/appeals/"+appealID+"/resolution", "resolve"+k, map[string]any{"outcome": outcome})
}

// deploy reports every deployment step not done yet, in order.
func (d *driver) deploy(ctx context.Context, p *plan, v view, k string) {
	done := map[string]bool{}
	for _, s := range v.Deployment {
		done[s.Phase] = s.State == "done"
	}
	for _, phase := range []string{"install", "start", "verify"} {
		if done[phase] {
			continue
		}
		a, err := d.act(ctx, p, seller(p.sellerID), http.MethodPost, "/v1/orders/"+p.id+"/deployment", "deploy"+k+"-"+phase,
			map[string]any{"phase": phase, "state": "done", "detail": phase + " finished"})
		if err != nil || !a.ok() {
			return // re-read and go on from there
		}
	}
}

func (d *driver) ship(ctx context.Context, p *plan, v view, k string) {
	d.act(ctx, p, seller(p.sellerID), http.MethodPost, "/v1/orders/"+p.id+"/shipment", "ship"+k,
		map[string]any{"carrier": "SF Express", "trackingNumber": fmt.Sprintf("SF%s%d", p.id, v.Rejections)})
}

// renew is billing renewing a subscription for another period.
func (d *driver) renew(ctx context.Context, p *plan, n int, expire time.Time) error {
	rid := fmt.Sprintf("%s-R%d", p.id, n)
	a, err := d.act(ctx, p, billing, http.MethodPost, "/v1/orders/"+p.id+"/renewal", "renew-"+rid, map[string]any{
		"renewalOrderId": rid, "renewalOrderLineId": rid + "-1", "expireTime": ts(expire), "amount": money(p.value, p.currency),
	})
	if err != nil {
		return err
	}
	if a.ok() {
		p.renewals++
	}
	return nil
}

// unsubscribe is billing ending a subscription, a quarter refunded.
func (d *driver) unsubscribe(ctx context.Context, p *plan) error {
	uid := p.id + "-U"
	body := map[string]any{"reason": "the customer unsubscribed", "unsubscribeOrderId": uid, "unsubscribeOrderLineId": uid + "-1"}
	if p.value > 0 {
		body["refund"] = money(p.value/4, p.currency)
	}
	key := "unsubscribe-" + p.id
	for attempt := 1; ; attempt++ {
		a, err := d.act(ctx, p, billing, http.MethodPost, "/v1/orders/"+p.id+"/unsubscription", key, body)
		if err != nil || a.status != http.StatusConflict || attempt == unsubscribeAttempts {
			return err
		}
		// A 409 while the order still runs is billing's cue to try again, as billing does:
		// a worker killed after its task wrote the read model (in service) but before the
		// task completed leaves the workflow a step behind the read model until another
		// worker replays that task, and an update in that window is checked against the
		// earlier state. A new unsubscribe order, so a new idempotency key.
		if err := sleepPoll(ctx); err != nil {
			return err
		}
		v, err := d.get(ctx, p.id)
		if err != nil || v.final() {
			return err
		}
		key = fmt.Sprintf("unsubscribe-%s-%d", p.id, attempt)
	}
}

// unsubscribeAttempts bounds billing's unsubscription attempts refused with 409 while the
// order still runs.
const unsubscribeAttempts = 5

// waitFor polls the order until ok says yes, it is final, or within passes.
func (d *driver) waitFor(ctx context.Context, p *plan, within time.Duration, ok func(view) bool) (view, error) {
	deadline := time.Now().Add(within)
	for {
		v, err := d.get(ctx, p.id)
		if err != nil {
			return v, err
		}
		if ok(v) || v.final() {
			return v, nil
		}
		if time.Now().After(deadline) {
			return v, fmt.Errorf("still %s after %v", v.Status, within)
		}
		if err := sleepPoll(ctx); err != nil {
			return v, err
		}
	}
}

// runSingle plays the script of an order that is not pay-per-use.
func (d *driver) runSingle(ctx context.Context, p *plan) {
	defer d.done.Add(1)
	if err := d.place(ctx, p); err != nil {
		p.driveError = err.Error()
		return
	}
	v, err := d.deliver(ctx, p)
	if err == nil && !v.final() {
		err = d.subscription(ctx, p, v)
	}
	if err != nil {
		p.driveError = err.Error()
	}
	p.final, err = d.waitFor(ctx, p, finalWithin, func(view) bool { return false })
	if err != nil && p.driveError == "" {
		p.driveError = err.Error()
	}
}

// subscription plays what follows a subscription's acceptance.
func (d *driver) subscription(ctx context.Context, p *plan, v view) error {
	period := 30 * 24 * time.Hour
	if p.mode == order.BillingYearly {
		period = 365 * 24 * time.Hour
	}
	switch p.after {
	case afterUnsubscribe:
		return d.unsubscribe(ctx, p)
	case afterRenewUnsubscribe:
		for n := 1; n <= 2; n++ {
			if err := d.renew(ctx, p, n, time.Now().Add(time.Duration(n+1)*period)); err != nil {
				return err
			}
		}
		return d.unsubscribe(ctx, p)
	case afterExpireRenew:
		v, err := d.waitFor(ctx, p, 3*time.Minute, func(v view) bool { return v.Status == order.StatusFrozen })
		if err != nil || v.final() {
			return err
		}
		if err := d.renew(ctx, p, 1, time.Now().Add(period)); err != nil {
			return err
		}
		if _, err := d.waitFor(ctx, p, 2*time.Minute, func(v view) bool { return v.Status == order.Status(order.PhaseInService) }); err != nil {
			return err
		}
		return d.unsubscribe(ctx, p)
	}
	return nil // afterExpire: the clocks end it
}

// runGroup plays a pay-per-use customer's script: its orders delivered, usage metered,
// then arrears reported and paid or not, or the orders ended by billing.
func (d *driver) runGroup(ctx context.Context, g *group) {
	defer d.done.Add(int64(len(g.orders)))
	var wg sync.WaitGroup
	live := make([]bool, len(g.orders))
	for i, p := range g.orders {
		wg.Go(func() {
			if err := d.place(ctx, p); err != nil {
				p.driveError = err.Error()
				return
			}
			v, err := d.deliver(ctx, p)
			if err != nil {
				p.driveError = err.Error()
				return
			}
			if !v.final() {
				live[i] = true
				d.usage(ctx, p, v)
			}
		})
	}
	wg.Wait()
	var err error
	switch g.after {
	case afterArrearsPaid, afterArrearsUnpaid:
		err = d.arrears(ctx, g, live)
	case afterUsageUnsubscribe:
		for i, p := range g.orders {
			if live[i] {
				if e := d.unsubscribe(ctx, p); e != nil {
					err = e
				}
			}
		}
	}
	for _, p := range g.orders {
		if err != nil && p.driveError == "" {
			p.driveError = err.Error()
		}
		v, werr := d.waitFor(ctx, p, finalWithin, func(view) bool { return false })
		p.final = v
		if werr != nil && p.driveError == "" {
			p.driveError = werr.Error()
		}
	}
}

// usage is the seller metering an order's instance, through its own signed call.
func (d *driver) usage(ctx context.Context, p *plan, v view) {
	if v.InstanceID == "" {
		return // packages, hardware and services are metered by no instance
	}
	now := time.Now()
	rec := []map[string]string{{"meteringSn": p.id + "-u1", "instanceId": v.InstanceID,
		"beginTime": ts(now.Add(-2 * time.Hour)), "endTime": ts(now.Add(-time.Hour)), "usageValue": "12.5"}}
	a, err := d.api.call(ctx, caller{}, http.MethodPost, "/v1/seller-api/usage", "", rec, &sellerKey{p.sellerID, d.keys[p.sellerID]})
	if err == nil && !a.ok() {
		d.refused(p, "POST /v1/seller-api/usage", a)
	}
}

// arrears is billing reporting the customer's arrears, then paying them or not.
func (d *driver) arrears(ctx context.Context, g *group, live []bool) error {
	first := g.orders[0]
	path := "/v1/customers/" + g.customer
	if _, err := d.act(ctx, first, billing, http.MethodPost, path+"/arrears", "arrears-"+g.customer,
		map[string]any{"amount": money(5000, arrearsCurrency), "since": ts(time.Now().Add(-time.Hour))}); err != nil {
		return err
	}
	if g.after == afterArrearsUnpaid {
		return nil // frozen, then released when the retention ends
	}
	for i, p := range g.orders {
		if live[i] {
			if _, err := d.waitFor(ctx, p, 3*time.Minute, func(v view) bool { return v.Status == order.StatusFrozen }); err != nil {
				return err
			}
		}
	}
	if _, err := d.act(ctx, first, billing, http.MethodPost, path+"/payments", "pay-"+g.customer,
		map[string]any{"amount": money(5000, arrearsCurrency)}); err != nil {
		return err
	}
	for i, p := range g.orders {
		if !live[i] {
			continue
		}
		if _, err := d.waitFor(ctx, p, 3*time.Minute, func(v view) bool { return v.Status == order.Status(order.PhaseInService) }); err != nil {
			return err
		}
		if err := d.unsubscribe(ctx, p); err != nil {
			return err
		}
	}
	return nil
}
