package lifecycle

import (
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// TestDetailsWritesTimeLeftAsPeopleDo: a clock paused by an appeal shows the time it has
// left in the Temporal UI's current details as a person writes it, never as Go's
// time.Duration prints it (12.970989032s).
func TestDetailsWritesTimeLeftAsPeopleDo(t *testing.T) {
	tests := []struct {
		name string
		left time.Duration
		want string
	}{
		{"seconds at the demo scale", 12970989032 * time.Nanosecond, "- auto-accept: paused by the appeal, 13 s left\n"},
		{"minutes", 45 * time.Minute, "- auto-accept: paused by the appeal, 45 min left\n"},
		{"days and hours", 2*24*time.Hour + 4*time.Hour + 10*time.Minute, "- auto-accept: paused by the appeal, 2 d 4 h left\n"},
		{"nothing left", 0, "- auto-accept: paused by the appeal, 0 s left\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := State{In: startInput(order.TypeService, order.BillingOneTime, true)}
			s.Clocks = Clocks{{Name: ClockAutoAccept, Paused: true, Left: tt.left}}
			got := Details(&s, View(&s, t0))
			if !strings.Contains(got, tt.want) {
				t.Fatalf("details:\n%s\nwant a line %q", got, tt.want)
			}
		})
	}
}
