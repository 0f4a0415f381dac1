package api

import (
	"fmt"
	"testing"

	"go.temporal.io/api/serviceerror"
)

// TestTemporalUnavailable: what a retry may cure is a 503, what it cannot is not; a
// NamespaceNotFound for the API's own namespace is the former (the cluster soak saw it
// while Temporal's PostgreSQL recovered from a crash).
func TestTemporalUnavailable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{serviceerror.NewUnavailable("down"), true},
		{fmt.Errorf("start order X: %w", serviceerror.NewNamespaceNotFound("orders")), true},
		{serviceerror.NewNotFound("no such workflow"), false},
		{serviceerror.NewInvalidArgument("bad"), false},
	} {
		if got := temporalUnavailable(c.err); got != c.want {
			t.Errorf("temporalUnavailable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
