package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
)

// Idempotency keys (api.md "Idempotency"; table idempotency_keys).
//
// The first request with a key claims it (a row in state running), runs, and stores its
// answer (state done) when the answer is the action's outcome: a 2xx, or a 409 the order's
// state gave. A repeat gets the stored answer back, marked Idempotent-Replayed, and runs
// nothing, whatever became of the order's workflow since (closed, continued as new). A
// repeat that arrives while the first still runs waits for its answer. A key reused with
// another request (another path or body) is 409 idempotency_conflict. An answer that says
// nothing happened (404, 403, 5xx) is not stored: the key is released, so the client may
// retry with it. A request whose process died while running leaves a running row that the
// next repeat takes over after lockFor; the Temporal update ID is derived from the key, so
// even then the workflow runs the action at most once.

// headerReplayed marks an answer replayed from the idempotency store.
const headerReplayed = "Idempotent-Replayed"

// ctxIdempotencyKey is where the middleware leaves the claimed key for the handler.
const ctxIdempotencyKey = "api.idempotencyKey"

// idempotencyPoll is how often a waiting repeat looks whether the first answer is in.
const idempotencyPoll = 100 * time.Millisecond

// lockFor is how long a claim is held before a repeat may take it over: longer than any
// request may run (an update waits up to updateTimeout).
const lockFor = updateTimeout + 15*time.Second

// maxStoredResponse bounds the answer kept per key (answers are an order or a problem).
const maxStoredResponse = 256 << 10

// idempotencyRecord is a row of idempotency_keys as a repeat needs it.
type idempotencyRecord struct {
	hash        string
	done        bool
	status      int
	contentType string
	response    []byte
}

// idempotent wraps an operation that declares Idempotency-Key.
func (s *server) idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key, p := idempotencyKey(c)
		if p != nil {
			return p
		}
		if key == "" {
			return next(c)
		}
		req := c.Request()
		body, _ := c.Get(ctxBody).([]byte)
		hash := requestHash(req.Method, req.URL.Path, body)
		who := callerOf(c).key()
		route := req.Method + " " + req.URL.Path

		deadline := time.Now().Add(lockFor)
		for {
			owned, rec, err := s.claimKey(req.Context(), who, key, route, hash)
			if err != nil {
				return err
			}
			if owned {
				return s.runIdempotent(c, next, who, key, hash)
			}
			if rec.hash != hash {
				return conflict(CodeIdempotencyConflict, "this Idempotency-Key was used for another request")
			}
			if rec.done {
				c.Response().Header().Set(headerReplayed, "true")
				return c.Blob(rec.status, rec.contentType, rec.response)
			}
			if time.Now().After(deadline) {
				return unavailable("the first request with this Idempotency-Key", errors.New("still running"))
			}
			select {
			case <-req.Context().Done():
				return unavailable("the first request with this Idempotency-Key", req.Context().Err())
			case <-time.After(idempotencyPoll):
			}
		}
	}
}

// runIdempotent runs the claimed request, then stores its answer or releases the key.
func (s *server) runIdempotent(c echo.Context, next echo.HandlerFunc, who, key, hash string) error {
	c.Set(ctxIdempotencyKey, key)
	rec := &recorder{ResponseWriter: c.Response().Writer}
	c.Response().Writer = rec
	if err := next(c); err != nil {
		c.Error(err) // written now, through the recorder
	}
	status := c.Response().Status
	// Stored or released even if the client has gone: the outcome is what a repeat needs.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), dbTimeout)
	defer cancel()
	var err error
	if (status/100 == 2 || status == http.StatusConflict) && !rec.overflow {
		_, err = s.db.Exec(ctx, `UPDATE idempotency_keys SET state = 'done', status = $4,
			content_type = $5, response = $6
			WHERE caller = $1 AND key = $2 AND request_hash = $3 AND state = 'running'`,
			who, key, hash, status, c.Response().Header().Get(echo.HeaderContentType), rec.buf.Bytes())
	} else {
		_, err = s.db.Exec(ctx, `DELETE FROM idempotency_keys
			WHERE caller = $1 AND key = $2 AND request_hash = $3 AND state = 'running'`, who, key, hash)
	}
	if err != nil {
		// The answer was sent; a repeat will find the key running and, after lockFor, run
		// again: the update ID derived from the key keeps the workflow from acting twice.
		s.log.Warn("idempotency key not settled", "request_id", requestID(c), "status", status, "error", err)
	}
	return nil
}

