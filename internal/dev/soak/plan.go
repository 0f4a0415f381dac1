package soak

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cloudmarket/orders/internal/dev/sellersim"
	"github.com/cloudmarket/orders/internal/order"
)

// deliveryScript is what the buyer does once the order waits for acceptance.
type deliveryScript string

const (
	deliverAccept         deliveryScript = "accept"
	deliverRejectOnce     deliveryScript = "reject_then_accept"
	deliverAppealContinue deliveryScript = "appeal_continue"
	deliverAppealAccept   deliveryScript = "appeal_accept"
	deliverAppealRefund   deliveryScript = "appeal_refund"
)

// afterScript is what billing (and the seller) do once a subscribed order is in service.
type afterScript string

const (
	afterNothing          afterScript = "none" // one-time: completed at acceptance
	afterUnsubscribe      afterScript = "unsubscribe"
	afterRenewUnsubscribe afterScript = "renew_unsubscribe"
	afterExpire           afterScript = "expire"
	afterExpireRenew      afterScript = "expire_renew_unsubscribe"
	afterArrearsPaid      afterScript = "arrears_paid_unsubscribe"
	afterArrearsUnpaid    afterScript = "arrears_unpaid"
	afterUsageUnsubscribe afterScript = "usage_unsubscribe"
)

// The scripts' constants.
const (
	expiringLife       = 60 * time.Second // the life of an order whose script lets it expire
	payPerUseGroupSize = 4                // pay-per-use orders per customer
	refusePercent      = 5                // of the instance sellers' orders, refused
	commissionBps      = 1500
	arrearsCurrency    = "CNY" // billing reports arrears and payments in it
)

// sellerSpec is one simulated seller: its product type, whether its products are
// supervised, the currency it sells in, and how the simulator behaves for it.
type sellerSpec struct {
	id         string
	typ        order.ProductType
	supervised bool
	currency   string
	behaviour  map[string]any
}

// chaos is the simulator's fault injection for a seller that gets protocol calls.
func chaos(seed int64) map[string]any {
	return map[string]any{"failPercent": 12, "losePercent": 5, "latencyMaxMs": 150,
		"refusePercent": refusePercent, "gonePercent": 20, "seed": seed}
}

func sellerSpecs(seed int64) []sellerSpec {
	with := func(m map[string]any, n int64) map[string]any { m["chaos"] = chaos(seed + n); return m }
	return []sellerSpec{
		{"s-saas", order.TypeSaaS, false, "CNY", with(map[string]any{"mode": "sync"}, 1)},
		{"s-saas-async", order.TypeSaaS, true, "CNY", with(map[string]any{"mode": "async", "asyncDelayMs": 1500}, 2)},
		{"s-lic-answer", order.TypeLicense, true, "CNY", with(map[string]any{"mode": "sync", "license": "answer"}, 3)},
		{"s-lic-query", order.TypeLicense, true, "USD", with(map[string]any{"mode": "async", "asyncDelayMs": 800, "license": "query"}, 4)},
		{"s-lic-callback", order.TypeLicense, true, "CNY", with(map[string]any{"mode": "sync", "license": "callback", "licenseDelayMs": 700}, 5)},
		{"s-pkg", order.TypePackage, true, "CNY", map[string]any{}},
		{"s-hw", order.TypeHardware, true, "USD", map[string]any{}},
		{"s-svc", order.TypeService, true, "USD", map[string]any{}},
	}
}

// callsSeller says whether orders of the type ask the seller for an instance (and so meet
// the simulator's refusals and faults).
func callsSeller(t order.ProductType) bool { return t == order.TypeSaaS || t == order.TypeLicense }

var (
	types = []order.ProductType{order.TypeSaaS, order.TypeLicense, order.TypePackage, order.TypeHardware, order.TypeService}
	modes = []order.BillingMode{order.BillingOneTime, order.BillingMonthly, order.BillingYearly, order.BillingPayPerUse}
)

func productID(sellerID string, m order.BillingMode) string { return "p-" + sellerID + "-" + string(m) }

