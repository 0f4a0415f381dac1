package books

import (
	"fmt"
	"slices"
	"time"

	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/usage"
)

// Memory is the books in maps: the same rules as the activities apply to PostgreSQL
// (Decide, Statement, Payout, UsageLine), for the simulation and for tests. It keeps every
// row and entry, and checks the invariants the database's keys and triggers keep (an
// entry written twice, an unbalanced posting) as errors.
type Memory struct {
	rows    []*Row
	index   map[rowKey]int
	entries []MemEntry
	keys    map[entryKey]bool
	// stated are the postings a statement included (row, posting).
	stated map[statedKey]bool
	// Usage records not priced yet, per order, in the order received, and each order's
	// unit price.
	usage     map[string][]UsageRecord
	unitPrice map[string]int64
	// Statements run, per seller: the postings each paid out or clawed back.
	Statements []MemStatement
}

type rowKey struct {
	order string
	kind  order.LineKind
	key   string
}

type entryKey struct {
	row                         int
	posting, account, direction string
}

type statedKey struct {
	row     int
	posting string
}

// MemEntry is an entry with its row and when it was written.
type MemEntry struct {
	Row int
	Entry
	At time.Time
}

// UsageRecord is a stored usage record, not priced yet.
type UsageRecord struct {
	OrderID  string
	End      time.Time
	Quantity int64
}

// MemStatement is one seller's statement run.
type MemStatement struct {
	SellerID string
	At       time.Time
	Stated   []Unstated
	Carried  []Unstated
}

// NewMemory returns empty books.
func NewMemory() *Memory {
	return &Memory{index: map[rowKey]int{}, keys: map[entryKey]bool{}, stated: map[statedKey]bool{}, usage: map[string][]UsageRecord{},
		unitPrice: map[string]int64{}}
}

// Rows are every row, in the order written.
func (m *Memory) Rows() []*Row { return m.rows }

// Entries are every entry, in the order written.
func (m *Memory) Entries() []MemEntry { return m.entries }

// Row returns the row of (order, kind, key), if any.
func (m *Memory) Row(orderID string, kind order.LineKind, key string) (*Row, bool) {
	i, ok := m.index[rowKey{orderID, kind, key}]
	if !ok {
		return nil, false
	}
	return m.rows[i], true
}

// Post applies one posting of an order at time at, as the Record activity does in its
// transaction.
func (m *Memory) Post(orderID, sellerID string, p order.Posting, at time.Time) error {
	if p.Kind == order.LineUsage && p.Key == AllUsage {
		return m.refundUsage(orderID, sellerID, p.Currency, at)
	}
	k := rowKey{orderID, p.Kind, p.Key}
	var existing *Row
	i, ok := m.index[k]
	if ok {
		existing = m.rows[i]
	}
	c, err := Decide(existing, orderID, sellerID, p)
	if err != nil {
		return err
	}
	return m.apply(i, ok, c, at)
}

func (m *Memory) apply(i int, exists bool, c Change, at time.Time) error {
	if c.Insert != nil {
		r := *c.Insert
		m.rows = append(m.rows, &r)
		i = len(m.rows) - 1
		m.index[rowKey{r.OrderID, r.Kind, r.Key}] = i
	} else if !exists {
		if c.None() {
			return nil
		}
		return fmt.Errorf("books: a change of a row that does not exist")
	}
	r := m.rows[i]
	if c.Status != "" {
		r.Status = c.Status
	}
	if c.Reason != "" {
		r.Reason = c.Reason
	}
	if c.Amounts != nil {
		r.Amounts = *c.Amounts
	}
	return m.write(i, c.Entries, at)
}

