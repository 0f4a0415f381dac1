package strictjson

import (
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
)

// FuzzDecode: no input makes Decode panic; a refusal always says why; anything accepted
// survives a round trip (so it was a well-formed object of the target's shape).
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"orderId":"a","quantity":1,"amount":{"value":5,"currency":"CNY"},"evidence":[{"name":"x","size":1}],"tags":["t"]}`,
		`{"orderId":` + strings.Repeat("[", 12) + strings.Repeat("]", 12) + `}`,
		`{"orderId":"a","orderId":"b"}`, `{"quantity":1.5}`, `{"orderid":1}`, `[]`, `null`, `{`,
		"{\"orderId\":\"\xff\"}", `{"tags":["a",1]}`, `{"evidence":[{"size":-1}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b body
		e := Decode(data, &b)
		if e != nil {
			if e.Reason == "" {
				t.Fatalf("refusal without a reason: %+v", e)
			}
			if len([]rune(e.Field)) > (MaxDepth+2)*(maxFieldRunes+8) {
				t.Fatalf("field of %d runes", len([]rune(e.Field)))
			}
			return
		}
		out, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("accepted a value that does not marshal: %v", err)
		}
		var again body
		if e := Decode(out, &again); e != nil {
			t.Fatalf("round trip of %s refused: %v", out, e)
		}
	})
}
