package order

import "time"

// The account workflow: one per customer who ever had arrears (order-states.md, section 4).
// Billing reports arrears and payments as signals, with signal-with-start, so the first
// report starts it; it holds, frees and releases the customer's pay-per-use orders through
// their workflows (SignalArrears).
const (
	AccountWorkflowType = "Account"
	// SignalArrearsReported and SignalPayment are billing's signals to the account.
	SignalArrearsReported = "arrears_reported"
	SignalPayment         = "payment"
	// QueryAccount answers the account's AccountView.
	QueryAccount = "account"
)

// AccountWorkflowID derives the account workflow's ID from the customer ID (IDs are
// [A-Za-z0-9_-]{1,64}, so it cannot collide with an order's "order-" prefix).
func AccountWorkflowID(customerID string) string { return "account-" + customerID }

// AccountState is where a customer's arrears stand.
type AccountState string

// Account states.
const (
	AccountNone     AccountState = "none"     // nothing owed
	AccountGrace    AccountState = "grace"    // owed; the level's pay-per-use grace runs
	AccountFrozen   AccountState = "frozen"   // grace over: pay-per-use orders frozen; retention runs
	AccountReleased AccountState = "released" // retention over: those orders released; still owed
)

// AccountInput starts (or continues) a customer's account workflow.
type AccountInput struct {
	CustomerID string `json:"customerId"`
	// TimeScale divides the level's periods (the demo time scale); HistoryLimit is the
	// policy's history.maxEventsPerRun.
	TimeScale    float64 `json:"timeScale"`
	HistoryLimit int     `json:"historyLimit,omitempty"`
	// Resume carries the account's state into a new run (continue-as-new).
	Resume []byte `json:"resume,omitempty"`
}

// ArrearsReport is billing's report of arrears: what is owed, since when.
type ArrearsReport struct {
	Amount Money     `json:"amount"`
	Since  time.Time `json:"since"`
	Actor  Actor     `json:"actor"`
}

// Payment is billing's report of a payment against the arrears.
type Payment struct {
	Amount Money `json:"amount"`
	Actor  Actor `json:"actor"`
}

// AccountView is a customer's arrears as the API shows them.
type AccountView struct {
	CustomerID    string       `json:"customerId"`
	State         AccountState `json:"state"`
	CaseID        string       `json:"caseId,omitempty"`
	Outstanding   Money        `json:"outstanding"`
	Since         *time.Time   `json:"since,omitempty"`
	GraceEnds     *time.Time   `json:"graceEnds,omitempty"`
	RetentionEnds *time.Time   `json:"retentionEnds,omitempty"`
	UpdatedAt     time.Time    `json:"updatedAt"`
}
