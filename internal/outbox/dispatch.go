package outbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudmarket/orders/events"
	"github.com/cloudmarket/orders/internal/secrets"
	"github.com/cloudmarket/orders/internal/sellerapi"
)

// Dispatcher delivers the outbox to the subscribers, from the worker processes.
//
// The design: one cursor per subscriber (the position of the last event it was sent), and
// a subscriber's row locked FOR UPDATE SKIP LOCKED while a batch is delivered to it, in
// position order, one POST per event; the cursor moves in the same transaction. So:
//   - order per order holds, because each subscriber receives the whole feed in position
//     order, and an order's events have increasing positions (its transitions commit one
//     after another; positions are drawn in commit order, activities/outbox.go);
//   - several dispatchers (goroutines, worker processes) share the subscribers and never
//     deliver to one subscriber at once: a locked subscriber is skipped, not waited for;
//   - progress is rows: a worker killed mid-batch (SIGKILL) loses its transaction, the lock
//     goes with its connection, and the next dispatcher delivers the batch again (at least
//     once; a repeated event is byte-identical, with the same id);
//   - a failing subscriber holds up only itself: its retries are scheduled on its row
//     (next_attempt_at, backoff up to maxBackoff) and, after RetryWindow, it is flagged
//     failing and left to ops.
//
// Per-(subscriber, order) positions would let one order's failing event not hold up other
// orders, but need a row per pair and a harder claim; one cursor is simpler to reason about
// and what a webhook consumer expects (a stream it can resume).
type Dispatcher struct {
	DB   *pgxpool.Pool
	Keys *secrets.Keyring
	// HTTP delivers; use NewHTTPClient so the endpoint policy is checked on every connection.
	HTTP *http.Client
	// RetryWindow is how long a subscriber's failures are retried before it is flagged failing.
	RetryWindow time.Duration
	// PollInterval is how often an idle dispatcher looks for work.
	PollInterval time.Duration
	// Concurrency is how many subscribers this process delivers to at once.
	Concurrency int
	// Retention is how old events get before the sweep deletes them (0 = no sweep).
	Retention time.Duration
	Logger    *slog.Logger
	// Registry receives the delivery counters; nil = none.
	Registry prometheus.Registerer

	once      sync.Once
	delivered *prometheus.CounterVec
	failures  *prometheus.CounterVec
}

// batchSize bounds the events one claim delivers, so a subscriber's lock is given up now
// and then (a replay, or another worker, can take its turn).
const batchSize = 100

// maxBackoff is the longest pause between two attempts at a failing subscriber.
const maxBackoff = 10 * time.Minute

// maxErrorLen bounds a subscriber's last_error.
const maxErrorLen = 300

// NewHTTPClient is the client deliveries use: the endpoint policy's dialer (no loopback or
// private address outside development, checked after DNS on every connection), no proxy,
// no redirects (a redirect is a failed delivery: the subscriber's URL is what ops
// registered), and timeout per delivery.
func NewHTTPClient(p sellerapi.EndpointPolicy, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: p.Transport(),
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func (d *Dispatcher) init() {
	d.once.Do(func() {
		if d.Logger == nil {
			d.Logger = slog.Default()
		}
		if d.PollInterval <= 0 {
			d.PollInterval = time.Second
		}
		if d.RetryWindow <= 0 {
			d.RetryWindow = 24 * time.Hour
		}
		d.delivered = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "events_delivered_total", Help: "Order events delivered to subscribers (2xx answers), redeliveries included.",
		}, []string{"subscriber"})
		d.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "events_delivery_failures_total", Help: "Failed deliveries of order events to subscribers (each is retried).",
		}, []string{"subscriber"})
		if d.Registry != nil {
			d.Registry.MustRegister(d.delivered, d.failures)
		}
	})
}

