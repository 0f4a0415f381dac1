package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/cloudmarket/orders/internal/order"
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
// pay-per-use orders and what is stored (storeUsage: its instance must be one of them, its
// period within the order's time in service and clear of the periods stored for the
// instance), and the rest are stored in one statement whose unique key makes a resent
// record a duplicate. The answer lists every record's outcome in the order sent; one bad
// record never refuses the others.
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
		}
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), dbTimeout)
	defer cancel()
	stored := map[string]bool{}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		clear(stored)
		if err := s.storeUsage(ctx, tx, sellerID, now, checked, results, stored); err != nil {
			return err
		}
		return storeRefusals(ctx, tx, sellerID, now, records, results)
	})
	if err != nil {
		var p *Problem
		if errors.As(err, &p) {
			return p
		}
		return dbFailure("store usage records of seller "+sellerID, err)
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

// storeUsage checks the records that passed usage.Check against their orders and what is
// stored already, and stores the rest, in one transaction that holds a lock per instance
// (so two calls at once cannot store overlapping periods): a record whose meteringSn is
// stored is a duplicate; one whose instance is not one of the seller's pay-per-use orders
// is refused; one outside the order's time in service, of an order refunded in full, or
// overlapping a period stored (or earlier in this call) for the same instance is refused
// with usage.Admit's reason. stored gets the meteringSns stored now.
func (s *server) storeUsage(ctx context.Context, tx pgx.Tx, sellerID string, now time.Time, checked []usage.Checked,
	results []usageResult, stored map[string]bool) error {
	var instances, sns []string
	minBegin, maxEnd := now, time.Time{}
	for i, c := range checked {
		if results[i].Outcome != "" {
			continue
		}
		if !slices.Contains(instances, c.InstanceID) {
			instances = append(instances, c.InstanceID)
		}
		sns = append(sns, c.MeteringSn)
		minBegin = minTime(minBegin, c.Begin)
		if c.End.After(maxEnd) {
			maxEnd = c.End
		}
	}
	if len(instances) == 0 {
		return nil
	}
	slices.Sort(instances)
	for _, inst := range instances {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('usage/' || $1 || '/' || $2))`, sellerID, inst); err != nil {
			return fmt.Errorf("lock instance %s: %w", inst, err)
		}
	}
	services, err := payPerUseServices(ctx, tx, sellerID, instances)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT instance_id, metering_sn, begin_time, end_time FROM usage_records
		WHERE seller_id = $1 AND (metering_sn = ANY($2) OR (instance_id = ANY($3) AND begin_time <= $4 AND end_time >= $5))`,
		sellerID, sns, instances, maxEnd, minBegin)
	if err != nil {
		return fmt.Errorf("read stored usage: %w", err)
	}
	known := map[string]bool{}
	periods := map[string][]usage.Period{}
	for rows.Next() {
		var inst, sn string
		var p usage.Period
		if err := rows.Scan(&inst, &sn, &p.Begin, &p.End); err != nil {
			rows.Close()
			return fmt.Errorf("read stored usage: %w", err)
		}
		known[sn] = true
		periods[inst] = append(periods[inst], p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read stored usage: %w", err)
	}
	var take []int
	for i, c := range checked {
		if results[i].Outcome != "" {
			continue
		}
		svc, ok := services[c.InstanceID]
		switch {
		case known[c.MeteringSn]:
			continue // a resend: answered as a duplicate
		case !ok:
			results[i].Outcome, results[i].Reason = "refused", usage.ReasonUnknownInstance
			continue
		}
		p := usage.Period{Begin: c.Begin, End: c.End}
		if reason := usage.Admit(p, svc.Service, periods[c.InstanceID]); reason != "" {
			results[i].Outcome, results[i].Reason = "refused", reason
			continue
		}
		periods[c.InstanceID] = append(periods[c.InstanceID], p)
		take = append(take, i)
	}
	if len(take) == 0 {
		return nil
	}
	var ins, orders, insts []string
	var begins, ends []time.Time
	var quantities []int64
	for _, i := range take {
		c := checked[i]
		ins, orders, insts = append(ins, c.MeteringSn), append(orders, services[c.InstanceID].OrderID), append(insts, c.InstanceID)
		begins, ends, quantities = append(begins, c.Begin), append(ends, c.End), append(quantities, c.Quantity)
	}
	inserted, err := tx.Query(ctx, `
		INSERT INTO usage_records (seller_id, metering_sn, order_id, instance_id, begin_time, end_time, quantity_e4, received_at)
		SELECT $1, sn, o, i, b, e, q, $8
		FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::bigint[]) AS r(sn, o, i, b, e, q)
		ON CONFLICT (seller_id, metering_sn) DO NOTHING
		RETURNING metering_sn`, sellerID, ins, orders, insts, begins, ends, quantities, now)
	if err != nil {
		return fmt.Errorf("store usage: %w", err)
	}
	list, err := pgx.CollectRows(inserted, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("store usage: %w", err)
	}
	for _, sn := range list {
		stored[sn] = true
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// instanceService is one of the seller's pay-per-use orders, by instance: its order and
// its service as usage.Admit needs it.
type instanceService struct {
	OrderID string
	usage.Service
}

// payPerUseServices maps the given instance IDs that belong to the seller's pay-per-use
// orders to their orders' time in service. An order recorded before the read model kept
// it (no inServiceSince) counts as in service from its placing, and a final one until its
// last transition.
func payPerUseServices(ctx context.Context, tx pgx.Tx, sellerID string, instances []string) (map[string]instanceService, error) {
	rows, err := tx.Query(ctx, `SELECT instance_id, order_id, view, placed_at, updated_at FROM orders
		WHERE seller_id = $1 AND instance_id = ANY($2) AND billing_mode = 'pay_per_use'`, sellerID, instances)
	if err != nil {
		return nil, fmt.Errorf("look up %d instances of seller %s: %w", len(instances), sellerID, err)
	}
	defer rows.Close()
	out := map[string]instanceService{}
	for rows.Next() {
		var inst, orderID string
		var raw []byte
		var placed, updated time.Time
		if err := rows.Scan(&inst, &orderID, &raw, &placed, &updated); err != nil {
			return nil, fmt.Errorf("look up instances of seller %s: %w", sellerID, err)
		}
		var v order.View
		if err := decodeView(raw, &v); err != nil {
			return nil, err
		}
		svc := usage.ServiceOf(v)
		if svc.Since == nil && (v.Phase == order.PhaseInService || v.Phase.Final()) && v.AcceptedBy != nil {
			svc.Since = &placed // recorded before the read model kept the time in service
			if v.Phase.Final() && svc.Until == nil {
				svc.Until = &updated
			}
		}
		out[inst] = instanceService{OrderID: orderID, Service: svc}
	}
	return out, rows.Err()
}

// storeRefusals keeps the records refused in this call whose instance is one of the
// seller's orders, so the seller can list them with the order's usage
// (sellerListUsage): what was sent, why it was refused, when. A record refused again for
// the same reason counts up on its row. Records of no order of the seller's are only
// answered: there is no order to list them under, and keeping them would let a seller fill
// the table with anything.
func storeRefusals(ctx context.Context, tx pgx.Tx, sellerID string, now time.Time, records []usage.Record, results []usageResult) error {
	type key struct{ sn, reason string }
	seen := map[key]bool{}
	var idx []int
	var instances []string
	for i, r := range results {
		k := key{r.MeteringSn, string(r.Reason)}
		if r.Outcome != "refused" || seen[k] || records[i].InstanceID == "" {
			continue
		}
		seen[k] = true
		idx = append(idx, i)
		instances = append(instances, records[i].InstanceID)
	}
	if len(idx) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT ON (instance_id) instance_id, order_id FROM orders
		WHERE seller_id = $1 AND instance_id = ANY($2) ORDER BY instance_id, placed_at DESC`, sellerID, instances)
	if err != nil {
		return fmt.Errorf("look up the orders of refused usage: %w", err)
	}
	orderOf := map[string]string{}
	for rows.Next() {
		var inst, orderID string
		if err := rows.Scan(&inst, &orderID); err != nil {
			rows.Close()
			return fmt.Errorf("look up the orders of refused usage: %w", err)
		}
		orderOf[inst] = orderID
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look up the orders of refused usage: %w", err)
	}
	var sns, reasons, orders, insts, begins, ends, values []string
	var listed []time.Time
	for _, i := range idx {
		r := records[i]
		orderID, ok := orderOf[r.InstanceID]
		if !ok {
			continue
		}
		at := now
		if t, err := time.Parse(time.RFC3339Nano, r.BeginTime); err == nil {
			at = t.UTC()
		}
		sns, reasons, orders = append(sns, r.MeteringSn), append(reasons, string(results[i].Reason)), append(orders, orderID)
		insts, begins, ends = append(insts, r.InstanceID), append(begins, r.BeginTime), append(ends, r.EndTime)
		values, listed = append(values, r.UsageValue), append(listed, at)
	}
	if len(sns) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO usage_refusals (seller_id, metering_sn, reason, order_id, instance_id, begin_time, end_time,
		    usage_value, listed_at, received_at, last_received_at)
		SELECT $1, sn, rs, o, i, b, e, v, l, $10, $10
		FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[])
		    AS r(sn, rs, o, i, b, e, v, l)
		ON CONFLICT (seller_id, metering_sn, reason) DO UPDATE SET
		    last_received_at = excluded.last_received_at, times = usage_refusals.times + 1`,
		sellerID, sns, reasons, orders, insts, begins, ends, values, listed, now); err != nil {
		return fmt.Errorf("keep refused usage: %w", err)
	}
	return nil
}
