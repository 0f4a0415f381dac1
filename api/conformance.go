package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/internal/sellerapi"
	"github.com/cloudmarket/orders/internal/sellercheck"
	"github.com/cloudmarket/orders/internal/sellerkeys"
)

// Problem codes of the seller conformance runs. Apart from problem.go's block (and their
// titles registered below) so that the block's alignment stays put.
const (
	// CodeConformanceRunRunning (409): a run of this seller is still running; one at a time,
	// so ops cannot pile debug calls on a seller.
	CodeConformanceRunRunning = "conformance_run_running"
	// CodeConformanceRunNotFound (404): no run with this runId for this seller.
	CodeConformanceRunNotFound = "conformance_run_not_found"
)

func init() {
	titles[CodeConformanceRunRunning] = "Conformance run running"
	titles[CodeConformanceRunNotFound] = "Conformance run not found"
}

// Conformance run statuses. abandoned is never stored: it is a running row past its
// deadline, whose process stopped before finishing it.
const (
	runRunning   = "running"
	runPassed    = "passed"
	runFailed    = "failed"
	runError     = "error"
	runAbandoned = "abandoned"
)

// maxConformanceRuns bounds the runs one API process carries at once (all sellers): each
// holds connections to a seller and a goroutine for up to its deadline.
const maxConformanceRuns = 4

// conformanceRunner runs seller conformance checks in the background of the API process.
//
// Decision: a run goes on in the background, not within the request: a seller that
// provisions asynchronously may take up to the async bound (a minute) to be ready, longer
// than a request may take (the server's write timeout), and ops get the run's ID at once
// to read later. The run is bounded by its deadline (async bound + 20 call timeouts); the
// row written at the start says running until the end, and a row past its deadline is
// shown as abandoned (the process stopped meanwhile), so nothing stays "running" forever.
type conformanceRunner struct {
	slots chan struct{}
	wg    sync.WaitGroup
	// opts are the checker's bounds; tests shorten them.
	timeout, asyncBound, pollInterval time.Duration
}

func newConformanceRunner(callTimeout time.Duration) *conformanceRunner {
	if callTimeout <= 0 {
		callTimeout = sellerapi.DefaultTimeout
	}
	return &conformanceRunner{
		slots:        make(chan struct{}, maxConformanceRuns),
		timeout:      callTimeout,
		asyncBound:   sellercheck.DefaultAsyncBound,
		pollInterval: sellercheck.DefaultPollInterval,
	}
}

// bound is how long a whole run may take: every call, the async polls, and slack.
func (r *conformanceRunner) bound() time.Duration { return r.asyncBound + 20*r.timeout }

// conformanceRun is a run as the API shows it (schema ConformanceRun).
type conformanceRun struct {
	RunID        string              `json:"runId"`
	SellerID     string              `json:"sellerId"`
	Status       string              `json:"status"`
	Endpoint     string              `json:"endpoint"`
	Calls        []string            `json:"calls"`
	Actor        string              `json:"actor"`
	Reason       string              `json:"reason"`
	StartedAt    time.Time           `json:"startedAt"`
	Deadline     time.Time           `json:"deadline"`
	FinishedAt   *time.Time          `json:"finishedAt,omitempty"`
	FailedChecks []string            `json:"failedChecks"`
	Error        string              `json:"error,omitempty"`
	Checks       []sellercheck.Check `json:"checks,omitempty"`
}

