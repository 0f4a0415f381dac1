package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/order"
)

// ctxCaller is where authentication leaves the caller for handlers and the access log.
const ctxCaller = "api.caller"

// caller is who makes a request: the token's role and, for web, ops and billing, the
// person or party it acts for; for the seller open API, the seller whose signature checked.
type caller struct {
	Role config.Role
	// Kind is buyer or seller for web (X-Actor-Role) and the seller API, ops or billing
	// otherwise.
	Kind order.ActorKind
	// ID is X-Actor-Id (the customer or seller for web, the staff member for ops), or the
	// seller of a seller API call.
	ID string
	// TokenID names the bearer token without revealing it (a prefix of its SHA-256), for
	// rate limits and idempotency keys.
	TokenID string
}

func (c caller) actor() order.Actor { return order.Actor{Kind: c.Kind, ID: c.ID} }

// key identifies the caller for rate limits and idempotency: the token, and who it acts for.
func (c caller) key() string {
	return string(c.Role) + ":" + c.TokenID + ":" + string(c.Kind) + ":" + c.ID
}

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
func (s *server) lookupToken(token string) (config.Role, string, bool) {
	sum := sha256.Sum256([]byte(token))
	var role config.Role
	found := 0
	for _, e := range s.tokens {
		if subtle.ConstantTimeCompare(sum[:], e.sum[:]) == 1 {
			role = e.role
			found = 1
		}
	}
	return role, hex.EncodeToString(sum[:6]), found == 1
}

// authenticate checks the bearer token, its role against the operation's x-roles and, for
// the web role, the user kind it acts for against x-actors. Failures: 401 unauthenticated
// (no or unknown token), 403 forbidden (role or user kind not allowed), 400 invalid_field
// (missing or malformed actor headers).
func (s *server) authenticate(op *operation) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			scheme, token, ok := strings.Cut(req.Header.Get(echo.HeaderAuthorization), " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
				return newProblem(http.StatusUnauthorized, CodeUnauthenticated, "send Authorization: Bearer <token>")
			}
			role, tokenID, known := s.lookupToken(strings.TrimSpace(token))
			if !known {
				return newProblem(http.StatusUnauthorized, CodeUnauthenticated, "unknown bearer token")
			}
			cl, actorProblem := parseActor(role, req)
			cl.TokenID = tokenID
			// Set before any refusal so that the access log names who was refused.
			c.Set(ctxCaller, cl)
			if !slices.Contains(op.Roles, role) {
				return forbidden("role %s may not call %s %s", role, req.Method, op.Path)
			}
			if actorProblem != nil {
				return actorProblem
			}
			if role == config.RoleWeb && !slices.Contains(op.Actors, cl.Kind) {
				return forbidden("a %s may not call %s %s", cl.Kind, req.Method, op.Path)
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
