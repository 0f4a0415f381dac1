package books

import (
	"slices"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/order"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func posting(action order.PostingAction, kind order.LineKind, key string, gross int64) order.Posting {
	c, n, _ := order.Split(gross, 1500)
	return order.Posting{Kind: kind, Key: key, Action: action, Currency: "CNY", Gross: gross, Commission: c, Net: n, CommissionBps: 1500}
}

func TestDecide(t *testing.T) {
	full := posting(order.PostingPost, order.LineOrder, "", 9900)
	part := posting(order.PostingPost, order.LineOrder, "", 4900)
	row := func(st RowStatus) *Row {
		return &Row{OrderID: "o", Kind: order.LineOrder, Currency: "CNY", Amounts: order.Amounts{Gross: 9900, Commission: 1485, Net: 8415},
			Bps: 1500, Status: st}
	}
	tests := []struct {
		name     string
		existing *Row
		p        order.Posting
		insert   RowStatus
		status   RowStatus
		amounts  *order.Amounts
		postings []string
		entries  int64 // gross of the buyer funds entry, signed: debit positive
	}{
		{"post a new line", nil, full, RowPending, "", nil, []string{EntryPost}, 9900},
		{"block a new line", nil, withAction(full, order.PostingBlock), RowBlocked, "", nil, nil, 0},
		{"post a blocked line", row(RowBlocked), full, "", RowPending, nil, []string{EntryPost}, 9900},
		{"post a blocked line made smaller", row(RowBlocked), part, "", RowPending, &order.Amounts{Gross: 4900, Commission: 735, Net: 4165}, []string{EntryPost}, 4900},
		{"post again", row(RowPending), full, "", "", nil, nil, 0},
		{"post a settled line again", row(RowSettled), full, "", "", nil, nil, 0},
		{"block a posted line", row(RowPending), withAction(full, order.PostingBlock), "", "", nil, nil, 0},
		{"refund a line never posted", nil, withAction(full, order.PostingRefund), RowRefunded, "", nil, nil, 0},
		{"refund a blocked line", row(RowBlocked), withAction(full, order.PostingRefund), "", RowRefunded, nil, nil, 0},
		{"refund a posted line", row(RowPending), withAction(full, order.PostingRefund), "", RowRefunded, nil, []string{EntryReverse}, -9900},
		{"refund what is left of a settled line", row(RowSettled), withAction(part, order.PostingRefund), "", RowRefunded, nil, []string{EntryReverse}, -4900},
		{"refund more than was posted reverses what was posted", row(RowPending), withAction(posting(order.PostingPost, order.LineOrder, "", 20000), order.PostingRefund),
			"", RowRefunded, nil, []string{EntryReverse}, -9900},
		{"refund twice", row(RowRefunded), withAction(full, order.PostingRefund), "", "", nil, nil, 0},
		{"part refund", nil, posting(order.PostingRefundPart, order.LineUnsubscribe, "U1", 1000), RowRefunded, "", nil, []string{EntryReverse}, -1000},
		{"part refund twice", row(RowRefunded), posting(order.PostingRefundPart, order.LineUnsubscribe, "U1", 1000), "", "", nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Decide(tt.existing, "o", "s", tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if (c.Insert != nil) != (tt.insert != "") || (c.Insert != nil && c.Insert.Status != tt.insert) {
				t.Errorf("insert %+v, want status %q", c.Insert, tt.insert)
			}
			if c.Status != tt.status {
				t.Errorf("status %q, want %q", c.Status, tt.status)
			}
			if (c.Amounts == nil) != (tt.amounts == nil) || (c.Amounts != nil && *c.Amounts != *tt.amounts) {
				t.Errorf("amounts %+v, want %+v", c.Amounts, tt.amounts)
			}
			if !slices.Equal(c.Postings(), tt.postings) {
				t.Errorf("postings %v, want %v", c.Postings(), tt.postings)
			}
			var buyer int64
			var balance int64
			for _, e := range c.Entries {
				amount := e.Amount
				if e.Direction == "credit" {
					amount = -amount
				}
				balance += amount
				if e.Account == AccountBuyerFunds {
					buyer += amount
				}
			}
			if buyer != tt.entries || balance != 0 {
				t.Errorf("buyer funds %d (balance %d), want %d", buyer, balance, tt.entries)
			}
		})
	}
}

func withAction(p order.Posting, a order.PostingAction) order.Posting {
	p.Action = a
	return p
}

func TestDecideRefusesAnUnbalancedPosting(t *testing.T) {
	p := posting(order.PostingPost, order.LineOrder, "", 100)
	p.Net++
	if _, err := Decide(nil, "o", "s", p); err == nil {
		t.Fatal("an unbalanced post was taken")
	}
	if _, err := Decide(nil, "o", "s", order.Posting{Action: "steal"}); err == nil {
		t.Fatal("an unknown action was taken")
	}
}

