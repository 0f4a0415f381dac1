package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

// Tokens of the soak's API (API_TOKENS); the stack is private to the run.
const (
	webToken     = "soak-web-token-0123456789"
	opsToken     = "soak-ops-token-0123456789"
	billingToken = "soak-billing-token-0123456789"
)

// callBudget is how long one logical API call keeps being retried through restarts
// (PostgreSQL, Temporal) before the driver gives up on it and counts a failure.
const callBudget = 3 * time.Minute

// caller is who makes an API call: a token and, for the web tier, the actor it speaks for.
type caller struct {
	token, role, id string
}

func buyer(id string) caller  { return caller{webToken, "buyer", id} }
func seller(id string) caller { return caller{webToken, "seller", id} }

var (
	ops     = caller{opsToken, "", "ops-soak"}
	billing = caller{billingToken, "", "billing-soak"}
)

// answer is an API answer.
type answer struct {
	status int
	body   []byte
}

func (a answer) ok() bool { return a.status/100 == 2 }

func (a answer) decode(v any) error {
	if err := json.Unmarshal(a.body, v); err != nil {
		return fmt.Errorf("decode %d answer %.200s: %w", a.status, a.body, err)
	}
	return nil
}

// problemCode is the stable code of a problem+json answer, or "".
func (a answer) problemCode() string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(a.body, &p)
	return p.Code
}

// apiClient calls the order API as the web tier, billing, ops and sellers do, retrying
// what a real client retries (no answer, 408, 429, 502-504) under one Idempotency-Key, and
// counting every retry and every 500 (which the API must never answer).
type apiClient struct {
	base string
	http *http.Client

	retries   atomic.Int64 // attempts beyond the first
	internal  atomic.Int64 // 500 answers
	failures  atomic.Int64 // logical calls given up after callBudget
	mu        sync.Mutex
	byStatus  map[string]int // retried outcomes: "net" or the status
	failNotes []string
}

func newAPIClient(base string) *apiClient {
	return &apiClient{
		base:     base,
		http:     &http.Client{Timeout: 30 * time.Second},
		byStatus: map[string]int{},
	}
}

// retryable says whether a client should try the same request again.
func retryable(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// call sends one logical request, retried until a non-retryable answer or callBudget.
// key, when set, is the Idempotency-Key of every attempt. sign, when set, signs each
// attempt as a seller's own call (fresh nonce and timestamp per attempt).
func (c *apiClient) call(ctx context.Context, who caller, method, path, key string, body any, sign *sellerKey) (answer, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return answer{}, err
		}
	}
	deadline := time.Now().Add(callBudget)
	wait := 200 * time.Millisecond
	for attempt := 0; ; attempt++ {
		a, err := c.once(ctx, who, method, path, key, raw, sign)
		if err == nil && a.status == http.StatusInternalServerError {
			c.internal.Add(1)
			c.note(fmt.Sprintf("500 on %s %s: %.300s", method, path, a.body))
		}
		if err == nil && !retryable(a.status) {
			return a, nil
		}
		if ctx.Err() != nil {
			return answer{}, ctx.Err()
		}
		what := "net"
		if err == nil {
			what = strconv.Itoa(a.status)
		}
		c.mu.Lock()
		c.byStatus[what]++
		c.mu.Unlock()
		if time.Now().After(deadline) {
			c.failures.Add(1)
			c.note(fmt.Sprintf("gave up on %s %s after %v: %s %v", method, path, callBudget, what, err))
			return a, fmt.Errorf("%s %s: no answer after %v (last %s %v)", method, path, callBudget, what, err)
		}
		c.retries.Add(1)
		select {
		case <-ctx.Done():
			return answer{}, ctx.Err()
		case <-time.After(wait + rand.N(wait)):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func (c *apiClient) note(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.failNotes) < 20 {
		c.failNotes = append(c.failNotes, s)
	}
}

func (c *apiClient) once(ctx context.Context, who caller, method, path, key string, raw []byte, sign *sellerKey) (answer, error) {
	var body io.Reader
	if raw != nil {
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return answer{}, err
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if sign != nil {
		nonce, err := sellerapi.NewNonce()
		if err != nil {
			return answer{}, err
		}
		ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
		req.Header.Set("X-Seller-Id", sign.id)
		req.Header.Set("X-Timestamp", ts)
		req.Header.Set("X-Nonce", nonce)
		req.Header.Set("X-Signature", sellerapi.Signature(sign.key, nonce, ts, raw))
	} else {
		req.Header.Set("Authorization", "Bearer "+who.token)
		if who.role != "" {
			req.Header.Set("X-Actor-Role", who.role)
		}
		if who.id != "" {
			req.Header.Set("X-Actor-Id", who.id)
		}
	}
	res, err := c.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return answer{}, err
	}
	return answer{status: res.StatusCode, body: out}, nil
}

// sellerKey is a seller's identity for its own signed calls.
type sellerKey struct{ id, key string }

// simClient calls the simulator's admin API.
type simClient struct {
	base string
	http *http.Client
}

func (s *simClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("simulator %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("simulator %s %s: %d %s", method, path, res.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("simulator %s %s: %w", method, path, err)
		}
	}
	return nil
}
