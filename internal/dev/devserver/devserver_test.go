package devserver

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/orders/internal/searchattr"
	"github.com/cloudmarket/orders/internal/testkit"
)

// TestStartOnFileTwice is the one test of this package (its binary links the whole
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
}
