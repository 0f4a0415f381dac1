package sellerkeys

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudmarket/orders/internal/secrets"
	"github.com/cloudmarket/orders/internal/testkit"
)

var db *pgxpool.Pool

func TestMain(m *testing.M) { testkit.MainWithDB(m, "sellerkeys", &db) }

func keys(t *testing.T, ids ...string) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		k, err := secrets.NewKey(id)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

func ring(t *testing.T, current string, pairs ...string) *secrets.Keyring {
	t.Helper()
	kr, err := secrets.ParseKeyring(strings.Join(pairs, ","), current)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// TestMigrateThenRotate walks a database from plain-text keys (before the sealing
// migration's Go step) through sealing, a rotation, and the retirement of the old key.
func TestMigrateThenRotate(t *testing.T) {
	ctx := context.Background()
	for i := range 3 {
		if _, err := db.Exec(ctx, `INSERT INTO sellers (seller_id, name, endpoint, access_key) VALUES ($1, 'S', 'https://x', $2)`,
			fmt.Sprint("plain-", i), fmt.Sprint("plain-key-", i)); err != nil {
			t.Fatal(err)
		}
	}
	k := keys(t, "k1", "k2")
	k1 := ring(t, "", k[0])
	if _, err := Lookup(ctx, db, k1, "plain-0"); err == nil || !strings.Contains(err.Error(), "orders migrate") {
		t.Fatalf("a plain-text row is used: %v", err)
	}
	n, err := Reseal(ctx, db, k1, PlainOnly)
	if err != nil || n != 3 {
		t.Fatalf("sealed %d, %v; want 3", n, err)
	}
	if n, _ := Reseal(ctx, db, k1, PlainOnly); n != 0 {
		t.Fatalf("a second run sealed %d rows", n)
	}
	var plain int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM sellers WHERE access_key IS NOT NULL`).Scan(&plain); err != nil || plain != 0 {
		t.Fatalf("%d plain-text keys left (%v)", plain, err)
	}
	s, err := Lookup(ctx, db, k1, "plain-1")
	if err != nil || s.AccessKey != "plain-key-1" {
		t.Fatalf("lookup after sealing: %+v, %v", s, err)
	}

	// Rotation: k2 becomes current; both open; rotate-keys moves every row to k2.
	both := ring(t, "k2", k[0], k[1])
	sealed, _ := Seal(both, "fresh", "fresh-key-123")
	if _, err := db.Exec(ctx, `INSERT INTO sellers (seller_id, name, endpoint, access_key_kek, access_key_dek, access_key_sealed)
		VALUES ('fresh', 'S', 'https://x', $1, $2, $3)`, sealed.KeyID, sealed.WrappedKey, sealed.Ciphertext); err != nil {
		t.Fatal(err)
	}
	if n, err := Reseal(ctx, db, both, PlainOnly); err != nil || n != 0 {
		t.Fatalf("PlainOnly re-sealed %d rows (%v)", n, err)
	}
	n, err = Reseal(ctx, db, both, AllOld)
	if err != nil || n != 3 {
		t.Fatalf("rotated %d, %v; want the 3 rows under k1", n, err)
	}
	k2only := ring(t, "", k[1])
	if missing, err := UnknownKeyIDs(ctx, db, k2only); err != nil || len(missing) != 0 {
		t.Fatalf("after rotation, rows still need %v (%v)", missing, err)
	}
	for _, id := range []string{"plain-0", "plain-2", "fresh"} {
		if _, err := Lookup(ctx, db, k2only, id); err != nil {
			t.Errorf("%s does not open with the new key alone: %v", id, err)
		}
	}
	// Retiring a key still in use shows at once.
	if missing, _ := UnknownKeyIDs(ctx, db, k1); len(missing) != 1 || missing[0] != "k2" {
		t.Errorf("UnknownKeyIDs with only k1 = %v, want [k2]", missing)
	}
	if _, err := Lookup(ctx, db, k1, "fresh"); !errors.Is(err, secrets.ErrUnknownKey) {
		t.Errorf("lookup under a retired key: %v", err)
	}
	if _, err := Lookup(ctx, db, k2only, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown seller: %v", err)
	}
	// A sealed key copied onto another row does not open there.
	if _, err := db.Exec(ctx, `UPDATE sellers SET (access_key_kek, access_key_dek, access_key_sealed) =
		(SELECT access_key_kek, access_key_dek, access_key_sealed FROM sellers WHERE seller_id = 'fresh')
		WHERE seller_id = 'plain-0'`); err != nil {
		t.Fatal(err)
	}
	if _, err := Lookup(ctx, db, k2only, "plain-0"); !errors.Is(err, secrets.ErrCorrupt) {
		t.Errorf("a key copied from another row opened: %v", err)
	}
}

// TestKeyRotation: a rotation keeps the active key and adds the pending one; a second
// start replaces the pending key; a confirmation read before that replacement does not
// confirm the replacement; confirming promotes the pending key; rotate-keys re-seals a
// pending key too, so retiring a KEK never loses it.
func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	k := keys(t, "r1", "r2")
	r1 := ring(t, "", k[0])
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	sealed, _ := Seal(r1, "rot", "old-key-123")
	if _, err := db.Exec(ctx, `INSERT INTO sellers (seller_id, name, endpoint, access_key_kek, access_key_dek, access_key_sealed)
		VALUES ('rot', 'S', 'https://x', $1, $2, $3)`, sealed.KeyID, sealed.WrappedKey, sealed.Ciphertext); err != nil {
		t.Fatal(err)
	}
	if _, err := StartRotation(ctx, db, r1, "rot", "old-key-123", at); !errors.Is(err, ErrSameKey) {
		t.Fatalf("rotation to the active key: %v", err)
	}
	if _, err := StartRotation(ctx, db, r1, "nobody", "new-key-456", at); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rotation of an unknown seller: %v", err)
	}
	if err := Confirm(ctx, db, "rot", Seller{}, at); !errors.Is(err, ErrNoRotation) {
		t.Fatalf("confirm without rotation: %v", err)
	}
	fp, err := StartRotation(ctx, db, r1, "rot", "new-key-456", at)
	if err != nil || fp != Fingerprint("new-key-456") || len(fp) != 8 {
		t.Fatalf("start: %q, %v", fp, err)
	}
	first, err := Lookup(ctx, db, r1, "rot")
	if err != nil || first.AccessKey != "old-key-123" || first.PendingKey != "new-key-456" || !first.Rotating() {
		t.Fatalf("during rotation: %+v, %v", first, err)
	}
	// ops put another key in its place; a confirmation of the first one must not land.
	if _, err := StartRotation(ctx, db, r1, "rot", "newer-key-789", at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := Confirm(ctx, db, "rot", first, at); !errors.Is(err, ErrNoRotation) {
		t.Fatalf("a replaced pending key was confirmed: %v", err)
	}
	// rotate-keys under a new current KEK re-seals the pending key too (only this test's
	// row: the others are sealed under keys of their own test).
	if _, err := db.Exec(ctx, `DELETE FROM sellers WHERE seller_id <> 'rot'`); err != nil {
		t.Fatal(err)
	}
	both := ring(t, "r2", k[0], k[1])
	if n, err := Reseal(ctx, db, both, AllOld); err != nil || n < 1 {
		t.Fatalf("reseal: %d, %v", n, err)
	}
	r2 := ring(t, "", k[1])
	if missing, _ := UnknownKeyIDs(ctx, db, r2); len(missing) != 0 {
		t.Fatalf("after rotate-keys rows still need %v", missing)
	}
	second, err := Lookup(ctx, db, r2, "rot")
	if err != nil || second.PendingKey != "newer-key-789" || second.AccessKey != "old-key-123" {
		t.Fatalf("after reseal: %+v, %v", second, err)
	}
	if was, err := CancelRotation(ctx, db, "rot", at); err != nil || !was {
		t.Fatalf("cancel: %v, %v", was, err)
	}
	if err := Confirm(ctx, db, "rot", second, at); !errors.Is(err, ErrNoRotation) {
		t.Fatalf("a cancelled rotation was confirmed: %v", err)
	}
	if was, err := CancelRotation(ctx, db, "rot", at); err != nil || was {
		t.Fatalf("cancel again: %v, %v", was, err)
	}
	if _, err := CancelRotation(ctx, db, "nobody", at); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel for an unknown seller: %v", err)
	}
	if _, err := StartRotation(ctx, db, r2, "rot", "newer-key-789", at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if second, err = Lookup(ctx, db, r2, "rot"); err != nil {
		t.Fatal(err)
	}
	if err := Confirm(ctx, db, "rot", second, at.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	done, err := Lookup(ctx, db, r2, "rot")
	if err != nil || done.AccessKey != "newer-key-789" || done.Rotating() {
		t.Fatalf("after confirm: %+v, %v", done, err)
	}
	var fpDB string
	var created time.Time
	if err := db.QueryRow(ctx, `SELECT key_fingerprint, key_created_at FROM sellers WHERE seller_id = 'rot'`).Scan(&fpDB, &created); err != nil ||
		fpDB != Fingerprint("newer-key-789") || !created.Equal(at.Add(time.Minute)) {
		t.Fatalf("key state after confirm: %q %v (%v)", fpDB, created, err)
	}
}
