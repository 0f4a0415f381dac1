package activities

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
)

// TestSellerGates: a seller's slots are its own; a caller that cannot get one in time ends
// as SellerBusy, retryable soon, while another seller is not held up.
func TestSellerGates(t *testing.T) {
	g := NewSellerGates(1000, 2)
	g.maxWait = 50 * time.Millisecond
	ctx := context.Background()
	var leaves []func()
	for range 2 {
		leave, err := g.Enter(ctx, "slow")
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, leave)
	}
	_, err := g.Enter(ctx, "slow")
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != ErrTypeSellerBusy || appErr.NonRetryable() || appErr.NextRetryDelay() <= 0 {
		t.Fatalf("a third call to a seller with 2 slots: %v", err)
	}
	leave, err := g.Enter(ctx, "other")
	if err != nil {
		t.Fatalf("another seller is held up: %v", err)
	}
	leave()
	leaves[0]()
	if leave, err = g.Enter(ctx, "slow"); err != nil {
		t.Fatalf("a freed slot is not reused: %v", err)
	}
	leave()
	var nilGates *SellerGates
	if leave, err := nilGates.Enter(ctx, "any"); err != nil || leave == nil {
		t.Fatal("no gates must mean no limit")
	}
}
