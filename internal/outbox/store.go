// Package outbox serves the order events the order workflows' activities write to
// event_outbox (activities/outbox.go; issue 16, "Order events out"): the subscribers ops
// register, the pull feed (GET /v1/events), the dispatcher that delivers events to the
// subscribers as signed POSTs from the worker processes, and the retention sweep.
//
// Every access to the subscribers' sealed secrets is here, as sellerkeys keeps every access
// to sellers' keys: the API and the worker go through this package.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cloudmarket/orders/internal/secrets"
)

// DB is what this package needs of a pool or a transaction.
type DB interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// ErrNotFound is returned for a subscriber that is not registered.
var ErrNotFound = errors.New("subscriber not found")

// ErrNeedSecret is returned when a new subscriber comes without a secret.
var ErrNeedSecret = errors.New("a new subscriber needs a secret")

// Subscriber states.
const (
	// StateActive: deliveries run (and are retried with backoff while they fail).
	StateActive = "active"
	// StateFailing: deliveries failed for longer than the retry window; the dispatcher leaves
	// the subscriber alone until ops replay it.
	StateFailing = "failing"
)

// Subscriber is a subscriber as ops see it: never with its secret.
type Subscriber struct {
	SubscriberID string   `json:"subscriberId"`
	URL          string   `json:"url"`
	Types        []string `json:"types"`
	State        string   `json:"state"`
	// Cursor is the position of the last event delivered (or skipped: a type not asked for).
	Cursor          string     `json:"cursor"`
	Attempts        int        `json:"attempts"`
	FailingSince    *time.Time `json:"failingSince,omitempty"`
	NextAttemptAt   time.Time  `json:"nextAttemptAt"`
	LastError       string     `json:"lastError,omitempty"`
	LastDeliveredAt *time.Time `json:"lastDeliveredAt,omitempty"`
	Delivered       int64      `json:"delivered"`
	// LagEvents is how many positions the subscriber is behind the newest event (an upper
	// bound of the events it still has to receive: skipped types count too).
	LagEvents int64 `json:"lagEvents"`
	// LagSeconds is the age of the oldest event it has not been sent yet; 0 when caught up.
	LagSeconds float64   `json:"lagSeconds"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// aad binds a sealed secret to its subscriber's row.
func aad(id string) string { return "event_subscribers.secret:" + id }

// FormatCursor and ParseCursor convert a feed position to and from the cursor the API shows.
func FormatCursor(p int64) string { return strconv.FormatInt(p, 10) }

// ParseCursor accepts what FormatCursor makes: a decimal position, 0 (the start) or more.
func ParseCursor(s string) (int64, error) {
	p, err := strconv.ParseInt(s, 10, 64)
	if err != nil || p < 0 || strconv.FormatInt(p, 10) != s {
		return 0, fmt.Errorf("cursor %q is not one this API issued", s)
	}
	return p, nil
}

// Save creates or replaces a subscriber. secret nil keeps the stored one (so ops can move a
// URL without handling the secret); a new subscriber needs one (ErrNeedSecret). A new
// subscriber starts at the newest event: it receives what happens from now on (a replay
// sends it older ones). It reports whether the subscriber is new.
func Save(ctx context.Context, db DB, kr *secrets.Keyring, id, url string, types []string, secret *string, now time.Time) (Subscriber, bool, error) {
	if types == nil {
		types = []string{}
	}
	var created bool
	var err error
	if secret != nil {
		sealed, sErr := kr.Seal([]byte(*secret), aad(id))
		if sErr != nil {
			return Subscriber{}, false, fmt.Errorf("seal the secret of subscriber %s: %w", id, sErr)
		}
		err = db.QueryRow(ctx, `
			INSERT INTO event_subscribers (subscriber_id, url, types, secret_kek, secret_dek, secret_sealed,
			    cursor, next_attempt_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, (SELECT coalesce(max(position), 0) FROM event_outbox), $7, $7, $7)
			ON CONFLICT (subscriber_id) DO UPDATE SET
			    url = excluded.url, types = excluded.types, secret_kek = excluded.secret_kek,
			    secret_dek = excluded.secret_dek, secret_sealed = excluded.secret_sealed, updated_at = excluded.updated_at
			RETURNING (xmax = 0)`,
			id, url, types, sealed.KeyID, sealed.WrappedKey, sealed.Ciphertext, now).Scan(&created)
	} else {
		var tag pgconn.CommandTag
		tag, err = db.Exec(ctx, `UPDATE event_subscribers SET url = $2, types = $3, updated_at = $4 WHERE subscriber_id = $1`,
			id, url, types, now)
		if err == nil && tag.RowsAffected() == 0 {
			return Subscriber{}, false, ErrNeedSecret
		}
	}
	if err != nil {
		return Subscriber{}, false, fmt.Errorf("save subscriber %s: %w", id, err)
	}
	s, err := Get(ctx, db, id)
	return s, created, err
}

const subscriberColumns = `s.subscriber_id, s.url, s.types, s.state, s.cursor, s.attempts, s.failing_since,
	s.next_attempt_at, s.last_error, s.last_delivered_at, s.delivered, s.created_at, s.updated_at,
	greatest(coalesce((SELECT max(position) FROM event_outbox), 0) - s.cursor, 0),
	coalesce(extract(epoch FROM now() - (SELECT created_at FROM event_outbox o WHERE o.position > s.cursor
	    ORDER BY o.position LIMIT 1)), 0)::float8`

func scanSubscriber(row pgx.Row) (Subscriber, error) {
	var s Subscriber
	var cursor int64
	err := row.Scan(&s.SubscriberID, &s.URL, &s.Types, &s.State, &cursor, &s.Attempts, &s.FailingSince,
		&s.NextAttemptAt, &s.LastError, &s.LastDeliveredAt, &s.Delivered, &s.CreatedAt, &s.UpdatedAt,
		&s.LagEvents, &s.LagSeconds)
	s.Cursor = FormatCursor(cursor)
	for _, t := range []*time.Time{s.FailingSince, s.LastDeliveredAt, &s.NextAttemptAt, &s.CreatedAt, &s.UpdatedAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
	if s.LagSeconds < 0 {
		s.LagSeconds = 0
	}
	return s, err
}

// Get reads one subscriber with its delivery state and lag.
func Get(ctx context.Context, db DB, id string) (Subscriber, error) {
	s, err := scanSubscriber(db.QueryRow(ctx, `SELECT `+subscriberColumns+` FROM event_subscribers s WHERE s.subscriber_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return s, fmt.Errorf("subscriber %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("read subscriber %s: %w", id, err)
	}
	return s, nil
}

