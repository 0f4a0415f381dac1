package devserver

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/orders/internal/searchattr"
	"github.com/cloudmarket/orders/internal/testkit"
)

// TestStartOnFileTwice is one of the two tests of this package (its binary links the whole
// server): a first start creates the SQLite file, the namespace and the order search
// attributes and serves the UI; a second start on the same file finds them again.
func TestStartOnFileTwice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	dbFile := filepath.Join(t.TempDir(), "sub", "temporal.db")

	for round := 1; round <= 2; round++ {
		uiAddr := testkit.FreeAddr(t)
		began := time.Now()
		srv, err := Start(ctx, Options{
			DBFile:       dbFile,
			FrontendAddr: "127.0.0.1:0",
			Namespace:    "orders-test",
			UIAddr:       uiAddr,
			Logger:       log,
		})
		if err != nil {
			t.Fatalf("round %d: Start: %v", round, err)
		}
		t.Logf("round %d: started in %v at %s", round, time.Since(began), srv.FrontendAddr())

		c, err := client.Dial(client.Options{HostPort: srv.FrontendAddr(), Namespace: "orders-test"})
		if err != nil {
			srv.Stop()
			t.Fatal(err)
		}
		ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "orders-test"})
		if err != nil {
			t.Errorf("round %d: DescribeNamespace: %v", round, err)
		} else if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != DefaultRetention {
			t.Errorf("round %d: retention %v, want %v", round, got, DefaultRetention)
		}
		sa, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "orders-test"})
		if err != nil {
			t.Errorf("round %d: ListSearchAttributes: %v", round, err)
		}
		for name, typ := range searchattr.All() {
			if got, ok := sa.GetCustomAttributes()[name]; !ok || got != typ {
				t.Errorf("round %d: search attribute %s = %v (present %v), want %v", round, name, got, ok, typ)
			}
		}
		if round == 2 {
			findBySearchAttribute(ctx, t, c)
		}
		c.Close()

		resp, err := http.Get(srv.UIURL() + "/")
		if err != nil {
			t.Errorf("round %d: UI: %v", round, err)
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || len(body) == 0 {
				t.Errorf("round %d: UI answered %d with %d bytes", round, resp.StatusCode, len(body))
			}
		}

		began = time.Now()
		srv.Stop()
		srv.Stop() // idempotent
		t.Logf("round %d: stopped in %v", round, time.Since(began))
		if _, err := os.Stat(dbFile); err != nil {
			t.Fatalf("round %d: database file: %v", round, err)
		}
		if t.Failed() {
			return
		}
	}
	checkSQLiteSparse(ctx, t, dbFile)
}

// findBySearchAttribute starts a workflow (no worker runs it) with an order's search
// attributes and finds it with a visibility query on one of them, as ops do in the UI: the
// slot's index is partial (sparse.go).
func findBySearchAttribute(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "sparse-probe", TaskQueue: "nobody",
		TypedSearchAttributes: temporal.NewSearchAttributes(searchattr.OrderStatus.ValueSet("sparse_probe")),
	}, "Probe")
	if err != nil {
		t.Fatal(err)
	}
	defer c.TerminateWorkflow(context.Background(), run.GetID(), run.GetRunID(), "probe done") //nolint:errcheck // best effort
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: "orders-test", Query: "OrderStatus = 'sparse_probe'"})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.GetExecutions()); n == 1 {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("OrderStatus = 'sparse_probe' found %d workflows, want 1", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkSQLiteSparse: after the starts, every index of the visibility table over a nullable
// column is partial, and a query on a slot is planned on that slot's index.
func checkSQLiteSparse(ctx context.Context, t *testing.T, file string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var partial, full int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE sql LIKE '% WHERE %'), count(*) FILTER (WHERE sql NOT LIKE '% WHERE %')
		FROM sqlite_master WHERE type = 'index' AND tbl_name = 'executions_visibility' AND sql IS NOT NULL`).Scan(&partial, &full); err != nil {
		t.Fatal(err)
	}
	if partial < 30 || full < 5 {
		t.Errorf("%d partial and %d full visibility indexes; want most partial", partial, full)
	}
	rows, err := db.QueryContext(ctx, `EXPLAIN QUERY PLAN SELECT run_id FROM executions_visibility
		WHERE namespace_id = ? AND Keyword09 = ? ORDER BY COALESCE(close_time, '9999-12-31 23:59:59+00:00') DESC, start_time DESC, run_id LIMIT 10`,
		"ns", "awaiting_acceptance")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if !strings.Contains(strings.Join(plan, "\n"), "by_keyword_09") {
		t.Errorf("a query on Keyword09 is not planned on its partial index: %v", plan)
	}
}
