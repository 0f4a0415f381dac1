// Package books holds the rules of the order money books (order-states.md, section 5), as
// pure functions: what a posting the order machine emits does to a settlement line and its
// double-entry lines (Decide), which lines a seller's statement pays out and which it
// carries over (Statement, Payout), and how a month's usage is priced into a line
// (UsageLine). The activities apply them to PostgreSQL inside their transactions; Memory
// applies them to maps, for the simulation (internal/sim) and for tests. Both follow the
// same rules, so what the simulation proves of the money is what the database does.
//
// The books' shape: each settlement line of an order is a Row keyed by (order, kind, key);
// its ledger entries are keyed by (row, posting, account, direction), so a replayed or
// retried write posts nothing twice. Every posting is balanced; a refund after posting adds
// reversing entries, never an edit of posted ones.
package books

import (
	"fmt"

	"github.com/cloudmarket/orders/internal/order"
)

// RowStatus is where a settlement line stands in the books (settlements.status).
type RowStatus string

// Row statuses. A line the machine shows not_due (an order not accepted yet) is blocked in
// the books: due to nobody until the machine posts it.
const (
	RowBlocked  RowStatus = "blocked"
	RowPending  RowStatus = "pending"
	RowSettled  RowStatus = "settled"
	RowRefunded RowStatus = "refunded"
)

// Posted reports whether the row has posted entries that are not reversed by a refund.
func (s RowStatus) Posted() bool { return s == RowPending || s == RowSettled }

// Row is one settlement line of an order.
type Row struct {
	OrderID  string         `json:"orderId"`
	SellerID string         `json:"sellerId"`
	Kind     order.LineKind `json:"kind"`
	Key      string         `json:"key"`
	Currency string         `json:"currency"`
	order.Amounts
	Bps    int       `json:"bps"`
	Status RowStatus `json:"status"`
	Reason string    `json:"reason,omitempty"`
}

// Posting names of ledger entries: which money move of a row an entry belongs to.
const (
	EntryPost     = "post"     // the line posted: buyer funds debited, commission and payable credited
	EntryReverse  = "reverse"  // a refund of a posted line: the post mirrored
	EntryPayout   = "payout"   // a statement paid a posted line out: payable moved to paid out
	EntryClawback = "clawback" // a statement claimed a reversal back: paid out moved to payable
)

// Accounts of the ledger.
const (
	AccountBuyerFunds = "buyer_funds"
	AccountCommission = "platform_commission"
	AccountPayable    = "seller_payable"
	AccountPaidOut    = "seller_paid_out"
)

// Entry is one double-entry line.
type Entry struct {
	Posting   string `json:"posting"`
	Account   string `json:"account"`
	Direction string `json:"direction"` // debit or credit
	Amount    int64  `json:"amount"`
}

// Change is what a posting does to the books: a row to insert, or a new status (and
// amounts) for the existing row, and the entries to add to that row.
type Change struct {
	Insert *Row
	// Status and Amounts change the existing row ("" and nil: unchanged).
	Status  RowStatus
	Amounts *order.Amounts
	Reason  string
	Entries []Entry
}

// None reports whether the posting changes nothing (it was written before).
func (c Change) None() bool {
	return c.Insert == nil && c.Status == "" && c.Amounts == nil && len(c.Entries) == 0
}

// Postings names the entry postings a change adds (for the ledger metrics).
func (c Change) Postings() []string {
	var out []string
	for _, e := range c.Entries {
		if len(out) == 0 || out[len(out)-1] != e.Posting {
			out = append(out, e.Posting)
		}
	}
	return out
}

// PostEntries are a posting's balanced entries; ReverseEntries undo them.
func PostEntries(a order.Amounts) []Entry {
	return []Entry{{EntryPost, AccountBuyerFunds, "debit", a.Gross}, {EntryPost, AccountCommission, "credit", a.Commission},
		{EntryPost, AccountPayable, "credit", a.Net}}
}

// ReverseEntries mirror PostEntries.
func ReverseEntries(a order.Amounts) []Entry {
	return []Entry{{EntryReverse, AccountBuyerFunds, "credit", a.Gross}, {EntryReverse, AccountCommission, "debit", a.Commission},
		{EntryReverse, AccountPayable, "debit", a.Net}}
}

// amountsOf are a posting's figures.
func amountsOf(p order.Posting) order.Amounts {
	return order.Amounts{Gross: p.Gross, Commission: p.Commission, Net: p.Net}
}

// split reports whether the figures are a whole split (commission + net = gross).
func split(a order.Amounts) bool {
	return a.Gross >= 0 && a.Commission >= 0 && a.Net >= 0 && a.Commission+a.Net == a.Gross
}

// Decide says what posting p of order orderID (seller sellerID) does, given the row it is
// about as the books hold it (nil: none yet). A posting written before decides no change,
// which is what makes a retried transition post nothing twice.
func Decide(existing *Row, orderID, sellerID string, p order.Posting) (Change, error) {
	a := amountsOf(p)
	row := func(status RowStatus, reason string, amounts order.Amounts, bps int) *Row {
		return &Row{OrderID: orderID, SellerID: sellerID, Kind: p.Kind, Key: p.Key, Currency: p.Currency,
			Amounts: amounts, Bps: bps, Status: status, Reason: reason}
	}
	switch p.Action {
	case order.PostingPost, order.PostingBlock:
		if !split(a) {
			return Change{}, fmt.Errorf("%s %s of order %s: %d is not %d + %d", p.Action, p.Kind, orderID, a.Gross, a.Commission, a.Net)
		}
		if existing == nil {
			if p.Action == order.PostingBlock {
				return Change{Insert: row(RowBlocked, "", a, p.CommissionBps)}, nil
			}
			return Change{Insert: row(RowPending, "", a, p.CommissionBps), Entries: PostEntries(a)}, nil
		}
		if p.Action == order.PostingPost && existing.Status == RowBlocked {
			// Blocked until now: posted at the figures the machine gives (a part refunded
			// while it was blocked has made the line smaller).
			c := Change{Status: RowPending, Entries: PostEntries(a)}
			if a != existing.Amounts {
				c.Amounts = &a
			}
			return c, nil
		}
		return Change{}, nil // posted (or refunded) before: nothing happens twice
	case order.PostingRefund:
		if existing == nil {
			// Refunded before it was ever posted: the gross is recorded, nothing split.
			return Change{Insert: row(RowRefunded, "refund", order.Amounts{Gross: a.Gross}, 0)}, nil
		}
		switch existing.Status {
		case RowRefunded:
			return Change{}, nil
		case RowBlocked:
			return Change{Status: RowRefunded, Reason: "refund"}, nil
		}
		// Posted: reverse what the machine says is left of the line (all of it, unless a
		// part was refunded before), never more than was posted.
		rev := a
		if !split(rev) || rev.Gross == 0 || rev.Gross > existing.Gross {
			rev = existing.Amounts
		}
		return Change{Status: RowRefunded, Reason: "refund", Entries: ReverseEntries(rev)}, nil
	case order.PostingRefundPart:
		if !split(a) {
			return Change{}, fmt.Errorf("refund_part of order %s: %d is not %d + %d", orderID, a.Gross, a.Commission, a.Net)
		}
		if existing != nil {
			return Change{}, nil
		}
		return Change{Insert: row(RowRefunded, "unsubscribe", a, p.CommissionBps), Entries: ReverseEntries(a)}, nil
	}
	return Change{}, fmt.Errorf("posting of order %s: unknown action %q", orderID, p.Action)
}
