package api

import (
	"context"
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

// attentionEntry is one order that needs ops, as the attention list shows it.
type attentionEntry struct {
	OrderID    string                `json:"orderId"`
	SellerID   string                `json:"sellerId"`
	CustomerID string                `json:"customerId"`
	ProductID  string                `json:"productId"`
	Status     string                `json:"status"`
	Cause      string                `json:"cause"`
	Since      time.Time             `json:"since"`
	Why        string                `json:"why"`
	LastError  string                `json:"lastError,omitempty"`
	Items      []order.AttentionItem `json:"items"`
}

// listAttention is ops' attention list (GET /v1/attention?cause=&sellerId=): every order
// flagged needsAttention, oldest cause first, in keyset pages over (attention_since,
// order_id), which the read model indexes. The cursor is the list's own (listCursor, its
// time being the since of the page's last entry).
func (s *server) listAttention(c echo.Context) error {
	q := c.QueryParams()
	limit := defaultLimit
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	where, args := []string{"attention_cause IS NOT NULL"}, []any{}
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if v := q.Get("cause"); v != "" {
		where = append(where, "attention_cause = "+arg(v)) // subscriber_failing: no order has it
	}
	if v := q.Get("sellerId"); v != "" {
		where = append(where, "seller_id = "+arg(v))
	}
	if v := q.Get("cursor"); v != "" {
		cur, err := decodeCursor(v)
		if err != nil {
			return invalidField("cursor", "cursor is not one this API issued")
		}
		where = append(where, fmt.Sprintf("(attention_since, order_id) > (%s, %s)", arg(cur.PlacedAt), arg(cur.OrderID)))
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	rows, err := s.db.Query(ctx, fmt.Sprintf(`
		SELECT order_id, seller_id, customer_id, product_id, status, attention_cause, attention_since, view
		FROM orders WHERE %s ORDER BY attention_since, order_id LIMIT %s`, strings.Join(where, " AND "), arg(limit+1)), args...)
	if err != nil {
		return dbFailure("list attention", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (attentionEntry, error) {
		var e attentionEntry
		var view []byte
		if err := r.Scan(&e.OrderID, &e.SellerID, &e.CustomerID, &e.ProductID, &e.Status, &e.Cause, &e.Since, &view); err != nil {
			return e, err
		}
		var v order.View
		if err := json.Unmarshal(view, &v); err != nil {
			return e, fmt.Errorf("decode view of order %s: %w", e.OrderID, err)
		}
		e.Since, e.Why, e.LastError, e.Items = e.Since.UTC(), v.Attention, v.LastError, v.AttentionItems
		if e.Items == nil {
			e.Items = []order.AttentionItem{{Cause: e.Cause, Why: v.Attention}}
		}
		return e, nil
	})
	if err != nil {
		return dbFailure("list attention", err)
	}
	page := struct {
		Items       []attentionEntry      `json:"items"`
		NextCursor  string                `json:"nextCursor,omitempty"`
		Subscribers []subscriberAttention `json:"subscribers,omitempty"`
	}{Items: items}
	if q.Get("cursor") == "" && q.Get("sellerId") == "" && (q.Get("cause") == "" || q.Get("cause") == causeSubscriberFailing) {
		if page.Subscribers, err = s.failingSubscribers(ctx); err != nil {
			return err
		}
		if q.Get("cause") == causeSubscriberFailing {
			page.Items = []attentionEntry{}
		}
	}
	if len(items) > limit {
		last := items[limit-1]
		page.Items = items[:limit]
		page.NextCursor = encodeCursor(listCursor{PlacedAt: last.Since, OrderID: last.OrderID})
	}
	return c.JSON(http.StatusOK, page)
}

// causeSubscriberFailing is the attention cause of an order event subscriber that stopped
// taking deliveries (marked failing after EVENTS_RETRY_WINDOW): not an order's, listed
// beside the orders on the first page of GET /v1/attention.
const causeSubscriberFailing = "subscriber_failing"

// subscriberAttention is a failing event subscriber as the attention list shows it.
type subscriberAttention struct {
	SubscriberID string    `json:"subscriberId"`
	Cause        string    `json:"cause"`
	Since        time.Time `json:"since"`
	LastError    string    `json:"lastError,omitempty"`
	Why          string    `json:"why"`
}

// failingSubscribers lists the subscribers marked failing, oldest first (a handful at most).
func (s *server) failingSubscribers(ctx context.Context) ([]subscriberAttention, error) {
	rows, err := s.db.Query(ctx, `
		SELECT subscriber_id, coalesce(failing_since, updated_at), last_error FROM event_subscribers
		WHERE state = 'failing' ORDER BY 2, 1 LIMIT 100`)
	if err != nil {
		return nil, dbFailure("list failing subscribers", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (subscriberAttention, error) {
		a := subscriberAttention{Cause: causeSubscriberFailing}
		err := r.Scan(&a.SubscriberID, &a.Since, &a.LastError)
		a.Since = a.Since.UTC()
		a.Why = "subscriber " + a.SubscriberID + " stopped taking order events: fix its endpoint, then POST /v1/subscribers/" +
			a.SubscriberID + "/replay from its cursor"
		return a, err
	})
	if err != nil {
		return nil, dbFailure("list failing subscribers", err)
	}
	return out, nil
}
