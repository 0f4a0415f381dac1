package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/searchattr"
)

// Billing's arrears and payments. Each is a signal to the customer's account workflow,
// with signal-with-start (the first report starts it). The answer is 202: the account takes
// the signal within moments, and GET .../arrears shows what it made of it.

// accountReceipt is the answer to a report or a payment.
type accountReceipt struct {
	CustomerID string `json:"customerId"`
	Received   string `json:"received"`
}

func (s *server) reportArrears(c echo.Context) error {
	var req struct {
		Amount order.Money `json:"amount"`
		Since  string      `json:"since"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	since, err := time.Parse(time.RFC3339, req.Since)
	if err != nil {
		return invalidField("since", "since must be an RFC 3339 date-time")
	}
	if since.After(s.now().Add(time.Hour)) {
		return invalidField("since", "since is in the future")
	}
	return s.signalAccount(c, order.SignalArrearsReported, req.Amount,
		order.ArrearsReport{Amount: req.Amount, Since: since.UTC(), Actor: callerOf(c).actor()})
}

func (s *server) reportPayment(c echo.Context) error {
	var req struct {
		Amount order.Money `json:"amount"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	return s.signalAccount(c, order.SignalPayment, req.Amount, order.Payment{Amount: req.Amount, Actor: callerOf(c).actor()})
}

// signalAccount checks the amount's currency against the arrears outstanding and signals
// the account, starting it if it is not running.
func (s *server) signalAccount(c echo.Context, signal string, amount order.Money, arg any) error {
	id := c.Param("customerId")
	if amount.Value <= 0 {
		return invalidField("amount.value", "amount.value must be positive")
	}
	ctx := c.Request().Context()
	v, err := s.loadAccount(ctx, id)
	if err != nil {
		return err
	}
	if v.Outstanding.Value > 0 && v.Outstanding.Currency != amount.Currency {
		return invalidField("amount.currency", "the customer's arrears are in %s", v.Outstanding.Currency)
	}
	tctx, cancel := context.WithTimeout(ctx, temporalTimeout)
	defer cancel()
	_, err = s.tc.SignalWithStartWorkflow(tctx, order.AccountWorkflowID(id), signal, arg, client.StartWorkflowOptions{
		ID:                    order.AccountWorkflowID(id),
		TaskQueue:             s.cfg.TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			searchattr.CustomerID.ValueSet(id),
			searchattr.ArrearsState.ValueSet(string(order.AccountNone)),
		),
	}, order.AccountWorkflowType, order.AccountInput{
		CustomerID: id, TimeScale: s.policy.TimeScale, HistoryLimit: s.policy.History.MaxEventsPerRun,
	})
	if err != nil {
		return temporalFailure("signal the account of customer "+id, "", err)
	}
	s.log.Info("account signalled", "request_id", requestID(c), "customer_id", id, "signal", signal,
		"amount", amount.Value, "currency", amount.Currency)
	c.Response().Header().Set(echo.HeaderLocation, "/v1/customers/"+id+"/arrears")
	return c.JSON(http.StatusAccepted, accountReceipt{CustomerID: id, Received: signal})
}

func (s *server) getArrears(c echo.Context) error {
	v, err := s.loadAccount(c.Request().Context(), c.Param("customerId"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// loadAccount reads a customer's arrears from the account's read model; a customer who
// never had arrears has state none.
func (s *server) loadAccount(ctx context.Context, id string) (order.AccountView, error) {
	dbCtx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	v, err := scanAccount(s.db.QueryRow(dbCtx, `SELECT `+accountColumns+` FROM arrears_accounts WHERE customer_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return order.AccountView{CustomerID: id, State: order.AccountNone, UpdatedAt: s.now().UTC()}, nil
	}
	if err != nil {
		return v, dbFailure("read arrears of customer "+id, err)
	}
	return v, nil
}

const accountColumns = `customer_id, state, case_id, outstanding, currency, since, grace_ends, retention_ends, updated_at`

func scanAccount(row pgx.Row) (order.AccountView, error) {
	var v order.AccountView
	var state string
	err := row.Scan(&v.CustomerID, &state, &v.CaseID, &v.Outstanding.Value, &v.Outstanding.Currency,
		&v.Since, &v.GraceEnds, &v.RetentionEnds, &v.UpdatedAt)
	v.State = order.AccountState(state)
	for _, t := range []*time.Time{v.Since, v.GraceEnds, v.RetentionEnds, &v.UpdatedAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
	return v, err
}

// accountCursor is the position after the last account of a page, in (updated_at DESC,
// customer_id DESC) order.
type accountCursor struct {
	UpdatedAt  time.Time `json:"t"`
	CustomerID string    `json:"c"`
}

// listArrears is ops' view of customers in arrears (GET /v1/arrears?state=), with their
// deadlines; by default every customer still owing (grace, frozen, released).
func (s *server) listArrears(c echo.Context) error {
	q := c.QueryParams()
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	args := []any{}
	where := []string{"state <> 'none'"}
	if st := q.Get("state"); st != "" {
		args = append(args, st)
		where = []string{fmt.Sprintf("state = $%d", len(args))}
	}
	if v := q.Get("cursor"); v != "" {
		var cur accountCursor
		raw, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || json.Unmarshal(raw, &cur) != nil || cur.UpdatedAt.IsZero() || !idPattern.MatchString(cur.CustomerID) {
			return invalidField("cursor", "cursor is not one this API issued")
		}
		args = append(args, cur.UpdatedAt, cur.CustomerID)
		where = append(where, fmt.Sprintf("(updated_at, customer_id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	args = append(args, limit+1)
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	rows, err := s.db.Query(ctx, fmt.Sprintf(`SELECT %s FROM arrears_accounts WHERE %s
		ORDER BY updated_at DESC, customer_id DESC LIMIT $%d`, accountColumns, strings.Join(where, " AND "), len(args)), args...)
	if err != nil {
		return dbFailure("list arrears", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (order.AccountView, error) { return scanAccount(r) })
	if err != nil {
		return dbFailure("list arrears", err)
	}
	page := struct {
		Items      []order.AccountView `json:"items"`
		NextCursor string              `json:"nextCursor,omitempty"`
	}{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		last := items[limit-1]
		raw, _ := json.Marshal(accountCursor{UpdatedAt: last.UpdatedAt, CustomerID: last.CustomerID})
		page.NextCursor = base64.RawURLEncoding.EncodeToString(raw)
	}
	return c.JSON(http.StatusOK, page)
}
