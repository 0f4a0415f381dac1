package e2e

import (
	"net/http"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// TestHistoryBudget: a supervised SaaS order from placement to in_service stays within 30
// history events (the first workflow took 52), so long-lived orders stay cheap for the
// Temporal cluster. Deterministic: events are counted, not timed.
func TestHistoryBudget(t *testing.T) {
	catalogue(t, "s-budget", "p-budget", true)
	if r := do(t, buyer("c-budget", "POST", "/v1/orders", newOrder("BUDGET-1", "c-budget", "p-budget", 100, time.Hour))); r.status != http.StatusCreated {
		t.Fatalf("POST order: %d %s", r.status, r.body)
	}
	waitStatus(t, "BUDGET-1", order.Status(order.PhaseAwaitingAcceptance), 15*time.Second)
	if r := do(t, buyer("c-budget", "POST", "/v1/orders/BUDGET-1/acceptance", nil)); r.status != http.StatusOK {
		t.Fatalf("accept: %d %s", r.status, r.body)
	}
	h := history(t, "BUDGET-1")
	for _, e := range h.Events {
		t.Logf("%3d %s", e.EventId, e.EventType)
	}
	if n := len(h.Events); n > 30 {
		t.Errorf("%d history events from placement to in_service, budget 30", n)
	}
}
