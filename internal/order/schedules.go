package order

// Scheduled work (Temporal Schedules, created by the worker at start, idempotently): the
// monthly seller statements and the daily product health check. Each schedule starts its
// workflow; ops may also start one by hand (the API's statement runs, or "trigger" on the
// schedule in the Temporal UI).
const (
	StatementsWorkflowType = "SellerStatements"
	StatementsScheduleID   = "seller-statements"
	HealthWorkflowType     = "ProductHealth"
	HealthScheduleID       = "product-health"
)

// StatementsInput says which month to state ("YYYY-MM"); empty: the month before the run.
type StatementsInput struct {
	Month string `json:"month,omitempty"`
}

// StatementsWorkflowID names the run of one month started by hand, so that two requests
// for the same month while one runs start it once.
func StatementsWorkflowID(month string) string { return "seller-statements-" + month }
