// Package usage checks and prices the pay-per-use usage records sellers send through the
// seller open API (seller-protocol.md: POST /v1/seller-api/usage). Quantities are exact
// decimals with at most four places, kept as integers of ten-thousandths (never a float);
// money is integer minor units.
package usage

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

// Limits of the protocol.
const (
	// MaxRecords is the most records one call may carry.
	MaxRecords = 1000
	// MaxAge: a record that begins longer ago than this is refused.
	MaxAge = 21 * 24 * time.Hour
	// Skew is how far a record's end may be ahead of our clock before it counts as in the
	// future (sellers' clocks drift; the signature window allows as much).
	Skew = time.Minute
	// Scale is the quantity unit: a quantity q is stored as q x Scale.
	Scale = 10_000
)

// Reason is why a record is refused; each is a stable code in the answer.
type Reason string

// Refusal reasons.
const (
	ReasonMeteringSn      Reason = "invalid_metering_sn"  // empty, too long, or not [A-Za-z0-9._:-]
	ReasonInstance        Reason = "invalid_instance_id"  // empty or too long
	ReasonTime            Reason = "invalid_time"         // not an RFC 3339 time in UTC
	ReasonValue           Reason = "invalid_usage_value"  // not a positive decimal with at most 4 places
	ReasonTooOld          Reason = "too_old"              // begins more than 21 days ago
	ReasonEndsBeforeBegin Reason = "ends_before_begins"   // endTime before beginTime
	ReasonInFuture        Reason = "in_future"            // endTime ahead of our clock
	ReasonUnknownInstance Reason = "unknown_instance"     // not an instance of this seller's pay-per-use orders
	ReasonDuplicateInCall Reason = "duplicate_in_request" // the same meteringSn earlier in this call (the first is taken)
)

// Record is a usage record as the seller sends it.
type Record struct {
	MeteringSn string `json:"meteringSn"`
	InstanceID string `json:"instanceId"`
	BeginTime  string `json:"beginTime"`
	EndTime    string `json:"endTime"`
	UsageValue string `json:"usageValue"`
}

// Checked is a record that passed Check.
type Checked struct {
	MeteringSn string
	InstanceID string
	Begin, End time.Time
	// Quantity is the usage value in ten-thousandths (usage 1.5 -> 15000).
	Quantity int64
}

var meteringSn = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// Check checks what one record says on its own, at time now; whether its instance is the
// seller's, and whether it is a duplicate, need the database.
func Check(r Record, now time.Time) (Checked, Reason) {
	c := Checked{MeteringSn: r.MeteringSn, InstanceID: r.InstanceID}
	if !meteringSn.MatchString(r.MeteringSn) {
		return c, ReasonMeteringSn
	}
	if r.InstanceID == "" || len(r.InstanceID) > 128 {
		return c, ReasonInstance
	}
	var ok bool
	if c.Begin, ok = utcTime(r.BeginTime); !ok {
		return c, ReasonTime
	}
	if c.End, ok = utcTime(r.EndTime); !ok {
		return c, ReasonTime
	}
	q, err := ParseQuantity(r.UsageValue)
	if err != nil {
		return c, ReasonValue
	}
	c.Quantity = q
	switch {
	case c.End.Before(c.Begin):
		return c, ReasonEndsBeforeBegin
	case c.End.After(now.Add(Skew)):
		return c, ReasonInFuture
	case c.Begin.Before(now.Add(-MaxAge)):
		return c, ReasonTooOld
	}
	return c, ""
}

// utcTime parses an RFC 3339 time whose offset is zero.
func utcTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, false
	}
	if _, off := t.Zone(); off != 0 {
		return t, false
	}
	return t.UTC(), true
}

// ErrQuantity is returned for a usage value that is not a positive decimal with at most
// four places (and at most 14 digits before the point).
var ErrQuantity = errors.New("usage value must be a positive decimal with at most 4 decimal places")

