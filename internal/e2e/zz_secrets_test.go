package e2e

// This file's name sorts last: go test runs a package's tests in the order of their files,
// so TestSecretsNeverLeak looks at everything the whole run left behind.

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cloudmarket/orders/internal/order"
)

// TestSecretsNeverLeak runs orders through every path that touches a seller's key (placed
// and released, refused by the seller, failed authentication, a signed seller API call),
// then looks for every seller's access key, and the key-encryption keys, in all the places
// they must never be: everything the stack logged, every answer the API gave, the metrics,
// every workflow history in the namespace, and every row of every table (the sealed key
// columns included, as text).
func TestSecretsNeverLeak(t *testing.T) {
	catalogue(t, "s-leak", "p-leak", false)
	sim(t, "PUT", "/admin/sellers/s-leak/behaviour", map[string]any{"failNext": map[string]any{"count": 1, "resultCode": "000001"}})
	for _, id := range []string{"LEAK-1", "LEAK-2"} {
		if r := do(t, buyer("c-leak", "POST", "/v1/orders", newOrder(id, "c-leak", "p-leak", 300, 2*time.Second))); r.status != http.StatusCreated {
			t.Fatalf("POST %s: %d %s", id, r.status, r.body)
		}
	}
	waitStatus(t, "LEAK-1", order.Status(order.PhaseReleased), 30*time.Second)
	sim(t, "PUT", "/admin/sellers/s-leak/behaviour", map[string]any{"failNext": map[string]any{"count": 1, "resultCode": "000101"}})
	if r := do(t, buyer("c-leak", "POST", "/v1/orders", newOrder("LEAK-3", "c-leak", "p-leak", 300, time.Hour))); r.status != http.StatusCreated {
		t.Fatalf("POST LEAK-3: %d %s", r.status, r.body)
	}
	waitStatus(t, "LEAK-3", order.Status(order.PhaseCancelled), 30*time.Second)
	if r := do(t, call{method: "GET", path: "/v1/seller-api/orders/LEAK-1",
		headers: signedHeaders("s-leak", "sk-s-leak-0123456789", time.Now(), "")}); r.status != http.StatusOK {
		t.Fatalf("signed seller call: %d %s", r.status, r.body)
	}

	ctx := context.Background()
	secrets := map[string]string{}
	rows, err := stack.DB.Query(ctx, `SELECT seller_id FROM sellers`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		key := "sk-" + id + "-0123456789" // what catalogue registers
		secrets["access key of "+id] = key
		secrets["access key of "+id+" (base64)"] = base64.StdEncoding.EncodeToString([]byte(key))
		secrets["access key of "+id+" (hex)"] = hex.EncodeToString([]byte(key))
	}
	if len(secrets) < 3 {
		t.Fatal("no seller to look for")
	}
	for _, pair := range strings.Split(stack.Env["KEY_ENCRYPTION_KEYS"], ",") {
		_, material, _ := strings.Cut(pair, ":")
		secrets["key-encryption key"] = material
	}

	places := map[string]string{
		"the logs":        stack.Logs.String(),
		"the API answers": stack.Answers.String(),
		"the metrics":     scrapeMetrics(t),
		"the histories":   allHistories(t),
		"PostgreSQL":      dumpTables(t),
	}
	for where, text := range places {
		if len(text) == 0 {
			t.Errorf("%s are empty: nothing was checked", where)
		}
		for what, secret := range secrets {
			if strings.Contains(text, secret) {
				i := strings.Index(text, secret)
				t.Errorf("the %s appears in %s: ...%s...", what, where, text[max(0, i-80):i])
			}
		}
	}
	t.Logf("looked for %d secrets in %d bytes of logs, %d of answers, %d of histories, %d of rows",
		len(secrets), len(places["the logs"]), len(places["the API answers"]), len(places["the histories"]), len(places["PostgreSQL"]))
}

// allHistories is every workflow history of the test namespace, as JSON.
func allHistories(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	var next []byte
	for {
		res, err := stack.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: stack.Namespace, PageSize: 1000, NextPageToken: next,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range res.Executions {
			iter := stack.Temporal.GetWorkflowHistory(ctx, e.Execution.WorkflowId, e.Execution.RunId, false,
				enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			h := &historypb.History{}
			for iter.HasNext() {
				ev, err := iter.Next()
				if err != nil {
					t.Fatal(err)
				}
				h.Events = append(h.Events, ev)
			}
			raw, err := protojson.Marshal(h)
			if err != nil {
				t.Fatal(err)
			}
			b.Write(raw)
			b.WriteByte('\n')
		}
		if next = res.NextPageToken; len(next) == 0 {
			return b.String()
		}
	}
}

// dumpTables is every row of every table of the application database, as text.
func dumpTables(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	rows, err := stack.DB.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	var b strings.Builder
	for _, table := range tables {
		rs, err := stack.DB.Query(ctx, `SELECT t::text FROM "`+table+`" t`)
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var row string
			if err := rs.Scan(&row); err != nil {
				t.Fatal(err)
			}
			b.WriteString(table + " " + row + "\n")
		}
	}
	return b.String()
}
