package order

import "time"

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

// HealthInput says what a product health check judges: one product (ProductID, a check ops
// run by hand for it) or, empty, every listed product (the schedule's run, which passes no
// input at all).
type HealthInput struct {
	ProductID string `json:"productId,omitempty"`
}

// HealthOpsWorkflowID names a health check ops run by hand: of one product, or of every
// product when productID is empty, at a time to the second. It never collides with the
// schedule's runs (product-health-<schedule time>), and two requests for the same check in
// the same second meet the same run instead of starting two.
func HealthOpsWorkflowID(productID string, at time.Time) string {
	target := "all"
	if productID != "" {
		target = "product-" + productID
	}
	return "product-health-ops-" + target + "-" + at.UTC().Format("20060102T150405Z")
}

// StatementsInput says which month to state ("YYYY-MM"); empty: the month before the run.
type StatementsInput struct {
	Month string `json:"month,omitempty"`
}

// StatementsWorkflowID names the run of one month started by hand, so that two requests
// for the same month while one runs start it once.
func StatementsWorkflowID(month string) string { return "seller-statements-" + month }
