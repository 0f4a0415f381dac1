package secrets

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func keyring(t *testing.T, current string, ids ...string) (*Keyring, []string) {
	t.Helper()
	var pairs []string
	for _, id := range ids {
		k, err := NewKey(id)
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, k)
	}
	kr, err := ParseKeyring(strings.Join(pairs, ","), current)
	if err != nil {
		t.Fatal(err)
	}
	return kr, pairs
}

func TestSealOpen(t *testing.T) {
	kr, _ := keyring(t, "", "k1")
	s, err := kr.Seal([]byte("sk-very-secret"), "sellers:s-1")
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID != "k1" || bytes.Contains(s.Ciphertext, []byte("secret")) || bytes.Contains(s.WrappedKey, []byte("secret")) {
		t.Fatalf("sealed = %+v", s)
	}
	got, err := kr.Open(s, "sellers:s-1")
	if err != nil || string(got) != "sk-very-secret" {
		t.Fatalf("open = %q, %v", got, err)
	}
	again, _ := kr.Seal([]byte("sk-very-secret"), "sellers:s-1")
	if bytes.Equal(again.Ciphertext, s.Ciphertext) || bytes.Equal(again.WrappedKey, s.WrappedKey) {
		t.Error("two seals of the same secret are equal: data keys or nonces repeat")
	}
	for name, tamper := range map[string]func(Sealed) (Sealed, string){
		"another row":    func(s Sealed) (Sealed, string) { return s, "sellers:s-2" },
		"flipped byte":   func(s Sealed) (Sealed, string) { s.Ciphertext = flip(s.Ciphertext); return s, "sellers:s-1" },
		"flipped key":    func(s Sealed) (Sealed, string) { s.WrappedKey = flip(s.WrappedKey); return s, "sellers:s-1" },
		"truncated":      func(s Sealed) (Sealed, string) { s.Ciphertext = s.Ciphertext[:5]; return s, "sellers:s-1" },
		"other key's id": func(s Sealed) (Sealed, string) { s.KeyID = "k2"; return s, "sellers:s-1" },
	} {
		ts, aad := tamper(s)
		if _, err := kr.Open(ts, aad); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}

func flip(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)-1] ^= 1
	return c
}

func TestRotation(t *testing.T) {
	old, pairs := keyring(t, "", "k1")
	s, _ := old.Seal([]byte("secret"), "aad")
	k2, _ := NewKey("k2")
	both, err := ParseKeyring(pairs[0]+","+k2, "k2")
	if err != nil {
		t.Fatal(err)
	}
	if both.Current() != "k2" {
		t.Fatalf("current = %s", both.Current())
	}
	if got, err := both.Open(s, "aad"); err != nil || string(got) != "secret" {
		t.Fatalf("the old key no longer opens: %v", err)
	}
	newOnly, _ := ParseKeyring(k2, "")
	if _, err := newOnly.Open(s, "aad"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("a retired key: %v, want ErrUnknownKey", err)
	}
}

func TestParseKeyringNeverQuotesKeys(t *testing.T) {
	for _, bad := range []struct{ keys, current string }{
		{"", ""},
		{"k1:not-base64!!", ""},
		{"k1:c2hvcnQ=", ""},
		{"bad id:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", ""},
		{"k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", ""},
		{"k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,k2:AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", ""},
		{"k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "k9"},
	} {
		_, err := ParseKeyring(bad.keys, bad.current)
		if err == nil {
			t.Errorf("accepted %q / %q", bad.keys, bad.current)
			continue
		}
		if strings.Contains(err.Error(), "AAAAAAAA") || strings.Contains(err.Error(), "c2hvcnQ") || strings.Contains(err.Error(), "not-base64") {
			t.Errorf("error quotes a key: %v", err)
		}
	}
}
