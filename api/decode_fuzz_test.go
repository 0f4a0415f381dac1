package api

import (
	"net/http"
	"testing"
)

// FuzzDecodeOrder feeds arbitrary bytes to the strict decoder and the validation of
// POST /v1/orders: it must never panic, every refusal must be a 4xx problem with a code, and
// anything it accepts must satisfy the contract's invariants (integer, non-negative amount;
// quantity in range), so no bad input can reach a workflow.
func FuzzDecodeOrder(f *testing.F) {
	for _, seed := range []string{
		`{"orderId":"CS1","orderLineId":"CS1-1","customerId":"c1","productId":"p1","quantity":1,"amount":{"value":100,"currency":"CNY"},"expireTime":"2030-01-01T00:00:00Z"}`,
		`{"orderId":"CS1","amount":{"value":10.5}}`,
		`{"orderId":"CS1","orderId":"CS2"}`,
		`{"amount":{"value":-1,"currency":"CNY"}}`,
		`[1,2,3]`, `{`, ``, `{"a":{"b":{"c":[{}]}}}`, "{\"orderId\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req orderRequest
		if p := decodeJSON(body, &req); p != nil {
			if p.Status < 400 || p.Status >= 500 || p.Code == "" {
				t.Fatalf("decode refusal is not a 4xx problem: %+v", p)
			}
			return
		}
		pl, p := req.validate()
		if p != nil {
			if p.Status != http.StatusBadRequest || p.Code == "" {
				t.Fatalf("validation refusal is not a 400 problem: %+v", p)
			}
			return
		}
		if pl.Amount.Value < 0 || pl.Quantity < 1 || pl.Quantity > maxQuantity || len(pl.Amount.Currency) != 3 {
			t.Fatalf("accepted an invalid order: %+v from %q", pl, body)
		}
	})
}