// claimKey inserts the key as running, or takes over a row that has expired or whose
// request died. owned says whether the caller now runs the request; if not, rec is the row.
func (s *server) claimKey(ctx context.Context, who, key, route, hash string) (owned bool, rec idempotencyRecord, err error) {
	ctx, cancel := context.WithTimeout(ctx, dbTimeout)
	defer cancel()
	now := s.now().UTC()
	err = s.db.QueryRow(ctx, `
		INSERT INTO idempotency_keys (caller, key, route, request_hash, state, created_at, locked_until, expires_at)
		VALUES ($1, $2, $3, $4, 'running', $5, $6, $7)
		ON CONFLICT (caller, key) DO UPDATE SET
		    route = excluded.route, request_hash = excluded.request_hash, state = 'running',
		    status = NULL, content_type = NULL, response = NULL, created_at = excluded.created_at,
		    locked_until = excluded.locked_until, expires_at = excluded.expires_at
		WHERE idempotency_keys.expires_at < $5
		   OR (idempotency_keys.state = 'running' AND idempotency_keys.locked_until < $5
		       AND idempotency_keys.request_hash = excluded.request_hash)
		RETURNING true`,
		who, key, route, hash, now, now.Add(lockFor), now.Add(s.cfg.IdempotencyTTL)).Scan(&owned)
	if err == nil {
		return true, rec, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return false, rec, dbFailure("claim idempotency key", err)
	}
	var state string
	var status *int
	var ct *string
	err = s.db.QueryRow(ctx, `SELECT request_hash, state, status, content_type, response
		FROM idempotency_keys WHERE caller = $1 AND key = $2`, who, key).
		Scan(&rec.hash, &state, &status, &ct, &rec.response)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, rec, nil // released meanwhile: the loop claims it next time round
	}
	if err != nil {
		return false, rec, dbFailure("read idempotency key", err)
	}
	rec.done = state == "done"
	if status != nil {
		rec.status = *status
	}
	if ct != nil {
		rec.contentType = *ct
	}
	return false, rec, nil
}

// requestHash identifies a request for its idempotency key: method, path and the body in
// canonical form (RFC 8785), so whitespace and member order do not make a repeat differ,
// and no body is the same as {} (what the actions without fields take).
func requestHash(method, path string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(method + " " + path + "\n"))
	v := jsontext.Value("{}")
	if len(bytes.TrimSpace(body)) > 0 {
		v = jsontext.Value(bytes.Clone(body))
		if err := v.Canonicalize(); err != nil {
			v = jsontext.Value(body) // conform checked it; keep the bytes as they are
		}
	}
	h.Write(v)
	return hex.EncodeToString(h.Sum(nil))
}

// updateIDFor derives a Temporal update ID from a caller's idempotency key, so that even a
// request run twice (its process died before storing the answer) acts once in the workflow.
func updateIDFor(name, who, key string) string {
	sum := sha256.Sum256([]byte(who + "\x00" + key))
	return name + ":" + hex.EncodeToString(sum[:16])
}

// idempotencyKey returns the Idempotency-Key header ("" when absent), validated: one value
// of 1-128 printable ASCII characters.
func idempotencyKey(c echo.Context) (string, *Problem) {
	vals := c.Request().Header.Values(headerIdempotencyKey)
	if len(vals) == 0 {
		return "", nil
	}
	if len(vals) > 1 || !printableASCII(vals[0], 128) {
		return "", invalidField(headerIdempotencyKey, "%s must be one value of 1-128 printable ASCII characters", headerIdempotencyKey)
	}
	return vals[0], nil
}

// recorder keeps a copy of the answer written through it, up to maxStoredResponse.
type recorder struct {
	http.ResponseWriter
	buf      bytes.Buffer
	overflow bool
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.overflow {
		if r.buf.Len()+len(b) > maxStoredResponse {
			r.overflow = true
			r.buf.Reset()
		} else {
			r.buf.Write(b)
		}
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
