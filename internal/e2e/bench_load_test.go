package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/orders/internal/order"
)

// Benchmarks of the API and of a mass freeze, each against a baseline measured in the same
// run (these machines are noisy): POST /v1/orders against a bare SDK start, GET of an order
// against the API's cheapest route, a freeze of a thousand orders against the floor its
// seller's rate limit sets. `make bench` runs them and writes docs/benchmarks.md from
// BENCH_REPORT.

// envInt reads a positive count from the environment, or def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// report appends Markdown lines to the file BENCH_REPORT names (make bench), if any.
func report(b *testing.B, lines ...string) {
	path := os.Getenv("BENCH_REPORT")
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for _, l := range lines {
		fmt.Fprintln(f, l)
	}
}

// quantile is the q-quantile (0..1) of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64)
}

// BenchmarkAPILatency (P3): BENCH_LATENCY_ORDERS (default 300) POST /v1/orders, each
// followed by a bare SDK start of a workflow of the same type on a task queue no worker
// polls (the Temporal server's own cost of a start, without our validation, catalogue
// lookup and read-model row), one at a time so that each measures latency, not queueing.
// Then GET /v1/orders/{id} of those orders from 32 concurrent clients while they run their
// lives, against GET /healthz (the HTTP stack and middleware alone) under the same load.
func BenchmarkAPILatency(b *testing.B) {
	n := envInt("BENCH_LATENCY_ORDERS", 300)
	catalogue(b, "s-lat", "p-lat", true)
	for iter := 0; iter < b.N; iter++ {
		prefix := fmt.Sprintf("L%d-%d", time.Now().UnixNano()%1e9, iter)
		var post, start []time.Duration
		ids := make([]string, 0, n)
		for i := range n {
			id := fmt.Sprintf("%s-%d", prefix, i)
			began := time.Now()
			r := do(b, buyer("c-lat", "POST", "/v1/orders", newOrder(id, "c-lat", "p-lat", 1000, time.Hour)))
			post = append(post, time.Since(began))
			if r.status != http.StatusCreated {
				b.Fatalf("POST order %s: %d %s", id, r.status, r.body)
			}
			ids = append(ids, id)
			began = time.Now()
			if _, err := stack.Temporal.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
				ID: "raw-" + id, TaskQueue: "bench-unpolled",
			}, order.WorkflowType, nil); err != nil {
				b.Fatal(err)
			}
			start = append(start, time.Since(began))
		}
		slices.Sort(post)
		slices.Sort(start)

		get := func(path func() string) []time.Duration {
			const clients, perClient = 32, 150
			var mu sync.Mutex
			var all []time.Duration
			var wg sync.WaitGroup
			for range clients {
				wg.Go(func() {
					local := make([]time.Duration, 0, perClient)
					for range perClient {
						began := time.Now()
						r := do(b, buyer("c-lat", "GET", path(), nil))
						local = append(local, time.Since(began))
						if r.status != http.StatusOK {
							b.Errorf("GET %s: %d %s", path(), r.status, r.body)
							return
						}
					}
					mu.Lock()
					all = append(all, local...)
					mu.Unlock()
				})
			}
			wg.Wait()
			slices.Sort(all)
			return all
		}
		began := time.Now()
		gets := get(func() string { return "/v1/orders/" + ids[rand.IntN(len(ids))] })
		getRate := float64(len(gets)) / time.Since(began).Seconds()
		began = time.Now()
		health := get(func() string { return "/healthz" })
		healthRate := float64(len(health)) / time.Since(began).Seconds()

		b.ReportMetric(float64(quantile(post, 0.5).Microseconds())/1000, "post_p50_ms")
		b.ReportMetric(float64(quantile(start, 0.5).Microseconds())/1000, "sdkstart_p50_ms")
		b.ReportMetric(float64(quantile(post, 0.5))/float64(quantile(start, 0.5)), "post/start")
		b.ReportMetric(float64(quantile(gets, 0.5).Microseconds())/1000, "get_p50_ms")
		b.ReportMetric(float64(quantile(gets, 0.99).Microseconds())/1000, "get_p99_ms")
		b.Logf("POST /v1/orders p50 %s ms p99 %s ms; SDK start p50 %s ms p99 %s ms; GET order p50 %s p99 %s ms (%.0f/s); GET /healthz p50 %s p99 %s ms (%.0f/s)",
			ms(quantile(post, 0.5)), ms(quantile(post, 0.99)), ms(quantile(start, 0.5)), ms(quantile(start, 0.99)),
			ms(quantile(gets, 0.5)), ms(quantile(gets, 0.99)), getRate, ms(quantile(health, 0.5)), ms(quantile(health, 0.99)), healthRate)
		report(b,
			"",
			fmt.Sprintf("### P3: API latency (%d orders placed one at a time; GETs from 32 concurrent clients while those orders run)", n),
			"",
			"| measure | p50 ms | p99 ms | baseline (same run) | baseline p50 / p99 ms | ratio p50 |",
			"|---|---|---|---|---|---|",
			fmt.Sprintf("| POST /v1/orders | %s | %s | bare SDK start, same workflow type | %s / %s | %.2f |",
				ms(quantile(post, 0.5)), ms(quantile(post, 0.99)), ms(quantile(start, 0.5)), ms(quantile(start, 0.99)),
				float64(quantile(post, 0.5))/float64(quantile(start, 0.5))),
			fmt.Sprintf("| GET /v1/orders/{id} (%.0f req/s) | %s | %s | GET /healthz, same load (%.0f req/s) | %s / %s | %.2f |",
				getRate, ms(quantile(gets, 0.5)), ms(quantile(gets, 0.99)), healthRate, ms(quantile(health, 0.5)), ms(quantile(health, 0.99)),
				float64(quantile(gets, 0.5))/float64(quantile(health, 0.5))),
		)
	}
}

