package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/internal/order"
)

// Bare workflow: the work of a supervised SaaS order as the first order workflow did it (12
// activities, one update, three timers) with activities that do nothing: a fixed baseline
// for this machine's Temporal server. A ratio above 1 means the real order, with all its
// PostgreSQL, seller HTTP and API work, costs the server less than that naive shape (the
// event loop records transitions in local activities and keeps one timer).
const (
	bareTaskQueue  = "bench-bare"
	bareActivities = 12
)

func bareNoop(context.Context, int) error { return nil }

func bareWorkflow(ctx workflow.Context, timer time.Duration) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
	accepted := false
	if err := workflow.SetUpdateHandlerWithOptions(ctx, "accept", func(workflow.Context) error {
		accepted = true
		return nil
	}, workflow.UpdateHandlerOptions{Validator: func() error {
		if accepted {
			return temporal.NewApplicationError("already accepted", order.ErrInvalidTransition)
		}
		return nil
	}}); err != nil {
		return err
	}
	run := func(n int) error {
		for i := range n {
			if err := workflow.ExecuteActivity(ctx, bareNoop, i).Get(ctx, nil); err != nil {
				return err
			}
		}
		return nil
	}
	if err := run(3); err != nil { // placed, instance created, delivered
		return err
	}
	if err := workflow.Await(ctx, func() bool { return accepted }); err != nil {
		return err
	}
	if err := run(2); err != nil { // settlement, accepted
		return err
	}
	for range 3 { // expiry, grace, retention
		if err := workflow.Sleep(ctx, timer); err != nil {
			return err
		}
		if err := run(2); err != nil {
			return err
		}
	}
	return run(bareActivities - 11)
}

