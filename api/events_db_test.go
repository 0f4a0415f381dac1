package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/cloudmarket/orders/events"
	"github.com/cloudmarket/orders/internal/config"
	"github.com/cloudmarket/orders/internal/outbox"
)

func TestSubscribers(t *testing.T) {
	db := needDB(t)
	t.Cleanup(func() { _, _ = db.Exec(context.Background(), `DELETE FROM event_subscribers`) })
	h := newHarness(t, db)
	id := uid("sub")
	path := "/v1/subscribers/" + id
	const secret1, secret2 = "whsec-first-0123456789", "whsec-second-0123456789"

	tests := []struct {
		name        string
		body        string
		status      int
		code, field string
	}{
		{"new without a secret", `{"url":"https://93.184.216.34/hook"}`, 400, CodeInvalidField, "secret"},
		{"short secret", `{"url":"https://93.184.216.34/hook","secret":"short"}`, 400, CodeInvalidField, "secret"},
		{"unknown type", `{"url":"https://93.184.216.34/hook","secret":"` + secret1 + `","types":["cloudmarket.order.nope"]}`, 400, CodeInvalidField, "types[0]"},
		{"repeated type", `{"url":"https://93.184.216.34/hook","secret":"` + secret1 + `","types":["cloudmarket.order.accepted","cloudmarket.order.accepted"]}`, 400, CodeInvalidField, "types"},
		{"not a URL", `{"url":"hook","secret":"` + secret1 + `"}`, 400, CodeInvalidField, "url"},
		{"user info", `{"url":"https://u:p@93.184.216.34/hook","secret":"` + secret1 + `"}`, 400, CodeInvalidField, "url"},
		{"metadata address", `{"url":"http://169.254.169.254/latest","secret":"` + secret1 + `"}`, 400, CodeInvalidField, "url"},
		{"no url", `{"secret":"` + secret1 + `"}`, 400, CodeInvalidField, "url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, h.do(t, http.MethodPut, path, tt.body, opsBy("alice")), tt.status, tt.code, tt.field)
		})
	}
	// A refused secret is not echoed in the problem or the log.
	for _, bad := range []string{"short-secr3t", "whsec with-a-space-0123", strings.Repeat("s3cr3t", 50)} {
		rec := h.do(t, http.MethodPut, path, `{"url":"https://93.184.216.34/hook","secret":"`+bad+`"}`, opsBy("alice"))
		wantProblem(t, rec, http.StatusBadRequest, CodeInvalidField, "secret")
		if strings.Contains(rec.Body.String(), bad) || strings.Contains(h.logs.String(), bad) {
			t.Errorf("a refused secret was echoed: %s", rec.Body.String())
		}
	}
	// Outside development, plain http and loopback are refused (the seller endpoint rule).
	public := newHarness(t, db, func(c *config.Config) { c.SellerEndpoints = config.SellerEndpointsPublic })
	for _, u := range []string{"http://93.184.216.34/hook", "https://127.0.0.1/hook", "https://10.1.2.3/hook"} {
		rec := public.do(t, http.MethodPut, path, `{"url":"`+u+`","secret":"`+secret1+`"}`, opsBy("alice"))
		wantProblem(t, rec, http.StatusBadRequest, CodeInvalidField, "url")
	}

	rec := h.do(t, http.MethodPut, path, `{"url":"https://93.184.216.34/hook","secret":"`+secret1+`","types":["cloudmarket.order.accepted"]}`, opsBy("alice"))
	wantStatus(t, rec, http.StatusCreated)
	var got outbox.Subscriber
	decodeInto(t, rec, &got)
	if got.SubscriberID != id || got.State != outbox.StateActive || len(got.Types) != 1 {
		t.Errorf("created subscriber = %+v", got)
	}
	rec = h.do(t, http.MethodPut, path, `{"url":"http://127.0.0.1:9/hook"}`, opsBy("alice"))
	wantStatus(t, rec, http.StatusOK)
	rec = h.do(t, http.MethodPut, path, `{"url":"http://127.0.0.1:9/hook","secret":"`+secret2+`"}`, opsBy("alice"))
	wantStatus(t, rec, http.StatusOK)
	list := h.do(t, http.MethodGet, "/v1/subscribers", "", opsBy("alice"))
	wantStatus(t, list, http.StatusOK)
	var page struct{ Items []outbox.Subscriber }
	decodeInto(t, list, &page)
	found := false
	for _, s := range page.Items {
		if s.SubscriberID == id {
			found = s.URL == "http://127.0.0.1:9/hook" && len(s.Types) == 0
		}
	}
	if !found {
		t.Errorf("the list does not show the changed subscriber: %s", list.Body.String())
	}
	var sealed []byte
	if err := db.QueryRow(context.Background(), `SELECT secret_sealed FROM event_subscribers WHERE subscriber_id = $1`, id).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{secret1, secret2} {
		for where, text := range map[string]string{"answer": rec.Body.String(), "list": list.Body.String(), "log": h.logs.String(), "row": string(sealed)} {
			if strings.Contains(text, secret) {
				t.Errorf("secret %q leaked into the %s", secret, where)
			}
		}
	}
	if strings.Contains(list.Body.String(), `"secret`) {
		t.Errorf("the list has a secret member: %s", list.Body.String())
	}

	// Replay: bad cursors, an unknown subscriber, then a replay answered once per key.
	wantProblem(t, h.do(t, http.MethodPost, path+"/replay", `{"after":"-1"}`, opsBy("alice")), 400, CodeInvalidField, "after")
	wantProblem(t, h.do(t, http.MethodPost, path+"/replay", `{"after":"01"}`, opsBy("alice")), 400, CodeInvalidField, "after")
	wantProblem(t, h.do(t, http.MethodPost, path+"/replay", `{}`, opsBy("alice")), 400, CodeInvalidField, "after")
	wantProblem(t, h.do(t, http.MethodPost, "/v1/subscribers/nobody/replay", `{"after":"0"}`, opsBy("alice")), 404, CodeSubscriberNotFound, "subscriberId")
	exec(t, db, `UPDATE event_subscribers SET state = 'failing', attempts = 9 WHERE subscriber_id = $1`, id)
	key := merge(opsBy("alice"), map[string]string{"Idempotency-Key": "replay-" + id})
	rec = h.do(t, http.MethodPost, path+"/replay", `{"after":"0"}`, key)
	wantStatus(t, rec, http.StatusOK)
	decodeInto(t, rec, &got)
	if got.State != outbox.StateActive || got.Cursor != "0" || got.Attempts != 0 {
		t.Errorf("after replay = %+v", got)
	}
	again := h.do(t, http.MethodPost, path+"/replay", `{"after":"0"}`, key)
	wantStatus(t, again, http.StatusOK)
	if again.Header().Get("Idempotent-Replayed") != "true" {
		t.Errorf("a repeated replay was not answered from its Idempotency-Key")
	}
	wantProblem(t, h.do(t, http.MethodPost, path+"/replay", `{"after":"1"}`, key), http.StatusConflict, CodeIdempotencyConflict, "")
}

