// Command soak is `make soak`: the fault soak of internal/soak on this machine. It starts
// the whole stack as separate processes from the binaries next to its own (make build),
// drives -orders orders of every product type and billing mode through the API while it
// kills workers and restarts PostgreSQL and the Temporal server, checks every invariant,
// prints the table, and exits 1 if any check found a violation (2 if the soak could not
// run). The run's data and every process's log stay in -dir.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cloudmarket/orders/internal/soak"
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
	flag.Parse()
	if *orders < 20 || *workers < 1 || *inFlight < 1 {
		fmt.Fprintln(os.Stderr, "soak: -orders must be at least 20, -workers and -inflight at least 1")
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := soak.Run(ctx, soak.Options{
		Orders: *orders, Seed: *seed, BinDir: *binDir, Dir: *dir, Workers: *workers, InFlight: *inFlight,
		Logger: log, Out: os.Stdout,
	})
	if err != nil {
		log.Error("soak could not run", "err", err, "logs", filepath.Join(*dir, "logs"))
		os.Exit(2)
	}
	if !res.OK {
		os.Exit(1)
	}
}
