package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/internal/order"
)

// appealItem is an appeal as ops' queue shows it: the appeal, its order and its history.
type appealItem struct {
	AppealID   string              `json:"appealId"`
	OrderID    string              `json:"orderId"`
	State      string              `json:"state"`
	Tier       int                 `json:"tier"`
	RaisedBy   order.Actor         `json:"raisedBy"`
	Reason     string              `json:"reason"`
	Evidence   []order.Evidence    `json:"evidence"`
	RaisedAt   time.Time           `json:"raisedAt"`
	EscalateAt *time.Time          `json:"escalateAt,omitempty"`
	Outcome    order.AppealOutcome `json:"outcome,omitempty"`
	ResolvedBy *order.Actor        `json:"resolvedBy,omitempty"`
	Note       string              `json:"note,omitempty"`
	ResolvedAt *time.Time          `json:"resolvedAt,omitempty"`
	History    []appealEvent       `json:"history"`
}

type appealEvent struct {
	Kind  string      `json:"kind"`
	Tier  int         `json:"tier"`
	At    time.Time   `json:"at"`
	Actor order.Actor `json:"actor"`
}

// appealCursor is the position after the last appeal of a page, in (raised_at DESC,
// appeal_id DESC) order.
type appealCursor struct {
	RaisedAt time.Time `json:"t"`
	AppealID string    `json:"a"`
}

// listAppeals is ops' appeal queue (GET /v1/appeals?state=open|escalated|resolved).
func (s *server) listAppeals(c echo.Context) error {
	q := c.QueryParams()
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	where := []string{"state = 'open'"}
	switch q.Get("state") {
	case "escalated":
		where = append(where, "tier > 1")
	case "resolved":
		where = []string{"state = 'resolved'"}
	}
	args := []any{}
	if v := q.Get("cursor"); v != "" {
		var cur appealCursor
		raw, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || json.Unmarshal(raw, &cur) != nil || cur.RaisedAt.IsZero() || !idPattern.MatchString(cur.AppealID) {
			return invalidField("cursor", "cursor is not one this API issued")
		}
		args = append(args, cur.RaisedAt, cur.AppealID)
		where = append(where, "(raised_at, appeal_id) < ($1, $2)")
	}
	args = append(args, limit+1)
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	rows, err := s.db.Query(ctx, fmt.Sprintf(`
		SELECT appeal_id, order_id, state, tier, raised_by_kind, raised_by_id, reason, evidence,
		       raised_at, escalate_at, outcome, resolved_by_kind, resolved_by_id, note, resolved_at
		FROM appeals WHERE %s ORDER BY raised_at DESC, appeal_id DESC LIMIT $%d`,
		strings.Join(where, " AND "), len(args)), args...)
	if err != nil {
		return dbFailure("list appeals", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (appealItem, error) {
		var a appealItem
		var raisedKind, resolvedKind, resolvedID, outcome string
		var evidence []byte
		err := r.Scan(&a.AppealID, &a.OrderID, &a.State, &a.Tier, &raisedKind, &a.RaisedBy.ID, &a.Reason, &evidence,
			&a.RaisedAt, &a.EscalateAt, &outcome, &resolvedKind, &resolvedID, &a.Note, &a.ResolvedAt)
		a.RaisedBy.Kind, a.Outcome = order.ActorKind(raisedKind), order.AppealOutcome(outcome)
		if resolvedKind != "" {
			a.ResolvedBy = &order.Actor{Kind: order.ActorKind(resolvedKind), ID: resolvedID}
		}
		if err == nil {
			err = json.Unmarshal(evidence, &a.Evidence)
		}
		a.RaisedAt = a.RaisedAt.UTC()
		return a, err
	})
	if err != nil {
		return dbFailure("list appeals", err)
	}
	page := struct {
		Items      []appealItem `json:"items"`
		NextCursor string       `json:"nextCursor,omitempty"`
	}{Items: []appealItem{}}
	for i, a := range items {
		if i == limit {
			last := items[limit-1]
			raw, _ := json.Marshal(appealCursor{RaisedAt: last.RaisedAt, AppealID: last.AppealID})
			page.NextCursor = base64.RawURLEncoding.EncodeToString(raw)
			break
		}
		if a.History, err = s.appealHistory(ctx, a.AppealID); err != nil {
			return err
		}
		page.Items = append(page.Items, a)
	}
	return c.JSON(http.StatusOK, page)
}

func (s *server) appealHistory(ctx context.Context, appealID string) ([]appealEvent, error) {
	rows, err := s.db.Query(ctx, `SELECT kind, tier, at, actor_kind, actor_id FROM appeal_events
		WHERE appeal_id = $1 ORDER BY at, tier`, appealID)
	if err != nil {
		return nil, dbFailure("read appeal history", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (appealEvent, error) {
		var e appealEvent
		var kind string
		err := r.Scan(&e.Kind, &e.Tier, &e.At, &kind, &e.Actor.ID)
		e.Actor.Kind, e.At = order.ActorKind(kind), e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, dbFailure("read appeal history", err)
	}
	return out, nil
}

// resolveAppeal is ops' decision on an appeal (POST /v1/appeals/{appealId}/resolution): one
// update of the appeal's order.
func (s *server) resolveAppeal(c echo.Context) error {
	appealID := c.Param("appealId")
	var req struct {
		Outcome order.AppealOutcome `json:"outcome"`
		Note    string              `json:"note"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	orderID, err := s.appealOrderID(c.Request().Context(), appealID)
	if err != nil {
		return err
	}
	var v order.View
	arg := order.AppealResolution{Actor: callerOf(c).actor(), AppealID: appealID, Outcome: req.Outcome, Note: req.Note}
	if err := s.update(c, orderID, order.UpdateResolve, arg, &v); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}
