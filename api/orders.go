package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/licenses"
	"github.com/cloudmarket/orders/internal/lifecycle"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/searchattr"
)

// orderRequest is the body of POST /v1/orders (schema OrderCreate, which says what is
// required and what each field may hold).
type orderRequest struct {
	OrderID     string       `json:"orderId"`
	OrderLineID string       `json:"orderLineId"`
	CustomerID  string       `json:"customerId"`
	ProductID   string       `json:"productId"`
	Quantity    int          `json:"quantity"`
	Amount      moneyRequest `json:"amount"`
	ExpireTime  *string      `json:"expireTime"`
	OrderType   string       `json:"orderType"`
}

type moneyRequest struct {
	Value    int64  `json:"value"`
	Currency string `json:"currency"`
}

// placement is a validated orderRequest.
type placement struct {
	OrderID     string
	OrderLineID string
	CustomerID  string
	ProductID   string
	Quantity    int
	Amount      order.Money
	ExpireTime  *time.Time
	Trial       bool
}

// validate turns the request (checked against the contract) into a placement; the
// expireTime rules that depend on the product's billing mode are checked once the product
// is read.
func (r orderRequest) validate() (placement, *Problem) {
	pl := placement{
		OrderID: r.OrderID, OrderLineID: r.OrderLineID, CustomerID: r.CustomerID, ProductID: r.ProductID,
		Quantity: r.Quantity, Amount: order.Money{Value: r.Amount.Value, Currency: r.Amount.Currency},
		Trial: r.OrderType == order.OrderTypeTrial,
	}
	if pl.Trial && r.ExpireTime != nil {
		return pl, invalidField("expireTime", "a trial's expiry comes from its product's trial period: leave expireTime out")
	}
	if pl.Trial && pl.Amount.Value != 0 {
		return pl, invalidField("amount.value", "a trial is free: amount.value must be 0")
	}
	if r.ExpireTime != nil {
		t, err := time.Parse(time.RFC3339, *r.ExpireTime)
		if err != nil {
			return pl, invalidField("expireTime", "expireTime must be an RFC 3339 date-time, e.g. 2030-01-31T00:00:00Z")
		}
		t = t.UTC()
		pl.ExpireTime = &t
	}
	return pl, nil
}

// fingerprint is the hex SHA-256 of a canonical encoding of the validated request: fixed
// field order, times in UTC, prefixed by a version so a future encoding can never
// collide with this one. Two requests that mean the same order get the same fingerprint
// whatever their key order, whitespace or time zone.
func (pl placement) fingerprint() string {
	exp := ""
	if pl.ExpireTime != nil {
		exp = pl.ExpireTime.UTC().Format(time.RFC3339Nano)
	}
	fields := []any{"order/v1", pl.OrderID, pl.OrderLineID, pl.CustomerID,
		pl.ProductID, pl.Quantity, pl.Amount.Value, pl.Amount.Currency, exp}
	if pl.Trial {
		fields = append(fields, order.OrderTypeTrial) // (formal orders keep the fingerprint they had)
	}
	canonical, _ := json.Marshal(fields)
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:])
}

// productRow is what placing an order needs from the catalogue.
type productRow struct {
	SellerID      string
	Type          order.ProductType
	BillingMode   order.BillingMode
	CommissionBps int
	Supervised    *bool
	Listed        bool
	Criteria      string
	UnitPrice     *order.Money
	NotifyOrders  bool
	TrialDays     int
	LicenseCode   bool
}