// plan is one order's script and, once driven, what happened to it.
type plan struct {
	id, customer, sellerID, productID string
	typ                               order.ProductType
	mode                              order.BillingMode
	supervised                        bool
	currency                          string
	value                             int64
	delivery                          deliveryScript
	after                             afterScript
	refused                           bool // the simulator refuses its newInstance
	expect                            order.Status

	// Filled in by the driver.
	placed     bool   // the API took the order
	renewals   int    // renewals the API took
	final      view   // the last view read
	driveError string // why the driver could not play the script to its end
}

// group is the pay-per-use orders of one customer, whose account the script drives.
type group struct {
	customer string
	level    string
	after    afterScript
	orders   []*plan
}

// makePlans spreads n orders (at least) evenly over every product type and billing mode,
// and draws each one's script from rng.
func makePlans(n int, run string, rng *rand.Rand) (singles []*plan, groups []*group, customers map[string]string) {
	specs := sellerSpecs(0)
	byType := map[order.ProductType][]sellerSpec{}
	for _, s := range specs {
		byType[s.typ] = append(byType[s.typ], s)
	}
	customers = map[string]string{}
	perCombo := (n + len(types)*len(modes) - 1) / (len(types) * len(modes))
	var payPerUse []*plan
	i := 0
	for _, m := range modes {
		for _, t := range types {
			for k := range perCombo {
				s := byType[t][k%len(byType[t])]
				p := &plan{
					id:  fmt.Sprintf("SK%s-%04d", run, i),
					typ: t, mode: m, sellerID: s.id, productID: productID(s.id, m), supervised: s.supervised,
					currency: s.currency,
					value:    1000 + rng.Int64N(99_000),
				}
				i++
				p.refused = callsSeller(t) && sellersim.Refuses(p.id, refusePercent)
				p.delivery = deliverAccept
				if p.supervised {
					switch r := rng.IntN(100); {
					case r < 12:
						p.delivery = deliverRejectOnce
					case r < 18:
						p.delivery = deliverAppealContinue
					case r < 24:
						p.delivery = deliverAppealAccept
					case r < 30:
						p.delivery = deliverAppealRefund
					}
				}
				switch m {
				case order.BillingOneTime:
					p.after = afterNothing
				case order.BillingMonthly, order.BillingYearly:
					switch r := rng.IntN(100); {
					case r < 30:
						p.after = afterUnsubscribe
					case r < 65:
						p.after = afterRenewUnsubscribe
					case r < 85:
						p.after = afterExpire
					default:
						p.after = afterExpireRenew
					}
				case order.BillingPayPerUse:
					payPerUse = append(payPerUse, p)
					p.value = 0
				}
				if m != order.BillingPayPerUse {
					p.customer = fmt.Sprintf("c%s-%02d", run, rng.IntN(40))
					level := "V2"
					if p.after == afterExpireRenew {
						p.customer, level = fmt.Sprintf("c%s-v5-%02d", run, rng.IntN(10)), "V5"
					}
					customers[p.customer] = level
					singles = append(singles, p)
				}
				p.expect = expected(p)
			}
		}
	}
	rng.Shuffle(len(singles), func(a, b int) { singles[a], singles[b] = singles[b], singles[a] })
	rng.Shuffle(len(payPerUse), func(a, b int) { payPerUse[a], payPerUse[b] = payPerUse[b], payPerUse[a] })
	for len(payPerUse) > 0 {
		k := min(payPerUseGroupSize, len(payPerUse))
		g := &group{customer: fmt.Sprintf("c%s-ppu-%03d", run, len(groups)), level: "V2", orders: payPerUse[:k]}
		payPerUse = payPerUse[k:]
		switch r := rng.IntN(100); {
		case r < 40:
			g.after, g.level = afterArrearsPaid, "V5" // a minute of retention: time to pay
		case r < 70:
			g.after = afterArrearsUnpaid
		default:
			g.after = afterUsageUnsubscribe
		}
		for _, p := range g.orders {
			p.customer, p.after = g.customer, g.after
		}
		customers[g.customer] = g.level
		groups = append(groups, g)
	}
	return singles, groups, customers
}

// expected is the status an order must end in when its script has been played.
func expected(p *plan) order.Status {
	switch {
	case p.refused || p.delivery == deliverAppealRefund:
		return order.Status(order.PhaseCancelled)
	case p.mode == order.BillingOneTime:
		return order.Status(order.PhaseCompleted)
	default:
		return order.Status(order.PhaseReleased)
	}
}
