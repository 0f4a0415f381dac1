package orderv1

import (
	"fmt"
	"strings"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// currentDetails renders what the Temporal UI shows as the workflow's current details: where
// the order stands, who it waits on, and what happens next. Markdown, as the UI renders it.
func currentDetails(v order.View) string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** (%s, %s)\n\n", v.Status, v.ProductType, v.BillingMode)
	fmt.Fprintf(&b, "Waiting on: **%s**\n\n", v.WaitingOn)
	if v.InstanceID != "" {
		fmt.Fprintf(&b, "Instance: `%s`\n\n", v.InstanceID)
	}
	if v.NeedsAttention {
		b.WriteString("**Needs ops attention**: retry with POST /v1/orders/" + v.OrderID + "/retry\n\n")
	}
	if v.LastError != "" {
		fmt.Fprintf(&b, "Last error: %s\n\n", v.LastError)
	}
	for _, d := range v.Deadlines {
		fmt.Fprintf(&b, "- %s at %s\n", d.Action, d.At.UTC().Format(time.RFC3339))
	}
	return b.String()
}
