package sim

import (
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// codeOrder makes a licence order a licence-code one (License 2.0), as the API places it:
// the code issued with the order (by reference), supervised (the activation is the
// acceptance), never a trial (licence codes have no TRIAL_TO_FORMAL).
func codeOrder(in *order.StartInput, now time.Time) {
	in.LicenseCode = licence("a", "generated", now)
	in.Supervised = true
	if in.OrderType == order.OrderTypeTrial {
		in.OrderType, in.Amount.Value = "", 9900
		exp := now.AddDate(0, 1, 0)
		if in.BillingMode == order.BillingYearly {
			exp = now.AddDate(1, 0, 0)
		}
		in.ExpireTime = &exp
	}
}
