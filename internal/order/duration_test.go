package order

import (
	"math"
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	const (
		s   = time.Second
		min = time.Minute
		h   = time.Hour
		d   = 24 * time.Hour
	)
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0 s"},
		{time.Nanosecond, "under 1 s"},
		{499 * time.Millisecond, "under 1 s"},
		{500 * time.Millisecond, "1 s"},
		{12970989032 * time.Nanosecond, "13 s"}, // what the UI showed as 12.970989032s
		{13 * s, "13 s"},
		{59*s + 600*time.Millisecond, "1 min"}, // rounding carries into the next unit
		{45 * min, "45 min"},
		{45*min + 20*s, "45 min 20 s"},
		{45*min + 20*s + 400*time.Millisecond, "45 min 20 s"},
		{h, "1 h"},
		{h + 29*s, "1 h"},
		{h + 30*s, "1 h 1 min"},
		{5*h + 30*min, "5 h 30 min"},
		{23*h + 59*min + 40*s, "1 d"},
		{2*d + 4*h, "2 d 4 h"},
		{2*d + 4*h + 29*min, "2 d 4 h"},
		{2*d + 4*h + 30*min, "2 d 5 h"},
		{7 * d, "7 d"},
		{400*d + 23*h + 31*min, "401 d"},
		{-13 * s, "-13 s"},
		{-(2*d + 4*h), "-2 d 4 h"},
		{math.MaxInt64, "106751 d 23 h"},
		{math.MinInt64, "-106751 d 23 h"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.in); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
