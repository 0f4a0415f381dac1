package e2e

// This file's name sorts after zz_secrets_test.go: it looks at everything the whole run left
// behind, licence codes included.

import (
	"context"
	"strings"
	"testing"

	"github.com/cloudmarket/orders/internal/licenses"
)

// TestLicenseCodesNeverLeak looks for every licence code the marketplace generated in the
// run (opened from their sealed rows, as only the buyer's view does) where none may be: the
// logs, the metrics, every workflow history and every row of every table. (The API answers
// hold them: the buyer's view shows its code, which is the point.)
func TestLicenseCodesNeverLeak(t *testing.T) {
	ctx := context.Background()
	rows, err := stack.DB.Query(ctx, `SELECT order_id FROM order_licenses WHERE via = $1`, licenses.ViaGenerated)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		t.Skip("no licence code was issued in this run")
	}
	codes := map[string]string{}
	for _, id := range ids {
		code, err := licenses.Open(ctx, stack.DB, stack.Config.Keys, id)
		if err != nil {
			t.Fatal(err)
		}
		codes[id] = code
	}
	places := map[string]string{
		"the logs":      stack.Logs.String(),
		"the metrics":   scrapeMetrics(t),
		"the histories": allHistories(t),
		"PostgreSQL":    dumpTables(t),
	}
	for where, text := range places {
		for id, code := range codes {
			for _, form := range []string{code, strings.ToLower(code)} {
				if strings.Contains(text, form) {
					t.Errorf("the licence code of order %s appears in %s", id, where)
				}
			}
		}
	}
	t.Logf("looked for %d licence codes", len(codes))
}
