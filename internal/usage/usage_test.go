package usage

import (
	"math/big"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)

func rec(begin, end time.Time, value string) Record {
	return Record{MeteringSn: "sn-1", InstanceID: "inst-1", BeginTime: begin.Format(time.RFC3339), EndTime: end.Format(time.RFC3339), UsageValue: value}
}

func TestCheck(t *testing.T) {
	hour := now.Add(-time.Hour)
	tests := []struct {
		name string
		r    Record
		want Reason
		q    int64
	}{
		{"fine", rec(hour, now, "12.5"), "", 125000},
		{"four places", rec(hour, now, "0.0001"), "", 1},
		{"zero length period", rec(now, now, "1"), "", 10000},
		{"just within the skew", rec(hour, now.Add(Skew), "1"), "", 10000},
		{"ends in the future", rec(hour, now.Add(Skew+time.Second), "1"), ReasonInFuture, 0},
		{"ends before it begins", rec(now, hour, "1"), ReasonEndsBeforeBegin, 0},
		{"21 days ago exactly", rec(now.Add(-MaxAge), now, "1"), "", 10000},
		{"older than 21 days", rec(now.Add(-MaxAge-time.Second), now, "1"), ReasonTooOld, 0},
		{"five places", rec(hour, now, "1.00001"), ReasonValue, 0},
		{"zero", rec(hour, now, "0.0000"), ReasonValue, 0},
		{"negative", rec(hour, now, "-1"), ReasonValue, 0},
		{"exponent", rec(hour, now, "1e3"), ReasonValue, 0},
		{"no digits after the point", rec(hour, now, "1."), ReasonValue, 0},
		{"no digits before the point", rec(hour, now, ".5"), ReasonValue, 0},
		{"plus sign", rec(hour, now, "+1"), ReasonValue, 0},
		{"fifteen digits", rec(hour, now, "123456789012345"), ReasonValue, 0},
		{"not UTC", Record{MeteringSn: "sn", InstanceID: "i", BeginTime: "2030-05-17T10:00:00+08:00", EndTime: "2030-05-17T11:00:00Z", UsageValue: "1"}, ReasonTime, 0},
		{"not a time", Record{MeteringSn: "sn", InstanceID: "i", BeginTime: "yesterday", EndTime: "2030-05-17T11:00:00Z", UsageValue: "1"}, ReasonTime, 0},
		{"bad serial", Record{MeteringSn: "sn 1", InstanceID: "i", UsageValue: "1"}, ReasonMeteringSn, 0},
		{"long serial", Record{MeteringSn: strings.Repeat("s", 65), InstanceID: "i", UsageValue: "1"}, ReasonMeteringSn, 0},
		{"no instance", Record{MeteringSn: "sn", UsageValue: "1"}, ReasonInstance, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, reason := Check(tt.r, now)
			if reason != tt.want || (reason == "" && c.Quantity != tt.q) {
				t.Fatalf("Check = %+v, %q; want %q, quantity %d", c, reason, tt.want, tt.q)
			}
		})
	}
}

func TestPrice(t *testing.T) {
	tests := []struct {
		q, unit, want int64
	}{
		{10000, 25, 25}, // 1 unit at 0.25
		{15000, 25, 38}, // 1.5 x 25 = 37.5 -> 38 (half up)
		{14999, 25, 37}, // 37.4975 -> 37
		{1, 1, 0},       // 0.0001 x 1 = 0.0001 -> 0
		{5000, 1, 1},    // 0.5 -> 1
		{0, 1000, 0},    // nothing used
		{99999999999999_9999, 9, 900000000000000}, // the largest quantity: 899999999999999.9991 -> up
	}
	for _, tt := range tests {
		if got, err := Price(tt.q, tt.unit); err != nil || got != tt.want {
			t.Errorf("Price(%d, %d) = %d, %v; want %d", tt.q, tt.unit, got, err, tt.want)
		}
	}
	if _, err := Price(99999999999999_9999, 1_000_000); err == nil {
		t.Error("an overflowing price is not refused")
	}
}

// FuzzParseQuantity: whatever the text, a parsed quantity is exactly the decimal it says
// (checked with math/big), positive, and prints back to an equal decimal.
func FuzzParseQuantity(f *testing.F) {
	for _, s := range []string{"1", "0.0001", "12.5", "99999999999999.9999", "1e3", "-1", "0", ".5", "1.", "１", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuantity(s)
		if err != nil {
			return
		}
		want, ok := new(big.Rat).SetString(s)
		if !ok || want.Sign() <= 0 {
			t.Fatalf("ParseQuantity(%q) = %d, but it is not a positive decimal", s, q)
		}
		got := new(big.Rat).SetFrac64(q, Scale)
		if got.Cmp(want) != 0 {
			t.Fatalf("ParseQuantity(%q) = %d ten-thousandths, want %s", s, q, want.FloatString(4))
		}
		if back, err := ParseQuantity(FormatQuantity(q)); err != nil || back != q {
			t.Fatalf("FormatQuantity(%d) = %q does not read back", q, FormatQuantity(q))
		}
	})
}
