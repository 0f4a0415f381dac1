// Package policy loads and validates the order policy file: the retry windows for seller
// calls, the supervision clocks and the per-level grace and retention periods. Windows are
// snapshotted, already scaled, into each order's workflow input (order.Windows), so a change
// to them affects new orders only and never a running workflow's replay. Grace and retention
// are read when an order expires (through an activity, so replay is unaffected): a level's
// new clocks apply to every order that expires after the change.
package policy

import (
	"bytes"
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/cloudmarket/orders/internal/order"
)

//go:embed default.yaml
var defaultYAML []byte

// Duration is a time.Duration written as Go duration text, with "d" for days allowed.
type Duration time.Duration

// UnmarshalYAML parses "90s", "1h30m" or "7d".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses Go duration text, also accepting a whole number of days ("7d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 36500 {
			return 0, fmt.Errorf("bad duration %q: want whole days 0-36500", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: %w", s, err)
	}
	return d, nil
}

// Retry is a retry schedule in the policy file.
type Retry struct {
	Interval Duration `yaml:"interval"`
	Window   Duration `yaml:"window"`
}

// Clocks are a grace period (the service stays usable) and the retention period that
// follows it (frozen, then released).
type Clocks struct {
	Grace     Duration `yaml:"grace"`
	Retention Duration `yaml:"retention"`
}

// Level holds the clocks of one customer level: those of a subscription (yearly, monthly)
// after its expiry, and those of pay-per-use orders after the customer falls into arrears.
type Level struct {
	Subscription Clocks `yaml:"subscription"`
	PayPerUse    Clocks `yaml:"payPerUse"`
}

// Levels are the customer levels the policy must define, lowest first.
var Levels = []string{"V0", "V1", "V2", "V3", "V4", "V5"}

// ClockKind says which of a level's clocks apply.
type ClockKind string

// The kinds of a level's clocks.
const (
	SubscriptionClocks ClockKind = "subscription"
	PayPerUseClocks    ClockKind = "payPerUse"
)

// Policy is the parsed, validated policy file.
type Policy struct {
	TimeScale float64 `yaml:"timeScale"`
	Seller    struct {
		NewInstance Retry `yaml:"newInstance"`
		Poll        Retry `yaml:"poll"`
		Calls       Retry `yaml:"calls"`
		// PerSeller limits the calls to one seller, all workers together (the shared
		// limiter, activities.SharedLimiter); it is the default, for sellers ops set no
		// limits for through PUT /v1/sellers/{id}/limits.
		PerSeller SellerLimit `yaml:"perSeller"`
		// Sellers overrides PerSeller for the sellers named (by seller ID): a seller that
		// has told us its endpoint takes more, or less.
		Sellers map[string]SellerLimit `yaml:"sellers"`
	} `yaml:"seller"`
	Supervision struct {
		AcceptanceWindow map[order.ProductType]Duration `yaml:"acceptanceWindow"`
		RefundHold       Duration                       `yaml:"refundHold"`
		RejectionLimit   int                            `yaml:"rejectionLimit"`
		DeploymentSLA    Duration                       `yaml:"deploymentSLA"`
		RedeliverySLA    Duration                       `yaml:"redeliverySLA"`
		LicenseWait      Duration                       `yaml:"licenseWait"`
		// ActivationWindow: a licence code not activated this long after its issue flags
		// the order for ops (license_code_not_activated). Left out: 30d.
		ActivationWindow Duration `yaml:"activationWindow"`
		// FirstDeliverySLA, ShipmentSLA and SignoffSLA flag an order for ops when a
		// service's first delivery, hardware's first shipment or the carrier's sign-off
		// after it does not come within them (the phase does not change).
		FirstDeliverySLA Duration `yaml:"firstDeliverySLA"`
		ShipmentSLA      Duration `yaml:"shipmentSLA"`
		SignoffSLA       Duration `yaml:"signoffSLA"`
	} `yaml:"supervision"`
	Appeals struct {
		// Tiers are the SLA of each appeal tier but the last, which stays open until
		// resolved: [2d, 3d] means tier 1 escalates after 2 days, tier 2 after 3 more,
		// and tier 3 is the last.
		Tiers []Duration `yaml:"tiers"`
		// LastTierSLA: an appeal at the last tier unresolved this long flags the order for
		// ops (it stays open).
		LastTierSLA Duration `yaml:"lastTierSLA"`
		// MaxPerOrder caps the appeals of one order; past it, appeal_limit_reached.
		MaxPerOrder int `yaml:"maxPerOrder"`
	} `yaml:"appeals"`
	Attention struct {
		// OurSideAfter: a seller call still running this long after its whole seller
		// window is failing on our side (it never reached the seller): the order is
		// flagged for ops with cause call_failing_our_side; the call goes on. Default 1h.
		OurSideAfter Duration `yaml:"ourSideAfter"`
	} `yaml:"attention"`
	DefaultLevel string           `yaml:"defaultLevel"`
	Levels       map[string]Level `yaml:"levels"`
	Settlement   struct {
		// StatementDay and StatementHour (UTC) are when the monthly seller statements of
		// the month before run.
		StatementDay  int `yaml:"statementDay"`
		StatementHour int `yaml:"statementHour"`
	} `yaml:"settlement"`
	Health struct {
		// Hour (UTC) is when the daily product health check runs.
		Hour int `yaml:"hour"`
		// FailingDays: a product whose seller calls failed on this many consecutive days
		// is delisted; a day fails when at least FailingDayShare of its calls failed.
		FailingDays     int     `yaml:"failingDays"`
		FailingDayShare float64 `yaml:"failingDayShare"`
		// MonthlyFailedOrders: more orders than this failed by the seller interface in a
		// calendar month delists the product.
		MonthlyFailedOrders int `yaml:"monthlyFailedOrders"`
	} `yaml:"health"`
	History struct {
		// MaxEventsPerRun: a run of the order workflow that reaches this many history
		// events continues as new, carrying its state.
		MaxEventsPerRun int `yaml:"maxEventsPerRun"`
	} `yaml:"history"`
}

