package sim

import (
	"regexp"
	"sync"
)

// Found is a violation the exploration found, shrunk.
type Found struct {
	Seed      uint64
	Violation Violation
	// Actions is the shrunk sequence that breaks the invariant (replay it with Replay).
	Actions []Action
	// Generated is how many actions the run had taken when it broke it.
	Generated int
}

// Explore runs seeds from cfg.Seed on, on workers goroutines, until at least steps steps
// have run, and returns the counts and the violations found: the first of each kind (an
// invariant and its message with the numbers taken out), shrunk unless noShrink. Each seed
// is one run, repeatable on its own.
func Explore(cfg Config, steps, workers int, noShrink bool) (*Stats, []Found) {
	cfg.defaults()
	workers = max(workers, 1)
	total := NewStats()
	var (
		mu    sync.Mutex
		next  = cfg.Seed
		found []Found
		kinds = map[string]bool{}
		wg    sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := NewStats()
			defer func() {
				mu.Lock()
				total.Merge(local)
				mu.Unlock()
			}()
			for {
				mu.Lock()
				if total.Steps >= steps {
					mu.Unlock()
					return
				}
				seed := next
				next++
				mu.Unlock()
				c := cfg
				c.Seed = seed
				res := Run(c, local)
				// Count this run's steps in the budget now (other counts merge at the end).
				mu.Lock()
				total.Steps += local.Steps
				local.Steps = 0
				mu.Unlock()
				if res.Violation == nil {
					continue
				}
				local.Runs++ // a run that broke an invariant counts too
				key := res.Violation.Invariant + ": " + numbers.ReplaceAllString(hexIDs.ReplaceAllString(res.Violation.Detail, "AP"), "#")
				mu.Lock()
				seen := kinds[key]
				kinds[key] = true
				mu.Unlock()
				if seen {
					continue
				}
				f := Found{Seed: seed, Violation: *res.Violation, Actions: res.Actions, Generated: len(res.Actions)}
				if !noShrink {
					f.Actions = Shrink(c, res.Actions, res.Violation.Invariant)
					if v, _ := Replay(c, f.Actions); v != nil {
						f.Violation = *v
					}
				}
				mu.Lock()
				found = append(found, f)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return total, found
}

var (
	numbers = regexp.MustCompile(`[0-9]+`)
	hexIDs  = regexp.MustCompile(`AP[0-9a-f]{20}`)
)
