package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/sellerapi"
	"github.com/cloudmarket/orders/internal/sellerkeys"
)

// Headers of a signed seller open API call (seller-protocol.md, "What a seller may call back").
const (
	headerSellerID  = "X-Seller-Id"
	headerSignature = "X-Signature"
	headerTimestamp = "X-Timestamp"
	headerNonce     = "X-Nonce"
)

// sellerAPIWindow is how far a seller's X-Timestamp may be from our clock, as the protocol
// asks of sellers for our calls; a nonce is remembered for twice as long.
const sellerAPIWindow = 60 * time.Second

var (
	signaturePattern = regexp.MustCompile(`^[0-9A-Fa-f]{64}$`)
	timestampPattern = regexp.MustCompile(`^[0-9]{13}$`)
	noncePattern     = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

// sellerAuth authenticates a seller open API call exactly as sellers check ours: the
// signature over the exact body with the seller's access key, a timestamp within the window
// and a nonce not seen within it (in PostgreSQL, so a replay to another API replica fails
// too). Every failure is 401 and changes nothing: the nonce is recorded only once the
// signature checks, and an unknown seller answers like a wrong signature, so seller IDs
// cannot be probed.
func (s *server) sellerAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		sc, p := parseSellerSignature(req.Header, s.now())
		if p != nil {
			return p
		}
		sellerID, sig, ts, nonce := sc.sellerID, sc.signature, sc.timestamp, sc.nonce
		body, p := s.readBody(c)
		if p != nil {
			return p
		}
		// The signature covers the exact bytes; conform reads them again.
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))

		ctx, cancel := context.WithTimeout(req.Context(), dbTimeout)
		defer cancel()
		sl, err := sellerkeys.Lookup(ctx, s.db, s.keys, sellerID)
		switch {
		case errors.Is(err, sellerkeys.ErrNotFound):
			return sellerUnauthenticated("the signature does not match")
		case err != nil:
			return dbFailure("look up seller "+sellerID, err)
		}
		// During a key rotation either key is valid (docs/operations.md, "A seller's access
		// key"): the seller's callers may move to the new key before its endpoint does.
		withPending := false
		if !sellerapi.VerifySignature(sl.AccessKey, nonce, ts, body, sig) {
			if !sl.Rotating() || !sellerapi.VerifySignature(sl.PendingKey, nonce, ts, body, sig) {
				return sellerUnauthenticated("the signature does not match")
			}
			withPending = true
		}
		tag, err := s.db.Exec(ctx, `INSERT INTO seller_api_nonces (seller_id, nonce, seen_at) VALUES ($1, $2, $3)
			ON CONFLICT (seller_id, nonce) DO NOTHING`, sellerID, nonce, s.now().UTC())
		if err != nil {
			return dbFailure("record nonce of seller "+sellerID, err)
		}
		if tag.RowsAffected() == 0 {
			return sellerUnauthenticated("X-Nonce was used already")
		}
		c.Set(ctxCaller, caller{Role: roleSellerAPI, Kind: order.ActorSeller, ID: sellerID, TokenID: "signed"})
		c.Set(ctxSellerKey, signedWith{seller: sl, pending: withPending})
		return next(c)
	}
}

// ctxSellerKey is where sellerAuth leaves which of the seller's keys signed the call
// (signedWith), for the confirmation of a rotation. It holds keys: never logged.
const ctxSellerKey = "api.sellerKey"

// signedWith is the seller as sellerAuth read it, and whether the call was signed with the
// pending key of a rotation rather than the active one.
type signedWith struct {
	seller  sellerkeys.Seller
	pending bool
}

// sellerSignature is the signature headers of a seller's call, well-formed and in time.
type sellerSignature struct {
	sellerID, signature, timestamp, nonce string
}

// parseSellerSignature checks the form of the signature headers and the timestamp window;
// anything wrong is 401 before the database or the body is touched.
func parseSellerSignature(h http.Header, now time.Time) (sellerSignature, *Problem) {
	sc := sellerSignature{h.Get(headerSellerID), h.Get(headerSignature), h.Get(headerTimestamp), h.Get(headerNonce)}
	if checkID(headerSellerID, sc.sellerID) != nil || !signaturePattern.MatchString(sc.signature) ||
		!timestampPattern.MatchString(sc.timestamp) || !noncePattern.MatchString(sc.nonce) {
		return sc, sellerUnauthenticated("sign the call: X-Seller-Id, X-Signature (64 hex), X-Timestamp (Unix ms), X-Nonce (32 lower-case hex)")
	}
	ms, _ := strconv.ParseInt(sc.timestamp, 10, 64)
	if d := now.Sub(time.UnixMilli(ms)); d > sellerAPIWindow || d < -sellerAPIWindow {
		return sc, sellerUnauthenticated("X-Timestamp is more than 60 s from our clock")
	}
	return sc, nil
}

func sellerUnauthenticated(detail string) *Problem {
	p := newProblem(http.StatusUnauthorized, CodeUnauthenticated, detail)
	p.challenge = `Signature realm="seller-api"`
	return p
}
