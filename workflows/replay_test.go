package workflows

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/workflows/orderv1"
)

// TestReplayRecordedHistories replays every history in testdata/ (recorded from the real
// stack by the integration tests with RECORD_HISTORIES=1) against the current workflow code.
// A change to the order workflow's command sequence without a version marker fails here,
// before it can break orders that are running in production.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(Order, workflow.RegisterOptions{Name: order.WorkflowType})
			r.RegisterWorkflowWithOptions(orderv1.Order, workflow.RegisterOptions{Name: order.WorkflowTypeV1})
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}
