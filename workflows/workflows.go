// Package workflows lists every workflow of the service and registers them, with the
// activities they call, on a worker: the order workflow (orderflow, and the frozen first
// one, orderv1), the account workflow (accountflow) and the scheduled work (schedules).
// Each runs a pure machine (internal/lifecycle, internal/arrears) or a batch activity in a
// loop built from the shared kit (loop). Recorded histories of every type are in testdata/
// and replayed against this code by the replay test.
package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/workflows/accountflow"
	"github.com/cloudmarket/orders/workflows/orderflow"
	"github.com/cloudmarket/orders/workflows/orderv1"
	"github.com/cloudmarket/orders/workflows/schedules"
)

// Activities are the activity receivers the workflows call, with their dependencies.
type Activities struct {
	Store      *activities.Store
	Seller     *activities.Seller
	Accounts   *activities.Accounts
	Statements *activities.Statements
	Health     *activities.Health
}

// RegisterWorkflows registers every workflow under its type name (a worker or a replayer).
func RegisterWorkflows(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(orderflow.Order, workflow.RegisterOptions{Name: order.WorkflowType})
	// The first order workflow stays registered while orders placed on it still run.
	r.RegisterWorkflowWithOptions(orderv1.Order, workflow.RegisterOptions{Name: order.WorkflowTypeV1})
	r.RegisterWorkflowWithOptions(accountflow.AccountWorkflow, workflow.RegisterOptions{Name: order.AccountWorkflowType})
	r.RegisterWorkflowWithOptions(schedules.SellerStatements, workflow.RegisterOptions{Name: order.StatementsWorkflowType})
	r.RegisterWorkflowWithOptions(schedules.ProductHealth, workflow.RegisterOptions{Name: order.HealthWorkflowType})
}

// Register registers every workflow and the activities they call on a worker.
func Register(w worker.Registry, a Activities) {
	RegisterWorkflows(w)
	w.RegisterActivity(a.Store)
	w.RegisterActivity(a.Seller)
	w.RegisterActivity(a.Accounts)
	w.RegisterActivity(a.Statements)
	w.RegisterActivity(a.Health)
}
