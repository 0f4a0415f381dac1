// Package sellerkeys reads and writes sellers' access keys, which PostgreSQL holds only
// sealed (package secrets): the API seals a key when ops register it, the seller activities
// and the seller open API open it when they sign or verify, and the migrate and rotate-keys
// commands re-seal rows. Keeping every access to the secret columns here is what lets a test
// say that no other code reads them.
package sellerkeys

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cloudmarket/orders/internal/secrets"
)

// ErrNotFound is returned for a seller the catalogue does not have.
var ErrNotFound = errors.New("seller not found")

// DB is what this package needs of a pool or a transaction.
type DB interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Seller is what a caller of a seller, or a verifier of its calls, needs.
type Seller struct {
	Endpoint string
	// AccessKey is the active key: it signs our calls to the seller, and the seller's
	// calls to us are checked against it.
	AccessKey      string
	VerifyBodySign bool
	// PendingKey is the new key of a rotation under way, "" when none. The seller's calls
	// to us may be signed with it as well; ours keep the active key until the seller
	// confirms the new one (Confirm), since until then its endpoint may check only the old.
	PendingKey string
	// pendingSealed is the pending key as stored, so that Confirm promotes exactly the key
	// that was checked, not one ops put in its place meanwhile.
	pendingSealed []byte
}

// Rotating reports whether a key rotation is under way: two keys are valid.
func (s Seller) Rotating() bool { return s.PendingKey != "" }

// ErrSameKey is returned when a rotation would start to the key already active.
var ErrSameKey = errors.New("the new key is the active key")

// ErrNoRotation is returned by Confirm when no rotation (or another one) is pending.
var ErrNoRotation = errors.New("no key rotation pending")

// Fingerprint names a key without giving it away: 8 hex characters of a SHA-256 of it.
// Ops and the seller can tell which key is active or pending by computing it themselves
// (sha256 of "cloudmarket-seller-key:" + key); 32 bits are too few to recover even a short
// key from, since countless keys share each fingerprint.
func Fingerprint(accessKey string) string {
	sum := sha256.Sum256([]byte("cloudmarket-seller-key:" + accessKey))
	return hex.EncodeToString(sum[:4])
}

// aad binds a sealed key to its seller's row.
func aad(sellerID string) string { return "sellers.access_key:" + sellerID }

// Seal seals a seller's access key for storage under the keyring's current key.
func Seal(kr *secrets.Keyring, sellerID, accessKey string) (secrets.Sealed, error) {
	s, err := kr.Seal([]byte(accessKey), aad(sellerID))
	if err != nil {
		return secrets.Sealed{}, fmt.Errorf("seal access key of seller %s: %w", sellerID, err)
	}
	return s, nil
}

// Lookup reads a seller and opens its access key. A row not sealed yet (written before keys
// were sealed, and not migrated) is an error: `orders migrate` seals such rows.
func Lookup(ctx context.Context, db DB, kr *secrets.Keyring, sellerID string) (Seller, error) {
	var s Seller
	var sealed, pending secrets.Sealed
	var keyID, pendingID *string
	err := db.QueryRow(ctx, `SELECT endpoint, verify_body_sign, access_key_kek, access_key_dek, access_key_sealed,
		    pending_key_kek, pending_key_dek, pending_key_sealed
		FROM sellers WHERE seller_id = $1`, sellerID).
		Scan(&s.Endpoint, &s.VerifyBodySign, &keyID, &sealed.WrappedKey, &sealed.Ciphertext,
			&pendingID, &pending.WrappedKey, &pending.Ciphertext)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, fmt.Errorf("seller %s: %w", sellerID, ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("look up seller %s: %w", sellerID, err)
	}
	if keyID == nil {
		return s, fmt.Errorf("seller %s: access key not sealed yet (run `orders migrate`)", sellerID)
	}
	sealed.KeyID = *keyID
	key, err := kr.Open(sealed, aad(sellerID))
	if err != nil {
		return s, fmt.Errorf("open access key of seller %s: %w", sellerID, err)
	}
	s.AccessKey = string(key)
	if pendingID != nil {
		pending.KeyID = *pendingID
		key, err := kr.Open(pending, aad(sellerID))
		if err != nil {
			return s, fmt.Errorf("open pending access key of seller %s: %w", sellerID, err)
		}
		s.PendingKey, s.pendingSealed = string(key), pending.Ciphertext
	}
	return s, nil
}

