package api

import (
	"context"
	"time"
)

// sweepEvery is how often expired idempotency keys and old seller nonces are deleted.
const sweepEvery = 5 * time.Minute

// sweepBatch bounds one delete, so a large backlog never holds long locks.
const sweepBatch = 1000

// sweep deletes idempotency keys past their expiry and seller nonces older than twice the
// timestamp window (a nonce can only be replayed within the window). Each API replica runs
// it; the deletes are idempotent.
func (s *server) sweep(ctx context.Context) {
	now := s.now().UTC()
	for _, q := range []struct {
		what string
		sql  string
		arg  time.Time
	}{
		{"idempotency keys", `DELETE FROM idempotency_keys WHERE ctid IN (
			SELECT ctid FROM idempotency_keys WHERE expires_at < $1 LIMIT 1000)`, now},
		{"seller nonces", `DELETE FROM seller_api_nonces WHERE ctid IN (
			SELECT ctid FROM seller_api_nonces WHERE seen_at < $1 LIMIT 1000)`, now.Add(-2 * sellerAPIWindow)},
	} {
		for {
			dctx, cancel := context.WithTimeout(ctx, dbTimeout)
			tag, err := s.db.Exec(dctx, q.sql, q.arg)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("sweep failed; next round retries", "what", q.what, "error", err)
				}
				break
			}
			if tag.RowsAffected() < sweepBatch {
				break
			}
		}
	}
}
