package events

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	secret := []byte("whsec-0123456789abcdef")
	body := []byte(`{"specversion":"1.0","id":"o-1:3"}`)
	at := time.Unix(1_800_000_000, 0)
	good := Sign(secret, at, body)
	ts := strconv.FormatInt(at.Unix(), 10)
	v1 := strings.TrimPrefix(good, "t="+ts+",")
	tests := []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		ok     bool
	}{
		{"valid", secret, good, body, at, true},
		{"valid within tolerance", secret, good, body, at.Add(4 * time.Minute), true},
		{"valid with another scheme and a rotated key", secret, "t=" + ts + ",v0=zz,v1=" + strings.Repeat("00", 32) + "," + v1, body, at, true},
		{"spaces around parts", secret, "t=" + ts + ", " + v1, body, at, true},
		{"too old", secret, good, body, at.Add(6 * time.Minute), false},
		{"from the future", secret, good, body, at.Add(-6 * time.Minute), false},
		{"other body", secret, good, []byte(`{"id":"o-1:4"}`), at, false},
		{"other secret", []byte("another-secret-xx"), good, body, at, false},
		{"no secret", nil, good, body, at, false},
		{"timestamp replaced", secret, "t=" + strconv.FormatInt(at.Unix()+1, 10) + "," + v1, body, at, false},
		{"timestamp twice", secret, "t=" + ts + ",t=" + ts + "," + v1, body, at, false},
		{"no timestamp", secret, v1, body, at, false},
		{"no v1", secret, "t=" + ts, body, at, false},
		{"short mac", secret, "t=" + ts + ",v1=abcd", body, at, false},
		{"not hex", secret, "t=" + ts + ",v1=" + strings.Repeat("zz", 32), body, at, false},
		{"signed timestamp with leading zero", secret, "t=0" + ts + "," + v1, body, at, false},
		{"negative timestamp", secret, "t=-1," + v1, body, at, false},
		{"empty", secret, "", body, at, false},
		{"huge header", secret, good + strings.Repeat(",x=y", 2000), body, at, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.header, tt.body, tt.now, 0)
			if (err == nil) != tt.ok {
				t.Fatalf("Verify = %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrSignature) {
					t.Fatalf("error %v does not wrap ErrSignature", err)
				}
				if strings.Contains(err.Error(), string(secret)) || strings.Contains(err.Error(), v1[3:]) {
					t.Fatalf("error %q reveals the secret or the MAC", err)
				}
			}
		})
	}
}

func TestID(t *testing.T) {
	for _, tt := range []struct {
		order string
		seq   int
	}{{"o-1", 1}, {"a_b-c", 42}, {"x", 0}} {
		id := ID(tt.order, tt.seq)
		o, s, ok := ParseID(id)
		if !ok || o != tt.order || s != tt.seq {
			t.Errorf("ParseID(%q) = %q, %d, %v", id, o, s, ok)
		}
	}
	for _, bad := range []string{"", ":1", "o-1", "o-1:x", "o-1:-1"} {
		if _, _, ok := ParseID(bad); ok {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
}

// FuzzVerify: Verify never panics, never accepts a header that Sign did not make for the
// body and secret, and always accepts what Sign made.
func FuzzVerify(f *testing.F) {
	secret := []byte("whsec-fuzz-secret")
	at := time.Unix(1_800_000_000, 0)
	f.Add(Sign(secret, at, []byte("{}")), []byte("{}"))
	f.Add("t=1800000000,v1=", []byte("x"))
	f.Add("t=1800000000,v1="+strings.Repeat("a", 64), []byte(""))
	f.Add(",,,=,t=,v1==", []byte(nil))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := Verify(secret, header, body, at, 0)
		if err == nil {
			// Accepted: some v1 must be the MAC of this body at the header's timestamp.
			var ts string
			var v1s []string
			for _, p := range strings.Split(header, ",") {
				switch k, v, _ := strings.Cut(strings.TrimSpace(p), "="); k {
				case "t":
					ts = v
				case "v1":
					v1s = append(v1s, v)
				}
			}
			sec, _ := strconv.ParseInt(ts, 10, 64)
			want := strings.TrimPrefix(Sign(secret, time.Unix(sec, 0), body), "t="+ts+",v1=")
			if !slices.ContainsFunc(v1s, func(v string) bool { return strings.EqualFold(v, want) }) {
				t.Fatalf("accepted %q for a body it does not sign", header)
			}
		} else if !errors.Is(err, ErrSignature) {
			t.Fatalf("error %v does not wrap ErrSignature", err)
		}
		if err := Verify(secret, Sign(secret, at, body), body, at, 0); err != nil {
			t.Fatalf("refused its own signature: %v", err)
		}
	})
}