// BenchmarkOrderThroughput runs BENCH_ORDERS (default 100) supervised SaaS orders through
// the whole path on the embedded stack (HTTP API -> workflow -> seller simulator over HTTP
// -> PostgreSQL; acceptance through the API; expiry, grace, freeze, retention, release), and,
// in the same run, as many bare workflows of the same shape. It reports both rates, their
// ratio and the history events per order. Run with `make bench` (-benchtime=1x).
func BenchmarkOrderThroughput(b *testing.B) {
	n := envInt("BENCH_ORDERS", 100)
	const inFlight = 200 // as in the platform notes' measurements: enough to keep the box CPU-bound
	life := time.Second  // order lifetime after acceptance, before grace and retention
	w := sdkworker.New(stack.Temporal, bareTaskQueue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(bareWorkflow, workflow.RegisterOptions{Name: "BenchBare"})
	w.RegisterActivity(bareNoop)
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	catalogue(b, "s-bench", "p-bench", true)

	for iter := 0; iter < b.N; iter++ {
		b.StopTimer()
		prefix := fmt.Sprintf("B%d-%d", time.Now().UnixNano()%1e9, iter)
		b.StartTimer()

		orderRate, orderEvents := measure(b, n, inFlight, func(i int) (string, error) {
			id := fmt.Sprintf("%s-%d", prefix, i)
			r := do(b, buyer("c-bench", "POST", "/v1/orders", newOrder(id, "c-bench", "p-bench", 1000, life)))
			if r.status != http.StatusCreated {
				return "", fmt.Errorf("POST order %s: %d %s", id, r.status, r.body)
			}
			// Accept as soon as the read model shows the order waiting for it, as the web
			// tier would; 503 (an overloaded box) is retried like a browser would.
			for waitUntil := time.Now().Add(2 * time.Minute); ; {
				if time.Now().After(waitUntil) {
					return "", fmt.Errorf("order %s not awaiting acceptance within 2 minutes: %d %s", id, r.status, r.body)
				}
				time.Sleep(100 * time.Millisecond)
				r = do(b, buyer("c-bench", "GET", "/v1/orders/"+id, nil))
				var v order.View
				if r.status == http.StatusOK && json.Unmarshal(r.body, &v) == nil && v.Status == order.Status(order.PhaseAwaitingAcceptance) {
					break
				}
			}
			for {
				r = do(b, buyer("c-bench", "POST", "/v1/orders/"+id+"/acceptance", nil))
				switch r.status {
				case http.StatusOK:
					return order.WorkflowID(id), nil
				case http.StatusServiceUnavailable:
					time.Sleep(100 * time.Millisecond)
				default:
					return "", fmt.Errorf("accept %s: %d %s", id, r.status, r.body)
				}
			}
		})
		// The bare workflow's timers last as long as the order's: expiry after acceptance
		// and the test policy's grace and retention (300 ms each), averaged.
		bareRate, bareEvents := measure(b, n, inFlight, func(i int) (string, error) {
			id := fmt.Sprintf("bare-%s-%d", prefix, i)
			if _, err := stack.Temporal.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
				ID: id, TaskQueue: bareTaskQueue,
			}, "BenchBare", (life+600*time.Millisecond)/3); err != nil {
				return "", err
			}
			for {
				h, err := stack.Temporal.UpdateWorkflow(context.Background(), client.UpdateWorkflowOptions{
					WorkflowID: id, UpdateName: "accept", WaitForStage: client.WorkflowUpdateStageCompleted,
				})
				if err == nil {
					err = h.Get(context.Background(), nil)
				}
				if err == nil {
					return id, nil
				}
				var appErr *temporal.ApplicationError
				if errors.As(err, &appErr) {
					return id, nil // accepted by an earlier attempt
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
		b.ReportMetric(orderRate, "orders/s")
		b.ReportMetric(bareRate, "bare_wf/s")
		b.ReportMetric(orderRate/bareRate, "order/bare")
		b.ReportMetric(float64(orderEvents), "events/order")
		b.ReportMetric(float64(bareEvents), "events/bare_wf")
		b.Logf("%d orders: %.1f orders/s; bare workflows of the same shape: %.1f wf/s; ratio %.2f; history events per order %d (bare %d)",
			n, orderRate, bareRate, orderRate/bareRate, orderEvents, bareEvents)
		report(b,
			"",
			fmt.Sprintf("### P1: full-lifecycle throughput (%d supervised SaaS orders, %d in flight)", n, inFlight),
			"",
			"Temporal server: "+benchServer+".",
			"",
			"Each order: POST through the API, provisioning at the simulator over signed HTTP, the buyer's acceptance",
			"through the API once GET shows it waiting, settlement posted, expiry, grace, FREEZE, retention, release.",
			"The baseline is a bare workflow with the same number of activities (no-ops), one update and the same",
			"timers, started and updated through the SDK on the same server in the same run.",
			"",
			"| orders/s | bare workflows/s | ratio (target >= 0.8) | history events per order | per bare workflow |",
			"|---|---|---|---|---|",
			fmt.Sprintf("| %.1f | %.1f | %.2f | %d | %d |", orderRate, bareRate, orderRate/bareRate, orderEvents, bareEvents),
		)
	}
}

// measure runs start for n items with at most inFlight at once, waits for every workflow
// to complete, and returns completions per second and the history length of one of them.
func measure(b *testing.B, n, inFlight int, start func(i int) (workflowID string, err error)) (rate float64, events int64) {
	b.Helper()
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	var failed atomic.Value
	var lastID atomic.Value
	began := time.Now()
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id, err := start(i)
			if err == nil {
				// Bounded: an order stuck waiting for ops fails the benchmark, never hangs it.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				err = stack.Temporal.GetWorkflow(ctx, id, "").Get(ctx, nil)
				cancel()
				if err != nil {
					err = fmt.Errorf("workflow %s did not complete: %w", id, err)
				}
			}
			if err != nil {
				failed.Store(err)
				return
			}
			lastID.Store(id)
		}()
	}
	wg.Wait()
	elapsed := time.Since(began)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	id, _ := lastID.Load().(string)
	desc, err := stack.Temporal.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		b.Fatal(err)
	}
	return float64(n) / elapsed.Seconds(), desc.WorkflowExecutionInfo.GetHistoryLength()
}
