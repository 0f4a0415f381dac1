package loop

import (
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Attr is a search attribute's wanted value.
type Attr struct {
	key    string
	value  any
	update temporal.SearchAttributeUpdate
}

// Keyword, Bool, Int and Time build the wanted value of a search attribute; a zero Time
// unsets it.
func Keyword(k temporal.SearchAttributeKeyKeyword, v string) Attr {
	return Attr{k.GetName(), v, k.ValueSet(v)}
}

// OptionalKeyword is a Keyword attribute's wanted value that "" unsets, so that a query for
// any value never matches a workflow that has none.
func OptionalKeyword(k temporal.SearchAttributeKeyKeyword, v string) Attr {
	if v == "" {
		return Attr{k.GetName(), v, k.ValueUnset()}
	}
	return Keyword(k, v)
}

// Bool is a Bool attribute's wanted value.
func Bool(k temporal.SearchAttributeKeyBool, v bool) Attr { return Attr{k.GetName(), v, k.ValueSet(v)} }

// Int is an Int attribute's wanted value.
func Int(k temporal.SearchAttributeKeyInt64, v int64) Attr {
	return Attr{k.GetName(), v, k.ValueSet(v)}
}

// Time is a Datetime attribute's wanted value (zero: unset).
func Time(k temporal.SearchAttributeKeyTime, v time.Time) Attr {
	if v.IsZero() {
		return Attr{k.GetName(), v, k.ValueUnset()}
	}
	return Attr{k.GetName(), v.UTC(), k.ValueSet(v.UTC())}
}

// Published remembers the search attributes a workflow last upserted, so that it upserts
// only what changed: each upsert is a history event.
type Published struct {
	last map[string]any
}

// Seed records values set without an upsert (those the workflow was started with).
func (p *Published) Seed(values map[string]any) {
	if p.last == nil {
		p.last = map[string]any{}
	}
	for k, v := range values {
		p.last[k] = v
	}
}

// Upsert upserts, in one command, the attributes of want whose value differs from the last
// published (in want's order, so the command is deterministic). A failure is logged: ops'
// view lags, the order does not stop.
func (p *Published) Upsert(ctx workflow.Context, logger log.Logger, want ...Attr) {
	if p.last == nil {
		p.last = map[string]any{}
	}
	var updates []temporal.SearchAttributeUpdate
	for _, a := range want {
		if prev, ok := p.last[a.key]; ok && equal(prev, a.value) {
			continue
		}
		p.last[a.key] = a.value
		updates = append(updates, a.update)
	}
	if len(updates) == 0 {
		return
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		logger.Warn("upsert search attributes", "error", err)
	}
}

func equal(a, b any) bool {
	if ta, ok := a.(time.Time); ok {
		tb, ok := b.(time.Time)
		return ok && ta.Equal(tb)
	}
	return a == b
}
