// Package licenses keeps the licences sellers produce for licence products: sealed in
// PostgreSQL (internal/secrets, like sellers' keys), shown in full only to the order's
// buyer. The workflow, its history and the read model know a licence only by its SHA-256
// and a masked form, so a leaked history or read model does not hand out licences.
package licenses

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/secrets"
)

// MaxLength bounds a licence (characters); a longer one is a seller's mistake.
const MaxLength = 8192

// ErrMismatch is returned when an order already has another licence: the seller must
// resend the same one (seller-protocol.md: the same orderId yields the same licence).
var ErrMismatch = errors.New("the order already has a different licence")

// ErrNotFound is returned for an order without a licence.
var ErrNotFound = errors.New("no licence for this order")

// DB is what this package needs of a pool or a transaction.
type DB interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Ref is what the workflow may know of a licence.
func Ref(license, via string, at time.Time) order.LicenseRef {
	sum := sha256.Sum256([]byte(license))
	return order.LicenseRef{SHA256: hex.EncodeToString(sum[:]), Masked: Mask(license), ReceivedAt: at.UTC(), Via: via}
}

// Mask shows the first and last four characters of a licence of 12 or more, nothing of a
// shorter one.
func Mask(license string) string {
	r := []rune(license)
	if len(r) < 12 {
		return "****"
	}
	return string(r[:4]) + "…" + string(r[len(r)-4:])
}

func aad(orderID string) string { return "order_licenses:" + orderID }

// Store seals and keeps an order's licence and returns its reference. A resend of the same
// licence returns the reference kept the first time; another licence is ErrMismatch.
func Store(ctx context.Context, db DB, kr *secrets.Keyring, orderID, license, via string, at time.Time) (order.LicenseRef, error) {
	if license == "" || utf8.RuneCountInString(license) > MaxLength || !utf8.ValidString(license) {
		return order.LicenseRef{}, fmt.Errorf("licence of order %s: must be 1-%d characters of UTF-8", orderID, MaxLength)
	}
	ref := Ref(license, via, at)
	sealed, err := kr.Seal([]byte(license), aad(orderID))
	if err != nil {
		return order.LicenseRef{}, fmt.Errorf("seal licence of order %s: %w", orderID, err)
	}
	var kept order.LicenseRef
	err = db.QueryRow(ctx, `
		INSERT INTO order_licenses (order_id, sha256, masked, via, kek, dek, sealed, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (order_id) DO UPDATE SET order_id = excluded.order_id
		RETURNING sha256, masked, via, received_at`,
		orderID, ref.SHA256, ref.Masked, via, sealed.KeyID, sealed.WrappedKey, sealed.Ciphertext, ref.ReceivedAt,
	).Scan(&kept.SHA256, &kept.Masked, &kept.Via, &kept.ReceivedAt)
	if err != nil {
		return order.LicenseRef{}, fmt.Errorf("store licence of order %s: %w", orderID, err)
	}
	kept.ReceivedAt = kept.ReceivedAt.UTC()
	if kept.SHA256 != ref.SHA256 {
		return kept, fmt.Errorf("licence of order %s: %w", orderID, ErrMismatch)
	}
	return kept, nil
}

// Open returns an order's licence in full (for its buyer only).
func Open(ctx context.Context, db DB, kr *secrets.Keyring, orderID string) (string, error) {
	var s secrets.Sealed
	err := db.QueryRow(ctx, `SELECT kek, dek, sealed FROM order_licenses WHERE order_id = $1`, orderID).
		Scan(&s.KeyID, &s.WrappedKey, &s.Ciphertext)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read licence of order %s: %w", orderID, err)
	}
	b, err := kr.Open(s, aad(orderID))
	if err != nil {
		return "", fmt.Errorf("open licence of order %s: %w", orderID, err)
	}
	return string(b), nil
}

// Reseal seals again, under the keyring's current key, every licence sealed under another
// key (`orders rotate-keys`). Each row is its own short transaction, so it runs while the
// service serves; run again, it finds nothing to do. It returns how many rows it sealed.
func Reseal(ctx context.Context, db interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}, kr *secrets.Keyring) (int, error) {
	rows, err := db.Query(ctx, `SELECT order_id FROM order_licenses WHERE kek <> $1 ORDER BY order_id`, kr.Current())
	if err != nil {
		return 0, fmt.Errorf("list licences to seal: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("list licences to seal: %w", err)
	}
	return secrets.ResealEach(ctx, ids, func(ctx context.Context, id string) (bool, error) {
		return resealOne(ctx, db, kr, id)
	})
}

func resealOne(ctx context.Context, db interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}, kr *secrets.Keyring, orderID string) (bool, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("seal licence of order %s: %w", orderID, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var s secrets.Sealed
	err = tx.QueryRow(ctx, `SELECT kek, dek, sealed FROM order_licenses WHERE order_id = $1 FOR UPDATE`, orderID).
		Scan(&s.KeyID, &s.WrappedKey, &s.Ciphertext)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("seal licence of order %s: %w", orderID, err)
	}
	if s.KeyID == kr.Current() {
		return false, nil // sealed meanwhile by someone else
	}
	plain, err := kr.Open(s, aad(orderID))
	if err != nil {
		return false, fmt.Errorf("seal licence of order %s: %w", orderID, err)
	}
	again, err := kr.Seal(plain, aad(orderID))
	if err != nil {
		return false, fmt.Errorf("seal licence of order %s: %w", orderID, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE order_licenses SET kek = $2, dek = $3, sealed = $4 WHERE order_id = $1`,
		orderID, again.KeyID, again.WrappedKey, again.Ciphertext); err != nil {
		return false, fmt.Errorf("seal licence of order %s: %w", orderID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("seal licence of order %s: %w", orderID, err)
	}
	return true, nil
}

// UnknownKeyIDs lists the KEK IDs that sealed licences use and the keyring lacks: those
// licences cannot be shown to their buyers. The service checks this at start.
func UnknownKeyIDs(ctx context.Context, db interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, kr *secrets.Keyring) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT DISTINCT kek FROM order_licenses ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list licence key ids in use: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list licence key ids in use: %w", err)
	}
	var out []string
	for _, id := range ids {
		if !kr.Has(id) {
			out = append(out, id)
		}
	}
	return out, nil
}
