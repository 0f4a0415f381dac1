package outbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cloudmarket/orders/internal/secrets"
)

// Reseal seals again, under the keyring's current key, every subscriber secret sealed
// under another key (`orders rotate-keys`, with the seller keys and the licences). Each row
// is its own short transaction; a row a dispatcher is delivering to waits for its batch. It
// returns how many rows it sealed.
func Reseal(ctx context.Context, db interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}, kr *secrets.Keyring) (int, error) {
	rows, err := db.Query(ctx, `SELECT subscriber_id FROM event_subscribers WHERE secret_kek <> $1 ORDER BY 1`, kr.Current())
	if err != nil {
		return 0, fmt.Errorf("list subscriber secrets to seal: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("list subscriber secrets to seal: %w", err)
	}
	return secrets.ResealEach(ctx, ids, func(ctx context.Context, id string) (bool, error) {
		return resealOne(ctx, db, kr, id)
	})
}

func resealOne(ctx context.Context, db interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}, kr *secrets.Keyring, id string) (bool, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("seal the secret of subscriber %s: %w", id, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var s secrets.Sealed
	err = tx.QueryRow(ctx, `SELECT secret_kek, secret_dek, secret_sealed FROM event_subscribers WHERE subscriber_id = $1 FOR UPDATE`, id).
		Scan(&s.KeyID, &s.WrappedKey, &s.Ciphertext)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("seal the secret of subscriber %s: %w", id, err)
	}
	if s.KeyID == kr.Current() {
		return false, nil // sealed meanwhile
	}
	plain, err := kr.Open(s, aad(id))
	if err != nil {
		return false, fmt.Errorf("seal the secret of subscriber %s: %w", id, err)
	}
	again, err := kr.Seal(plain, aad(id))
	if err != nil {
		return false, fmt.Errorf("seal the secret of subscriber %s: %w", id, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE event_subscribers SET secret_kek = $2, secret_dek = $3, secret_sealed = $4 WHERE subscriber_id = $1`,
		id, again.KeyID, again.WrappedKey, again.Ciphertext); err != nil {
		return false, fmt.Errorf("seal the secret of subscriber %s: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("seal the secret of subscriber %s: %w", id, err)
	}
	return true, nil
}

// UnknownKeyIDs lists the KEK IDs that sealed subscriber secrets use and the keyring lacks:
// those subscribers could not be signed for. A worker checks this at start, with the seller
// keys and the licences.
func UnknownKeyIDs(ctx context.Context, db interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}, kr *secrets.Keyring) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT DISTINCT secret_kek FROM event_subscribers ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list subscriber key ids in use: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list subscriber key ids in use: %w", err)
	}
	var out []string
	for _, id := range ids {
		if !kr.Has(id) {
			out = append(out, id)
		}
	}
	return out, nil
}
