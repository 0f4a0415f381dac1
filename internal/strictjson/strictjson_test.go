package strictjson

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

type money struct {
	Value    *int64 `json:"value"`
	Currency string `json:"currency"`
}

type evidence struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

type body struct {
	OrderID  string     `json:"orderId"`
	Quantity *int       `json:"quantity"`
	Amount   *money     `json:"amount"`
	Evidence []evidence `json:"evidence"`
	Tags     []string   `json:"tags"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, body string
		field      string // "" with ok = whole body
		ok         bool
		syntax     bool
	}{
		{"valid", `{"orderId":"a","quantity":1,"amount":{"value":5,"currency":"CNY"},"evidence":[{"name":"x","size":1}]}`, "", true, false},
		{"null is absent", `{"quantity":null}`, "", true, false},
		{"whitespace around", " \n{\"orderId\":\"a\"}\t ", "", true, false},
		{"wrong case", `{"orderid":"a"}`, "orderid", false, false},
		{"unknown nested", `{"amount":{"value":1,"extra":2}}`, "amount.extra", false, false},
		{"duplicate", `{"orderId":"a","orderId":"b"}`, "orderId", false, false},
		{"duplicate nested", `{"amount":{"value":1,"value":2}}`, "amount.value", false, false},
		{"fraction for int", `{"quantity":1.5}`, "quantity", false, false},
		{"exponent for int", `{"quantity":1e2}`, "quantity", false, false},
		{"string for int", `{"quantity":"1"}`, "quantity", false, false},
		{"huge number", `{"quantity":` + strings.Repeat("9", 5000) + `}`, "quantity", false, false},
		{"array for string", `{"orderId":[]}`, "orderId", false, false},
		{"element type", `{"evidence":[{"name":"x"},{"size":"big"}]}`, "evidence[1].size", false, false},
		{"too deep", `{"orderId":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}`, "orderId[0][0][0][0][0][0][0]", false, true},
		{"deep objects", strings.Repeat(`{"a":`, 20) + "1" + strings.Repeat("}", 20), "a.a.a.a.a.a.a.a", false, true},
		{"array body", `[1,2]`, "", false, false},
		{"null body", `null`, "", false, false},
		{"empty", ``, "", false, true},
		{"spaces only", "  \n", "", false, true},
		{"trailing data", `{"orderId":"a"} x`, "", false, true},
		{"two objects", `{"orderId":"a"}{"orderId":"b"}`, "", false, true},
		{"truncated", `{"orderId":`, "orderId", false, true},
		{"invalid utf-8", "{\"orderId\":\"\xff\"}", "", false, true},
		{"lone surrogate escape", `{"orderId":"\ud800"}`, "orderId", false, true},
		{"control char in string", "{\"orderId\":\"a\x01\"}", "orderId", false, true},
		{"comment", `{"orderId":"a" /* x */}`, "orderId", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b body
			e := Decode([]byte(tt.body), &b)
			if tt.ok {
				if e != nil {
					t.Fatalf("refused: %v", e)
				}
				return
			}
			if e == nil {
				t.Fatalf("accepted %q", tt.body)
			}
			if e.Field != tt.field || e.Syntax != tt.syntax || e.Reason == "" {
				t.Fatalf("error = %+v, want field %q syntax %v", e, tt.field, tt.syntax)
			}
		})
	}
}

func TestCheckReadsOneValue(t *testing.T) {
	for _, b := range []string{`{"a":1}{"b":2}`, `{} []`, `1 2`, `"a""b"`, `{}null`} {
		if e := Check([]byte(b), MaxDepth); e == nil || !e.Syntax {
			t.Errorf("Check(%q) = %v, want a refusal of the second value", b, e)
		}
	}
	for _, b := range []string{`{"a":1}`, " {} \n", `[1,2]`, `"s"`, `12`} {
		if e := Check([]byte(b), MaxDepth); e != nil {
			t.Errorf("Check(%q) = %v", b, e)
		}
	}
}

func TestErrorsNeverQuoteTheInput(t *testing.T) {
	const secret = "sk-live-SECRET-0123456789"
	for _, b := range []string{
		`{"orderId":"` + secret + `","quantity":"` + secret + `"}`,
		`{"` + secret + `":1}`,
		`{"quantity":` + secret + `}`,
		`{"orderId":"` + secret,
	} {
		var x body
		e := Decode([]byte(b), &x)
		if e == nil {
			t.Fatalf("accepted %q", b)
		}
		if strings.Contains(e.Reason, "SECRET") {
			t.Errorf("reason %q repeats the input", e.Reason)
		}
		if strings.Contains(e.Field, "SECRET") && len([]rune(e.Field)) > maxFieldRunes+1 {
			t.Errorf("field %q is longer than the bound", e.Field)
		}
	}
	var x body
	long := `{"` + strings.Repeat("k", 10000) + `":1}`
	if e := Decode([]byte(long), &x); e == nil || len([]rune(e.Field)) > maxFieldRunes+1 {
		t.Errorf("a 10,000-character unknown name gives field of %d runes", len([]rune(e.Field)))
	}
}

// hostileBodies are bodies of about 48 KB, under the API's 64 KiB limit, shaped to make a
// decoder work hard: the attack of the issue that introduced this package is the first.
func hostileBodies() map[string][]byte {
	const n = 24000
	return map[string][]byte{
		"nested arrays":  []byte(`{"orderId":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`),
		"nested objects": []byte(strings.Repeat(`{"a":`, 9000) + "1" + strings.Repeat("}", 9000)),
		"long string":    []byte(`{"orderId":"` + strings.Repeat("x", 48000) + `"}`),
		"escapes":        []byte(`{"orderId":"` + strings.Repeat(`\u00e9`, 8000) + `"}`),
		"many keys":      []byte("{" + strings.Repeat(`"k":1,`, 8000) + `"z":1}`),
		"distinct keys":  distinctKeys(6000),
		"many elements":  []byte(`{"tags":[` + strings.Repeat(`"t",`, 12000) + `"t"]}`),
		"huge number":    []byte(`{"quantity":` + strings.Repeat("9", 48000) + `}`),
		"many objects":   []byte(`{"evidence":[` + strings.Repeat(`{"name":"n","size":1},`, 2200) + `{}]}`),
		"invalid utf-8":  []byte(`{"orderId":"` + strings.Repeat("\xff", 48000) + `"}`),
	}
}

func distinctKeys(n int) []byte {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"k%d":1,`, i)
	}
	b.WriteString(`"z":1}`)
	return []byte(b.String())
}

// TestHostileBodiesCostLittle bounds the memory one hostile body may cost. The bound (4 MB
// allocated in all, for a 48 KB body) is far above what a linear decoder uses and far below
// the hundreds of megabytes a quadratic one took.
func TestHostileBodiesCostLittle(t *testing.T) {
	const bound = 4 << 20
	for name, b := range hostileBodies() {
		t.Run(name, func(t *testing.T) {
			var x body
			Decode(b, &x) // warm caches (type info) outside the measurement
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			const runs = 5
			for range runs {
				var x body
				Decode(b, &x)
			}
			runtime.ReadMemStats(&after)
			per := (after.TotalAlloc - before.TotalAlloc) / runs
			if per > bound {
				t.Errorf("%s: %d bytes allocated per decode of a %d-byte body, bound %d", name, per, len(b), bound)
			}
			t.Logf("%s: %d bytes allocated per decode of a %d-byte body", name, per, len(b))
		})
	}
}

func BenchmarkHostileBodies(b *testing.B) {
	for name, body := range hostileBodies() {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var x struct {
					OrderID  string   `json:"orderId"`
					Quantity *int     `json:"quantity"`
					Tags     []string `json:"tags"`
				}
				Decode(body, &x)
			}
		})
	}
}
