package licenses

import (
	"strings"
	"testing"
	"time"
)

func TestMask(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "****"},
		{"short", "****"},
		{"ABCDEFGHIJK", "****"},
		{"ABCD-EFGH-IJKL", "ABCD…IJKL"},
		{"许可证许可证许可证许可证", "许可证许…证许可证"}, // runes, not bytes
		{strings.Repeat("x", MaxLength), "xxxx…xxxx"},
	} {
		if got := Mask(tc.in); got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRefNamesTheLicenceWithoutHoldingIt(t *testing.T) {
	lic := "LIC-0123456789-SECRET-PART-9999"
	r := Ref(lic, "answer", time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("CST", 8*3600)))
	if r.SHA256 == "" || len(r.SHA256) != 64 || r.Via != "answer" || r.ReceivedAt.Location() != time.UTC {
		t.Fatalf("ref %+v", r)
	}
	if strings.Contains(r.Masked, "SECRET") || r.Text != "" {
		t.Fatalf("the reference holds the licence: %+v", r)
	}
	if Ref(lic, "query", time.Time{}).SHA256 != r.SHA256 || Ref(lic+"x", "answer", time.Time{}).SHA256 == r.SHA256 {
		t.Fatal("the hash does not name the licence")
	}
}
