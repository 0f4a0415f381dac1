package order

import (
	"strconv"
	"time"
)

// durationUnits are the units FormatDuration writes, largest first.
var durationUnits = []struct {
	size time.Duration
	name string
}{
	{24 * time.Hour, "d"},
	{time.Hour, "h"},
	{time.Minute, "min"},
	{time.Second, "s"},
}

// FormatDuration writes a duration as people write it in the Temporal UI's current details
// and anywhere else a person reads one: its largest unit and the next, rounded to the
// second of them ("2 d 4 h", "45 min 20 s", "13 s"), the second left out when it is zero
// ("45 min", "1 d"). Units are d, h, min and s; a positive duration under half a second
// is "under 1 s"; a negative one is prefixed with "-".
func FormatDuration(d time.Duration) string {
	if d < 0 {
		if d == time.Duration(-1<<63) {
			d++ // the smallest Duration has no positive counterpart; a nanosecond is nothing here
		}
		return "-" + FormatDuration(-d)
	}
	if d > 0 && d < time.Second/2 {
		return "under 1 s"
	}
	i := 0
	// Rounding to the next unit can carry into a larger one (23 h 59 min 40 s is 1 d): the
	// loop picks the largest unit again after each rounding, at most once per unit.
	for range durationUnits {
		i = len(durationUnits) - 1
		for j, u := range durationUnits {
			if d >= u.size {
				i = j
				break
			}
		}
		r := d.Round(durationUnits[min(i+1, len(durationUnits)-1)].size) // saturates, never wraps
		if r == d {
			break
		}
		d = r
	}
	big := durationUnits[i]
	out := strconv.FormatInt(int64(d/big.size), 10) + " " + big.name
	if i+1 < len(durationUnits) {
		small := durationUnits[i+1]
		if n := int64(d % big.size / small.size); n > 0 {
			out += " " + strconv.FormatInt(n, 10) + " " + small.name
		}
	}
	return out
}
