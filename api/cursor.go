package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"
)

// listCursor is the position after the last order of a page in the (placed_at DESC,
// order_id DESC) order. It travels as opaque base64url JSON: clients must not build or
// edit cursors, and the encoding can change without breaking them.
type listCursor struct {
	PlacedAt time.Time `json:"t"`
	OrderID  string    `json:"o"`
}

func encodeCursor(c listCursor) string {
	b, _ := json.Marshal(listCursor{PlacedAt: c.PlacedAt.UTC(), OrderID: c.OrderID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor refuses anything encodeCursor could not have produced.
func decodeCursor(s string) (listCursor, error) {
	var c listCursor
	if len(s) > 512 {
		return c, errors.New("cursor too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, err
	}
	if dec.More() {
		return c, errors.New("trailing data in cursor")
	}
	if c.PlacedAt.IsZero() || !idPattern.MatchString(c.OrderID) {
		return c, errors.New("incomplete cursor")
	}
	return c, nil
}
