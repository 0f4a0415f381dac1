// Package sellerkeys reads and writes sellers' access keys, which PostgreSQL holds only
// sealed (package secrets): the API seals a key when ops register it, the seller activities
// and the seller open API open it when they sign or verify, and the migrate and rotate-keys
// commands re-seal rows. Keeping every access to the secret columns here is what lets a test
// say that no other code reads them.
package sellerkeys

import (
	"context"
	"errors"
	"fmt"

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
	Endpoint       string
	AccessKey      string
	VerifyBodySign bool
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
	var sealed secrets.Sealed
	var keyID *string
	err := db.QueryRow(ctx, `SELECT endpoint, verify_body_sign, access_key_kek, access_key_dek, access_key_sealed
		FROM sellers WHERE seller_id = $1`, sellerID).
		Scan(&s.Endpoint, &s.VerifyBodySign, &keyID, &sealed.WrappedKey, &sealed.Ciphertext)
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
	return s, nil
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
		WHERE access_key IS NOT NULL OR ($2 AND access_key_kek IS DISTINCT FROM $1)
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
	var keyID *string
	var sealed secrets.Sealed
	err = tx.QueryRow(ctx, `SELECT access_key, access_key_kek, access_key_dek, access_key_sealed
		FROM sellers WHERE seller_id = $1 FOR UPDATE`, sellerID).
		Scan(&plain, &keyID, &sealed.WrappedKey, &sealed.Ciphertext)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("seal seller %s: %w", sellerID, err)
	}
	var key []byte
	switch {
	case keyID != nil && *keyID == kr.Current():
		return false, nil // sealed meanwhile by someone else
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
		access_key_dek = $3, access_key_sealed = $4 WHERE seller_id = $1`,
		sellerID, s.KeyID, s.WrappedKey, s.Ciphertext); err != nil {
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
	rows, err := db.Query(ctx, `SELECT DISTINCT access_key_kek FROM sellers
		WHERE access_key_kek IS NOT NULL ORDER BY 1`)
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
