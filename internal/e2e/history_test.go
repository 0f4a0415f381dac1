package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cloudmarket/orders/internal/order"
)

// history returns the whole event history of an order's workflow (its latest run).
func history(t *testing.T, orderID string) *historypb.History {
	t.Helper()
	return historyOfRun(t, orderID, "")
}

// historyOfRun returns the event history of one run of an order's workflow.
func historyOfRun(t *testing.T, orderID, runID string) *historypb.History {
	t.Helper()
	return workflowHistory(t, order.WorkflowID(orderID), runID)
}

// workflowHistory returns the event history of one run ("" for the latest) of a workflow.
func workflowHistory(t *testing.T, workflowID, runID string) *historypb.History {
	t.Helper()
	iter := stack.Temporal.GetWorkflowHistory(context.Background(), workflowID, runID, false,
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

// recordHistory writes the workflow's history to workflows/testdata when
// RECORD_HISTORIES=1, for the replay tests in package workflows: a workflow change that
// would break a running order fails there. The file is named for the code that made it,
// <version>.<name>.json, where the version is the workflow type and HistoryVersion (bump it
// with every versioned change of the workflow); the histories of the first workflow, from
// before this naming, have no prefix. An existing file is never overwritten: running
// orders still have that shape. Run `make record-histories` after a versioned change.
func recordHistory(t *testing.T, orderID, name string) {
	t.Helper()
	recordRunHistory(t, orderID, "", name)
}

// recordRunHistory is recordHistory for one run of a workflow that continued as new.
func recordRunHistory(t *testing.T, orderID, runID, name string) {
	t.Helper()
	recordWorkflowHistory(t, order.WorkflowID(orderID), runID, name)
}

// recordWorkflowHistory is recordHistory for any workflow (the account workflow, say).
func recordWorkflowHistory(t *testing.T, workflowID, runID, name string) {
	t.Helper()
	if os.Getenv("RECORD_HISTORIES") != "1" {
		return
	}
	h := workflowHistory(t, workflowID, runID)
	typ := h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
	raw, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "workflows", "testdata", strings.ToLower(typ)+"."+HistoryVersion+"."+name+".json")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		t.Logf("%s exists: kept as it is", path)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(raw); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d events to %s", len(h.Events), path)
}

// HistoryVersion names the version of the order workflow's code in recorded histories.
// Bump it with every change that alters the workflow's command sequence (behind
// workflow.GetVersion), so the histories of the new shape are recorded beside the old.
const HistoryVersion = "5"