// write adds entries to row i, refusing an entry written before (the database's unique
// key) and an unbalanced posting (its trigger).
func (m *Memory) write(i int, entries []Entry, at time.Time) error {
	balance := map[string]int64{}
	for _, e := range entries {
		k := entryKey{i, e.Posting, e.Account, e.Direction}
		if m.keys[k] {
			return fmt.Errorf("books: entry %s %s %s of row %d (%s %s %s) written twice", e.Posting, e.Account, e.Direction, i,
				m.rows[i].OrderID, m.rows[i].Kind, m.rows[i].Key)
		}
		if e.Amount < 0 {
			return fmt.Errorf("books: negative entry %+v", e)
		}
		m.keys[k] = true
		m.entries = append(m.entries, MemEntry{Row: i, Entry: e, At: at})
		if e.Direction == "debit" {
			balance[e.Posting] += e.Amount
		} else {
			balance[e.Posting] -= e.Amount
		}
	}
	for posting, b := range balance {
		if b != 0 {
			return fmt.Errorf("books: posting %s of row %d unbalanced by %d", posting, i, b)
		}
	}
	return nil
}

// AddUsage stores a usage record that the order's seller sent and the API took; unitPrice
// is the order's.
func (m *Memory) AddUsage(orderID string, end time.Time, quantity, unitPrice int64) {
	m.usage[orderID] = append(m.usage[orderID], UsageRecord{OrderID: orderID, End: end, Quantity: quantity})
	m.unitPrice[orderID] = unitPrice
}

// UnpricedUsage is the usage of an order not priced yet.
func (m *Memory) UnpricedUsage(orderID string) []UsageRecord { return m.usage[orderID] }

// refundUsage refunds every usage line of the order and prices what was not priced yet into
// a refunded line (AllUsage).
func (m *Memory) refundUsage(orderID, sellerID, currency string, at time.Time) error {
	var unpriced int64
	for _, u := range m.usage[orderID] {
		unpriced += u.Quantity
	}
	delete(m.usage, orderID)
	if unpriced > 0 {
		gross, err := usage.Price(unpriced, m.unitPrice[orderID])
		if err != nil {
			return err
		}
		if err := m.Post(orderID, sellerID, order.Posting{Kind: order.LineUsage, Key: UsageRefundKey, Action: order.PostingRefund,
			Currency: currency, Gross: gross}, at); err != nil {
			return err
		}
	}
	for i, r := range m.rows {
		if r.OrderID != orderID || r.Kind != order.LineUsage || r.Status == RowRefunded {
			continue
		}
		c, err := Decide(r, orderID, sellerID, order.Posting{Kind: r.Kind, Key: r.Key, Action: order.PostingRefund,
			Currency: r.Currency, Gross: r.Gross, Commission: r.Commission, Net: r.Net})
		if err != nil {
			return err
		}
		if err := m.apply(i, true, c, at); err != nil {
			return err
		}
	}
	return nil
}

// UsageOrder is what pricing needs of an order with usage: its seller, unit price, rate,
// currency and whether its customer is in arrears now.
type UsageOrder struct {
	SellerID  string
	UnitPrice int64
	Bps       int
	Currency  string
	InArrears bool
}

// PriceUsage prices the seller's unpriced usage that ended before end into one line per
// order keyed by month, as a statement run does first.
func (m *Memory) PriceUsage(sellerID, month string, end time.Time, orderOf func(orderID string) (UsageOrder, bool), at time.Time) error {
	ids := make([]string, 0, len(m.usage))
	for id := range m.usage {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		o, ok := orderOf(id)
		if !ok || o.SellerID != sellerID {
			continue
		}
		var q int64
		var left []UsageRecord
		for _, u := range m.usage[id] {
			if u.End.Before(end) {
				q += u.Quantity
			} else {
				left = append(left, u)
			}
		}
		if q == 0 {
			continue
		}
		if _, priced := m.Row(id, order.LineUsage, month); priced {
			continue // the month's line exists: the database prices it once too
		}
		p, err := UsageLine(month, q, o.UnitPrice, o.Bps, o.Currency, o.InArrears)
		if err != nil {
			return err
		}
		if err := m.Post(id, sellerID, p, at); err != nil {
			return err
		}
		if len(left) == 0 {
			delete(m.usage, id)
		} else {
			m.usage[id] = left
		}
	}
	return nil
}

