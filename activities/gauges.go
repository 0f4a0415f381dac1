package activities

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudmarket/orders/internal/lifecycle"
	"github.com/cloudmarket/orders/internal/order"
)

// Gauges reports how many orders are in each status, how many need ops' attention and how
// many appeals are open, escalated or resolved, counted in the read model; and the two
// standing conditions outside the orders that need ops: event subscribers marked failing
// and seller key rotations the seller has not confirmed. Counters cannot
// say this (a process that restarts forgets them, and the worker that flagged an order is
// not the one that clears it); the dashboard and the OrdersNeedAttention alert need the
// current figure. Every worker replica reports the same figures, so queries take max().
//
// A scrape reads a snapshot at most MaxAge old, so that however many Prometheus servers
// scrape however often, the database sees two aggregate queries per MaxAge.
type Gauges struct {
	DB     *pgxpool.Pool
	Logger *slog.Logger
	// MaxAge is how long a snapshot is reused (default 15 s).
	MaxAge time.Duration

	mu       sync.Mutex
	taken    time.Time
	byStatus map[string]float64
	flagged  float64
	byCause  map[string]float64
	appeals  map[string]float64
	// failingSubscribers, pendingRotations and oldestRotation (seconds) are the
	// conditions outside the orders.
	failingSubscribers, pendingRotations, oldestRotation float64
}

var (
	ordersByStatusDesc = prometheus.NewDesc("orders_by_status",
		"Orders in the read model by API status (released and cancelled included).", []string{"status"}, nil)
	ordersNeedingAttentionDesc = prometheus.NewDesc("orders_needing_attention",
		"Orders flagged needsAttention in the read model now (a seller call or clock waiting for ops).", nil, nil)
	ordersNeedingAttentionByCauseDesc = prometheus.NewDesc("orders_needing_attention_by_cause",
		"Orders flagged needsAttention in the read model now, by the code of their latest cause (GET /v1/attention?cause=).",
		[]string{"cause"}, nil)
	appealsByStateDesc = prometheus.NewDesc("appeals_by_state",
		"Appeals by state: open (at the first tier), escalated (open at a later tier), resolved.", []string{"state"}, nil)
	subscribersFailingDesc = prometheus.NewDesc("event_subscribers_failing",
		"Order event subscribers marked failing now: deliveries stopped after EVENTS_RETRY_WINDOW until ops replay them.", nil, nil)
	keyRotationsPendingDesc = prometheus.NewDesc("seller_key_rotations_pending",
		"Sellers with a key rotation started and not yet confirmed (both keys valid).", nil, nil)
	keyRotationOldestDesc = prometheus.NewDesc("seller_key_rotation_oldest_seconds",
		"Age of the oldest unconfirmed seller key rotation, 0 when none is pending.", nil, nil)
)

// appealStates is the bounded label set of appeals_by_state.
var appealStates = []string{"open", "escalated", "resolved"}

// Describe implements prometheus.Collector.
func (g *Gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- ordersByStatusDesc
	ch <- ordersNeedingAttentionDesc
	ch <- ordersNeedingAttentionByCauseDesc
	ch <- appealsByStateDesc
	ch <- subscribersFailingDesc
	ch <- keyRotationsPendingDesc
	ch <- keyRotationOldestDesc
}

// Collect implements prometheus.Collector. Every known status and appeal state is reported,
// zero included, so that a rate or an alert never sees a series vanish; a status the code
// does not know (never expected) is not reported, keeping the label set bounded.
func (g *Gauges) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	maxAge := g.MaxAge
	if maxAge <= 0 {
		maxAge = 15 * time.Second
	}
	if g.byStatus == nil || time.Since(g.taken) >= maxAge {
		if err := g.refresh(); err != nil {
			if g.Logger != nil {
				g.Logger.Warn("order gauges: read model not counted", "err", err)
			}
			if g.byStatus == nil {
				return // nothing to report rather than zeros that would look true
			}
		}
	}
	for _, s := range order.Statuses {
		ch <- prometheus.MustNewConstMetric(ordersByStatusDesc, prometheus.GaugeValue, g.byStatus[string(s)], string(s))
	}
	ch <- prometheus.MustNewConstMetric(ordersNeedingAttentionDesc, prometheus.GaugeValue, g.flagged)
	for _, c := range lifecycle.CauseCodes {
		ch <- prometheus.MustNewConstMetric(ordersNeedingAttentionByCauseDesc, prometheus.GaugeValue, g.byCause[c], c)
	}
	for _, s := range appealStates {
		ch <- prometheus.MustNewConstMetric(appealsByStateDesc, prometheus.GaugeValue, g.appeals[s], s)
	}
	ch <- prometheus.MustNewConstMetric(subscribersFailingDesc, prometheus.GaugeValue, g.failingSubscribers)
	ch <- prometheus.MustNewConstMetric(keyRotationsPendingDesc, prometheus.GaugeValue, g.pendingRotations)
	ch <- prometheus.MustNewConstMetric(keyRotationOldestDesc, prometheus.GaugeValue, g.oldestRotation)
}

// refresh takes a new snapshot; the caller holds g.mu.
func (g *Gauges) refresh() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	// One pass over the orders for both figures, one over the appeals, one over the
	// subscribers and sellers.
	byStatus, flagged := map[string]float64{}, 0.0
	if err := scanCounts(ctx, g.DB, func(k string, n, f int64) { byStatus[k], flagged = float64(n), flagged+float64(f) }, `
		SELECT status, count(*), count(*) FILTER (WHERE (view->>'needsAttention')::boolean)
		FROM orders GROUP BY status`); err != nil {
		return err
	}
	byCause := map[string]float64{}
	if err := scanCounts(ctx, g.DB, func(k string, n, _ int64) { byCause[k] = float64(n) }, `
		SELECT attention_cause, count(*), 0 FROM orders WHERE attention_cause IS NOT NULL GROUP BY 1`); err != nil {
		return err
	}
	appeals := map[string]float64{}
	if err := scanCounts(ctx, g.DB, func(k string, n, _ int64) { appeals[k] = float64(n) }, `
		SELECT CASE WHEN state = 'open' AND tier > 1 THEN 'escalated' ELSE state END, count(*), 0
		FROM appeals GROUP BY 1`); err != nil {
		return err
	}
	var failing, pending int64
	var oldest float64
	if err := g.DB.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM event_subscribers WHERE state = 'failing'),
			count(*), coalesce(extract(epoch FROM now() - min(pending_key_created_at))::float8, 0)
		FROM sellers WHERE pending_key_created_at IS NOT NULL`).Scan(&failing, &pending, &oldest); err != nil {
		return err
	}
	g.byStatus, g.byCause, g.appeals, g.flagged, g.taken = byStatus, byCause, appeals, flagged, time.Now()
	g.failingSubscribers, g.pendingRotations, g.oldestRotation = float64(failing), float64(pending), max(oldest, 0)
	return nil
}

// scanCounts runs a query of (key, count, count) rows and hands each row to add.
func scanCounts(ctx context.Context, db *pgxpool.Pool, add func(key string, n, m int64), sql string) error {
	rows, err := db.Query(ctx, sql)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n, m int64
		if err := rows.Scan(&k, &n, &m); err != nil {
			return err
		}
		add(k, n, m)
	}
	return rows.Err()
}
