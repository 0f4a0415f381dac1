package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/sellerkeys"
)

// sellerResponse is a seller as the API shows it: its key state by fingerprint, never a key.
type sellerResponse struct {
	SellerID       string       `json:"sellerId"`
	Name           string       `json:"name"`
	Endpoint       string       `json:"endpoint"`
	VerifyBodySign bool         `json:"verifyBodySign"`
	Keys           sellerKeys   `json:"keys"`
	Limits         sellerLimits `json:"limits"`
	CreatedAt      time.Time    `json:"createdAt"`
	UpdatedAt      time.Time    `json:"updatedAt"`
}

// sellerKeys is the key state: the active key, and the pending one of a rotation.
type sellerKeys struct {
	Active  keyInfo  `json:"active"`
	Pending *keyInfo `json:"pending,omitempty"`
}

// keyInfo names a key by its fingerprint (sellerkeys.Fingerprint), so that ops and the
// seller can tell which key we hold without anyone reading it.
type keyInfo struct {
	Fingerprint string     `json:"fingerprint,omitempty"`
	CreatedAt   *time.Time `json:"createdAt,omitempty"`
}

// sellerLimits are the limits every worker together keeps to when calling the seller.
type sellerLimits struct {
	PerSecond   float64    `json:"perSecond"`
	Concurrency int        `json:"concurrency"`
	Source      string     `json:"source"`
	UpdatedAt   *time.Time `json:"updatedAt,omitempty"`
}

// Sources of a seller's limits.
const (
	limitsFromAPI    = "api"
	limitsFromPolicy = "policy"
)

func sellerNotFound(id string) *Problem {
	p := newProblem(http.StatusNotFound, CodeSellerNotFound, fmt.Sprintf("no seller %q", id))
	p.Field = "sellerId"
	return p
}

