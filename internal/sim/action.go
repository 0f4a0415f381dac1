package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmarket/orders/internal/lifecycle"
)

// ActKind names what an action does.
type ActKind string

// The actions: every event any actor can send, and the world's own moves (time, answers,
// statements, continue-as-new).
const (
	ActPlace     ActKind = "place"     // the web tier places an order: C customer, V its shape (product type, billing mode, supervision)
	ActUpdate    ActKind = "update"    // a party acts on an order: O, Ev, V the variant (who acts, what it says)
	ActAnswer    ActKind = "answer"    // a call of order O finishes: V which of those in flight, Out how
	ActAdvance   ActKind = "advance"   // time moves on by D; every clock due meanwhile fires, in time order
	ActNext      ActKind = "next"      // time moves to the earliest deadline of any order or account, V-1 ns off it
	ActArrears   ActKind = "arrears"   // billing reports arrears of customer C (V: the amount)
	ActPay       ActKind = "pay"       // billing reports a payment of customer C (V: all, part, more, wrong currency)
	ActLevel     ActKind = "level"     // customer C's level lookup answers (V: which grace and retention)
	ActTell      ActKind = "tell"      // customer C's hold activity signals its next order
	ActUsage     ActKind = "usage"     // order O's seller pushes a usage record: begins D before now (V: length, quantity, overlap)
	ActStatement ActKind = "statement" // ops run every seller's statement now
	ActCAN       ActKind = "can"       // order O continues as new (O -1: customer C's account)
)

// Action is one resolved step of a simulation: who does what, with every random choice
// made, so that a sequence replays exactly and the shrinker can drop actions from it. An
// action that names an order or a call that does not exist (after shrinking) does nothing.
type Action struct {
	Kind ActKind
	O, C int
	Ev   lifecycle.EventKind
	V    int
	Out  string
	D    time.Duration
}

// String writes the action as one line that Parse reads back.
func (a Action) String() string {
	var b strings.Builder
	b.WriteString(string(a.Kind))
	switch a.Kind {
	case ActPlace, ActArrears, ActPay, ActLevel, ActTell:
		fmt.Fprintf(&b, " c=%d", a.C)
	case ActUpdate, ActAnswer, ActUsage:
		fmt.Fprintf(&b, " o=%d", a.O)
	case ActCAN:
		fmt.Fprintf(&b, " o=%d c=%d", a.O, a.C)
	}
	if a.Ev != "" {
		fmt.Fprintf(&b, " ev=%s", a.Ev)
	}
	if a.V != 0 {
		fmt.Fprintf(&b, " v=%d", a.V)
	}
	if a.Out != "" {
		fmt.Fprintf(&b, " out=%s", a.Out)
	}
	if a.D != 0 {
		fmt.Fprintf(&b, " d=%s", a.D)
	}
	return b.String()
}

// Parse reads an action written by String.
func Parse(line string) (Action, error) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return Action{}, fmt.Errorf("empty action")
	}
	a := Action{Kind: ActKind(f[0])}
	for _, kv := range f[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return a, fmt.Errorf("action %q: %q is not key=value", line, kv)
		}
		var err error
		switch k {
		case "o":
			a.O, err = strconv.Atoi(v)
		case "c":
			a.C, err = strconv.Atoi(v)
		case "v":
			a.V, err = strconv.Atoi(v)
		case "ev":
			a.Ev = lifecycle.EventKind(v)
		case "out":
			a.Out = v
		case "d":
			a.D, err = time.ParseDuration(v)
		default:
			err = fmt.Errorf("unknown key %q", k)
		}
		if err != nil {
			return a, fmt.Errorf("action %q: %w", line, err)
		}
	}
	return a, nil
}

// ParseAll reads a sequence, one action per line; blank lines and # comments are skipped.
func ParseAll(text string) ([]Action, error) {
	var out []Action
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		a, err := Parse(line)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Format writes a sequence, one action per line.
func Format(actions []Action) string {
	var b strings.Builder
	for _, a := range actions {
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	return b.String()
}
