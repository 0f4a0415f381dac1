package testkit

import (
	"testing"

	"github.com/cloudmarket/orders/internal/dev/ports"
)

// FreeAddr is a loopback address whose port is free now, for a server a test starts as its
// own process (which cannot be handed a listener). Tests that can pass a net.Listener
// should do that instead.
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := ports.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