// readSeller reads a seller's non-secret columns: the sealed keys stay in PostgreSQL, only
// their fingerprints and times are read.
func (s *server) readSeller(ctx context.Context, id string) (sellerResponse, error) {
	out := sellerResponse{SellerID: id}
	var activeFP, pendingFP *string
	var activeAt, pendingAt, limitsAt *time.Time
	var perSecond *float64
	var concurrency *int
	err := s.db.QueryRow(ctx, `SELECT name, endpoint, verify_body_sign, created_at, updated_at,
		    key_fingerprint, key_created_at, pending_key_fingerprint, pending_key_created_at,
		    calls_per_second, call_concurrency, limits_updated_at
		FROM sellers WHERE seller_id = $1`, id).
		Scan(&out.Name, &out.Endpoint, &out.VerifyBodySign, &out.CreatedAt, &out.UpdatedAt,
			&activeFP, &activeAt, &pendingFP, &pendingAt, &perSecond, &concurrency, &limitsAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return out, sellerNotFound(id)
	}
	if err != nil {
		return out, dbFailure("read seller "+id, err)
	}
	out.CreatedAt, out.UpdatedAt = out.CreatedAt.UTC(), out.UpdatedAt.UTC()
	out.Keys.Active = keyInfo{Fingerprint: deref(activeFP), CreatedAt: utcPtr(activeAt)}
	if pendingAt != nil {
		out.Keys.Pending = &keyInfo{Fingerprint: deref(pendingFP), CreatedAt: utcPtr(pendingAt)}
	}
	switch {
	case perSecond != nil && concurrency != nil:
		out.Limits = sellerLimits{PerSecond: *perSecond, Concurrency: *concurrency, Source: limitsFromAPI, UpdatedAt: utcPtr(limitsAt)}
	case s.policy != nil:
		l := s.policy.SellerLimit(id)
		out.Limits = sellerLimits{PerSecond: l.CallsPerSecond, Concurrency: l.Concurrency, Source: limitsFromPolicy}
	default:
		out.Limits.Source = limitsFromPolicy
	}
	return out, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// getSeller answers GET /v1/sellers/{sellerId}: ops, or the seller itself through the web
// tier (another seller's answers as a missing one, so seller IDs cannot be probed).
func (s *server) getSeller(c echo.Context) error {
	id := c.Param("sellerId")
	if cl := callerOf(c); cl.Kind == order.ActorSeller && cl.ID != id {
		return sellerNotFound(id)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	out, err := s.readSeller(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// startKeyRotation answers POST /v1/sellers/{sellerId}/key-rotations (ops): the new key is
// valid beside the active one until the seller confirms it (sellerConfirmKey).
func (s *server) startKeyRotation(c echo.Context) error {
	id := c.Param("sellerId")
	var req struct {
		AccessKey string `json:"accessKey"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	_, err := sellerkeys.StartRotation(ctx, s.db, s.keys, id, req.AccessKey, s.now().UTC())
	switch {
	case errors.Is(err, sellerkeys.ErrNotFound):
		return sellerNotFound(id)
	case errors.Is(err, sellerkeys.ErrSameKey):
		return invalidField("accessKey", "accessKey is the seller's active key: a rotation needs a new one")
	case err != nil:
		// The error names the seller and the step, never the key.
		return dbFailure("start key rotation of seller "+id, err)
	}
	out, err := s.readSeller(ctx, id)
	if err != nil {
		return err
	}
	s.log.Info("seller key rotation started", "request_id", requestID(c), "seller_id", id,
		"pending_fingerprint", out.Keys.Pending.fingerprint(), "actor_id", callerOf(c).ID)
	return c.JSON(http.StatusOK, out)
}

// cancelKeyRotation answers DELETE /v1/sellers/{sellerId}/key-rotations (ops): the pending
// key is forgotten, the active key stays the only one.
func (s *server) cancelKeyRotation(c echo.Context) error {
	id := c.Param("sellerId")
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	was, err := sellerkeys.CancelRotation(ctx, s.db, id, s.now().UTC())
	switch {
	case errors.Is(err, sellerkeys.ErrNotFound):
		return sellerNotFound(id)
	case err != nil:
		return dbFailure("cancel key rotation of seller "+id, err)
	}
	out, err := s.readSeller(ctx, id)
	if err != nil {
		return err
	}
	s.log.Info("seller key rotation cancelled", "request_id", requestID(c), "seller_id", id,
		"was_pending", was, "actor_id", callerOf(c).ID)
	return c.JSON(http.StatusOK, out)
}

func (k *keyInfo) fingerprint() string {
	if k == nil {
		return ""
	}
	return k.Fingerprint
}

// putSellerLimits answers PUT /v1/sellers/{sellerId}/limits (ops): the limits every worker
// together keeps to (activities.SellerGates reads them within seconds).
func (s *server) putSellerLimits(c echo.Context) error {
	id := c.Param("sellerId")
	var req struct {
		PerSecond   float64 `json:"perSecond"`
		Concurrency int     `json:"concurrency"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	return s.setSellerLimits(c, id, &req.PerSecond, &req.Concurrency)
}

// deleteSellerLimits answers DELETE /v1/sellers/{sellerId}/limits (ops): the policy's limits
// apply again.
func (s *server) deleteSellerLimits(c echo.Context) error {
	return s.setSellerLimits(c, c.Param("sellerId"), nil, nil)
}

func (s *server) setSellerLimits(c echo.Context, id string, perSecond *float64, concurrency *int) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	now := s.now().UTC()
	var at *time.Time
	if perSecond != nil {
		at = &now
	}
	tag, err := s.db.Exec(ctx, `UPDATE sellers SET calls_per_second = $2, call_concurrency = $3, limits_updated_at = $4
		WHERE seller_id = $1`, id, perSecond, concurrency, at)
	if err != nil {
		return dbFailure("set limits of seller "+id, err)
	}
	if tag.RowsAffected() == 0 {
		return sellerNotFound(id)
	}
	out, err := s.readSeller(ctx, id)
	if err != nil {
		return err
	}
	s.log.Info("seller limits set", "request_id", requestID(c), "seller_id", id, "source", out.Limits.Source,
		"per_second", out.Limits.PerSecond, "concurrency", out.Limits.Concurrency, "actor_id", callerOf(c).ID)
	return c.JSON(http.StatusOK, out)
}

// sellerConfirmKey answers POST /v1/seller-api/keys/confirm, signed by the seller: signed with
// the pending key of a rotation, it makes that key the active one (our calls use it from
// their next attempt) and retires the old; signed with the active key and nothing pending,
// there is nothing to do; signed with the old key while a rotation is pending, 409.
func (s *server) sellerConfirmKey(c echo.Context) error {
	sellerID := callerOf(c).ID
	sk, _ := c.Get(ctxSellerKey).(signedWith)
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	out := struct {
		SellerID       string `json:"sellerId"`
		KeyFingerprint string `json:"keyFingerprint"`
		Confirmed      bool   `json:"confirmed"`
	}{SellerID: sellerID}
	switch {
	case sk.pending:
		err := sellerkeys.Confirm(ctx, s.db, sellerID, sk.seller, s.now().UTC())
		if errors.Is(err, sellerkeys.ErrNoRotation) {
			// Either a confirmation at the same time made this key active already (a
			// retry: the same answer), or ops replaced or ended the rotation since this
			// call's key was checked (the key is no longer valid).
			now, lErr := sellerkeys.Lookup(ctx, s.db, s.keys, sellerID)
			if lErr != nil || now.AccessKey != sk.seller.PendingKey {
				return sellerUnauthenticated("the signature does not match")
			}
			err = nil
		}
		if err != nil {
			return dbFailure("confirm the key of seller "+sellerID, err)
		}
		out.Confirmed = true
		out.KeyFingerprint = sellerkeys.Fingerprint(sk.seller.PendingKey)
		s.log.Info("seller key confirmed", "request_id", requestID(c), "seller_id", sellerID,
			"fingerprint", out.KeyFingerprint)
	case sk.seller.Rotating():
		return conflict(CodeKeyRotationPending, "this call is signed with the old key while a rotation is pending: sign the confirmation with the new key")
	default:
		out.KeyFingerprint = sellerkeys.Fingerprint(sk.seller.AccessKey)
	}
	return c.JSON(http.StatusOK, out)
}