// BenchmarkMassFreeze (P5): BENCH_FREEZE_ORDERS (default 1000) pay-per-use orders of one
// customer with one seller whose limit in the test policy is 50 calls a second; billing
// reports arrears (the customer's level has no pay-per-use grace), and the clock runs until
// the seller has seen a FREEZE for every order and every order shows frozen. The floor is
// orders / limit; the ratio floor / elapsed says how close to it the freeze runs (1 = at
// the seller's limit, the best a well-behaved client can do).
func BenchmarkMassFreeze(b *testing.B) {
	n := envInt("BENCH_FREEZE_ORDERS", 1000)
	const seller, product = "s-bench-freeze", "p-bench-freeze"
	limit := stack.Policy.SellerLimit(seller)
	catalogueOf(b, seller, product, order.TypeSaaS, order.BillingPayPerUse, nil)
	for iter := 0; iter < b.N; iter++ {
		b.StopTimer()
		customer := fmt.Sprintf("c-freeze-%d-%d", time.Now().UnixNano()%1e9, iter)
		if r := do(b, ops("PUT", "/v1/customers/"+customer, map[string]any{"level": "V4"})); r.status/100 != 2 {
			b.Fatalf("PUT customer: %d %s", r.status, r.body)
		}
		placed := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := range n {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				id := fmt.Sprintf("%s-%04d", customer, i)
				if r := do(b, buyer(customer, "POST", "/v1/orders", oneTimeOrder(id, customer, product, 0))); r.status != http.StatusCreated {
					b.Errorf("POST order %s: %d %s", id, r.status, r.body)
				}
			})
		}
		wg.Wait()
		countIn := func(status order.Status) int {
			var c int
			if err := stack.DB.QueryRow(context.Background(),
				`SELECT count(*) FROM orders WHERE customer_id = $1 AND status = $2`, customer, string(status)).Scan(&c); err != nil {
				b.Fatal(err)
			}
			return c
		}
		waitFor := func(what string, within time.Duration, done func() bool) {
			for deadline := time.Now().Add(within); !done(); time.Sleep(100 * time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatalf("%s not within %v", what, within)
				}
			}
		}
		waitFor("every order in service", 10*time.Minute, func() bool { return countIn(order.Status(order.PhaseInService)) == n })
		provisioned := time.Since(placed)
		before := len(freezeCalls(b, seller))

		b.StartTimer()
		began := time.Now()
		arrears := billingCall("POST", "/v1/customers/"+customer+"/arrears", map[string]any{
			"amount": map[string]any{"value": 100, "currency": "CNY"}, "since": began.Add(-time.Hour).UTC().Format(time.RFC3339)})
		if r := do(b, arrears); r.status != http.StatusAccepted {
			b.Fatalf("report arrears: %d %s", r.status, r.body)
		}
		var calls []simCall
		waitFor("a FREEZE for every order", 10*time.Minute, func() bool {
			calls = freezeCalls(b, seller)
			return len(calls)-before >= n
		})
		waitFor("every order frozen", time.Minute, func() bool { return countIn(order.StatusFrozen) == n })
		elapsed := time.Since(began)
		b.StopTimer()

		floor := time.Duration(float64(n) / limit.CallsPerSecond * float64(time.Second))
		most := maxPerSecond(calls[before:])
		b.ReportMetric(elapsed.Seconds(), "freeze_s")
		b.ReportMetric(floor.Seconds()/elapsed.Seconds(), "floor/elapsed")
		b.ReportMetric(float64(most), "max_calls_per_s")
		b.Logf("%d orders (placed and in service in %v): all frozen in %v; floor %v at %v calls/s; most FREEZE calls within one second %d",
			n, provisioned.Round(time.Second), elapsed.Round(100*time.Millisecond), floor, limit.CallsPerSecond, most)
		reportFreeze(b, n, limit.CallsPerSecond, limit.Concurrency, elapsed, floor, most)
	}
}

func reportFreeze(b *testing.B, n int, perSecond float64, concurrency int, elapsed, floor time.Duration, most int) {
	report(b,
		"",
		fmt.Sprintf("### P5: mass freeze (%d pay-per-use orders of one customer; seller limit %.0f calls/s, %d at once)", n, perSecond, concurrency),
		"",
		"| arrears reported -> every order frozen | floor (orders / limit) | floor / elapsed | most FREEZE calls within one second at the seller |",
		"|---|---|---|---|",
		fmt.Sprintf("| %.1f s | %.1f s | %.2f | %d |", elapsed.Seconds(), floor.Seconds(), floor.Seconds()/elapsed.Seconds(), most),
	)
}

// freezeCalls are the FREEZE calls the simulator recorded for the seller, oldest first.
func freezeCalls(b *testing.B, sellerID string) []simCall {
	var out []simCall
	for _, c := range simCalls(b, sellerID) {
		if c.Activity == "updateInstanceStatus" && c.Status == "FREEZE" {
			out = append(out, c)
		}
	}
	return out
}
