package policy

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

func TestDefaultPolicyWindows(t *testing.T) {
	p := Default()
	w := p.Windows(order.TypeSaaS)
	if w.NewInstance.Interval != time.Hour || w.NewInstance.Window != 3*time.Hour {
		t.Errorf("newInstance window = %+v, want hourly for 3h", w.NewInstance)
	}
	if w.AcceptanceWindow != 7*24*time.Hour {
		t.Errorf("acceptance window = %v", w.AcceptanceWindow)
	}
	if got := p.Windows(order.TypeHardware).AcceptanceWindow; got != 10*24*time.Hour {
		t.Errorf("hardware acceptance window = %v, want 10d", got)
	}
	g, r := p.LevelClocks("no-such-level", SubscriptionClocks)
	if g != 24*time.Hour || r != 24*time.Hour {
		t.Errorf("unknown level falls back to the default V0: got %v %v", g, r)
	}
}

func TestTimeScale(t *testing.T) {
	p, err := Load("", 1440)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Windows(order.TypeSaaS).AcceptanceWindow; got != 7*time.Minute {
		t.Errorf("7d at 1440x = %v, want 7m", got)
	}
	if got := p.Scale(time.Nanosecond); got != time.Millisecond {
		t.Errorf("scaled durations have a floor of 1ms, got %v", got)
	}
}

func TestParseRejects(t *testing.T) {
	base := string(defaultYAML)
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", base + "\nsurprise: 1\n", "surprise"},
		{"bad duration", strings.Replace(base, "refundHold: 72h", "refundHold: soon", 1), "bad duration"},
		{"zero scale", strings.Replace(base, "timeScale: 1", "timeScale: 0", 1), "timeScale"},
		{"interval longer than window", strings.Replace(base, "newInstance: {interval: 1h, window: 3h}", "newInstance: {interval: 4h, window: 3h}", 1), "longer than the window"},
		{"missing acceptance window", strings.Replace(base, "    hardware: 10d\n", "", 1), "acceptanceWindow.hardware"},
		{"unknown default level", strings.Replace(base, "defaultLevel: V0", "defaultLevel: bronze", 1), "defaultLevel"},
		{"missing level", regexp.MustCompile(`(?m)^  V3: .*\n`).ReplaceAllString(base, ""), "levels.V3"},
		{"unknown level", base + "  gold: {subscription: {grace: 1d, retention: 1d}, payPerUse: {grace: 1d, retention: 1d}}\n", "levels.gold"},
		{"negative grace", strings.Replace(base, "V0: {subscription: {grace: 1d", "V0: {subscription: {grace: -1h", 1), "levels.V0.subscription"},
		{"no retention", strings.Replace(base, "payPerUse: {grace: 0d, retention: 1d}", "payPerUse: {grace: 0d, retention: 0d}", 1), "levels.V0.payPerUse"},
		{"unknown product type", strings.Replace(base, "    service: 7d\n", "    service: 7d\n    robot: 1d\n", 1), "robot"},
		{"seller override without concurrency", strings.Replace(base, "sellers: {}", "sellers: {s-big: {callsPerSecond: 50}}", 1), "seller.sellers.s-big"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "90s": 90 * time.Second, "0d": 0} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"d", "-1d", "1.5d", "x"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}

// TestLevels: the table of days, level by level (subscription, then pay-per-use).
func TestLevels(t *testing.T) {
	p := Default()
	day := 24 * time.Hour
	want := map[string][4]time.Duration{
		"V5": {7 * day, 15 * day, 7 * day, 15 * day},
		"V4": {7 * day, 15 * day, 7 * day, 15 * day},
		"V3": {7 * day, 7 * day, 1 * day, 7 * day},
		"V2": {1 * day, 7 * day, 0, 7 * day},
		"V1": {1 * day, 7 * day, 0, 7 * day},
		"V0": {1 * day, 1 * day, 0, 1 * day},
	}
	for level, w := range want {
		sg, sr := p.LevelClocks(level, SubscriptionClocks)
		pg, pr := p.LevelClocks(level, PayPerUseClocks)
		if got := [4]time.Duration{sg, sr, pg, pr}; got != w {
			t.Errorf("%s: %v, want %v", level, got, w)
		}
	}
	if p.DefaultLevel != "V0" || !p.HasLevel("V5") || p.HasLevel("standard") {
		t.Errorf("default level %q; V5 known %v; standard known %v", p.DefaultLevel, p.HasLevel("V5"), p.HasLevel("standard"))
	}
}

func TestSellerLimit(t *testing.T) {
	p, err := Parse([]byte(strings.Replace(string(defaultYAML), "sellers: {}", "sellers: {s-big: {callsPerSecond: 50, concurrency: 8}}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		seller string
		want   SellerLimit
	}{
		{"s-big", SellerLimit{50, 8}},
		{"s-other", p.Seller.PerSeller},
	} {
		if got := p.SellerLimit(tt.seller); got != tt.want {
			t.Errorf("SellerLimit(%s) = %+v, want %+v", tt.seller, got, tt.want)
		}
	}
}