// TestStatementCarriesDisputedOrders: every posting of an order whose appeal is open stays
// for a later statement, its reversals too, so that nothing is clawed back that was never
// paid; the rest is paid out or clawed back.
func TestStatementCarriesDisputedOrders(t *testing.T) {
	m := NewMemory()
	open := map[string]bool{"B": true}
	for _, o := range []string{"A", "B"} {
		if err := m.Post(o, "s", posting(order.PostingPost, order.LineOrder, "", 10000), t0); err != nil {
			t.Fatal(err)
		}
		if err := m.Post(o, "s", posting(order.PostingRefundPart, order.LineUnsubscribe, "U", 2000), t0); err != nil {
			t.Fatal(err)
		}
	}
	st, err := m.State("s", t0.Add(time.Hour), func(id string) bool { return open[id] }, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Stated) != 2 || len(st.Carried) != 2 || st.Carried[0].OrderID != "B" {
		t.Fatalf("stated %+v, carried %+v", st.Stated, st.Carried)
	}
	if got := m.OrderBalance("A")[AccountPaidOut]; got != -(8500 - 1700) {
		t.Fatalf("A paid out %d", got)
	}
	if got := m.OrderBalance("B")[AccountPaidOut]; got != 0 {
		t.Fatalf("B, disputed, paid out %d", got)
	}
	// The appeal ends: the next statement pays B, and states nothing of A twice.
	open["B"] = false
	st, err = m.State("s", t0.Add(2*time.Hour), func(id string) bool { return open[id] }, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Stated) != 2 || st.Stated[0].OrderID != "B" || m.OrderBalance("B")[AccountPaidOut] != -(8500-1700) {
		t.Fatalf("second run stated %+v", st.Stated)
	}
	for c, b := range m.CurrencyBalance() {
		if b != 0 {
			t.Fatalf("%s unbalanced by %d", c, b)
		}
	}
}

func TestUsageRefundedWithTheOrder(t *testing.T) {
	m := NewMemory()
	m.AddUsage("A", t0, 30000, 25) // 3 units at 0.25: 75 minor units... of 25 per unit: 75
	orderOf := func(string) (UsageOrder, bool) {
		return UsageOrder{SellerID: "s", UnitPrice: 25, Bps: 1500, Currency: "CNY"}, true
	}
	if err := m.PriceUsage("s", "2026-12", t0.Add(time.Hour), orderOf, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	m.AddUsage("A", t0.Add(time.Hour), 10000, 25)
	if err := m.Post("A", "s", order.Posting{Kind: order.LineUsage, Key: AllUsage, Action: order.PostingRefund, Currency: "CNY"}, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if b := m.OrderBalance("A"); b[AccountBuyerFunds] != 0 || b[AccountPayable] != 0 {
		t.Fatalf("after the refund: %v", b)
	}
	r, ok := m.Row("A", order.LineUsage, UsageRefundKey)
	if !ok || r.Gross != 25 || r.Status != RowRefunded {
		t.Fatalf("unpriced usage refunded as %+v", r)
	}
	if len(m.UnpricedUsage("A")) != 0 {
		t.Fatal("usage left to price after the refund")
	}
}

// TestPayoutFollowsThePosting: a post is paid out and a reversal clawed back, a line of
// nothing too, so a line of nothing stated twice (posted, then reversed) never writes the
// same entries twice (found by the simulation with a free change refunded by an appeal).
func TestPayoutFollowsThePosting(t *testing.T) {
	for _, tt := range []struct {
		posting string
		net     int64
		want    string
	}{
		{EntryPost, 8415, EntryPayout},
		{EntryReverse, -8415, EntryClawback},
		{EntryPost, 0, EntryPayout},
		{EntryReverse, 0, EntryClawback},
	} {
		got, _ := Payout(Unstated{Posting: tt.posting, Amounts: order.Amounts{Net: tt.net}})
		if got != tt.want {
			t.Errorf("%s of %d: %s, want %s", tt.posting, tt.net, got, tt.want)
		}
	}
	m := NewMemory()
	free := posting(order.PostingPost, order.LineChange, "C1", 0)
	if err := m.Post("o", "s", free, t0); err != nil {
		t.Fatal(err)
	}
	never := func(string) bool { return false }
	if _, err := m.State("s", t0.Add(time.Hour), never, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := m.Post("o", "s", posting(order.PostingRefund, order.LineChange, "C1", 0), t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.State("s", t0.Add(3*time.Hour), never, t0.Add(3*time.Hour)); err != nil {
		t.Fatalf("the reversal of a line of nothing: %v", err)
	}
}