// createOrder places an order: one start of its workflow. Idempotent on orderId: a repeat
// with the same body answers 200 with the order, a different body 409.
func (s *server) createOrder(c echo.Context) error {
	cl := callerOf(c)
	var req orderRequest
	if err := s.bind(c, &req); err != nil {
		return err
	}
	pl, p := req.validate()
	if p != nil {
		return p
	}
	if cl.ID != pl.CustomerID {
		return forbidden("a buyer may place orders only for themselves (X-Actor-Id must equal customerId)")
	}
	fp := pl.fingerprint()
	ctx := c.Request().Context()

	// A known orderId: answer from the read model, without touching Temporal.
	dbCtx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	row, err := activities.ReadOrderRow(dbCtx, s.db, pl.OrderID)
	switch {
	case err == nil:
		if row.Fingerprint != fp {
			return idempotencyConflict(pl.OrderID)
		}
		return c.JSONBlob(http.StatusOK, row.View)
	case !errors.Is(err, activities.ErrNoOrderRow):
		return dbFailure("look up order "+pl.OrderID, err)
	}

	var pr productRow
	var typ, mode string
	var unitPrice *int64
	var unitCurrency *string
	err = s.db.QueryRow(dbCtx, `
		SELECT seller_id, type, billing_mode, commission_bps, supervised, listed, acceptance_criteria,
		       unit_price, unit_price_currency, notify_orders, trial_days, license_code
		FROM products WHERE product_id = $1`, pl.ProductID,
	).Scan(&pr.SellerID, &typ, &mode, &pr.CommissionBps, &pr.Supervised, &pr.Listed, &pr.Criteria, &unitPrice, &unitCurrency,
		&pr.NotifyOrders, &pr.TrialDays, &pr.LicenseCode)
	if err == nil && unitPrice != nil && unitCurrency != nil {
		pr.UnitPrice = &order.Money{Value: *unitPrice, Currency: *unitCurrency}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		p := newProblem(http.StatusUnprocessableEntity, CodeProductNotFound, fmt.Sprintf("no product %q", pl.ProductID))
		p.Field = "productId"
		return p
	}
	if err != nil {
		return dbFailure("read product "+pl.ProductID, err)
	}
	pr.Type, pr.BillingMode = order.ProductType(typ), order.BillingMode(mode)
	if !pr.Listed {
		p := conflict(CodeProductDelisted, fmt.Sprintf("product %q is delisted and cannot be ordered", pl.ProductID))
		p.Field = "productId"
		return p
	}
	if !order.Supported(pr.Type, pr.BillingMode) {
		p := newProblem(http.StatusUnprocessableEntity, CodeProductUnsupported, fmt.Sprintf(
			"product %q is a %s product billed %s; orders of that kind are not handled yet", pl.ProductID, pr.Type, pr.BillingMode))
		p.Field = "productId"
		return p
	}
	if pl.Trial {
		if pr.TrialDays == 0 || !pr.BillingMode.Periodic() {
			p := conflict(CodeProductUnsupported, fmt.Sprintf("product %q has no free trial", pl.ProductID))
			p.Field = "orderType"
			return p
		}
		exp := s.now().UTC().AddDate(0, 0, pr.TrialDays)
		pl.ExpireTime = &exp
	}
	if p := s.checkExpireTime(pl, pr.BillingMode); p != nil {
		return p
	}
	if pr.BillingMode == order.BillingPayPerUse {
		if pr.UnitPrice == nil {
			p := newProblem(http.StatusUnprocessableEntity, CodeProductUnsupported,
				fmt.Sprintf("pay-per-use product %q has no unitPrice: ops must set one", pl.ProductID))
			p.Field = "productId"
			return p
		}
		if pr.UnitPrice.Currency != pl.Amount.Currency {
			return invalidField("amount.currency", "amount.currency must be %s, the currency of the product's unitPrice", pr.UnitPrice.Currency)
		}
		if err := s.refuseInArrears(dbCtx, pl.CustomerID); err != nil {
			return err
		}
	}

	supervised := pr.Type.SupervisedByDefault()
	if pr.Supervised != nil {
		supervised = *pr.Supervised
	}
	in := order.StartInput{
		OrderID: pl.OrderID, OrderLineID: pl.OrderLineID, CustomerID: pl.CustomerID,
		ProductID: pl.ProductID, SellerID: pr.SellerID, ProductType: pr.Type, BillingMode: pr.BillingMode,
		Supervised: supervised, Quantity: pl.Quantity, Amount: pl.Amount, CommissionBps: pr.CommissionBps,
		ExpireTime: pl.ExpireTime, PlacedAt: s.now().UTC(), Fingerprint: fp,
		Windows: s.policy.Windows(pr.Type), AcceptanceCriteria: pr.Criteria, UnitPrice: pr.UnitPrice,
		NotifyOrders: pr.NotifyOrders, Rules: lifecycle.RulesCurrent,
	}
	if pl.Trial {
		in.OrderType = order.OrderTypeTrial
	}
	if pr.LicenseCode && pr.Type == order.TypeLicense {
		if p := s.issueCode(dbCtx, &in); p != nil {
			return p
		}
	}
	initial := order.InitialView(in)
	opts := s.startOptions(in, initial.Status, enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE)
	tctx, tcancel := context.WithTimeout(ctx, temporalTimeout)
	defer tcancel()
	_, err = s.tc.ExecuteWorkflow(tctx, opts, order.WorkflowType, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case err == nil:
		s.recordPlacement(ctx, in, initial)
		if in.BillingMode == order.BillingPayPerUse {
			s.holdIfFrozenMeanwhile(ctx, in)
		}
		s.log.Info("order placed", "request_id", requestID(c), "order_id", in.OrderID,
			"product_id", in.ProductID, "customer_id", in.CustomerID)
		c.Response().Header().Set(echo.HeaderLocation, "/v1/orders/"+in.OrderID)
		return c.JSON(http.StatusCreated, initial)
	case errors.As(err, &started):
		return s.duplicateStart(c, in, initial)
	default:
		return temporalFailure("start order "+in.OrderID, in.OrderID, err)
	}
}

