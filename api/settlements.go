package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/order"
)

// statementLineView is one stated posting: a settlement line posted (positive) or reversed
// (negative).
type statementLineView struct {
	OrderID    string    `json:"orderId"`
	Kind       string    `json:"kind"`
	PeriodKey  string    `json:"periodKey,omitempty"`
	Posting    string    `json:"posting"`
	Gross      int64     `json:"gross"`
	Commission int64     `json:"commission"`
	Net        int64     `json:"net"`
	PostedAt   time.Time `json:"postedAt"`
}

type statementView struct {
	Currency   string              `json:"currency"`
	Gross      int64               `json:"gross"`
	Commission int64               `json:"commission"`
	Net        int64               `json:"net"`
	UsageGross int64               `json:"usageGross"`
	LineCount  int                 `json:"lineCount"`
	Lines      []statementLineView `json:"lines"`
}

type sellerStatements struct {
	SellerID   string          `json:"sellerId"`
	Month      string          `json:"month"`
	StatedAt   time.Time       `json:"statedAt"`
	Statements []statementView `json:"statements"`
}

// sellerSettlements answers a seller's statement of a month (GET
// /v1/sellers/{sellerId}/settlements?month=YYYY-MM): ops, or the seller itself through the
// web tier. A month not stated yet is 404 statement_not_found.
func (s *server) sellerSettlements(c echo.Context) error {
	sellerID, month := c.Param("sellerId"), c.QueryParam("month")
	if cl := callerOf(c); cl.Kind == order.ActorSeller && cl.ID != sellerID {
		return statementNotFound(sellerID, month) // another seller's statements do not exist for it
	}
	if _, _, err := activities.MonthRange(month); err != nil {
		return invalidField("month", "month must be YYYY-MM")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	out := sellerStatements{SellerID: sellerID, Month: month, Statements: []statementView{}}
	err := s.db.QueryRow(ctx, `SELECT ran_at FROM statement_runs WHERE seller_id = $1 AND month = $2`, sellerID, month).Scan(&out.StatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return statementNotFound(sellerID, month)
	}
	if err != nil {
		return dbFailure("read statement run", err)
	}
	out.StatedAt = out.StatedAt.UTC()
	rows, err := s.db.Query(ctx, `
		SELECT st.currency, st.gross, st.commission, st.net, st.usage_gross, st.line_count,
		       l.order_id, l.kind, l.period_key, l.posting, l.gross, l.commission, l.net, l.posted_at
		FROM seller_statements st JOIN statement_lines l ON l.statement_id = st.statement_id
		WHERE st.seller_id = $1 AND st.month = $2
		ORDER BY st.currency, l.posted_at, l.settlement_id, l.posting`, sellerID, month)
	if err != nil {
		return dbFailure("read statements", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sv statementView
		var l statementLineView
		if err := rows.Scan(&sv.Currency, &sv.Gross, &sv.Commission, &sv.Net, &sv.UsageGross, &sv.LineCount,
			&l.OrderID, &l.Kind, &l.PeriodKey, &l.Posting, &l.Gross, &l.Commission, &l.Net, &l.PostedAt); err != nil {
			return dbFailure("read statements", err)
		}
		l.PostedAt = l.PostedAt.UTC()
		if n := len(out.Statements); n == 0 || out.Statements[n-1].Currency != sv.Currency {
			sv.Lines = []statementLineView{}
			out.Statements = append(out.Statements, sv)
		}
		last := &out.Statements[len(out.Statements)-1]
		last.Lines = append(last.Lines, l)
	}
	if err := rows.Err(); err != nil {
		return dbFailure("read statements", err)
	}
	return c.JSON(http.StatusOK, out)
}

func statementNotFound(sellerID, month string) *Problem {
	return newProblem(http.StatusNotFound, CodeStatementNotFound,
		fmt.Sprintf("no statement of seller %s for %s (statements run on the policy's day of the following month)", sellerID, month))
}

// runStatements starts the statements of a month by hand (POST /v1/settlements/runs, ops):
// the same workflow the monthly schedule starts. Stating a month twice changes nothing.
func (s *server) runStatements(c echo.Context) error {
	var req struct {
		Month string `json:"month"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	start, _, err := activities.MonthRange(req.Month)
	if err != nil {
		return invalidField("month", "month must be YYYY-MM")
	}
	if start.After(s.now()) {
		return invalidField("month", "month %s has not begun", req.Month)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), temporalTimeout)
	defer cancel()
	id := order.StatementsWorkflowID(req.Month)
	run, err := s.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: s.cfg.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, order.StatementsWorkflowType, order.StatementsInput{Month: req.Month})
	if err != nil {
		return temporalFailure("start statements of "+req.Month, "", err)
	}
	s.log.Info("statements started", "request_id", requestID(c), "month", req.Month, "workflow_id", id, "actor_id", callerOf(c).ID)
	return c.JSON(http.StatusAccepted, map[string]string{"month": req.Month, "workflowId": id, "runId": run.GetRunID()})
}
