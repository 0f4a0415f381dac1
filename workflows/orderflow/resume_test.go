package orderflow

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/lifecycle"
	"github.com/cloudmarket/orders/internal/order"
)

// TestResumePayload: what ResumePayload encodes is what the workflow's resume path decodes.
func TestResumePayload(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	st := lifecycle.State{
		In:    order.StartInput{OrderID: "O-1", PlacedAt: at},
		Phase: order.PhaseAwaitingAcceptance, Rules: lifecycle.RulesCurrent,
		Clocks: lifecycle.Clocks{{Name: lifecycle.ClockAutoAccept, At: at.Add(time.Hour)}},
		Calls:  lifecycle.Calls{{Kind: lifecycle.CallFreeze, State: lifecycle.CallRunning}},
	}
	raw, err := ResumePayload(st, 7)
	if err != nil {
		t.Fatal(err)
	}
	var r resumed
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	if r.Seq != 7 || !reflect.DeepEqual(r.State, st) {
		t.Fatalf("decoded %+v, want %+v at 7", r, st)
	}
}