// recordPlacement writes the order's read-model row as placed (transition 0), so that reads
// of a just-placed order, and repeats of its POST, are answered by PostgreSQL rather than by
// the Temporal server, which polling clients would otherwise load exactly when it is busiest.
// The workflow writes the row anyway if this insert is lost: a failure here is only logged.
func (s *server) recordPlacement(ctx context.Context, in order.StartInput, v order.View) {
	dbCtx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	if err := activities.RecordPlacement(dbCtx, s.db, in, v); err != nil {
		s.log.Warn("read model row of a placed order not written; the workflow will write it",
			"order_id", in.OrderID, "error", err)
	}
}

// duplicateStart answers a start that lost a race with another start of the same orderId:
// the workflow's memo says whether that was the same request.
func (s *server) duplicateStart(c echo.Context, in order.StartInput, initial order.View) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), temporalTimeout)
	defer cancel()
	desc, err := s.describeOrder(ctx, in.OrderID)
	if err != nil {
		return temporalFailure("describe order "+in.OrderID, in.OrderID, err)
	}
	if desc.Fingerprint != in.Fingerprint {
		return idempotencyConflict(in.OrderID)
	}
	if desc.Placed != nil {
		initial = *desc.Placed // orders started before 2026-12-07 keep their placed view in the memo
	}
	// The first request writes the row as soon as its start returns: wait for it briefly,
	// so that both answers show the same order (its placedAt, not this request's).
	for wait := 0; ; wait++ {
		row, err := activities.ReadOrderRow(ctx, s.db, in.OrderID)
		switch {
		case err == nil:
			return c.JSONBlob(http.StatusOK, row.View)
		case !errors.Is(err, activities.ErrNoOrderRow):
			return dbFailure("read order "+in.OrderID, err)
		case wait == duplicateRowWaits:
			return c.JSON(http.StatusOK, initial)
		}
		select {
		case <-ctx.Done():
			return c.JSON(http.StatusOK, initial)
		case <-time.After(duplicateRowPause):
		}
	}
}