// Default returns the built-in policy.
func Default() *Policy {
	p, err := Parse(defaultYAML)
	if err != nil {
		panic("policy: built-in default is invalid: " + err.Error())
	}
	return p
}

// Load reads the policy file at path (empty: the built-in default) and applies timeScale
// when it is positive.
func Load(path string, timeScale float64) (*Policy, error) {
	data := defaultYAML
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read policy file: %w", err)
		}
		data = b
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("policy file %q: %w", path, err)
	}
	if timeScale > 0 {
		p.TimeScale = timeScale
	}
	return p, nil
}

// Parse decodes and validates a policy document; unknown keys are errors, so a typo cannot
// silently fall back to a default.
func Parse(data []byte) (*Policy, error) {
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("decode policy: %w", err)
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

func (p *Policy) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if p.TimeScale <= 0 || p.TimeScale > 1e7 || math.IsNaN(p.TimeScale) {
		bad("timeScale: want a positive number up to 1e7, got %v", p.TimeScale)
	}
	for name, r := range map[string]Retry{"seller.newInstance": p.Seller.NewInstance, "seller.poll": p.Seller.Poll, "seller.calls": p.Seller.Calls} {
		if r.Interval <= 0 || r.Window <= 0 {
			bad("%s: interval and window must be positive", name)
		} else if r.Interval > r.Window {
			bad("%s: interval %v is longer than the window %v", name, time.Duration(r.Interval), time.Duration(r.Window))
		}
	}
	if ps := p.Seller.PerSeller; !ps.valid() {
		bad("seller.perSeller: callsPerSecond must be in (0, 10000] and concurrency 1-1000, got %v and %d", ps.CallsPerSecond, ps.Concurrency)
	}
	for id, ps := range p.Seller.Sellers {
		if !ps.valid() {
			bad("seller.sellers.%s: callsPerSecond must be in (0, 10000] and concurrency 1-1000, got %v and %d", id, ps.CallsPerSecond, ps.Concurrency)
		}
	}
	for _, t := range []order.ProductType{order.TypeSaaS, order.TypeLicense, order.TypePackage, order.TypeHardware, order.TypeService} {
		if p.Supervision.AcceptanceWindow[t] <= 0 {
			bad("supervision.acceptanceWindow.%s: must be set and positive", t)
		}
	}
	for t := range p.Supervision.AcceptanceWindow {
		if !t.Valid() {
			bad("supervision.acceptanceWindow: unknown product type %q", t)
		}
	}
	if p.Supervision.RefundHold <= 0 {
		bad("supervision.refundHold: must be positive")
	}
	if p.Supervision.RejectionLimit < 0 || p.Supervision.RejectionLimit > 100 {
		bad("supervision.rejectionLimit: want 0-100, got %d", p.Supervision.RejectionLimit)
	}
	for name, d := range map[string]Duration{"deploymentSLA": p.Supervision.DeploymentSLA,
		"redeliverySLA": p.Supervision.RedeliverySLA, "licenseWait": p.Supervision.LicenseWait,
		"firstDeliverySLA": p.Supervision.FirstDeliverySLA, "shipmentSLA": p.Supervision.ShipmentSLA,
		"signoffSLA": p.Supervision.SignoffSLA} {
		if d <= 0 {
			bad("supervision.%s: must be set and positive", name)
		}
	}
	if len(p.Appeals.Tiers) > 10 {
		bad("appeals.tiers: at most 10 tiers")
	}
	for i, d := range p.Appeals.Tiers {
		if d <= 0 {
			bad("appeals.tiers[%d]: must be positive", i)
		}
	}
	if p.Appeals.LastTierSLA <= 0 {
		bad("appeals.lastTierSLA: must be set and positive")
	}
	if p.Supervision.ActivationWindow < 0 {
		bad("supervision.activationWindow: must be positive (or left out: 30d)")
	}
	if p.Attention.OurSideAfter < 0 {
		bad("attention.ourSideAfter: must be positive (or left out: 1h)")
	}
	if n := p.Appeals.MaxPerOrder; n < 1 || n > 100 {
		bad("appeals.maxPerOrder: want 1-100, got %d", n)
	}
	for _, name := range Levels {
		l, ok := p.Levels[name]
		if !ok {
			bad("levels.%s: every level V0-V5 must be defined", name)
			continue
		}
		for kind, c := range map[ClockKind]Clocks{SubscriptionClocks: l.Subscription, PayPerUseClocks: l.PayPerUse} {
			if c.Grace < 0 || c.Retention <= 0 {
				bad("levels.%s.%s: grace must be >= 0 and retention > 0", name, kind)
			}
		}
	}
	for name := range p.Levels {
		if !slices.Contains(Levels, name) {
			bad("levels.%s: unknown level (the levels are V0-V5)", name)
		}
	}
	if d := p.Settlement.StatementDay; d < 1 || d > 28 {
		bad("settlement.statementDay: want 1-28 (every month has it), got %d", d)
	}
	if h := p.Settlement.StatementHour; h < 0 || h > 23 {
		bad("settlement.statementHour: want 0-23, got %d", h)
	}
	if h := p.Health.Hour; h < 0 || h > 23 {
		bad("health.hour: want 0-23, got %d", h)
	}
	if p.Health.FailingDays < 1 || p.Health.FailingDays > 365 {
		bad("health.failingDays: want 1-365, got %d", p.Health.FailingDays)
	}
	if f := p.Health.FailingDayShare; f <= 0 || f > 1 || math.IsNaN(f) {
		bad("health.failingDayShare: want (0, 1], got %v", f)
	}
	if p.Health.MonthlyFailedOrders < 0 {
		bad("health.monthlyFailedOrders: must not be negative")
	}
	if n := p.History.MaxEventsPerRun; n < 100 || n > 40000 {
		bad("history.maxEventsPerRun: want 100-40000 (Temporal's own limit is 51200), got %d", n)
	}
	if _, ok := p.Levels[p.DefaultLevel]; !ok {
		bad("defaultLevel: %q is not one of the levels", p.DefaultLevel)
	}
	return errors.Join(errs...)
}

