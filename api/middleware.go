package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/order"
)

// Context keys of the values the middleware hands to handlers and to the access log.
const (
	ctxRequestID = "api.requestId"
	ctxCaller    = "api.caller"
)

// Headers of the contract.
const (
	headerRequestID      = "X-Request-Id"
	headerActorRole      = "X-Actor-Role"
	headerActorID        = "X-Actor-Id"
	headerIdempotencyKey = "Idempotency-Key"
)

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

// caller is who makes a request: the token's role and, for web, ops and billing, the
// person or party it acts for.
type caller struct {
	Role config.Role
	// Kind is buyer or seller for web (X-Actor-Role), ops or billing otherwise.
	Kind order.ActorKind
	// ID is X-Actor-Id: the customer or seller for web, the staff member for ops.
	ID string
}

func (c caller) actor() order.Actor { return order.Actor{Kind: c.Kind, ID: c.ID} }

// mayView reports whether the caller may see (and so act on) an order of this customer
// and seller: a buyer only their own orders, a seller only orders of their products.
func (c caller) mayView(customerID, sellerID string) bool {
	switch c.Kind {
	case order.ActorBuyer:
		return customerID == c.ID
	case order.ActorSeller:
		return sellerID == c.ID
	}
	return c.Role == config.RoleOps || c.Role == config.RoleBilling
}

func callerOf(c echo.Context) caller {
	cl, _ := c.Get(ctxCaller).(caller)
	return cl
}

// tokenEntry is a configured token reduced to its SHA-256, so that every comparison is
// between 32-byte values and leaks neither content nor length through timing.
type tokenEntry struct {
	sum  [sha256.Size]byte
	role config.Role
}

func hashTokens(tokens map[string]config.Role) []tokenEntry {
	out := make([]tokenEntry, 0, len(tokens))
	for t, r := range tokens {
		out = append(out, tokenEntry{sum: sha256.Sum256([]byte(t)), role: r})
	}
	slices.SortFunc(out, func(a, b tokenEntry) int { return strings.Compare(string(a.sum[:]), string(b.sum[:])) })
	return out
}

// lookupToken compares against every configured token without stopping at a match, so
// the time taken does not say which token (or whether any) matched.
func (s *server) lookupToken(token string) (config.Role, bool) {
	sum := sha256.Sum256([]byte(token))
	var role config.Role
	found := 0
	for _, e := range s.tokens {
		if subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1 {
			role = e.role
			found = 1
		}
	}
	return role, found == 1
}

// authorize authenticates the bearer token, checks its role against the route's and
// establishes the actor. Failures: 401 unauthenticated (no or unknown token), 403
// forbidden (role not allowed), 400 invalid_field (missing or malformed actor headers).
func (s *server) authorize(roles ...config.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			scheme, token, ok := strings.Cut(req.Header.Get(echo.HeaderAuthorization), " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
				return newProblem(http.StatusUnauthorized, CodeUnauthenticated, "send Authorization: Bearer <token>")
			}
			role, known := s.lookupToken(strings.TrimSpace(token))
			if !known {
				return newProblem(http.StatusUnauthorized, CodeUnauthenticated, "unknown bearer token")
			}
			cl, actorProblem := parseActor(role, req)
			// Set before any refusal so that the access log names who was refused.
			c.Set(ctxCaller, cl)
			if !slices.Contains(roles, role) {
				return forbidden("role %s may not call %s %s", role, req.Method, c.Path())
			}
			if actorProblem != nil {
				return actorProblem
			}
			return next(c)
		}
	}
}

// parseActor reads the actor headers for a token of this role. The caller it returns
// carries only values that passed validation, so the log never repeats a malformed header.
func parseActor(role config.Role, req *http.Request) (caller, *Problem) {
	cl := caller{Role: role}
	actorID := req.Header.Get(headerActorID)
	idProblem := checkID(headerActorID, actorID)
	switch role {
	case config.RoleWeb:
		k := order.ActorKind(req.Header.Get(headerActorRole))
		switch k {
		case order.ActorBuyer, order.ActorSeller:
		case "":
			return cl, invalidField(headerActorRole, "%s is required for the web role (buyer or seller)", headerActorRole)
		default:
			return cl, invalidField(headerActorRole, "%s must be buyer or seller", headerActorRole)
		}
		if idProblem != nil {
			return cl, idProblem
		}
		cl.Kind, cl.ID = k, actorID
	case config.RoleOps, config.RoleBilling:
		cl.Kind = order.ActorOps
		if role == config.RoleBilling {
			cl.Kind = order.ActorBilling
		}
		// ops name the person on every write (the audit trail needs a who); billing and
		// reads may name one.
		write := req.Method != http.MethodGet && req.Method != http.MethodHead
		if actorID != "" || (write && role == config.RoleOps) {
			if idProblem != nil {
				return cl, idProblem
			}
			cl.ID = actorID
		}
	}
	return cl, nil
}

// idempotencyKey returns the Idempotency-Key header ("" when absent), validated: 1-128
// printable ASCII characters.
func idempotencyKey(c echo.Context) (string, error) {
	vals := c.Request().Header.Values(headerIdempotencyKey)
	if len(vals) == 0 {
		return "", nil
	}
	if len(vals) > 1 || !printableASCII(vals[0], 128) {
		return "", invalidField(headerIdempotencyKey, "%s must be one value of 1-128 printable ASCII characters", headerIdempotencyKey)
	}
	return vals[0], nil
}
