package order

import (
	"math"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name           string
		gross          int64
		bps            int
		wantCommission int64
		wantErr        bool
	}{
		{"zero", 0, 1500, 0, false},
		{"exact", 10000, 1500, 1500, false},
		{"rounds half up", 5, 1000, 1, false},         // 0.5 -> 1
		{"rounds down below half", 4, 1000, 0, false}, // 0.4 -> 0
		{"rounds up above half", 16, 1000, 2, false},  // 1.6 -> 2
		{"one basis point of 4999", 4999, 1, 0, false},
		{"one basis point of 5000", 5000, 1, 1, false},
		{"full rate", 12345, 10000, 12345, false},
		{"zero rate", 12345, 0, 0, false},
		{"max int64 no overflow", math.MaxInt64, 10000, math.MaxInt64, false},
		{"max int64 at 15%", math.MaxInt64, 1500, 1383505805528216371, false},
		{"negative gross", -1, 1500, 0, true},
		{"rate above 100%", 100, 10001, 0, true},
		{"negative rate", 100, -1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, n, err := Split(tt.gross, tt.bps)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if c != tt.wantCommission {
				t.Errorf("commission = %d, want %d", c, tt.wantCommission)
			}
			if c+n != tt.gross || n < 0 {
				t.Errorf("commission %d + net %d != gross %d", c, n, tt.gross)
			}
		})
	}
}

func TestDeriveStatus(t *testing.T) {
	tests := []struct {
		phase          Phase
		frozen, appeal bool
		want           Status
	}{
		{PhaseInService, false, false, "in_service"},
		{PhaseInService, true, false, StatusFrozen},
		{PhaseInService, true, true, StatusAppealing},
		{PhaseProvisioning, false, true, StatusAppealing},
	}
	for _, tt := range tests {
		if got := DeriveStatus(tt.phase, tt.frozen, tt.appeal); got != tt.want {
			t.Errorf("DeriveStatus(%s, %v, %v) = %s, want %s", tt.phase, tt.frozen, tt.appeal, got, tt.want)
		}
		if !tt.want.Valid() {
			t.Errorf("status %s not in Statuses", tt.want)
		}
	}
}
