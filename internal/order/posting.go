package order

// The order's money as the order machine hands it to the books (order-states.md, section
// 5): each settlement line of an order (its own, one per renewal, one per month of usage, a
// refund at unsubscription) is a row keyed by (order, kind, key); a Posting says what
// happens to one such line. The machine decides postings; the books (internal/books, and
// the activity that writes them to PostgreSQL) carry them out, each exactly once.

// LineKind says which settlement line of an order a posting is about.
type LineKind string

// Settlement line kinds.
const (
	LineOrder       LineKind = "order"
	LineRenewal     LineKind = "renewal"
	LineUsage       LineKind = "usage"
	LineUnsubscribe LineKind = "unsubscribe"
	// LineChange is a change order's own line (upgrade, scale-up), keyed by its order ID.
	LineChange LineKind = "change"
)

// PostingAction is what a posting does to its line.
type PostingAction string

// Posting actions.
const (
	// PostingPost makes the line due: its balanced lines (buyer funds debited the gross;
	// platform commission and seller payable credited), status pending. A blocked line is
	// posted now.
	PostingPost PostingAction = "post"
	// PostingBlock records the line as due but blocked (an open appeal): no ledger lines
	// until it is posted.
	PostingBlock PostingAction = "block"
	// PostingRefund refunds the whole line: before posting, a refunded row without ledger
	// lines; after it, reversing lines (never an edit of the posted ones).
	PostingRefund PostingAction = "refund"
	// PostingRefundPart records a refund of part of what was paid (unsubscription): its own
	// row of kind unsubscribe, with reversing lines split at the order's commission rate.
	PostingRefundPart PostingAction = "refund_part"
)

// AllUsageKey is the key of a refund posting of kind usage that refunds every usage line of
// the order: the machine does not know them (the statements price them), the books do.
const AllUsageKey = "*"

// Posting is one money move of a transition.
type Posting struct {
	Kind          LineKind      `json:"kind"`
	Key           string        `json:"key,omitempty"`
	Action        PostingAction `json:"action"`
	Currency      string        `json:"currency"`
	Gross         int64         `json:"gross"`
	Commission    int64         `json:"commission"`
	Net           int64         `json:"net"`
	CommissionBps int           `json:"commissionBps"`
}

// Amounts are a settlement line's figures, or a part of them: gross = commission + net.
type Amounts struct {
	Gross      int64 `json:"gross"`
	Commission int64 `json:"commission"`
	Net        int64 `json:"net"`
}
