package sellersim

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

// maxRequestBytes bounds a produce request body, like a real seller's proxy would.
const maxRequestBytes = 1 << 20

// outcome is what the simulator decided to do with one produce request.
type outcome struct {
	activity sellerapi.Activity
	status   int
	resp     sellerapi.Response
	lose     bool // do not answer: drop the connection
	reason   string
}

// handleProduce serves POST /sellers/{sellerId}/produce: latency (fixed plus chaos),
// authentication, injected failures, the activity itself, then the signed answer or a
// dropped connection.
func (s *Simulator) handleProduce(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("sellerId")
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))

	s.mu.Lock()
	sel := s.sellers[id]
	var latency time.Duration
	if sel != nil {
		latency = time.Duration(sel.beh.LatencyMs)*time.Millisecond + sel.chaosLatency() + sel.nonConformingLatency()
	}
	s.mu.Unlock()
	if sel == nil {
		writeJSON(w, http.StatusNotFound, sellerapi.Response{ResultCode: sellerapi.CodeInvalidParameter, ResultMsg: "unknown seller"})
		return
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return // the caller gave up; it will not read an answer
		}
	}

	s.mu.Lock()
	sel = s.sellers[id] // a reset may have happened while sleeping
	if sel == nil {
		s.mu.Unlock()
		writeJSON(w, http.StatusNotFound, sellerapi.Response{ResultCode: sellerapi.CodeInvalidParameter, ResultMsg: "unknown seller"})
		return
	}
	out := s.process(sel, r, body, readErr)
	key, sign := sel.accessKey, sel.signResponses && !sel.breaks(NCUnsignedResponses)
	s.mu.Unlock()

	s.log.LogAttrs(r.Context(), slog.LevelInfo, "produce",
		slog.String("seller", id),
		slog.String("activity", string(out.activity)),
		slog.Int("http_status", out.status),
		slog.String("result_code", out.resp.ResultCode),
		slog.Bool("lost", out.lose),
		slog.String("reason", out.reason))
	if out.lose {
		dropConnection(w)
		return
	}
	raw, err := json.Marshal(out.resp)
	if err != nil { // cannot happen with these types; answer like a broken seller would
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if sign {
		w.Header().Set("Body-Sign", sellerapi.BodySignHeader(key, raw))
	}
	w.WriteHeader(out.status)
	w.Write(raw)
}

// process decides the outcome of an authentic-or-not request, in this order: a genuine
// authentication failure (never masked by injected ones), failNext (explicit counts win
// over chance), chaos fail, chaos refuse (newInstance only), the activity itself, chaos
// gone (releaseInstance only), then loseNext or else chaos lose. The caller holds s.mu,
// which also serialises the random draws.
//
// With a store, whatever the request changed (the nonce, the behaviour's counts, the
// instances it names) is committed before the answer; if that fails the answer is 000005,
// retryable, whatever the work did, and the change is written with the seller's next
// request (store.go).
func (s *Simulator) process(sel *seller, r *http.Request, body []byte, readErr error) (out outcome) {
	var env struct {
		Activity    sellerapi.Activity `json:"activity"`
		InstanceID  string             `json:"instanceId"`
		OrderID     string             `json:"orderId"`
		OrderLineID string             `json:"orderLineId"`
		Status      string             `json:"status"`
		Scene       string             `json:"scene"`
	}
	_ = json.Unmarshal(body, &env) // best effort, for stats, logs and the store only
	out = outcome{activity: env.Activity, status: http.StatusOK}
	now := s.now()
	statKey := ""
	defer func() {
		if s.store != nil {
			id := r.PathValue("sellerId")
			err := s.store.save(id, sel, now, sel.instances[env.InstanceID], sel.instances[out.resp.InstanceID],
				sel.byOrder[orderKey{env.OrderID, env.OrderLineID}])
			if err != nil {
				s.log.Error("seller state not kept: answering 000005", "seller", id, "activity", string(env.Activity), "err", err)
				out = outcome{activity: env.Activity, status: http.StatusOK, reason: "store",
					resp: answer(sellerapi.CodeInternalError, "seller state could not be kept; retry")}
				statKey = "store:" + sellerapi.CodeInternalError
			}
		}
		if statKey == "" {
			statKey = out.resp.ResultCode
		}
		sel.count(out.activity, statKey)
		sel.logCall(callRecord{At: now, Activity: env.Activity, InstanceID: env.InstanceID, OrderID: env.OrderID,
			Status: env.Status + env.Scene, ResultCode: statKey})
	}()

	if readErr != nil {
		out.resp = answer(sellerapi.CodeInvalidParameter, "request body unreadable or larger than 1 MiB")
		return out
	}
	if code, reason := authenticate(sel, r.URL.Query(), body, now); code != "" {
		if code == sellerapi.CodeAuthFailed {
			sel.badSignatures++
		}
		out.resp, out.reason = answer(code, "authentication failed"), reason
		return out
	}
	if s.store != nil && bytes.Contains(body, []byte(`\u0000`)) {
		// JSONB cannot hold a NUL, so an instance made of this request could never be kept,
		// and every later write of the seller would fail with it.
		out.resp, out.reason = answer(sellerapi.CodeInvalidParameter, "NUL characters are not accepted"), "nul"
		return out
	}
	if f := &sel.beh.FailNext; f.Count > 0 {
		f.Count--
		code := f.ResultCode
		if code == "" {
			code = sellerapi.CodeInternalError
		}
		out.resp, out.reason = answer(code, "injected failure"), "failNext"
		if f.HTTPStatus != 0 {
			out.status = f.HTTPStatus
			statKey = "http:" + strconv.Itoa(f.HTTPStatus)
		}
		return out
	}
	c := sel.beh.Chaos
	if sel.chance(c.FailPercent) {
		f := chaosFailures[sel.rng.IntN(len(chaosFailures))]
		out.status = f.status
		out.resp, out.reason = answer(f.code, "injected failure"), "chaos.failPercent"
		statKey = f.statKey()
		return out
	}
	if env.Activity == sellerapi.ActivityNewInstance && env.OrderID != "" && Refuses(env.OrderID, c.RefusePercent) {
		out.resp, out.reason = answer(sellerapi.CodeInvalidParameter, "order refused"), "chaos.refusePercent"
		statKey = "refused:" + sellerapi.CodeInvalidParameter
		return out
	}
	out.resp = s.nonConformingDispatch(sel, env.Activity, body, now)
	// A successful release means the instance existed; it is released now either way.
	if env.Activity == sellerapi.ActivityReleaseInstance && out.resp.ResultCode == sellerapi.CodeSuccess && sel.chance(c.GonePercent) {
		out.resp, out.reason = answer(sellerapi.CodeInstanceNotFound, "instance does not exist"), "chaos.gonePercent"
		statKey = "gone:" + sellerapi.CodeInstanceNotFound
	}
	if sel.beh.LoseNext > 0 {
		sel.beh.LoseNext--
		out.lose, out.reason = true, "loseNext"
		statKey = "lost:" + out.resp.ResultCode
	} else if sel.chance(c.LosePercent) {
		out.lose, out.reason = true, "chaos.losePercent"
		statKey = "lost:" + out.resp.ResultCode
	}
	return out
}

// dropConnection ends the exchange without any answer, as a crashed seller or a broken
// network would after the work was done, so the client must retry and the retry must be
// answered idempotently.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2: the server resets the stream
	}
	conn.Close()
}

// answer is a response without instance data.
func answer(code, msg string) sellerapi.Response {
	return sellerapi.Response{ResultCode: code, ResultMsg: msg}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
