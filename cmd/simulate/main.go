// Command simulate runs the deterministic simulation of the order machine, the account
// machine and the books (internal/sim): seeded runs through random interleavings of every
// event, with the invariants of money, cases, holds, clocks and events checked after every
// step. It prints how many steps and distinct order histories it explored and every
// violation it found, with the seed and a shrunk sequence of actions; it exits 1 if it
// found any. `make simulate` runs it.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/cloudmarket/orders/internal/sim"
)

func main() {
	steps := flag.Int("steps", 1_000_000, "steps to run in all (each seed is one run of -run-steps actions, then it settles)")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "the first seed (the runs use seed, seed+1, ...)")
	runSteps := flag.Int("run-steps", 400, "actions per run before it settles")
	orders := flag.Int("orders", 8, "most orders a run places")
	legacy := flag.Bool("legacy", false, "simulate the rules before 2026-12, to see what they break")
	workers := flag.Int("workers", runtime.GOMAXPROCS(0), "runs at once")
	noShrink := flag.Bool("no-shrink", false, "print violations as found, without shrinking them")
	replay := flag.String("replay", "", "replay the actions in this file (one per line, as printed), tracing each step, instead of exploring")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if *replay != "" {
		os.Exit(trace(*replay, *legacy))
	}

	cfg := sim.Config{Seed: *seed, Steps: *runSteps, MaxOrders: *orders, Legacy: *legacy}
	start := time.Now()
	stats, found := sim.Explore(cfg, *steps, *workers, *noShrink)
	took := time.Since(start)
	rules := "2026-12 rules"
	if *legacy {
		rules = "rules before 2026-12 (-legacy)"
	}
	fmt.Printf("simulation of the %s, seeds from %d\n", rules, *seed)
	fmt.Print(stats.Table())
	fmt.Printf("%d steps in %s: %.0f steps/s; %d distinct order histories; %d violations\n",
		stats.Steps, took.Round(time.Millisecond), float64(stats.Steps)/took.Seconds(), stats.Sequences(), len(found))
	for _, f := range found {
		fmt.Printf("\nVIOLATION %s\n  seed %d (-seed %d -run-steps %d -orders %d), found after %d actions, shrunk to %d:\n",
			f.Violation, f.Seed, f.Seed, *runSteps, *orders, f.Generated, len(f.Actions))
		for _, a := range f.Actions {
			fmt.Printf("    %s\n", a)
		}
	}
	if len(found) > 0 {
		os.Exit(1)
	}
}

// trace replays a file of actions step by step.
func trace(path string, legacy bool) int {
	raw, err := os.ReadFile(path)
	if err != nil {
		slog.Error("read actions", "error", err)
		return 2
	}
	actions, err := sim.ParseAll(string(raw))
	if err != nil {
		slog.Error("parse actions", "error", err)
		return 2
	}
	if v := sim.Trace(sim.Config{Legacy: legacy}, actions, func(line string) { fmt.Println(line) }); v != nil {
		return 1
	}
	return 0
}
