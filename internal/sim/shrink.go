package sim

// Shrink reduces a failing sequence to a minimal one that still breaks the same invariant
// (delta debugging: drop halves, then quarters, down to single actions, keeping each drop
// that still fails). Dropping an order's placing drops what names that order and renumbers
// the orders after it, so that a shrunk sequence holds only the orders it needs. The result
// is what a person reads and what becomes a table test.
func Shrink(cfg Config, actions []Action, invariant string) []Action {
	fails := func(seq []Action) bool {
		v, _ := Replay(cfg, seq)
		return v != nil && v.Invariant == invariant
	}
	if v, at := Replay(cfg, actions); v != nil && at < len(actions) {
		actions = actions[:at+1]
	}
	n := 2
	for len(actions) >= 2 {
		chunk := (len(actions) + n - 1) / n
		reduced := false
		for start := 0; start < len(actions); start += chunk {
			candidate := without(actions, start, min(start+chunk, len(actions)))
			if len(candidate) < len(actions) && fails(candidate) {
				actions = candidate
				n = max(n-1, 2)
				reduced = true
				break
			}
		}
		if !reduced {
			if n >= len(actions) {
				break
			}
			n = min(2*n, len(actions))
		}
	}
	return actions
}

// without drops actions[from:to]; the orders those placed are dropped too (every action
// that names one), and the orders placed after them renumbered.
func without(actions []Action, from, to int) []Action {
	var out []Action
	next, placed := 0, 0
	renumber := map[int]int{}
	for i, a := range actions {
		drop := i >= from && i < to
		if a.Kind == ActPlace {
			if !drop {
				renumber[placed] = next
				next++
			}
			placed++
		}
		if drop {
			continue
		}
		switch a.Kind {
		case ActUpdate, ActAnswer, ActUsage:
			o, ok := renumber[a.O]
			if !ok {
				continue
			}
			a.O = o
		case ActCAN:
			if a.O >= 0 {
				o, ok := renumber[a.O]
				if !ok {
					continue
				}
				a.O = o
			}
		}
		out = append(out, a)
	}
	return out
}
