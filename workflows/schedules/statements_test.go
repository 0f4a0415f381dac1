package schedules

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/order"
)

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// TestSellerStatementsStatesTheMonthBefore: the scheduled run (no month given) states the
// month before its start, every seller once, and returns what each stated.
func TestSellerStatementsStatesTheMonthBefore(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(t0) // 2026-11-25
	env.RegisterWorkflow(SellerStatements)
	env.RegisterActivity(&activities.Statements{})
	sellers := []string{"s1", "s2", "s3", "s4", "s5", "s6"}
	var mu sync.Mutex
	var stated []string
	env.OnActivity(statements.SellersToState, mock.Anything, "2026-10").Return(sellers, nil)
	env.OnActivity(statements.StateSeller, mock.Anything, mock.Anything, "2026-10").Return(
		func(_ context.Context, sellerID, month string) (activities.StatementSummary, error) {
			mu.Lock()
			defer mu.Unlock()
			stated = append(stated, sellerID)
			return activities.StatementSummary{SellerID: sellerID, Month: month, Ran: true}, nil
		})
	env.ExecuteWorkflow(SellerStatements, order.StatementsInput{})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var out []activities.StatementSummary
	if err := env.GetWorkflowResult(&out); err != nil {
		t.Fatal(err)
	}
	slices.Sort(stated)
	if !slices.Equal(stated, sellers) || len(out) != len(sellers) || out[5].SellerID != "s6" {
		t.Fatalf("stated %v, answered %+v", stated, out)
	}
}

// TestProductHealthJudgesTheRunsDay: the daily check runs as of its start day. It is started
// as the schedule starts it: by type name, with no input.
func TestProductHealthJudgesTheRunsDay(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	env.RegisterWorkflowWithOptions(ProductHealth, workflow.RegisterOptions{Name: order.HealthWorkflowType})
	env.RegisterActivity(&activities.Health{})
	env.OnActivity(health.CheckProducts, mock.Anything, "2026-11-25").Return(activities.HealthReport{Day: "2026-11-25", Products: 3}, nil)
	env.ExecuteWorkflow(order.HealthWorkflowType)
	var r activities.HealthReport
	if err := env.GetWorkflowResult(&r); err != nil || r.Products != 3 {
		t.Fatalf("report %+v, %v", r, err)
	}
}

// TestProductHealthOfOneProduct: a check ops run for one product judges that product alone,
// through its own activity.
func TestProductHealthOfOneProduct(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(t0)
	env.RegisterWorkflow(ProductHealth)
	env.RegisterActivity(&activities.Health{})
	env.OnActivity(health.CheckProduct, mock.Anything, "2026-11-25", "p-1").
		Return(activities.HealthReport{Day: "2026-11-25", ProductID: "p-1", Products: 1}, nil)
	env.ExecuteWorkflow(ProductHealth, order.HealthInput{ProductID: "p-1"})
	var r activities.HealthReport
	if err := env.GetWorkflowResult(&r); err != nil || r.ProductID != "p-1" || r.Products != 1 {
		t.Fatalf("report %+v, %v", r, err)
	}
}
