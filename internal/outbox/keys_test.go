package outbox

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/secrets"
)

// TestResealSubscriberSecrets: a rotation re-seals every secret under the new key, the
// secret still opens, a second run does nothing, and a keyring without the old key names it.
func TestResealSubscriberSecrets(t *testing.T) {
	cleanSubscribers(t)
	ctx := context.Background()
	oldKey, _ := secrets.NewKey("old")
	newKey, _ := secrets.NewKey("new")
	oldRing, err := secrets.ParseKeyring(oldKey, "")
	if err != nil {
		t.Fatal(err)
	}
	id := uid("sub")
	secret := "whsec-rotate-0123456789"
	if _, _, err := Save(ctx, db, oldRing, id, "https://93.184.216.34/h", nil, &secret, time.Now()); err != nil {
		t.Fatal(err)
	}
	newOnly, _ := secrets.ParseKeyring(newKey, "")
	if missing, err := UnknownKeyIDs(ctx, db, newOnly); err != nil || !slices.Contains(missing, "old") {
		t.Fatalf("UnknownKeyIDs = %v, %v; want old", missing, err)
	}
	both, err := secrets.ParseKeyring(oldKey+","+newKey, "new")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := Reseal(ctx, db, both); err != nil || n < 1 {
		t.Fatalf("Reseal = %d, %v", n, err)
	}
	if n, err := Reseal(ctx, db, both); err != nil || n != 0 {
		t.Fatalf("second Reseal = %d, %v; want 0", n, err)
	}
	var s secrets.Sealed
	if err := db.QueryRow(ctx, `SELECT secret_kek, secret_dek, secret_sealed FROM event_subscribers WHERE subscriber_id = $1`, id).
		Scan(&s.KeyID, &s.WrappedKey, &s.Ciphertext); err != nil {
		t.Fatal(err)
	}
	plain, err := newOnly.Open(s, aad(id))
	if err != nil || string(plain) != secret || strings.Contains(string(s.Ciphertext), secret) {
		t.Fatalf("after rotation the secret opens as %q (%v) under %s", plain, err, s.KeyID)
	}
	if missing, _ := UnknownKeyIDs(ctx, db, newOnly); len(missing) != 0 {
		t.Fatalf("after rotation still missing %v", missing)
	}
}