// startConformanceRun answers POST /v1/sellers/{sellerId}/conformance-runs (ops): it checks
// the seller's registered endpoint with its stored key, in the background, and answers 202
// with the run at once.
func (s *server) startConformanceRun(c echo.Context) error {
	id := c.Param("sellerId")
	var req struct {
		Reason string   `json:"reason"`
		Calls  []string `json:"calls"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	calls, err := sellercheck.ParseCalls(strings.Join(req.Calls, ","))
	if err != nil { // the contract's enum has refused these already
		return invalidField("calls", "%s", err.Error())
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	seller, err := sellerkeys.Lookup(ctx, s.db, s.keys, id)
	switch {
	case errors.Is(err, sellerkeys.ErrNotFound):
		return sellerNotFound(id)
	case err != nil:
		// The error names the seller and the step, never the key.
		return dbFailure("look up seller "+id, err)
	}
	if len(req.Calls) == 0 {
		// Left out: every period product's calls, and the optional ones the seller's
		// products need (changes, orderNotify, licence codes).
		if calls, err = s.productCalls(ctx, id, calls); err != nil {
			return err
		}
	}

	select {
	case s.checks.slots <- struct{}{}:
	default:
		p := unavailable("conformance checking (every slot is busy)", nil)
		p.retryAfter = 30 * time.Second
		return p
	}
	release := func() { <-s.checks.slots }

	now := s.now().UTC()
	run := conformanceRun{
		RunID: uuid.NewString(), SellerID: id, Status: runRunning, Endpoint: sellercheck.SafeEndpoint(seller.Endpoint),
		Actor: callerOf(c).ID, Reason: req.Reason, StartedAt: now, Deadline: now.Add(s.checks.bound()), FailedChecks: []string{},
	}
	for _, a := range calls {
		run.Calls = append(run.Calls, string(a))
	}
	tag, err := s.db.Exec(ctx, `INSERT INTO seller_conformance_runs
		    (run_id, seller_id, actor, reason, endpoint, calls, status, started_at, deadline)
		SELECT $1, $2, $3, $4, $5, $6, 'running', $7, $8
		WHERE NOT EXISTS (SELECT 1 FROM seller_conformance_runs
		                  WHERE seller_id = $2 AND status = 'running' AND deadline > $7)`,
		run.RunID, id, run.Actor, run.Reason, run.Endpoint, run.Calls, run.StartedAt, run.Deadline)
	if err != nil {
		release()
		return dbFailure("record conformance run of seller "+id, err)
	}
	if tag.RowsAffected() == 0 {
		release()
		p := conflict(CodeConformanceRunRunning, fmt.Sprintf(
			"a conformance run of seller %q is still running: read it with GET /v1/sellers/%s/conformance-runs", id, id))
		p.Field = "sellerId"
		return p
	}
	target := sellercheck.Target{SellerID: id, Endpoint: seller.Endpoint, AccessKey: seller.AccessKey, VerifyBodySign: seller.VerifyBodySign,
		PendingKey: seller.PendingKey}
	s.checks.wg.Add(1)
	go func() {
		defer s.checks.wg.Done()
		defer release()
		s.runConformance(run, target, calls)
	}()
	s.log.Info("seller conformance run started", "request_id", requestID(c), "actor_id", run.Actor,
		"seller", id, "run_id", run.RunID, "calls", run.Calls)
	return c.JSON(http.StatusAccepted, run)
}

// runConformance runs the checker and completes the run's row. It runs detached from the
// request, bounded by the run's deadline.
func (s *server) runConformance(run conformanceRun, target sellercheck.Target, calls []sellerapi.Activity) {
	ctx, cancel := context.WithTimeout(context.Background(), s.checks.bound())
	defer cancel()
	rep, err := sellercheck.Run(ctx, target, sellercheck.Options{
		Timeout: s.checks.timeout, AsyncBound: s.checks.asyncBound, PollInterval: s.checks.pollInterval,
		Policy: s.endpoint, Calls: calls, Logger: s.log,
	})
	status, errText := runPassed, ""
	switch {
	case err != nil:
		status, errText = runError, err.Error()
	case !rep.Passed:
		status = runFailed
	}
	failed := rep.Failed()
	if failed == nil {
		failed = []string{}
	}
	checks := rep.Checks
	if checks == nil {
		checks = []sellercheck.Check{}
	}
	raw, mErr := json.Marshal(checks)
	if mErr != nil { // cannot happen: strings and numbers
		raw = []byte("[]")
	}
	dbCtx, dbCancel := context.WithTimeout(context.Background(), dbTimeout)
	defer dbCancel()
	if _, err := s.db.Exec(dbCtx, `UPDATE seller_conformance_runs
		SET status = $3, finished_at = $4, failed_checks = $5, checks = $6, error = NULLIF($7, '')
		WHERE seller_id = $1 AND run_id = $2`,
		run.SellerID, run.RunID, status, s.now().UTC(), failed, raw, errText); err != nil {
		s.log.Error("seller conformance run finished but not recorded", "seller", run.SellerID, "run_id", run.RunID,
			"status", status, "failed_checks", failed, "error", err)
		return
	}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "seller conformance run finished",
		slog.String("seller", run.SellerID), slog.String("run_id", run.RunID), slog.String("status", status),
		slog.Any("failed_checks", failed))
}

// waitConformanceRuns waits for the background runs to finish (tests, and a shutdown that
// wants their rows complete).
func (s *server) waitConformanceRuns() { s.checks.wg.Wait() }

// conformanceColumns are the columns scanConformanceRun reads, checks last.
const conformanceColumns = `run_id, seller_id, status, endpoint, calls, actor, reason, started_at, deadline,
	finished_at, failed_checks, COALESCE(error, '')`

func (s *server) scanConformanceRun(row pgx.Row, withChecks bool) (conformanceRun, error) {
	var r conformanceRun
	var checks []byte
	dest := []any{&r.RunID, &r.SellerID, &r.Status, &r.Endpoint, &r.Calls, &r.Actor, &r.Reason, &r.StartedAt,
		&r.Deadline, &r.FinishedAt, &r.FailedChecks, &r.Error}
	if withChecks {
		dest = append(dest, &checks)
	}
	if err := row.Scan(dest...); err != nil {
		return r, err
	}
	r.StartedAt, r.Deadline = r.StartedAt.UTC(), r.Deadline.UTC()
	r.FinishedAt = utcPtr(r.FinishedAt)
	if r.Status == runRunning && s.now().After(r.Deadline) {
		r.Status = runAbandoned
	}
	if r.FailedChecks == nil {
		r.FailedChecks = []string{}
	}
	if withChecks && len(checks) > 0 {
		if err := json.Unmarshal(checks, &r.Checks); err != nil {
			return r, fmt.Errorf("decode checks of conformance run %s: %w", r.RunID, err)
		}
	}
	return r, nil
}

// getConformanceRun answers GET /v1/sellers/{sellerId}/conformance-runs/{runId} (ops).
func (s *server) getConformanceRun(c echo.Context) error {
	id, runID := c.Param("sellerId"), c.Param("runId")
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	r, err := s.scanConformanceRun(s.db.QueryRow(ctx, `SELECT `+conformanceColumns+`, checks
		FROM seller_conformance_runs WHERE seller_id = $1 AND run_id = $2`, id, runID), true)
	if errors.Is(err, pgx.ErrNoRows) {
		p := newProblem(http.StatusNotFound, CodeConformanceRunNotFound, fmt.Sprintf("no conformance run %q of seller %q", runID, id))
		p.Field = "runId"
		return p
	}
	if err != nil {
		return dbFailure("read conformance run "+runID, err)
	}
	return c.JSON(http.StatusOK, r)
}

// conformancePage is the answer of the list.
type conformancePage struct {
	Items      []conformanceRun `json:"items"`
	NextCursor string           `json:"nextCursor,omitempty"`
}

// listConformanceRuns answers GET /v1/sellers/{sellerId}/conformance-runs (ops): newest
// first, keyset pages on (started_at, run_id), without the checks.
func (s *server) listConformanceRuns(c echo.Context) error {
	id := c.Param("sellerId")
	q := c.QueryParams()
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v) // the contract bounded it
	}
	args := []any{id}
	where := "seller_id = $1"
	if v := q.Get("cursor"); v != "" {
		cur, err := decodeCursor(v)
		if err != nil {
			return invalidField("cursor", "cursor is not one this API issued")
		}
		args = append(args, cur.PlacedAt, cur.OrderID)
		where += " AND (started_at, run_id) < ($2, $3)"
	}
	args = append(args, limit+1)
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	var exists bool
	if err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sellers WHERE seller_id = $1)`, id).Scan(&exists); err != nil {
		return dbFailure("read seller "+id, err)
	}
	if !exists {
		return sellerNotFound(id)
	}
	rows, err := s.db.Query(ctx, fmt.Sprintf(`SELECT %s FROM seller_conformance_runs WHERE %s
		ORDER BY started_at DESC, run_id DESC LIMIT $%d`, conformanceColumns, where, len(args)), args...)
	if err != nil {
		return dbFailure("list conformance runs of seller "+id, err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (conformanceRun, error) {
		return s.scanConformanceRun(r, false)
	})
	if err != nil {
		return dbFailure("list conformance runs of seller "+id, err)
	}
	page := conformancePage{Items: items}
	if len(items) > limit {
		last := items[limit-1]
		page.Items = items[:limit]
		page.NextCursor = encodeCursor(listCursor{PlacedAt: last.StartedAt, OrderID: last.RunID})
	}
	if page.Items == nil {
		page.Items = []conformanceRun{}
	}
	return c.JSON(http.StatusOK, page)
}
