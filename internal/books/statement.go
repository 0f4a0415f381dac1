package books

import (
	"fmt"
	"time"

	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/usage"
)

// Unstated is a posting of a row (its post, or its reversal) that no statement has
// included yet: a candidate for a seller's statement. Its figures are signed: a reversal
// is negative.
type Unstated struct {
	RowID    int64          `json:"rowId"`
	Posting  string         `json:"posting"` // EntryPost or EntryReverse
	OrderID  string         `json:"orderId"`
	Kind     order.LineKind `json:"kind"`
	Key      string         `json:"key"`
	Currency string         `json:"currency"`
	order.Amounts
	PostedAt time.Time `json:"postedAt"`
	// AppealOpen: the order has an appeal open at the time of the statement.
	AppealOpen bool `json:"appealOpen"`
}

// Statement decides a seller's statement from its unstated postings (made before the
// month's end, in the order they were made): every posting of an order without an open
// appeal is stated, and paid out or clawed back; every posting of an order whose appeal is
// open is carried over to a later statement, positive or negative, so that a disputed order
// is neither paid nor clawed back from (a reversal stated while the post it mirrors is
// carried would claw back money the seller was never paid).
func Statement(lines []Unstated) (stated, carried []Unstated) {
	for _, l := range lines {
		if l.AppealOpen {
			carried = append(carried, l)
			continue
		}
		stated = append(stated, l)
	}
	return stated, carried
}

// Payout is the entries that settle a stated posting with the seller: a post's net is paid
// out (payable moved to paid out), a reversal's clawed back.
//
// Which it is follows the posting, not the sign: a line of nothing (a free renewal, a
// pay-per-use order's own line) is paid out at zero when posted and clawed back at zero when
// reversed, so its two statements never write the same entries twice.
func Payout(l Unstated) (posting string, entries []Entry) {
	if l.Net < 0 || (l.Net == 0 && l.Posting == EntryReverse) {
		return EntryClawback, []Entry{{EntryClawback, AccountPaidOut, "debit", -l.Net}, {EntryClawback, AccountPayable, "credit", -l.Net}}
	}
	return EntryPayout, []Entry{{EntryPayout, AccountPayable, "debit", l.Net}, {EntryPayout, AccountPaidOut, "credit", l.Net}}
}

// UsageLine prices a month of an order's usage into its settlement line (period key: the
// month): the quantity's total (ten-thousandths of a unit) at the order's unit price,
// rounded once, split at the order's commission rate. While the customer is in arrears the
// line is blocked (the customer pays first, the seller after).
func UsageLine(month string, quantity, unitPrice int64, bps int, currency string, inArrears bool) (order.Posting, error) {
	gross, err := usage.Price(quantity, unitPrice)
	if err != nil {
		return order.Posting{}, err
	}
	commission, net, err := order.Split(gross, bps)
	if err != nil {
		return order.Posting{}, fmt.Errorf("split usage of %s: %w", month, err)
	}
	p := order.Posting{Kind: order.LineUsage, Key: month, Action: order.PostingPost, Currency: currency,
		Gross: gross, Commission: commission, Net: net, CommissionBps: bps}
	if inArrears {
		p.Action = order.PostingBlock
	}
	return p, nil
}

// AllUsage is the key of a refund posting that refunds every usage line of the order (the
// order machine does not know them: the statements price them): each posted one is
// reversed, each blocked one refunded, and usage not priced yet is priced into a refunded
// line (UsageRefundKey), so that no statement ever charges it.
const AllUsage = order.AllUsageKey

// UsageRefundKey is the period key of the line that holds an order's usage refunded before
// it was priced.
const UsageRefundKey = "refunded"