// List reads every subscriber, in ID order (ops register a handful).
func List(ctx context.Context, db DB) ([]Subscriber, error) {
	rows, err := db.Query(ctx, `SELECT `+subscriberColumns+` FROM event_subscribers s ORDER BY s.subscriber_id LIMIT 1000`)
	if err != nil {
		return nil, fmt.Errorf("list subscribers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Subscriber, error) { return scanSubscriber(r) })
	if err != nil {
		return nil, fmt.Errorf("list subscribers: %w", err)
	}
	return out, nil
}

// Replay moves a subscriber's cursor to after (it receives every event after it again, in
// order) and makes it active at once, clearing a failing flag. It waits for a batch being
// delivered to the subscriber to finish (the dispatcher's row lock).
func Replay(ctx context.Context, db DB, id string, after int64, now time.Time) (Subscriber, error) {
	tag, err := db.Exec(ctx, `
		UPDATE event_subscribers SET cursor = $2, state = 'active', attempts = 0, failing_since = NULL,
		    next_attempt_at = $3, updated_at = $3
		WHERE subscriber_id = $1`, id, after, now)
	if err != nil {
		return Subscriber{}, fmt.Errorf("replay subscriber %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return Subscriber{}, fmt.Errorf("subscriber %s: %w", id, ErrNotFound)
	}
	return Get(ctx, db, id)
}

// FeedItem is one event of the pull feed: its cursor and the envelope exactly as delivered.
type FeedItem struct {
	Cursor string          `json:"cursor"`
	Event  json.RawMessage `json:"event"`
}

// Feed reads up to limit events after position after, oldest first, and the cursor to ask
// from next (after itself when there is nothing new). Positions become visible in order
// (activities/outbox.go), so a consumer that always asks after the cursor it was given
// misses nothing.
func Feed(ctx context.Context, db DB, after int64, limit int) ([]FeedItem, string, error) {
	rows, err := db.Query(ctx, `SELECT position, envelope FROM event_outbox WHERE position > $1 ORDER BY position LIMIT $2`, after, limit)
	if err != nil {
		return nil, "", fmt.Errorf("read the event feed: %w", err)
	}
	items := []FeedItem{}
	next := after
	defer rows.Close()
	for rows.Next() {
		var p int64
		var env string
		if err := rows.Scan(&p, &env); err != nil {
			return nil, "", fmt.Errorf("read the event feed: %w", err)
		}
		items = append(items, FeedItem{Cursor: FormatCursor(p), Event: json.RawMessage(env)})
		next = p
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("read the event feed: %w", err)
	}
	return items, FormatCursor(next), nil
}

// Sweep deletes events older than retention, a batch at a time so a large backlog never
// holds one long transaction. It returns how many it deleted.
func Sweep(ctx context.Context, db DB, retention time.Duration) (int64, error) {
	var total int64
	for {
		tag, err := db.Exec(ctx, `DELETE FROM event_outbox WHERE position IN (
			SELECT position FROM event_outbox WHERE created_at < now() - make_interval(secs => $1) ORDER BY position LIMIT 5000)`,
			retention.Seconds())
		if err != nil {
			return total, fmt.Errorf("sweep old events: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < 5000 {
			return total, nil
		}
	}
}