func TestEventFeed(t *testing.T) {
	db := needDB(t)
	h := newHarness(t, db)
	var start int64
	if err := db.QueryRow(context.Background(), `SELECT coalesce(max(position), 0) FROM event_outbox`).Scan(&start); err != nil {
		t.Fatal(err)
	}
	o := uid("o")
	for seq := 1; seq <= 3; seq++ {
		env, _ := json.Marshal(events.Envelope{SpecVersion: "1.0", Type: events.TypeOf("placed"), ID: events.ID(o, seq), OrderID: o, Seq: seq, Data: json.RawMessage(`{}`)})
		exec(t, db, `INSERT INTO event_outbox (order_id, seq, type, envelope) VALUES ($1, $2, $3, $4)`, o, seq, events.TypeOf("placed"), string(env))
	}
	for _, q := range []string{"after=-1", "after=x", "after=01", "limit=0", "limit=201", "after=99999999999999999999"} {
		t.Run(q, func(t *testing.T) {
			rec := h.do(t, http.MethodGet, "/v1/events?"+q, "", opsBy("alice"))
			wantProblem(t, rec, http.StatusBadRequest, CodeInvalidField, strings.Split(q, "=")[0])
		})
	}
	var ids []string
	cursor := outbox.FormatCursor(start)
	for range 5 {
		rec := h.do(t, http.MethodGet, "/v1/events?limit=2&after="+cursor, "", billingCaller())
		wantStatus(t, rec, http.StatusOK)
		var page struct {
			Items []struct {
				Cursor string          `json:"cursor"`
				Event  events.Envelope `json:"event"`
			}
			NextCursor string `json:"nextCursor"`
		}
		decodeInto(t, rec, &page)
		for _, it := range page.Items {
			ids = append(ids, it.Event.ID)
		}
		if len(page.Items) == 0 && page.NextCursor != cursor {
			t.Errorf("an empty page moved the cursor from %s to %s", cursor, page.NextCursor)
		}
		cursor = page.NextCursor
	}
	if strings.Join(ids, ",") != o+":1,"+o+":2,"+o+":3" {
		t.Errorf("feed = %v", ids)
	}
}
