package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/internal/outbox"
)

// Order events out (docs/events.md): the subscribers ops register, their replays, and the
// pull feed. The events themselves are written by the order workflows' activities and
// delivered by the workers (package outbox); the API only reads and registers.

// subscriberRequest is the body of PUT /v1/subscribers/{subscriberId}. Secret is a pointer:
// left out on update, the stored one is kept.
type subscriberRequest struct {
	URL    string   `json:"url"`
	Secret *string  `json:"secret"`
	Types  []string `json:"types"`
}

// putSubscriber registers or changes a subscriber. The URL obeys the seller endpoint rule
// (https to public addresses outside development, SSRF checks) because the worker calls it
// from inside our network exactly as it calls sellers. The secret is never logged or shown.
func (s *server) putSubscriber(c echo.Context) error {
	id := c.Param("subscriberId")
	var req subscriberRequest
	if err := s.bind(c, &req); err != nil {
		return err
	}
	if p := s.checkEndpoint(c.Request().Context(), req.URL); p != nil {
		p.Field = "url"
		return p
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	sub, created, err := outbox.Save(ctx, s.db, s.keys, id, req.URL, req.Types, req.Secret, s.now().UTC())
	if errors.Is(err, outbox.ErrNeedSecret) {
		return invalidField("secret", "secret is required when the subscriber is new")
	}
	if err != nil {
		return dbFailure("save subscriber "+id, err)
	}
	s.log.Info("subscriber saved", "request_id", requestID(c), "subscriber_id", id, "created", created,
		"secret_changed", req.Secret != nil, "types", len(req.Types), "actor_id", callerOf(c).ID)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, sub)
}

// listSubscribers shows every subscriber with its delivery state and lag (ops).
func (s *server) listSubscribers(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	subs, err := outbox.List(ctx, s.db)
	if err != nil {
		return dbFailure("list subscribers", err)
	}
	if subs == nil {
		subs = []outbox.Subscriber{}
	}
	return c.JSON(http.StatusOK, map[string]any{"items": subs})
}

// replaySubscriber moves a subscriber's cursor back (or forward) and restarts it.
func (s *server) replaySubscriber(c echo.Context) error {
	id := c.Param("subscriberId")
	var req struct {
		After string `json:"after"`
	}
	if err := s.bind(c, &req); err != nil {
		return err
	}
	after, err := outbox.ParseCursor(req.After)
	if err != nil {
		return invalidField("after", "after is not a cursor this API issued")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	sub, err := outbox.Replay(ctx, s.db, id, after, s.now().UTC())
	if errors.Is(err, outbox.ErrNotFound) {
		p := newProblem(http.StatusNotFound, CodeSubscriberNotFound, fmt.Sprintf("no subscriber %q", id))
		p.Field = "subscriberId"
		return p
	}
	if err != nil {
		return dbFailure("replay subscriber "+id, err)
	}
	s.log.Info("subscriber replayed", "request_id", requestID(c), "subscriber_id", id, "after", after, "actor_id", callerOf(c).ID)
	return c.JSON(http.StatusOK, sub)
}

// listEvents is the pull feed (GET /v1/events?after=&limit=): the envelopes subscribers
// receive, in the order they receive them.
func (s *server) listEvents(c echo.Context) error {
	q := c.QueryParams()
	var after int64
	if v := q.Get("after"); v != "" {
		var err error
		if after, err = outbox.ParseCursor(v); err != nil {
			return invalidField("after", "after is not a cursor this API issued")
		}
	}
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v) // the contract bounds it
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	items, next, err := outbox.Feed(ctx, s.db, after, limit)
	if err != nil {
		return dbFailure("read the event feed", err)
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items, "nextCursor": next})
}