// duplicateRowWaits and duplicateRowPause bound how long a duplicate start waits for the
// first start's read-model row (about a second) before it answers with its own placing.
const (
	duplicateRowWaits = 20
	duplicateRowPause = 50 * time.Millisecond
)

func idempotencyConflict(orderID string) *Problem {
	p := conflict(CodeIdempotencyConflict, fmt.Sprintf("order %q exists with a different request body", orderID))
	p.Field = "orderId"
	return p
}

// checkExpireTime applies the billing mode's rule: subscriptions (yearly, monthly) need an
// expiry in the future; a one-time purchase has none; pay-per-use may have one.
func (s *server) checkExpireTime(pl placement, mode order.BillingMode) *Problem {
	switch {
	case (mode == order.BillingOneTime || mode == order.BillingPayPerUse) && pl.ExpireTime != nil:
		return invalidField("expireTime", "expireTime must be absent for a %s product", mode)
	case (mode == order.BillingYearly || mode == order.BillingMonthly) && pl.ExpireTime == nil:
		return invalidField("expireTime", "expireTime is required for a %s product", mode)
	case pl.ExpireTime != nil && !pl.ExpireTime.After(s.now()):
		return invalidField("expireTime", "expireTime must be in the future")
	}
	return nil
}

// orderDoc is an order as read for an answer: its owners, for authorisation, and its view.
type orderDoc struct {
	CustomerID string
	SellerID   string
	View       json.RawMessage
	// Settled are the order's settlement lines ("kind/period key") a monthly statement has
	// paid out: the workflow knows them as pending, the books as settled.
	Settled []string
}

// overlaySettled shows as settled the lines of v a statement has paid out.
func overlaySettled(v *order.View, settled []string) {
	for _, k := range settled {
		kind, key, _ := strings.Cut(k, "/")
		switch kind {
		case "order":
			v.Settlement.Status = order.SettlementSettled
		case "renewal":
			for i := range v.Renewals {
				if v.Renewals[i].RenewalOrderID == key {
					v.Renewals[i].Settlement.Status = order.SettlementSettled
				}
			}
		}
	}
}

// loadOrder reads an order from the read model. The API writes its row when it places the
// order (and the workflow's first transition writes it if that write was lost), so an
// order that is not there does not exist as far as callers are concerned: no request for
// an unknown ID reaches Temporal, whatever IDs a caller tries.
func (s *server) loadOrder(ctx context.Context, id string) (orderDoc, error) {
	var d orderDoc
	dbCtx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var raw []byte
	err := s.db.QueryRow(dbCtx, `SELECT customer_id, seller_id, view,
		    ARRAY(SELECT s.kind || '/' || s.period_key FROM settlements s WHERE s.order_id = o.order_id AND s.status = 'settled')
		FROM orders o WHERE order_id = $1`, id).
		Scan(&d.CustomerID, &d.SellerID, &raw, &d.Settled)
	switch {
	case err == nil:
		d.View = json.RawMessage(raw)
		return d, nil
	case errors.Is(err, pgx.ErrNoRows):
		return d, orderNotFound(id)
	default:
		return d, dbFailure("read order "+id, err)
	}
}

// loadVisibleOrder is loadOrder plus the caller's right to see the order. An order the
// caller may not see answers exactly as a missing one (same status, body and work), so
// order IDs cannot be probed.
func (s *server) loadVisibleOrder(c echo.Context, id string) (orderDoc, error) {
	d, err := s.loadOrder(c.Request().Context(), id)
	if err != nil {
		return d, err
	}
	if !callerOf(c).mayView(d.CustomerID, d.SellerID) {
		return orderDoc{}, orderNotFound(id)
	}
	return d, nil
}