// ParseQuantity reads a usage value exactly: "12.5" -> 125000 (ten-thousandths).
func ParseQuantity(s string) (int64, error) {
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" || len(whole) > 14 || (hasPoint && (frac == "" || len(frac) > 4)) {
		return 0, ErrQuantity
	}
	var q int64
	for _, r := range whole {
		if r < '0' || r > '9' {
			return 0, ErrQuantity
		}
		q = q*10 + int64(r-'0')
	}
	for i := range 4 {
		q *= 10
		if i < len(frac) {
			r := frac[i]
			if r < '0' || r > '9' {
				return 0, ErrQuantity
			}
			q += int64(r - '0')
		}
	}
	if q <= 0 {
		return 0, ErrQuantity
	}
	return q, nil
}

// FormatQuantity writes a quantity back as the shortest exact decimal ("12.5").
func FormatQuantity(q int64) string {
	s := fmt.Sprintf("%d.%04d", q/Scale, q%Scale)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// Price is what a total quantity costs at unitPrice minor units per unit: quantity x
// unitPrice / 10,000, rounded half up to the minor unit, once per settlement line (the
// sum of a line's records is priced, never each record: no rounding error adds up). It
// fails rather than overflow int64.
func Price(quantity, unitPrice int64) (int64, error) {
	if quantity < 0 || unitPrice < 0 {
		return 0, errors.New("price: negative quantity or unit price")
	}
	p := new(big.Int).Mul(big.NewInt(quantity), big.NewInt(unitPrice))
	p.Add(p, big.NewInt(Scale/2))
	p.Quo(p, big.NewInt(Scale))
	if !p.IsInt64() {
		return 0, fmt.Errorf("price of %s units at %d overflows", FormatQuantity(quantity), unitPrice)
	}
	return p.Int64(), nil
}

// Refusal reasons that need the order (Admit).
const (
	ReasonNotInService Reason = "not_in_service"  // the period is not within the order's time in service
	ReasonOverlap      Reason = "overlaps_stored" // the period overlaps one stored for the same instance
	ReasonRefunded     Reason = "order_refunded"  // the order was refunded in full (its usage with it)
)

// Period is a usage record's span of time, [Begin, End).
type Period struct {
	Begin, End time.Time
}

// Overlaps reports whether two periods share time. Periods that only touch (one ends when
// the next begins) do not; a zero-length period overlaps one that contains its instant, and
// an identical one.
func (p Period) Overlaps(q Period) bool {
	if p.Begin.Equal(q.Begin) && p.End.Equal(q.End) {
		return true
	}
	return p.Begin.Before(q.End) && q.Begin.Before(p.End) ||
		(p.Begin.Equal(p.End) && !p.Begin.Before(q.Begin) && p.Begin.Before(q.End)) ||
		(q.Begin.Equal(q.End) && !q.Begin.Before(p.Begin) && q.Begin.Before(p.End))
}

// Service is what an order's service was, as far as its usage is concerned.
type Service struct {
	// Since and Until bound the order's time in service: from its acceptance into service
	// to its release or cancellation (nil: not in service yet; still in service).
	Since, Until *time.Time
	// Refunded: the order was refunded in full, its usage with it.
	Refunded bool
}

// Admit says whether a usage record for period p may be stored for an order with this
// service, given the periods stored already for the same instance: "" or why not.
func Admit(p Period, svc Service, stored []Period) Reason {
	switch {
	case svc.Refunded:
		return ReasonRefunded
	case svc.Since == nil || p.Begin.Before(*svc.Since):
		return ReasonNotInService
	case svc.Until != nil && p.End.After(*svc.Until):
		return ReasonNotInService
	}
	for _, q := range stored {
		if p.Overlaps(q) {
			return ReasonOverlap
		}
	}
	return ""
}

// ServiceOf is an order's service as its view shows it: its time in service, and whether it
// was refunded in full (cancelled, or an appeal refunded it).
func ServiceOf(v order.View) Service {
	refunded := v.Phase == order.PhaseCancelled || (v.Appeal != nil && v.Appeal.Outcome == order.OutcomeRefund)
	return Service{Since: v.InServiceSince, Until: v.ServiceEndedAt, Refunded: refunded}
}
