package soak

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/testkit"
)

// TestShortSoak is the soak's short run inside `make test`: 40 orders (two of every product
// type and billing mode) through the real processes, with worker kills every 5-15 s and one
// restart each of PostgreSQL and Temporal. SOAK_BIN_DIR names prebuilt binaries (make test
// builds them with the race detector first, so that their compilation is shared with the
// other packages' tests); without it the test builds them. SOAK_SEED repeats a run.
func TestShortSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("the soak starts the whole stack")
	}
	bin := os.Getenv("SOAK_BIN_DIR")
	if bin == "" {
		bin = t.TempDir()
		out, err := exec.Command("go", "build", "-race", "-o", bin+string(filepath.Separator),
			"github.com/cloudmarket/orders/cmd/devstack", "github.com/cloudmarket/orders/cmd/orders",
			"github.com/cloudmarket/orders/cmd/sellersim").CombinedOutput()
		if err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	seed, _ := strconv.ParseInt(os.Getenv("SOAK_SEED"), 10, 64)
	// Not t.TempDir: PostgreSQL runs as the postgres user when we are root, and must be
	// able to reach its data folder. Kept when the run fails, for its logs.
	dir, err := os.MkdirTemp("", "soak-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	var out bytes.Buffer
	logs := &testkit.SyncBuffer{}
	res, err := Run(ctx, Options{
		Orders: 40, Seed: seed, BinDir: bin, Dir: dir, Workers: 2,
		KillEvery: [2]time.Duration{5 * time.Second, 15 * time.Second},
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Out:       &out,
	})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatalf("soak could not run: %v\n%s%s", err, logs.String(), problems(dir))
	}
	if !res.OK {
		t.Fatalf("soak found violations (the table above; its progress below)\n%s%s", logs.String(), problems(dir))
	}
	os.RemoveAll(dir)
}

// problems is the warnings and errors of every process's log (the last 40 of each), for a
// failed run in CI, where the folder is not there to read.
func problems(dir string) string {
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		var bad []string
		for _, l := range strings.Split(string(raw), "\n") {
			if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || strings.Contains(l, "DATA RACE") ||
				strings.HasPrefix(l, "panic") || strings.HasPrefix(l, "----") {
				bad = append(bad, l)
			}
		}
		fmt.Fprintf(&b, "\n== %s (%d lines of warnings, errors and restarts; the last 40)\n", filepath.Base(f), len(bad))
		for _, l := range bad[max(0, len(bad)-40):] {
			b.WriteString(l[:min(len(l), 400)] + "\n")
		}
	}
	return b.String() + "\nlogs kept in " + dir
}
