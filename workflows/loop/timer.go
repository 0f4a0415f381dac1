package loop

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// Timer is the one timer an event loop keeps: for its earliest deadline. A loop asks for it
// on every turn; it is replaced only when the deadline moves, so a turn that changes no
// deadline adds nothing to the history.
type Timer struct {
	at     time.Time
	f      workflow.Future
	cancel workflow.CancelFunc
}

// Arm returns the future of the timer for deadline at, starting it (named summary in the
// Temporal UI) or replacing one set for another deadline; with ok false (no deadline) it
// cancels any timer and returns nil.
func (t *Timer) Arm(ctx workflow.Context, at time.Time, ok bool, summary func() string) workflow.Future {
	if t.f != nil && (!ok || !t.at.Equal(at)) {
		t.cancel()
		t.f = nil
	}
	if !ok {
		return nil
	}
	if t.f == nil {
		tctx, cancel := workflow.WithCancel(ctx)
		d := max(at.Sub(workflow.Now(ctx)), 0)
		t.at, t.cancel = at, cancel
		t.f = workflow.NewTimerWithOptions(tctx, d, workflow.TimerOptions{Summary: summary()})
	}
	return t.f
}

// Fired forgets the timer once it has fired: the next Arm starts a new one.
func (t *Timer) Fired() { t.f = nil }

// Stop cancels the timer, if one runs.
func (t *Timer) Stop() {
	if t.f != nil {
		t.cancel()
		t.f = nil
	}
}
