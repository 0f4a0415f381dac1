package sim

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
)

// TestSimulation is the bounded run of `make simulate` inside `make test`: SIM_STEPS steps
// (default 150,000; a few seconds even under the race detector) from a fixed seed, every
// invariant after every step, no violation. `make simulate` runs a million from a fresh
// seed each time.
func TestSimulation(t *testing.T) {
	steps := 150_000
	if v, err := strconv.Atoi(os.Getenv("SIM_STEPS")); err == nil && v > 0 {
		steps = v
	}
	if testing.Short() {
		steps = 20_000
	}
	stats, found := Explore(Config{Seed: 20261206}, steps, runtime.GOMAXPROCS(0), false)
	t.Logf("%s", stats.Table())
	for _, f := range found {
		t.Errorf("%s\n  seed %d, shrunk to:\n%s", f.Violation, f.Seed, Format(f.Actions))
	}
	if stats.Sequences() < 1000 {
		t.Errorf("only %d distinct order histories in %d steps: the generator no longer explores", stats.Sequences(), stats.Steps)
	}
}

// TestRunsAreRepeatable: a seed is a run, action for action, so a violation's seed and its
// shrunk sequence reproduce it.
func TestRunsAreRepeatable(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		a := Run(Config{Seed: seed}, nil)
		b := Run(Config{Seed: seed}, nil)
		if !slices.Equal(a.Actions, b.Actions) || (a.Violation == nil) != (b.Violation == nil) {
			t.Fatalf("seed %d ran two ways", seed)
		}
		again, err := ParseAll(Format(a.Actions))
		if err != nil || !slices.Equal(again, a.Actions) {
			t.Fatalf("seed %d: the actions do not survive Format and ParseAll: %v", seed, err)
		}
	}
}

// TestShrinkKeepsTheViolation: under the rules before 2026-12 a renewal before acceptance
// posts a payable line; the shrinker cuts a long run down to the two actions that do it.
func TestShrinkKeepsTheViolation(t *testing.T) {
	cfg := Config{Legacy: true}
	long := []Action{{Kind: ActStatement}, {Kind: ActAdvance, D: 3600e9}, {Kind: ActPlace, C: 0, V: 1380}, {Kind: ActStatement},
		{Kind: ActPay, C: 1}, {Kind: ActUpdate, O: 0, Ev: "renew", V: 860}, {Kind: ActStatement}}
	v, _ := Replay(cfg, long)
	if v == nil || v.Invariant != "money" {
		t.Fatalf("the long sequence breaks %v", v)
	}
	short := Shrink(cfg, long, "money")
	if len(short) != 2 || short[0].Kind != ActPlace || short[1].Ev != "renew" || short[1].O != 0 {
		t.Fatalf("shrunk to\n%s", Format(short))
	}
}

// FuzzSimulation is the fuzzer's way into the same generator: any seed, a short run, no
// invariant broken.
func FuzzSimulation(f *testing.F) {
	for _, seed := range []uint64{1, 42, 20261206} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		res := Run(Config{Seed: seed, Steps: 60, MaxOrders: 3}, nil)
		if res.Violation != nil {
			t.Fatalf("%s\nshrunk:\n%s", res.Violation, Format(Shrink(Config{Steps: 60, MaxOrders: 3}, res.Actions, res.Violation.Invariant)))
		}
	})
}

// BenchmarkSimulation reports the simulation's speed in steps per second (make bench prints
// it), on one goroutine.
func BenchmarkSimulation(b *testing.B) {
	stats := NewStats()
	seed := uint64(1)
	for b.Loop() {
		Run(Config{Seed: seed}, stats)
		seed++
	}
	b.ReportMetric(float64(stats.Steps)/b.Elapsed().Seconds(), "steps/s")
	b.ReportMetric(float64(stats.Steps)/float64(b.N), "steps/run")
}