// getOrder answers the order as recorded. Its buyer, and only its buyer, sees a licence in
// full (everyone else the masked form the read model holds).
func (s *server) getOrder(c echo.Context) error {
	id := c.Param("orderId")
	d, err := s.loadVisibleOrder(c, id)
	if err != nil {
		return err
	}
	cl := callerOf(c)
	buyerLicense := cl.Kind == order.ActorBuyer && bytes.Contains(d.View, []byte(`"license":`))
	if !buyerLicense && len(d.Settled) == 0 {
		// Encoded as a RawMessage the document is compacted (PostgreSQL prints jsonb with
		// spaces), so a GET answers the same bytes shape as an action's answer.
		return c.JSON(http.StatusOK, d.View)
	}
	var v order.View
	if err := json.Unmarshal(d.View, &v); err != nil {
		return fmt.Errorf("decode order %s: %w", id, err)
	}
	overlaySettled(&v, d.Settled)
	if !buyerLicense {
		return c.JSON(http.StatusOK, v)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	text, err := licenses.Open(ctx, s.db, s.keys, id)
	switch {
	case err == nil:
		v.License.Text = text
		if v.License.Via == licenses.ViaGenerated {
			s.codeShown(ctx, id) // the buyer has received the licence code: it may be activated
		}
	case !errors.Is(err, licenses.ErrNotFound):
		return dbFailure("read licence of order "+id, err)
	}
	return c.JSON(http.StatusOK, v)
}

// orderEvent is one line of an order's audit timeline.
type orderEvent struct {
	Seq    int             `json:"seq"`
	At     time.Time       `json:"at"`
	Actor  eventActor      `json:"actor"`
	Event  string          `json:"event"`
	From   string          `json:"from"`
	To     string          `json:"to"`
	Detail json.RawMessage `json:"detail"`
}

// eventActor is order.Actor with id always present ("" for the timer and the system), so
// every timeline line has the same shape.
type eventActor struct {
	Kind order.ActorKind `json:"kind"`
	ID   string          `json:"id"`
}

// orderEvents answers the audit timeline in order of transition, in keyset pages (the
// cursor is the last seq of the page). An order the read model has no events for yet has an
// empty timeline.
func (s *server) orderEvents(c echo.Context) error {
	id := c.Param("orderId")
	if _, err := s.loadVisibleOrder(c, id); err != nil {
		return err
	}
	q := c.QueryParams()
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	after := 0
	if v := q.Get("cursor"); v != "" {
		raw, err := base64.RawURLEncoding.DecodeString(v)
		n, convErr := strconv.Atoi(string(raw))
		if err != nil || convErr != nil || n < 1 {
			return invalidField("cursor", "cursor is not one this API issued")
		}
		after = n
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	rows, err := s.db.Query(ctx, `
		SELECT seq, at, actor_kind, actor_id, event, from_status, to_status, detail
		FROM order_events WHERE order_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, id, after, limit+1)
	if err != nil {
		return dbFailure("read events of order "+id, err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (orderEvent, error) {
		var e orderEvent
		var kind string
		var detail []byte
		err := r.Scan(&e.Seq, &e.At, &kind, &e.Actor.ID, &e.Event, &e.From, &e.To, &detail)
		e.Actor.Kind, e.At, e.Detail = order.ActorKind(kind), e.At.UTC(), detail
		return e, err
	})
	if err != nil {
		return dbFailure("read events of order "+id, err)
	}
	page := struct {
		Items      []orderEvent `json:"items"`
		NextCursor string       `json:"nextCursor,omitempty"`
	}{Items: []orderEvent{}}
	for i, e := range items {
		if i == limit {
			page.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(items[limit-1].Seq)))
			break
		}
		page.Items = append(page.Items, e)
	}
	return c.JSON(http.StatusOK, page)
}

// listPage is the answer of GET /v1/orders.
type listPage struct {
	Items      []json.RawMessage `json:"items"`
	NextCursor string            `json:"nextCursor,omitempty"`
}

// defaultLimit is the page size when the caller gives none (the contract bounds limit).
const defaultLimit = 50

// listOrders pages through the read model, newest first, with a keyset cursor on
// (placed_at, order_id): pages stay stable while orders are added, and every page is an
// index range scan however deep. A buyer or seller sees only their own orders: the filter
// is forced, and asking for someone else's is refused.
func (s *server) listOrders(c echo.Context) error {
	q := c.QueryParams() // names, repetition and values checked against the contract
	status, sellerID, customerID, productID := q.Get("status"), q.Get("sellerId"), q.Get("customerId"), q.Get("productId")
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	var after *listCursor
	if v := q.Get("cursor"); v != "" {
		cur, err := decodeCursor(v)
		if err != nil {
			return invalidField("cursor", "cursor is not one this API issued")
		}
		after = &cur
	}
	switch cl := callerOf(c); cl.Kind {
	case order.ActorBuyer:
		if customerID != "" && customerID != cl.ID {
			return forbidden("a buyer may list only their own orders")
		}
		customerID = cl.ID
	case order.ActorSeller:
		if sellerID != "" && sellerID != cl.ID {
			return forbidden("a seller may list only orders of their own products")
		}
		sellerID = cl.ID
	}

	var where []string
	var args []any
	add := func(cond string, vals ...any) {
		ph := make([]any, len(vals))
		for i, v := range vals {
			args = append(args, v)
			ph[i] = len(args)
		}
		where = append(where, fmt.Sprintf(cond, ph...))
	}
	if status != "" {
		add("status = $%d", status)
	}
	if sellerID != "" {
		add("seller_id = $%d", sellerID)
	}
	if customerID != "" {
		add("customer_id = $%d", customerID)
	}
	if productID != "" {
		add("product_id = $%d", productID)
	}
	if after != nil {
		add("(placed_at, order_id) < ($%d, $%d)", after.PlacedAt, after.OrderID)
	}
	sql := "SELECT view, placed_at, order_id FROM orders"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, limit+1)
	sql += fmt.Sprintf(" ORDER BY placed_at DESC, order_id DESC LIMIT $%d", len(args))

	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return dbFailure("list orders", err)
	}
	type row struct {
		view     []byte
		placedAt time.Time
		orderID  string
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.view, &x.placedAt, &x.orderID)
		return x, err
	})
	if err != nil {
		return dbFailure("list orders", err)
	}
	page := listPage{Items: make([]json.RawMessage, 0, min(len(got), limit))}
	for i, x := range got {
		if i == limit {
			last := got[limit-1]
			page.NextCursor = encodeCursor(listCursor{PlacedAt: last.placedAt, OrderID: last.orderID})
			break
		}
		page.Items = append(page.Items, x.view)
	}
	return c.JSON(http.StatusOK, page)
}

// startOptions are the options an order workflow starts with: under its order's ID, with
// the placing's fingerprint in its memo and its search attributes set (status as given: a
// restart resumes another). The memo is stored three times by the Temporal server (start
// event, mutable state, visibility row), so it keeps only what the API cannot read from
// the read model: the view as placed is the row's, not the memo's. A duplicate start is an error: without it the SDK
// answers it with the existing run, and a conflicting body would be told 201.
func (s *server) startOptions(in order.StartInput, status order.Status,
	reuse enumspb.WorkflowIdReusePolicy) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       order.WorkflowID(in.OrderID),
		TaskQueue:                s.cfg.TaskQueue,
		WorkflowIDReusePolicy:    reuse,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		Memo:                     map[string]any{memoFingerprint: in.Fingerprint},
		TypedSearchAttributes: temporal.NewSearchAttributes(
			searchattr.OrderStatus.ValueSet(string(status)),
			searchattr.SellerID.ValueSet(in.SellerID),
			searchattr.CustomerID.ValueSet(in.CustomerID),
			searchattr.ProductID.ValueSet(in.ProductID),
			searchattr.ProductType.ValueSet(string(in.ProductType)),
		),
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}
}
