package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/internal/order"
)

// Ops' case handling (docs/operations.md, section 2): each action is one update of the
// order's workflow (order.UpdateOps) with the ops person from X-Actor-Id and a reason; the
// order machine decides whether it may happen now and answers 409 with its code if not.

func (s *server) cancelOrder(c echo.Context) error {
	var req struct {
		Reason string       `json:"reason"`
		Refund *order.Money `json:"refund"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	return s.act(c, order.UpdateOps, order.OpsRequest{Actor: callerOf(c).actor(), Action: order.OpsCancel, Reason: req.Reason, Refund: req.Refund})
}

func (s *server) forceAcceptOrder(c echo.Context) error {
	return s.opsWithReason(c, order.OpsForceAccept)
}

func (s *server) unfreezeOrder(c echo.Context) error { return s.opsWithReason(c, order.OpsUnfreeze) }

func (s *server) refreezeOrder(c echo.Context) error { return s.opsWithReason(c, order.OpsRefreeze) }

// opsWithReason runs an ops action whose body is only the reason.
func (s *server) opsWithReason(c echo.Context, action order.OpsActionKind) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	return s.act(c, order.UpdateOps, order.OpsRequest{Actor: callerOf(c).actor(), Action: action, Reason: req.Reason})
}

func (s *server) extendOrderClock(c echo.Context) error {
	var req struct {
		Reason string `json:"reason"`
		Clock  string `json:"clock"`
		By     string `json:"by"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	by, err := parseExtension(req.By)
	if err != nil {
		return invalidField("by", "%v", err)
	}
	return s.act(c, order.UpdateOps, order.OpsRequest{Actor: callerOf(c).actor(), Action: order.OpsExtendClock,
		Reason: req.Reason, Clock: req.Clock, By: by})
}

// parseExtension reads a clock extension as people write it: a count and a unit (s, m, h,
// d), at most order.MaxClockExtension.
func parseExtension(v string) (time.Duration, error) {
	if len(v) < 2 {
		return 0, errors.New("by must be a count and a unit (s, m, h, d), e.g. 36h or 2d")
	}
	n, err := strconv.Atoi(v[:len(v)-1])
	if err != nil || n <= 0 {
		return 0, errors.New("by must be a positive count and a unit (s, m, h, d), e.g. 36h or 2d")
	}
	unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[v[len(v)-1]]
	if unit == 0 {
		return 0, errors.New("by must end in a unit: s, m, h or d")
	}
	d := time.Duration(n) * unit
	if d > order.MaxClockExtension {
		return 0, fmt.Errorf("by is at most %dd", int(order.MaxClockExtension/(24*time.Hour)))
	}
	return d, nil
}

// closeAppeal closes an appeal with ops' note and no decision on the order (POST
// /v1/appeals/{appealId}/closure): the resolution continue.
func (s *server) closeAppeal(c echo.Context) error {
	var req struct {
		Note string `json:"note"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	appealID := c.Param("appealId")
	orderID, err := s.appealOrderID(c.Request().Context(), appealID)
	if err != nil {
		return err
	}
	var v order.View
	arg := order.AppealResolution{Actor: callerOf(c).actor(), AppealID: appealID, Outcome: order.OutcomeContinue, Note: req.Note}
	if err := s.update(c, orderID, order.UpdateResolve, arg, &v); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

// appealOrderID finds the order of an appeal (404 appeal_not_found).
func (s *server) appealOrderID(ctx context.Context, appealID string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	var orderID string
	err := s.db.QueryRow(ctx, `SELECT order_id FROM appeals WHERE appeal_id = $1`, appealID).Scan(&orderID)
	if errors.Is(err, pgx.ErrNoRows) {
		p := newProblem(http.StatusNotFound, CodeAppealNotFound, fmt.Sprintf("no appeal %q", appealID))
		p.Field = "appealId"
		return "", p
	}
	if err != nil {
		return "", dbFailure("read appeal "+appealID, err)
	}
	return orderID, nil
}
