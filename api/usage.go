package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/internal/usage"
)

// usageResult is one record's outcome: stored, duplicate (its meteringSn is stored
// already: ignored, nothing changes), or refused with a reason.
type usageResult struct {
	MeteringSn string       `json:"meteringSn"`
	Outcome    string       `json:"outcome"`
	Reason     usage.Reason `json:"reason,omitempty"`
}

type usageAnswer struct {
	Results    []usageResult `json:"results"`
	Stored     int           `json:"stored"`
	Duplicates int           `json:"duplicates"`
	Refused    int           `json:"refused"`
}

// sellerUsage takes a seller's pay-per-use usage records (POST /v1/seller-api/usage, signed
// by the seller): each is checked on its own (usage.Check), then against the seller's
// pay-per-use orders (its instance must be one of them), and the rest are stored in one
// statement whose unique key makes a resent record a duplicate. The answer lists every
// record's outcome in the order sent; one bad record never refuses the others.
func (s *server) sellerUsage(c echo.Context) error {
	var records []usage.Record
	if err := s.bind(c, &records); err != nil {
		return err
	}
	sellerID := callerOf(c).ID
	now := s.now().UTC()
	results := make([]usageResult, len(records))
	checked := make([]usage.Checked, len(records))
	seen := map[string]bool{}
	var instances []string
	for i, r := range records {
		results[i].MeteringSn = r.MeteringSn
		c, reason := usage.Check(r, now)
		switch {
		case reason != "":
			results[i].Outcome, results[i].Reason = "refused", reason
		case seen[r.MeteringSn]:
			results[i].Outcome, results[i].Reason = "refused", usage.ReasonDuplicateInCall
		default:
			seen[r.MeteringSn] = true
			checked[i] = c
			instances = append(instances, c.InstanceID)
		}
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	orderOf, err := s.payPerUseInstances(ctx, sellerID, instances)
	if err != nil {
		return err
	}
	var sns, orders, insts []string
	var begins, ends []time.Time
	var quantities []int64
	for i := range records {
		if results[i].Outcome != "" {
			continue
		}
		c := checked[i]
		orderID, ok := orderOf[c.InstanceID]
		if !ok {
			results[i].Outcome, results[i].Reason = "refused", usage.ReasonUnknownInstance
			continue
		}
		sns, orders, insts = append(sns, c.MeteringSn), append(orders, orderID), append(insts, c.InstanceID)
		begins, ends, quantities = append(begins, c.Begin), append(ends, c.End), append(quantities, c.Quantity)
	}
	stored := map[string]bool{}
	if len(sns) > 0 {
		rows, err := s.db.Query(ctx, `
			INSERT INTO usage_records (seller_id, metering_sn, order_id, instance_id, begin_time, end_time, quantity_e4, received_at)
			SELECT $1, sn, o, i, b, e, q, $8
			FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::bigint[]) AS r(sn, o, i, b, e, q)
			ON CONFLICT (seller_id, metering_sn) DO NOTHING
			RETURNING metering_sn`, sellerID, sns, orders, insts, begins, ends, quantities, now)
		if err != nil {
			return dbFailure("store usage records of seller "+sellerID, err)
		}
		list, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return dbFailure("store usage records of seller "+sellerID, err)
		}
		for _, sn := range list {
			stored[sn] = true
		}
	}
	var out usageAnswer
	for i := range results {
		switch {
		case results[i].Outcome == "refused":
			out.Refused++
		case stored[results[i].MeteringSn]:
			results[i].Outcome = "stored"
			out.Stored++
		default:
			results[i].Outcome = "duplicate"
			out.Duplicates++
		}
	}
	out.Results = results
	s.log.Info("usage records", "request_id", requestID(c), "seller_id", sellerID,
		"stored", out.Stored, "duplicates", out.Duplicates, "refused", out.Refused)
	return c.JSON(http.StatusOK, out)
}

// payPerUseInstances maps the given instance IDs that belong to the seller's pay-per-use
// orders to their orders.
func (s *server) payPerUseInstances(ctx context.Context, sellerID string, instances []string) (map[string]string, error) {
	out := map[string]string{}
	if len(instances) == 0 {
		return out, nil
	}
	rows, err := s.db.Query(ctx, `SELECT instance_id, order_id FROM orders
		WHERE seller_id = $1 AND instance_id = ANY($2) AND billing_mode = 'pay_per_use'`, sellerID, instances)
	if err != nil {
		return nil, dbFailure(fmt.Sprintf("look up %d instances of seller %s", len(instances), sellerID), err)
	}
	defer rows.Close()
	for rows.Next() {
		var inst, orderID string
		if err := rows.Scan(&inst, &orderID); err != nil {
			return nil, dbFailure("look up instances of seller "+sellerID, err)
		}
		out[inst] = orderID
	}
	return out, rows.Err()
}