// StartRotation puts newKey beside the seller's active key: from now on the seller may sign
// its calls to us with either, while ours keep the active one until the seller confirms
// the new key. A rotation already pending gets the new key in its place (ops mistyped it,
// or the seller asked again). It answers the new key's fingerprint.
func StartRotation(ctx context.Context, db DB, kr *secrets.Keyring, sellerID, newKey string, at time.Time) (string, error) {
	cur, err := Lookup(ctx, db, kr, sellerID)
	if err != nil {
		return "", err
	}
	if cur.AccessKey == newKey {
		return "", fmt.Errorf("rotate the key of seller %s: %w", sellerID, ErrSameKey)
	}
	sealed, err := Seal(kr, sellerID, newKey)
	if err != nil {
		return "", err
	}
	fp := Fingerprint(newKey)
	tag, err := db.Exec(ctx, `UPDATE sellers SET pending_key_kek = $2, pending_key_dek = $3, pending_key_sealed = $4,
		    pending_key_fingerprint = $5, pending_key_created_at = $6, updated_at = $6
		WHERE seller_id = $1`, sellerID, sealed.KeyID, sealed.WrappedKey, sealed.Ciphertext, fp, at)
	if err != nil {
		return "", fmt.Errorf("start key rotation of seller %s: %w", sellerID, err)
	}
	if tag.RowsAffected() == 0 {
		return "", fmt.Errorf("seller %s: %w", sellerID, ErrNotFound)
	}
	return fp, nil
}

