package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries a delivery's signature, as Stripe signs its webhooks:
//
//	Cloudmarket-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// The timestamp is inside the signed text, so a captured delivery cannot be replayed later
// with a fresh timestamp; a receiver refuses timestamps outside its tolerance.
const SignatureHeader = "Cloudmarket-Signature"

// DefaultTolerance is how far a signature's timestamp may be from the receiver's clock.
const DefaultTolerance = 5 * time.Minute

// ErrSignature is the cause of every verification failure; the wrapped message says which
// part failed, never the secret or the expected MAC.
var ErrSignature = errors.New("invalid event signature")

// Sign returns the signature header value of body at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// maxHeader bounds the header Verify parses: a header is a few dozen bytes, and a receiver
// must not spend work on a huge one.
const maxHeader = 4096

// Verify checks a delivery: header is the Cloudmarket-Signature value, body the raw request
// body (before any JSON decoding), now the receiver's clock and tolerance the largest
// accepted distance between the signature's timestamp and now (0 = DefaultTolerance). It
// accepts the header when any v1 entry matches (several appear while a secret is rotated).
// The comparison is constant-time.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) == 0 {
		return fmt.Errorf("%w: no secret", ErrSignature)
	}
	if len(header) > maxHeader {
		return fmt.Errorf("%w: header too long", ErrSignature)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var macs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: malformed header", ErrSignature)
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: timestamp given twice", ErrSignature)
			}
			ts = v
		case "v1":
			m, err := hex.DecodeString(v)
			if err != nil || len(m) != sha256.Size {
				return fmt.Errorf("%w: malformed v1 signature", ErrSignature)
			}
			macs = append(macs, m)
		}
		// Other schemes (a future v2) are ignored, as Stripe's receivers do.
	}
	if ts == "" || len(macs) == 0 {
		return fmt.Errorf("%w: timestamp or v1 signature missing", ErrSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 || strconv.FormatInt(sec, 10) != ts {
		return fmt.Errorf("%w: malformed timestamp", ErrSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp outside the tolerance", ErrSignature)
	}
	want := mac(secret, ts, body)
	for _, m := range macs {
		if hmac.Equal(m, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no matching v1 signature", ErrSignature)
}
