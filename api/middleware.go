package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// Context keys of the values the middleware hands to handlers and to the access log.
const (
	ctxRequestID = "api.requestId"
)

// Headers of the contract.
const (
	headerRequestID      = "X-Request-Id"
	headerActorRole      = "X-Actor-Role"
	headerActorID        = "X-Actor-Id"
	headerIdempotencyKey = "Idempotency-Key"
	headerRetryAfter     = "Retry-After"
)

// singleHeaders are the headers of the contract that carry one value. A request repeating
// one is refused (400) before anything reads it: two X-Actor-Id lines, say, could otherwise
// be read one way by a proxy and another way here.
var singleHeaders = []string{
	echo.HeaderAuthorization, echo.HeaderContentType, headerActorRole, headerActorID,
	headerIdempotencyKey, headerSellerID, headerSignature, headerTimestamp, headerNonce,
}

// onceEach refuses a request that repeats a single-valued header.
func onceEach(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header
		for _, name := range singleHeaders {
			if len(h.Values(name)) > 1 {
				return invalidField(name, "%s must be given once", name)
			}
		}
		return next(c)
	}
}

// Why hand-written middleware rather than echo/middleware's RequestID, Recover and
// RequestLoggerWithConfig plus a Prometheus adapter: each is a few lines here, the access
// log must carry our caller (role, actor) and never the Authorization header, the metric
// must use the route template with a bounded "unmatched" label for the 404 noise, and the
// recover must produce our problem document. Wiring Echo's configurable versions to do
// exactly that is no shorter and hides the behaviour behind options.

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestIDMiddleware adopts a sane X-Request-Id from the caller (so one ID follows a
// request through the web tier and us) or makes one, and sends it back.
func requestIDMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(headerRequestID)
		if !requestIDPattern.MatchString(id) {
			id = uuid.NewString()
		}
		c.Set(ctxRequestID, id)
		c.Response().Header().Set(headerRequestID, id)
		return next(c)
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

// observe writes the access log line and the duration histogram of every request,
// including the ones Echo's router refuses. It calls the error handler itself so that the
// status it records is the one sent.
func (s *server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		elapsed := time.Since(start)
		req := c.Request()
		status := c.Response().Status
		route := s.routeLabel(req.Method, c.Path())
		s.duration.WithLabelValues(route, methodLabel(req.Method), strconv.Itoa(status)).Observe(elapsed.Seconds())
		attrs := []slog.Attr{
			slog.String("method", req.Method),
			slog.String("route", route),
			slog.String("path", req.URL.Path),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.String("request_id", requestID(c)),
		}
		if cl, ok := c.Get(ctxCaller).(caller); ok {
			attrs = append(attrs, slog.String("role", string(cl.Role)),
				slog.String("actor_kind", string(cl.Kind)), slog.String("actor_id", cl.ID))
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		s.log.LogAttrs(req.Context(), level, "http request", attrs...)
		return nil
	}
}

// routeLabel is the route template when (method, path) is a registered route, else
// "unmatched": Echo sets a partial template for 404s and 405s, and labels must stay a
// small closed set whatever paths clients try.
func (s *server) routeLabel(method, path string) string {
	if s.routes[method+" "+path] {
		return path
	}
	return "unmatched"
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// recoverMiddleware turns a panic into a 500 problem and logs it with its stack: a panic is
// a bug in this process, and one request must not take the server down.
func (s *server) recoverMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("panic in handler", "request_id", requestID(c), "panic", fmt.Sprint(r),
					"stack", string(debug.Stack()))
				p := newProblem(http.StatusInternalServerError, CodeInternal, "internal error; quote the requestId when reporting it")
				p.cause = fmt.Errorf("panic: %v", r)
				err = p
			}
		}()
		return next(c)
	}
}
