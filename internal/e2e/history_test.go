package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cloudmarket/orders/internal/order"
)

// history returns the whole event history of an order's workflow.
func history(t *testing.T, orderID string) *historypb.History {
	t.Helper()
	iter := stack.Temporal.GetWorkflowHistory(context.Background(), order.WorkflowID(orderID), "", false,
		enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for iter.HasNext() {
		e, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	return h
}

// assertNoSecretInHistory fails if the seller's access key appears anywhere in the
// workflow's history: inputs, results, failures, search attributes, memo.
func assertNoSecretInHistory(t *testing.T, orderID, secret string) {
	t.Helper()
	raw, err := protojson.Marshal(history(t, orderID))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), secret) {
		t.Fatalf("the access key of the seller appears in the history of order %s", orderID)
	}
}

// recordHistory writes the workflow's history to workflows/testdata/<name>.json when
// RECORD_HISTORIES=1, for the replay tests in package workflows: a workflow change that
// would break a running order fails there. Run `make record-histories` after a deliberate,
// versioned change to add a history of the new shape (never overwrite the old ones).
func recordHistory(t *testing.T, orderID, name string) {
	t.Helper()
	if os.Getenv("RECORD_HISTORIES") != "1" {
		return
	}
	h := history(t, orderID)
	raw, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "workflows", "testdata", name+".json")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d events to %s", len(h.Events), path)
}