// Scale divides a policy duration by the time scale, never below one millisecond so that a
// scaled timer still orders events the way the unscaled one would.
func (p *Policy) Scale(d time.Duration) time.Duration {
	s := time.Duration(float64(d) / p.TimeScale)
	if d > 0 && s < time.Millisecond {
		s = time.Millisecond
	}
	return s
}

// HasLevel reports whether level is defined; the API refuses unknown levels.
func (p *Policy) HasLevel(level string) bool {
	_, ok := p.Levels[level]
	return ok
}

// LevelClocks returns the scaled grace and retention of a level's kind of clocks, or of
// the default level when the customer's level is unknown.
func (p *Policy) LevelClocks(level string, kind ClockKind) (grace, retention time.Duration) {
	l, ok := p.Levels[level]
	if !ok {
		l = p.Levels[p.DefaultLevel]
	}
	c := l.Subscription
	if kind == PayPerUseClocks {
		c = l.PayPerUse
	}
	return p.Scale(time.Duration(c.Grace)), p.Scale(time.Duration(c.Retention))
}

// Windows returns the scaled clocks for a new order of product type t.
func (p *Policy) Windows(t order.ProductType) order.Windows {
	r := func(x Retry) order.RetryWindow {
		return order.RetryWindow{
			Interval: p.Scale(time.Duration(x.Interval)), Window: p.Scale(time.Duration(x.Window)),
			// Counted in the unscaled policy, so a demo time scale keeps the same attempts.
			Attempts: int(time.Duration(x.Window)/time.Duration(x.Interval)) + 1,
		}
	}
	tiers := make([]time.Duration, 0, len(p.Appeals.Tiers))
	for _, d := range p.Appeals.Tiers {
		tiers = append(tiers, p.Scale(time.Duration(d)))
	}
	return order.Windows{
		TimeScale:        p.TimeScale,
		NewInstance:      r(p.Seller.NewInstance),
		Poll:             r(p.Seller.Poll),
		SellerCall:       r(p.Seller.Calls),
		AcceptanceWindow: p.Scale(time.Duration(p.Supervision.AcceptanceWindow[t])),
		RefundHold:       p.Scale(time.Duration(p.Supervision.RefundHold)),
		RejectionLimit:   p.Supervision.RejectionLimit,
		DeploymentSLA:    p.Scale(time.Duration(p.Supervision.DeploymentSLA)),
		RedeliverySLA:    p.Scale(time.Duration(p.Supervision.RedeliverySLA)),
		LicenseWait:      p.Scale(time.Duration(p.Supervision.LicenseWait)),
		AppealTiers:      tiers,
		FirstDeliverySLA: p.Scale(time.Duration(p.Supervision.FirstDeliverySLA)),
		ShipmentSLA:      p.Scale(time.Duration(p.Supervision.ShipmentSLA)),
		SignoffSLA:       p.Scale(time.Duration(p.Supervision.SignoffSLA)),
		LastTierSLA:      p.Scale(time.Duration(p.Appeals.LastTierSLA)),
		AppealLimit:      p.Appeals.MaxPerOrder,
		OurSideAfter:     p.Scale(cmp.Or(time.Duration(p.Attention.OurSideAfter), time.Hour)),
		HistoryLimit:     p.History.MaxEventsPerRun,
		ActivationWindow: p.Scale(cmp.Or(time.Duration(p.Supervision.ActivationWindow), defaultActivationWindow)),
	}
}

// defaultActivationWindow is the licence-code activation window of a policy that does not
// set one (policies written before licence codes).
const defaultActivationWindow = 30 * 24 * time.Hour

// SellerLimit is how often and how many at once the workers together call one seller.
type SellerLimit struct {
	CallsPerSecond float64 `yaml:"callsPerSecond"`
	Concurrency    int     `yaml:"concurrency"`
}

func (l SellerLimit) valid() bool {
	return l.CallsPerSecond > 0 && l.CallsPerSecond <= 10000 && l.Concurrency >= 1 && l.Concurrency <= 1000
}

// SellerLimit is the limit of one seller: its override, or the default perSeller.
func (p *Policy) SellerLimit(sellerID string) SellerLimit {
	if l, ok := p.Seller.Sellers[sellerID]; ok {
		return l
	}
	return p.Seller.PerSeller
}
