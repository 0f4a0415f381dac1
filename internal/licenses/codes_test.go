package licenses

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func lower(s string) string { return strings.ToLower(s) }

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestGenerateCode(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){4}$`)
	seen := map[string]bool{}
	for range 1000 {
		c, err := GenerateCode()
		if err != nil {
			t.Fatal(err)
		}
		if !shape.MatchString(c) {
			t.Fatalf("code %q is not five groups of five of the alphabet", c)
		}
		if seen[c] {
			t.Fatalf("code %q generated twice", c)
		}
		seen[c] = true
	}
}

func TestCodeSHA256IsTheRefsHashOfTheTypedCode(t *testing.T) {
	c, _ := GenerateCode()
	ref := Ref(c, ViaGenerated, fixed)
	for _, typed := range []string{c, " " + c + "\n", lower(c)} {
		if CodeSHA256(typed) != ref.SHA256 {
			t.Fatalf("CodeSHA256(%q) is not the reference's hash", typed)
		}
	}
	if CodeSHA256(c+"0") == ref.SHA256 {
		t.Fatal("another code has the same hash")
	}
}

var fixed = mustTime("2030-01-02T03:04:05Z")