// Confirm ends the rotation that s (as Lookup read it) shows pending: the pending key
// becomes the active one, which our calls use from their next attempt, and the old key is
// forgotten. The update only applies to the very key that was read, so a key ops put in
// its place meanwhile is not confirmed by a call signed with the one before
// (ErrNoRotation).
func Confirm(ctx context.Context, db DB, sellerID string, s Seller, at time.Time) error {
	if !s.Rotating() {
		return fmt.Errorf("confirm the key of seller %s: %w", sellerID, ErrNoRotation)
	}
	tag, err := db.Exec(ctx, `UPDATE sellers SET access_key = NULL,
		    access_key_kek = pending_key_kek, access_key_dek = pending_key_dek, access_key_sealed = pending_key_sealed,
		    key_fingerprint = pending_key_fingerprint, key_created_at = pending_key_created_at,
		    pending_key_kek = NULL, pending_key_dek = NULL, pending_key_sealed = NULL,
		    pending_key_fingerprint = NULL, pending_key_created_at = NULL, updated_at = $3
		WHERE seller_id = $1 AND pending_key_sealed = $2`, sellerID, s.pendingSealed, at)
	if err != nil {
		return fmt.Errorf("confirm the key of seller %s: %w", sellerID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("confirm the key of seller %s: %w", sellerID, ErrNoRotation)
	}
	return nil
}

// CancelRotation forgets the seller's pending key, if any: the active key stays the only
// one. It reports whether a rotation was pending.
func CancelRotation(ctx context.Context, db DB, sellerID string, at time.Time) (bool, error) {
	var was bool
	err := db.QueryRow(ctx, `UPDATE sellers s SET pending_key_kek = NULL, pending_key_dek = NULL, pending_key_sealed = NULL,
		    pending_key_fingerprint = NULL, pending_key_created_at = NULL,
		    updated_at = CASE WHEN s.pending_key_sealed IS NULL THEN s.updated_at ELSE $2 END
		FROM (SELECT pending_key_sealed IS NOT NULL AS was FROM sellers WHERE seller_id = $1 FOR UPDATE) old
		WHERE s.seller_id = $1 RETURNING old.was`, sellerID, at).Scan(&was)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("seller %s: %w", sellerID, ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("cancel the key rotation of seller %s: %w", sellerID, err)
	}
	return was, nil
}

// Which rows Reseal seals.
const (
	// PlainOnly: rows still in plain text, written before keys were sealed (every start
	// with MIGRATE_ON_START, and `orders migrate`).
	PlainOnly = false
	// AllOld: those, and rows sealed under a key other than the current one (`orders
	// rotate-keys`).
	AllOld = true
)

// Reseal seals keys under the keyring's current key: plain-text rows, and with AllOld rows
// sealed under an older key too. Each row is re-sealed in its own short transaction, so it
// can run while the service serves; run again, it finds nothing to do. It returns how many
// rows it sealed.
func Reseal(ctx context.Context, db interface {
	DB
	Begin(ctx context.Context) (pgx.Tx, error)
}, kr *secrets.Keyring, which bool) (int, error) {
	rows, err := db.Query(ctx, `SELECT seller_id FROM sellers
		WHERE access_key IS NOT NULL OR ($2 AND (access_key_kek IS DISTINCT FROM $1 OR pending_key_kek <> $1))
		ORDER BY seller_id`, kr.Current(), which)
	if err != nil {
		return 0, fmt.Errorf("list sellers to seal: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("list sellers to seal: %w", err)
	}
	return secrets.ResealEach(ctx, ids, func(ctx context.Context, id string) (bool, error) {
		return resealOne(ctx, db, kr, id)
	})
}

func resealOne(ctx context.Context, db interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}, kr *secrets.Keyring, sellerID string) (bool, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("seal seller %s: %w", sellerID, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var plain *string
	var keyID, pendingID *string
	var sealed, pending secrets.Sealed
	err = tx.QueryRow(ctx, `SELECT access_key, access_key_kek, access_key_dek, access_key_sealed,
		    pending_key_kek, pending_key_dek, pending_key_sealed
		FROM sellers WHERE seller_id = $1 FOR UPDATE`, sellerID).
		Scan(&plain, &keyID, &sealed.WrappedKey, &sealed.Ciphertext, &pendingID, &pending.WrappedKey, &pending.Ciphertext)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("seal seller %s: %w", sellerID, err)
	}
	resealedPending := false
	if pendingID != nil && *pendingID != kr.Current() {
		// A rotation's new key is re-sealed too, or retiring the old KEK would lose it.
		pending.KeyID = *pendingID
		key, err := kr.Open(pending, aad(sellerID))
		if err != nil {
			return false, fmt.Errorf("seal pending key of seller %s: %w", sellerID, err)
		}
		p, err := Seal(kr, sellerID, string(key))
		if err != nil {
			return false, err
		}
		if _, err := tx.Exec(ctx, `UPDATE sellers SET pending_key_kek = $2, pending_key_dek = $3, pending_key_sealed = $4
			WHERE seller_id = $1`, sellerID, p.KeyID, p.WrappedKey, p.Ciphertext); err != nil {
			return false, fmt.Errorf("seal pending key of seller %s: %w", sellerID, err)
		}
		resealedPending = true
	}
	var key []byte
	switch {
	case keyID != nil && *keyID == kr.Current():
		if !resealedPending {
			return false, nil // sealed meanwhile by someone else
		}
		if err := tx.Commit(ctx); err != nil {
			return false, fmt.Errorf("seal seller %s: %w", sellerID, err)
		}
		return true, nil
	case keyID != nil:
		sealed.KeyID = *keyID
		if key, err = kr.Open(sealed, aad(sellerID)); err != nil {
			return false, fmt.Errorf("seal seller %s: %w", sellerID, err)
		}
	case plain != nil:
		key = []byte(*plain)
	default:
		return false, fmt.Errorf("seal seller %s: the row has no access key", sellerID)
	}
	s, err := Seal(kr, sellerID, string(key))
	if err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `UPDATE sellers SET access_key = NULL, access_key_kek = $2,
		access_key_dek = $3, access_key_sealed = $4, key_fingerprint = coalesce(key_fingerprint, $5) WHERE seller_id = $1`,
		sellerID, s.KeyID, s.WrappedKey, s.Ciphertext, Fingerprint(string(key))); err != nil {
		return false, fmt.Errorf("seal seller %s: %w", sellerID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("seal seller %s: %w", sellerID, err)
	}
	return true, nil
}

// UnknownKeyIDs lists the KEK IDs that sealed rows use and the keyring lacks: those rows
// cannot be opened. The service checks this at start, so a retired key shows at once rather
// than on the next call to one of those sellers.
func UnknownKeyIDs(ctx context.Context, db DB, kr *secrets.Keyring) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT access_key_kek FROM sellers WHERE access_key_kek IS NOT NULL
		UNION SELECT pending_key_kek FROM sellers WHERE pending_key_kek IS NOT NULL ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list key ids in use: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list key ids in use: %w", err)
	}
	var out []string
	for _, id := range ids {
		if !kr.Has(id) {
			out = append(out, id)
		}
	}
	return out, nil
}