// Run delivers until ctx ends: Concurrency loops, and the retention sweep.
func (d *Dispatcher) Run(ctx context.Context) {
	d.init()
	var wg sync.WaitGroup
	for range d.Concurrency {
		wg.Go(func() { d.loop(ctx) })
	}
	if d.Retention > 0 {
		wg.Go(func() { d.sweepLoop(ctx) })
	}
	wg.Wait()
}

func (d *Dispatcher) loop(ctx context.Context) {
	for ctx.Err() == nil {
		claimed, _, err := d.DispatchOnce(ctx)
		if err != nil && ctx.Err() == nil {
			d.Logger.Warn("event dispatch failed", "error", err)
		}
		if err != nil || !claimed {
			select {
			case <-ctx.Done():
			case <-time.After(jitter(d.PollInterval)):
			}
		}
	}
}

func (d *Dispatcher) sweepLoop(ctx context.Context) {
	every := min(10*time.Minute, d.Retention/10)
	for {
		n, err := Sweep(ctx, d.DB, d.Retention)
		if err != nil && ctx.Err() == nil {
			d.Logger.Warn("event retention sweep failed", "error", err)
		} else if n > 0 {
			d.Logger.Info("old events deleted", "count", n, "retention", d.Retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(jitter(every)):
		}
	}
}

// jitter spreads d by ±20%, so workers started together do not poll in step.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// backoff is the pause after the n-th failure in a row (n ≥ 1): 1s, 2s, 4s ... maxBackoff.
func backoff(n int) time.Duration {
	if n > 20 {
		return maxBackoff
	}
	return min(maxBackoff, jitter(time.Second<<(n-1)))
}

// claimedSub is a subscriber locked for one batch.
type claimedSub struct {
	id       string
	url      string
	types    []string
	sealed   secrets.Sealed
	cursor   int64
	attempts int
}

// DispatchOnce claims one subscriber that is due and behind, delivers it a batch and
// records the outcome. claimed is false when no subscriber needed this dispatcher.
func (d *Dispatcher) DispatchOnce(ctx context.Context) (claimed bool, delivered int, err error) {
	d.init()
	tx, err := d.DB.Begin(ctx)
	if err != nil {
		return false, 0, fmt.Errorf("begin dispatch: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	var c claimedSub
	err = tx.QueryRow(ctx, `
		SELECT subscriber_id, url, types, secret_kek, secret_dek, secret_sealed, cursor, attempts
		FROM event_subscribers
		WHERE state = 'active' AND next_attempt_at <= now()
		  AND cursor < (SELECT coalesce(max(position), 0) FROM event_outbox)
		ORDER BY next_attempt_at LIMIT 1
		FOR UPDATE SKIP LOCKED`).Scan(&c.id, &c.url, &c.types, &c.sealed.KeyID, &c.sealed.WrappedKey,
		&c.sealed.Ciphertext, &c.cursor, &c.attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("claim a subscriber: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT position, type, envelope FROM event_outbox WHERE position > $1 ORDER BY position LIMIT $2`,
		c.cursor, batchSize)
	if err != nil {
		return true, 0, fmt.Errorf("read events for subscriber %s: %w", c.id, err)
	}
	type ev struct {
		pos      int64
		typ, env string
	}
	var batch []ev
	for rows.Next() {
		var e ev
		if err := rows.Scan(&e.pos, &e.typ, &e.env); err != nil {
			rows.Close()
			return true, 0, fmt.Errorf("read events for subscriber %s: %w", c.id, err)
		}
		batch = append(batch, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return true, 0, fmt.Errorf("read events for subscriber %s: %w", c.id, err)
	}

	cursor := c.cursor
	var failure string
	secret, openErr := d.Keys.Open(c.sealed, aad(c.id))
	if openErr != nil {
		// Never the secret, nor the cause's detail: the key ring says which key is missing.
		failure = "the subscriber's secret cannot be opened (is its key-encryption key configured?)"
		d.Logger.Error("subscriber secret cannot be opened", "subscriber_id", c.id, "key_id", c.sealed.KeyID)
	} else {
		for _, e := range batch {
			if len(c.types) > 0 && !slices.Contains(c.types, e.typ) {
				cursor = e.pos
				continue
			}
			if ferr := d.deliver(ctx, c.url, secret, []byte(e.env)); ferr != nil {
				if ctx.Err() != nil {
					break // shutting down: not the subscriber's fault
				}
				failure = ferr.Error()
				d.failures.WithLabelValues(c.id).Inc()
				break
			}
			cursor = e.pos
			delivered++
			d.delivered.WithLabelValues(c.id).Inc()
		}
	}
	// Record the outcome even when ctx ended mid-batch, so what was delivered is not sent again.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if failure == "" {
		_, err = tx.Exec(wctx, `
			UPDATE event_subscribers SET cursor = $2, attempts = 0, failing_since = NULL, last_error = '',
			    next_attempt_at = now(), delivered = delivered + $3,
			    last_delivered_at = CASE WHEN $3 > 0 THEN now() ELSE last_delivered_at END, updated_at = now()
			WHERE subscriber_id = $1`, c.id, cursor, delivered)
	} else {
		if len(failure) > maxErrorLen {
			failure = failure[:maxErrorLen]
		}
		// The failures in a row are those of the event now at the head: when this batch
		// delivered some events first, the count (and the retry window) starts again, or a
		// subscriber refusing one event in a hundred would back off as if it were down.
		attempts := c.attempts + 1
		if delivered > 0 {
			attempts = 1
		}
		_, err = tx.Exec(wctx, `
			UPDATE event_subscribers SET cursor = $2, attempts = $7,
			    failing_since = CASE WHEN $5 > 0 THEN now() ELSE coalesce(failing_since, now()) END,
			    last_error = $3, next_attempt_at = now() + make_interval(secs => $4), delivered = delivered + $5,
			    last_delivered_at = CASE WHEN $5 > 0 THEN now() ELSE last_delivered_at END,
			    state = CASE WHEN $5 = 0 AND coalesce(failing_since, now()) <= now() - make_interval(secs => $6)
			                 THEN 'failing' ELSE 'active' END,
			    updated_at = now()
			WHERE subscriber_id = $1`, c.id, cursor, failure, backoff(attempts).Seconds(), delivered, d.RetryWindow.Seconds(), attempts)
	}
	if err != nil {
		return true, delivered, fmt.Errorf("record delivery to subscriber %s: %w", c.id, err)
	}
	if err := tx.Commit(wctx); err != nil {
		return true, delivered, fmt.Errorf("commit delivery to subscriber %s: %w", c.id, err)
	}
	if failure != "" {
		d.Logger.Warn("event delivery failed; retried with backoff", "subscriber_id", c.id, "delivered_first", delivered,
			"error", failure)
	}
	return true, delivered, nil
}

// deliver POSTs one event, signed. Its error says what failed without the secret, the
// signature or the response body (which is the subscriber's, and could echo anything).
func (d *Dispatcher) deliver(ctx context.Context, url string, secret, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("build the request: %w", err)
	}
	req.Header.Set("Content-Type", events.ContentType)
	req.Header.Set("User-Agent", "cloudmarket-orders-events/1")
	req.Header.Set(events.SignatureHeader, events.Sign(secret, time.Now(), body))
	resp, err := d.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("POST: %s", describe(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP status %s", strconv.Itoa(resp.StatusCode))
	}
	return nil
}

// describe is an error's innermost cause (the URL is the subscriber's, ops know it).
func describe(err error) string {
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
		return "timeout"
	}
	for {
		u := errors.Unwrap(err)
		if u == nil || u == sellerapi.ErrEndpointNotAllowed { //nolint:errorlint // the policy's own wrapper says why
			return err.Error()
		}
		err = u
	}
}