// PostClearedUsage posts the blocked usage lines of the orders whose customer is no longer
// in arrears (cleared reports it).
func (m *Memory) PostClearedUsage(cleared func(orderID string) bool, at time.Time) error {
	for i, r := range m.rows {
		if r.Kind != order.LineUsage || r.Status != RowBlocked || !cleared(r.OrderID) {
			continue
		}
		c, err := Decide(r, r.OrderID, r.SellerID, order.Posting{Kind: r.Kind, Key: r.Key, Action: order.PostingPost, Currency: r.Currency,
			Gross: r.Gross, Commission: r.Commission, Net: r.Net, CommissionBps: r.Bps})
		if err != nil {
			return err
		}
		if err := m.apply(i, true, c, at); err != nil {
			return err
		}
	}
	return nil
}

// State runs one seller's statement at time at: every posting made before end and not
// stated yet goes through Statement; the stated ones are paid out or clawed back.
func (m *Memory) State(sellerID string, end time.Time, appealOpen func(orderID string) bool, at time.Time) (MemStatement, error) {
	type pk struct {
		row     int
		posting string
	}
	sums := map[pk]*Unstated{}
	var order_ []pk
	for _, e := range m.entries {
		if e.Posting != EntryPost && e.Posting != EntryReverse {
			continue
		}
		r := m.rows[e.Row]
		k := pk{e.Row, e.Posting}
		if r.SellerID != sellerID || m.stated[statedKey{e.Row, e.Posting}] {
			continue
		}
		u, ok := sums[k]
		if !ok {
			if !e.At.Before(end) {
				continue
			}
			u = &Unstated{RowID: int64(e.Row), Posting: e.Posting, OrderID: r.OrderID, Kind: r.Kind, Key: r.Key, Currency: r.Currency,
				PostedAt: e.At, AppealOpen: appealOpen(r.OrderID)}
			sums[k] = u
			order_ = append(order_, k)
		}
		sign := int64(1)
		if e.Posting == EntryReverse {
			sign = -1
		}
		switch e.Account {
		case AccountBuyerFunds:
			u.Gross += sign * e.Amount
		case AccountCommission:
			u.Commission += sign * e.Amount
		case AccountPayable:
			u.Net += sign * e.Amount
		}
	}
	lines := make([]Unstated, 0, len(order_))
	for _, k := range order_ {
		lines = append(lines, *sums[k])
	}
	stated, carried := Statement(lines)
	st := MemStatement{SellerID: sellerID, At: at, Stated: stated, Carried: carried}
	for _, l := range stated {
		m.stated[statedKey{int(l.RowID), l.Posting}] = true
		_, entries := Payout(l)
		if err := m.write(int(l.RowID), entries, at); err != nil {
			return st, err
		}
		if r := m.rows[l.RowID]; l.Posting == EntryPost && r.Status == RowPending {
			r.Status = RowSettled
		}
	}
	m.Statements = append(m.Statements, st)
	return st, nil
}

// Balance is an order's (or the whole books') net per account, debits positive.
type Balance map[string]int64

// OrderBalance sums the entries of an order's rows per account (debit positive).
func (m *Memory) OrderBalance(orderID string) Balance {
	if b := m.Balances()[orderID]; b != nil {
		return b
	}
	return Balance{}
}

// Balances are every order's entries summed per account (debit positive), in one pass.
func (m *Memory) Balances() map[string]Balance {
	out := map[string]Balance{}
	for _, e := range m.entries {
		id := m.rows[e.Row].OrderID
		b := out[id]
		if b == nil {
			b = Balance{}
			out[id] = b
		}
		if e.Direction == "debit" {
			b[e.Account] += e.Amount
		} else {
			b[e.Account] -= e.Amount
		}
	}
	return out
}

// CurrencyBalance sums every entry per currency: debits less credits (zero when balanced).
func (m *Memory) CurrencyBalance() map[string]int64 {
	out := map[string]int64{}
	for _, e := range m.entries {
		c := m.rows[e.Row].Currency
		if e.Direction == "debit" {
			out[c] += e.Amount
		} else {
			out[c] -= e.Amount
		}
	}
	return out
}
