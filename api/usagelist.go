package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/activities"
	"github.com/cloudmarket/orders/internal/order"
	"github.com/cloudmarket/orders/internal/usage"
)

// usageListed is one record the seller sent, as sellerListUsage lists it.
type usageListed struct {
	MeteringSn     string       `json:"meteringSn"`
	InstanceID     string       `json:"instanceId"`
	BeginTime      string       `json:"beginTime"`
	EndTime        string       `json:"endTime"`
	UsageValue     string       `json:"usageValue"`
	Outcome        string       `json:"outcome"`
	Reason         string       `json:"reason,omitempty"`
	Price          *order.Money `json:"price,omitempty"`
	Priced         *bool        `json:"priced,omitempty"`
	ReceivedAt     time.Time    `json:"receivedAt"`
	LastReceivedAt *time.Time   `json:"lastReceivedAt,omitempty"`
	Times          int          `json:"times,omitempty"`
}

// usageListPage is the answer of sellerListUsage.
type usageListPage struct {
	OrderID    string        `json:"orderId"`
	Month      string        `json:"month"`
	UnitPrice  *order.Money  `json:"unitPrice,omitempty"`
	Records    []usageListed `json:"records"`
	NextCursor string        `json:"nextCursor,omitempty"`
}

// usageCursor is the position after the last record of a page, in the order of the list
// (listed at, meteringSn, reason; accepted records have no reason). Opaque base64url JSON.
type usageCursor struct {
	At     time.Time `json:"t"`
	Sn     string    `json:"s"`
	Reason string    `json:"r"`
}

func encodeUsageCursor(c usageCursor) string {
	c.At = c.At.UTC()
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeUsageCursor(s string) (usageCursor, error) {
	var c usageCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, err
	}
	if dec.More() || c.At.IsZero() {
		return c, errors.New("incomplete cursor")
	}
	return c, nil
}

// sellerListUsage answers GET /v1/seller-api/orders/{orderId}/usage?month=YYYY-MM, signed by
// the seller: the usage records it sent for one of its own orders, beginning in month,
// stored (with their price at the order's unit price and whether a statement priced them)
// or refused (as sent, with the reason), in keyset pages. Another seller's order answers
// as a missing one.
func (s *server) sellerListUsage(c echo.Context) error {
	id, month := c.Param("orderId"), c.QueryParam("month")
	d, err := s.loadOrder(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if d.SellerID != callerOf(c).ID {
		return orderNotFound(id)
	}
	from, to, err := activities.MonthRange(month)
	if err != nil {
		return invalidField("month", "month must be YYYY-MM")
	}
	limit := defaultLimit
	if v := c.QueryParam("limit"); v != "" {
		limit, _ = strconv.Atoi(v) // the contract bounds it
	}
	after := usageCursor{At: from.Add(-time.Microsecond)}
	if v := c.QueryParam("cursor"); v != "" {
		if after, err = decodeUsageCursor(v); err != nil {
			return invalidField("cursor", "cursor is not one this API issued")
		}
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	page := usageListPage{OrderID: id, Month: month, Records: []usageListed{}}
	var unitPrice *int64
	var currency *string
	if err := s.db.QueryRow(ctx, `SELECT o.unit_price, p.unit_price_currency FROM orders o
		LEFT JOIN products p ON p.product_id = o.product_id WHERE o.order_id = $1`, id).Scan(&unitPrice, &currency); err != nil {
		return dbFailure("read the unit price of order "+id, err)
	}
	if unitPrice != nil && currency != nil && *currency != "" {
		page.UnitPrice = &order.Money{Value: *unitPrice, Currency: *currency}
	}
	// Accepted and refused records in one keyset order: (listed at, meteringSn, reason).
	rows, err := s.db.Query(ctx, `
		SELECT * FROM (
		    SELECT begin_time AS at, metering_sn, '' AS reason, instance_id, begin_time, end_time, quantity_e4,
		           '' AS begin_raw, '' AS end_raw, '' AS value_raw, received_at, NULL::timestamptz AS last_received_at,
		           0 AS times, settlement_id IS NOT NULL AS priced
		    FROM usage_records WHERE order_id = $1 AND seller_id = $2 AND begin_time >= $3 AND begin_time < $4
		    UNION ALL
		    SELECT listed_at, metering_sn, reason, instance_id, NULL, NULL, NULL,
		           begin_time, end_time, usage_value, received_at, last_received_at, times, false
		    FROM usage_refusals WHERE order_id = $1 AND seller_id = $2 AND listed_at >= $3 AND listed_at < $4
		) r
		WHERE (at, metering_sn, reason) > ($5, $6, $7)
		ORDER BY at, metering_sn, reason LIMIT $8`,
		id, d.SellerID, from, to, after.At, after.Sn, after.Reason, limit+1)
	if err != nil {
		return dbFailure("list usage of order "+id, err)
	}
	type row struct {
		at                         time.Time
		sn, reason, inst           string
		begin, end                 *time.Time
		quantity                   *int64
		beginRaw, endRaw, valueRaw string
		received                   time.Time
		lastReceived               *time.Time
		times                      int
		priced                     bool
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.at, &x.sn, &x.reason, &x.inst, &x.begin, &x.end, &x.quantity, &x.beginRaw, &x.endRaw,
			&x.valueRaw, &x.received, &x.lastReceived, &x.times, &x.priced)
		return x, err
	})
	if err != nil {
		return dbFailure("list usage of order "+id, err)
	}
	if len(list) > limit {
		last := list[limit-1]
		page.NextCursor = encodeUsageCursor(usageCursor{At: last.at, Sn: last.sn, Reason: last.reason})
		list = list[:limit]
	}
	for _, x := range list {
		u := usageListed{MeteringSn: x.sn, InstanceID: x.inst, ReceivedAt: x.received.UTC()}
		if x.reason != "" {
			u.Outcome, u.Reason = "refused", x.reason
			u.BeginTime, u.EndTime, u.UsageValue = x.beginRaw, x.endRaw, x.valueRaw
			u.LastReceivedAt, u.Times = utcPtr(x.lastReceived), x.times
		} else {
			u.Outcome = "accepted"
			u.BeginTime, u.EndTime = x.begin.UTC().Format(time.RFC3339Nano), x.end.UTC().Format(time.RFC3339Nano)
			u.UsageValue = usage.FormatQuantity(*x.quantity)
			priced := x.priced
			u.Priced = &priced
			if page.UnitPrice != nil {
				if v, err := usage.Price(*x.quantity, page.UnitPrice.Value); err == nil {
					u.Price = &order.Money{Value: v, Currency: page.UnitPrice.Currency}
				}
			}
		}
		page.Records = append(page.Records, u)
	}
	return c.JSON(http.StatusOK, page)
}
