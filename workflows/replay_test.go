package workflows

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// TestReplayRecordedHistories replays every history in testdata/ (recorded from the real
// stack by the integration tests with RECORD_HISTORIES=1) against the current workflow code.
// A change to the order workflow's command sequence without a version marker fails here,
// before it can break orders that are running in production.
//
// REPLAY_HISTORIES_DIR replays the histories of another folder instead: those a previous
// release kept (scripts/replay-release.sh extracts them from its tag) or histories exported
// from a real cluster before a rollout (deploy/README.md, "Releasing workflow code").
func TestReplayRecordedHistories(t *testing.T) {
	dir := "testdata"
	if d := os.Getenv("REPLAY_HISTORIES_DIR"); d != "" {
		dir = d
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no recorded histories in %s", dir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			RegisterWorkflows(r)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}

// BenchmarkReplay replays each recorded path and reports its history events (what an order
// of that path costs the Temporal cluster in storage, and a worker in replay after a cache
// eviction). `make bench` prints it per path, beside the ns/op of one replay.
func BenchmarkReplay(b *testing.B) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		b.Fatalf("no recorded histories: %v", err)
	}
	// One replay before timing any, so the first path does not pay the SDK's first use.
	warm := worker.NewWorkflowReplayer()
	RegisterWorkflows(warm)
	_ = warm.ReplayWorkflowHistoryFromJSONFile(nil, files[0])
	for _, f := range files {
		h, err := client.HistoryFromJSON(mustOpen(b, f), client.HistoryJSONOptions{})
		if err != nil {
			b.Fatalf("read %s: %v", f, err)
		}
		b.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(b *testing.B) {
			r := worker.NewWorkflowReplayer()
			RegisterWorkflows(r)
			for b.Loop() {
				if err := r.ReplayWorkflowHistory(nil, h); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(h.Events)), "events")
		})
	}
}

func mustOpen(b *testing.B, path string) *os.File {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}
