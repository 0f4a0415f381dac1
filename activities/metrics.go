package activities

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the activity-side Prometheus collectors. They live on the process's one
// registry next to the Temporal SDK's metrics and the API's.
type Metrics struct {
	// SellerCalls observes every attempt of a call to a seller, by activity and result code
	// (sellerapi.ResultLabel: the protocol's codes, "transport" for no usable answer,
	// "other" for any other code); its _count is the call count.
	SellerCalls *prometheus.HistogramVec
	// Transitions counts order transitions by from and to status, once per transition even
	// when the activity recording it is retried.
	Transitions *prometheus.CounterVec
	// Appeals counts appeal events by kind (raised, escalated, resolved) and outcome.
	Appeals *prometheus.CounterVec
	// LedgerPostings counts balanced ledger postings by posting.
	LedgerPostings *prometheus.CounterVec
	// LedgerPostingErrors counts failed attempts to write postings (the transaction of an
	// order's transition that carried postings, or of a seller statement), by source. A
	// failed attempt is retried, so a few are weather; a steady rate is a stuck ledger.
	LedgerPostingErrors *prometheus.CounterVec
	// ArrearsEvents counts customers' arrears events by event.
	ArrearsEvents *prometheus.CounterVec
	// Holds counts orders frozen, unfrozen and released, by reason.
	Holds *prometheus.CounterVec
	// Statements and StatementNet count seller statements and what they paid out.
	Statements   *prometheus.CounterVec
	StatementNet *prometheus.CounterVec
	// Delistings counts products the health schedule delisted, by rule.
	Delistings *prometheus.CounterVec
	// NeedsAttention counts orders flagged for ops, by cause (a bounded set: the clock
	// or the seller call that flagged it).
	NeedsAttention *prometheus.CounterVec
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		SellerCalls: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "seller_call_duration_seconds",
			Help:    "Duration of calls to seller production endpoints, by protocol activity and result code.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"activity", "result_code"}),
		Transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "order_transitions_total",
			Help: "Order status transitions, by from and to status.",
		}, []string{"from", "to"}),
	}
	m.Appeals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "order_appeals_total",
		Help: "Appeal events by kind (raised, escalated, resolved) and outcome (continue, accept, refund; empty until resolved).",
	}, []string{"kind", "outcome"})
	m.NeedsAttention = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "order_needs_attention_total",
		Help: "Orders flagged for ops' attention, by cause.",
	}, []string{"cause"})
	m.LedgerPostings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ledger_postings_total",
		Help: "Balanced ledger postings written, by posting (post, reverse, payout, clawback).",
	}, []string{"posting"})
	m.LedgerPostingErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ledger_posting_errors_total",
		Help: "Failed attempts to write ledger postings, by source (order, statement); each is retried.",
	}, []string{"source"})
	m.ArrearsEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "arrears_events_total",
		Help: "Customers' arrears events: arrears_reported (a new case), arrears_added, grace_started, frozen, released, arrears_paid, payment_partial, payment_without_arrears.",
	}, []string{"event"})
	m.Holds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "order_holds_total",
		Help: "Orders frozen, unfrozen and released, by reason (expiry, arrears, unsubscribed).",
	}, []string{"event", "reason"})
	m.Statements = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "seller_statements_total",
		Help: "Monthly seller statements made, by currency.",
	}, []string{"currency"})
	m.StatementNet = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "seller_statement_net_minor_units_total",
		Help: "The net paid out to sellers by statements (minor units; reversals count negative), by currency.",
	}, []string{"currency"})
	m.Delistings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "product_delistings_total",
		Help: "Products delisted by the health schedule, by rule (failing_days, failed_orders).",
	}, []string{"rule"})
	reg.MustRegister(m.SellerCalls, m.Transitions, m.Appeals, m.NeedsAttention, m.LedgerPostings, m.LedgerPostingErrors, m.ArrearsEvents, m.Holds,
		m.Statements, m.StatementNet, m.Delistings)
	for _, source := range []string{"order", "statement"} { // present at zero from the start
		m.LedgerPostingErrors.WithLabelValues(source)
	}
	for _, rule := range []string{RuleFailingDays, RuleFailedOrders} { // present at zero from the start
		m.Delistings.WithLabelValues(rule)
	}
	return m
}
