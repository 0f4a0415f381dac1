package sim

// Shrink reduces a failing sequence to a minimal one that still breaks the same invariant
// (delta debugging: drop halves, then quarters, down to single actions, keeping each drop
// that still fails). The result is what a person reads and what becomes a table test.
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
			end := min(start+chunk, len(actions))
			candidate := append(append([]Action{}, actions[:start]...), actions[end:]...)
			if fails(candidate) {
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
