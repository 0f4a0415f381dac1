// Command soak is `make soak`: the fault soak of internal/dev/soak on this machine. It starts
// the whole stack as separate processes from the binaries next to its own (make build),
// drives -orders orders of every product type and billing mode through the API while it
// kills workers and restarts PostgreSQL and the Temporal server, checks every invariant,
// prints the table, and exits 1 if any check found a violation (2 if the soak could not
// run). The run's data and every process's log stay in -dir.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/cloudmarket/orders/internal/dev/soak"
)

func main() {
	exe, _ := os.Executable()
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	orders := flag.Int("orders", 1000, "orders to drive, spread over every product type and billing mode")
	seed := flag.Int64("seed", 0, "seed of the scripts and the faults (0 = from the clock; the table shows it)")
	workers := flag.Int("workers", 2, "worker processes")
	inFlight := flag.Int("inflight", 100, "orders (or pay-per-use customers) driven at once")
	dir := flag.String("dir", filepath.Join(".data", "soak-"+time.Now().UTC().Format("20060102-150405")), "where the run's data and logs go")
	binDir := flag.String("bin", filepath.Dir(exe), "folder of the devstack, orders and sellersim binaries")
	report := flag.String("report", "", "also write the table to this Markdown file, with the machine it ran on")
	flag.Parse()
	if *orders < 20 || *workers < 1 || *inFlight < 1 {
		fmt.Fprintln(os.Stderr, "soak: -orders must be at least 20, -workers and -inflight at least 1")
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var table bytes.Buffer
	res, err := soak.Run(ctx, soak.Options{
		Orders: *orders, Seed: *seed, BinDir: *binDir, Dir: *dir, Workers: *workers, InFlight: *inFlight,
		Logger: log, Out: io.MultiWriter(os.Stdout, &table),
	})
	if err != nil {
		log.Error("soak could not run", "err", err, "logs", filepath.Join(*dir, "logs"))
		os.Exit(2)
	}
	if *report != "" {
		if err := writeReport(*report, table.String()); err != nil {
			log.Error("write the report", "err", err)
			os.Exit(2)
		}
	}
	if !res.OK {
		os.Exit(1)
	}
}

// writeReport writes the table as docs/soak.md keeps it: when, on what machine, the table.
func writeReport(path, table string) error {
	cpu := "unknown CPU"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			if name, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
				break
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Fault soak\n\nThe latest `make soak` (cmd/soak, internal/dev/soak; README.md says what it does and checks), %s,\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "on %d cores of %s, %s/%s, %s.\n\n```\n%s```\n", runtime.NumCPU(), cpu, runtime.GOOS, runtime.GOARCH, runtime.Version(), table)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
