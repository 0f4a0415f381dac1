package sellersim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/cloudmarket/orders/internal/sellerapi"
)

// maxAdminBytes bounds an admin request body.
const maxAdminBytes = 64 << 10

var sellerIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// sellerView is the admin API's view of a seller; it never shows the access key.
type sellerView struct {
	SellerID      string    `json:"sellerId"`
	ProducePath   string    `json:"producePath"`
	SignResponses bool      `json:"signResponses"`
	Behaviour     behaviour `json:"behaviour"`
}

// handlePutSeller adds a seller (accessKey required) or changes one (omitted fields keep
// their value).
func (s *Simulator) handlePutSeller(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("sellerId")
	if !sellerIDPattern.MatchString(id) {
		adminError(w, http.StatusBadRequest, "sellerId must be 1-64 of A-Z a-z 0-9 . _ -")
		return
	}
	var req struct {
		AccessKey     *string `json:"accessKey"`
		SignResponses *bool   `json:"signResponses"`
	}
	if err := decodeAdmin(r, &req); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.AccessKey != nil && (len(*req.AccessKey) < 8 || len(*req.AccessKey) > 256 || strings.ContainsAny(*req.AccessKey, " \t\r\n")) {
		adminError(w, http.StatusBadRequest, "accessKey must be 8-256 characters without whitespace")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sel, status := s.sellers[id], http.StatusOK
	if sel == nil {
		if req.AccessKey == nil {
			adminError(w, http.StatusBadRequest, "accessKey is required for a new seller")
			return
		}
		sel = s.newSeller(*req.AccessKey)
		s.sellers[id] = sel
		status = http.StatusCreated
	}
	if req.AccessKey != nil {
		sel.accessKey = *req.AccessKey
	}
	if req.SignResponses != nil {
		sel.signResponses = *req.SignResponses
	}
	if !s.saveAdmin(w, id, sel) {
		return
	}
	s.log.Info("seller configured", "seller", id, "created", status == http.StatusCreated, "sign_responses", sel.signResponses)
	writeJSON(w, status, sellerView{SellerID: id, ProducePath: ProducePath(id), SignResponses: sel.signResponses, Behaviour: sel.beh})
}

// behaviourPatch is the body of PUT .../behaviour; nil fields stay as they are. An object
// (failNext, chaos) replaces the previous one wholesale.
type behaviourPatch struct {
	Mode           *string   `json:"mode"`
	AsyncDelayMs   *int64    `json:"asyncDelayMs"`
	LatencyMs      *int64    `json:"latencyMs"`
	FailNext       *failNext `json:"failNext"`
	LoseNext       *int      `json:"loseNext"`
	License        *string   `json:"license"`
	LicenseDelayMs *int64    `json:"licenseDelayMs"`
	Chaos          *chaos    `json:"chaos"`
	// ChangeCheck replaces the changeInstanceCheck refusal rule (changes.go).
	ChangeCheck    *changeCheck `json:"changeCheck"`
	NonConformance *[]string    `json:"nonConformance"`
}

// validate reports every problem at once, so a test author fixes them in one go.
func (p behaviourPatch) validate() error {
	var errs []error
	if p.Mode != nil && *p.Mode != modeSync && *p.Mode != modeAsync {
		errs = append(errs, errors.New("mode must be sync or async"))
	}
	if p.AsyncDelayMs != nil && (*p.AsyncDelayMs < 0 || *p.AsyncDelayMs > 3_600_000) {
		errs = append(errs, errors.New("asyncDelayMs must be 0-3600000"))
	}
	if p.LatencyMs != nil && (*p.LatencyMs < 0 || *p.LatencyMs > 120_000) {
		errs = append(errs, errors.New("latencyMs must be 0-120000"))
	}
	if f := p.FailNext; f != nil {
		if f.Count < 0 || f.Count > 1_000_000 {
			errs = append(errs, errors.New("failNext.count must be 0-1000000"))
		}
		if f.ResultCode != "" && !isDigits(f.ResultCode, 6) {
			errs = append(errs, errors.New("failNext.resultCode must be 6 digits"))
		}
		if f.HTTPStatus != 0 && (f.HTTPStatus < 200 || f.HTTPStatus > 599) {
			errs = append(errs, errors.New("failNext.httpStatus must be 200-599"))
		}
	}
	if p.LoseNext != nil && (*p.LoseNext < 0 || *p.LoseNext > 1_000_000) {
		errs = append(errs, errors.New("loseNext must be 0-1000000"))
	}
	if p.License != nil && !slices.Contains([]string{licenseNone, licenseAnswer, licenseQuery, licenseCallback}, *p.License) {
		errs = append(errs, errors.New("license must be answer, query, callback or empty"))
	}
	if p.LicenseDelayMs != nil && (*p.LicenseDelayMs < 0 || *p.LicenseDelayMs > 3_600_000) {
		errs = append(errs, errors.New("licenseDelayMs must be 0-3600000"))
	}
	if p.Chaos != nil {
		errs = append(errs, p.Chaos.validate()...)
	}
	if p.ChangeCheck != nil {
		errs = append(errs, p.ChangeCheck.validate()...)
	}
	if p.NonConformance != nil {
		errs = append(errs, validateNonConformance(*p.NonConformance))
	}
	return errors.Join(errs...)
}

func (s *Simulator) handlePutBehaviour(w http.ResponseWriter, r *http.Request) {
	var p behaviourPatch
	if err := decodeAdmin(r, &p); err != nil {
		adminError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := p.validate(); err != nil {
		adminError(w, http.StatusBadRequest, strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	id := r.PathValue("sellerId")
	s.mu.Lock()
	defer s.mu.Unlock()
	sel := s.adminSeller(w, id)
	if sel == nil {
		return
	}
	b := &sel.beh
	if p.Mode != nil {
		b.Mode = *p.Mode
	}
	if p.AsyncDelayMs != nil {
		b.AsyncDelayMs = *p.AsyncDelayMs
	}
	if p.LatencyMs != nil {
		b.LatencyMs = *p.LatencyMs
	}
	if p.FailNext != nil {
		b.FailNext = *p.FailNext
	}
	if p.LoseNext != nil {
		b.LoseNext = *p.LoseNext
	}
	if p.License != nil {
		b.License = *p.License
	}
	if p.LicenseDelayMs != nil {
		b.LicenseDelayMs = *p.LicenseDelayMs
	}
	if p.Chaos != nil {
		sel.setChaos(*p.Chaos)
	}
	if p.ChangeCheck != nil {
		b.ChangeCheck = *p.ChangeCheck
	}
	if p.NonConformance != nil {
		b.NonConformance = slices.Clone(*p.NonConformance)
	}
	if !s.saveAdmin(w, id, sel) {
		return
	}
	s.log.Info("seller behaviour changed", "seller", id, "mode", b.Mode, "async_delay_ms", b.AsyncDelayMs,
		"latency_ms", b.LatencyMs, "fail_next", b.FailNext.Count, "lose_next", b.LoseNext,
		"chaos_fail_pct", b.Chaos.FailPercent, "chaos_lose_pct", b.Chaos.LosePercent,
		"chaos_latency_max_ms", b.Chaos.LatencyMaxMs, "chaos_refuse_pct", b.Chaos.RefusePercent,
		"chaos_gone_pct", b.Chaos.GonePercent, "chaos_seed", b.Chaos.Seed, "non_conformance", b.NonConformance)
	writeJSON(w, http.StatusOK, b)
}

// handleInstances lists a seller's instances in creation order, optionally of one order.
func (s *Simulator) handleInstances(w http.ResponseWriter, r *http.Request) {
	orderID := r.URL.Query().Get("orderId")
	s.mu.Lock()
	defer s.mu.Unlock()
	sel := s.adminSeller(w, r.PathValue("sellerId"))
	if sel == nil {
		return
	}
	now := s.now()
	list := make([]instance, 0, len(sel.instances))
	for _, inst := range sel.instances {
		if orderID == "" || inst.OrderID == orderID {
			v := *inst
			v.Ready = !now.Before(inst.readyAt)
			list = append(list, v)
		}
	}
	slices.SortFunc(list, func(a, b instance) int { return a.seq - b.seq })
	writeJSON(w, http.StatusOK, list)
}

// handleCalls lists the requests a seller received, oldest first (the last 10,000):
// GET /admin/sellers/{id}/calls[?instanceId=].
func (s *Simulator) handleCalls(w http.ResponseWriter, r *http.Request) {
	inst := r.URL.Query().Get("instanceId")
	s.mu.Lock()
	defer s.mu.Unlock()
	sel := s.adminSeller(w, r.PathValue("sellerId"))
	if sel == nil {
		return
	}
	list := make([]callRecord, 0, len(sel.calls))
	for _, c := range sel.calls {
		if inst == "" || c.InstanceID == inst {
			list = append(list, c)
		}
	}
	writeJSON(w, http.StatusOK, list)
}

// sellerStats is what the stats endpoints show of one seller.
type sellerStats struct {
	// Calls counts each activity's calls per outcome: the result code answered;
	// "http:<status>" for a failNext with an HTTP status; "chaos:<code>" or
	// "chaos:http:<status>" for a chaos failure; "refused:000002" for a chaos refusal;
	// "gone:000003" for a chaos release answered as gone; "lost:<code>" for a dropped
	// answer (loseNext or chaos), with the code it would have had.
	Calls map[sellerapi.Activity]map[string]int `json:"calls"`
	// BadSignatures counts the requests refused by authentication itself (bad signature,
	// timestamp outside the window, replayed or malformed nonce, missing parameters), not
	// injected 000001 answers: a soak asserts it stays 0.
	BadSignatures int `json:"badSignatures"`
	// Instances is how many instances the seller made, released ones included.
	Instances int `json:"instances"`
}

// statsOf is sel's sellerStats. The caller holds s.mu, and must encode the answer before
// releasing it, since Calls is the live map.
func statsOf(sel *seller) sellerStats {
	return sellerStats{Calls: sel.stats, BadSignatures: sel.badSignatures, Instances: len(sel.instances)}
}

// handleStats shows one seller's counters: GET /admin/sellers/{id}/stats.
func (s *Simulator) handleStats(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("sellerId")
	s.mu.Lock()
	defer s.mu.Unlock()
	sel := s.adminSeller(w, id)
	if sel == nil {
		return
	}
	writeJSON(w, http.StatusOK, struct {
		SellerID string `json:"sellerId"`
		sellerStats
	}{id, statsOf(sel)})
}

// handleAllStats shows every seller's counters in one answer, so a soak checker reads one
// consistent snapshot: GET /admin/stats answers {"sellers": {"<id>": sellerStats}}.
func (s *Simulator) handleAllStats(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make(map[string]sellerStats, len(s.sellers))
	for id, sel := range s.sellers {
		all[id] = statsOf(sel)
	}
	writeJSON(w, http.StatusOK, struct {
		Sellers map[string]sellerStats `json:"sellers"`
	}{all})
}

// handleReset goes back to the state New built: the initial sellers with default
// behaviour, no instances, no stats, no remembered nonces. Sellers added through the
// admin API are dropped.
// With a store, the database is emptied too; if that fails nothing is reset and the answer
// is 503.
func (s *Simulator) handleReset(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.store != nil {
		if err := s.store.reset(r.Context()); err != nil {
			s.mu.Unlock()
			s.log.Error("simulator reset failed", "err", err)
			adminError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
	}
	s.resetLocked()
	s.mu.Unlock()
	s.log.Info("simulator reset")
	w.WriteHeader(http.StatusNoContent)
}

// saveAdmin commits an admin change of seller id when there is a store, and answers 503
// if it could not be kept (the change is then written with the seller's next request, but
// the caller is told it is not kept yet). The caller holds s.mu. It reports whether to go
// on.
func (s *Simulator) saveAdmin(w http.ResponseWriter, id string, sel *seller) bool {
	if s.store == nil {
		return true
	}
	if err := s.store.save(id, sel, s.now()); err != nil {
		s.log.Error("seller change not kept", "seller", id, "err", err)
		adminError(w, http.StatusServiceUnavailable, "seller change not kept: "+err.Error())
		return false
	}
	return true
}

// decodeAdmin decodes one JSON object, refusing unknown fields so that a misspelt option
// is an error instead of silently ignored.
func decodeAdmin(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxAdminBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	if dec.More() {
		return errors.New("invalid JSON body: more than one value")
	}
	return nil
}

func adminError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// adminSeller is the seller an admin request names, or nil after answering 404 when there
// is none. The caller holds s.mu.
func (s *Simulator) adminSeller(w http.ResponseWriter, id string) *seller {
	sel := s.sellers[id]
	if sel == nil {
		adminError(w, http.StatusNotFound, "unknown seller")
	}
	return sel
}
