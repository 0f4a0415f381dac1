package order

import (
	"errors"
	"math/bits"
)

// ErrAmountOutOfRange is returned for amounts that cannot be split exactly.
var ErrAmountOutOfRange = errors.New("amount out of range")

// Split divides a gross amount (minor units) into the platform's commission and the seller's
// net at a rate in basis points. Rule (order-states.md): commission = gross x rate / 10000,
// rounded half up to the minor unit; net = gross - commission, so the two always add up to
// gross and no minor unit is created or lost. The product is computed in 128 bits, so any
// non-negative int64 amount is exact.
func Split(gross int64, rateBps int) (commission, net int64, err error) {
	if gross < 0 || rateBps < 0 || rateBps > 10000 {
		return 0, 0, ErrAmountOutOfRange
	}
	hi, lo := bits.Mul64(uint64(gross), uint64(rateBps))
	lo, carry := bits.Add64(lo, 5000, 0)
	hi += carry
	q, _ := bits.Div64(hi, lo, 10000)
	commission = int64(q) // q <= gross since rate <= 10000
	return commission, gross - commission, nil
}
