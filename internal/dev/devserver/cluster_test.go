package devserver

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cloudmarket/orders/internal/dev/pgcluster"
)

// TestClusterSchemaTwice creates Temporal's two databases' schemas with the server's
// schema tool on a throwaway PostgreSQL, then runs it again (a restart of make cluster):
// the second run changes nothing and both databases are at the pinned versions.
func TestClusterSchemaTwice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	pg, err := pgcluster.Start(ctx, pgcluster.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop(context.Background())
	spec := &ClusterSpec{PGHost: "127.0.0.1", PGPort: pg.Port(), PGUser: pgcluster.SuperUser,
		Database: "temporal", VisibilityDatabase: "temporal_visibility", HistoryShards: 16}
	for _, db := range []string{spec.Database, spec.VisibilityDatabase} {
		if err := pg.CreateDatabase(ctx, db); err != nil {
			t.Fatal(err)
		}
	}
	for round := 1; round <= 2; round++ {
		if err := SetupClusterSchema(spec, log); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	for db, want := range map[string]string{spec.Database: TemporalSchemaVersion, spec.VisibilityDatabase: VisibilitySchemaVersion} {
		conn, err := pgx.Connect(ctx, pg.URL(db))
		if err != nil {
			t.Fatal(err)
		}
		var got string
		err = conn.QueryRow(ctx, `SELECT curr_version FROM schema_version`).Scan(&got)
		conn.Close(ctx)
		if err != nil {
			t.Fatalf("%s: %v", db, err)
		}
		if got != want {
			t.Errorf("%s at schema version %s, want %s", db, got, want)
		}
	}
	checkSparseIndexes(ctx, t, pg.URL(spec.VisibilityDatabase))
}

// checkSparseIndexes checks what visibility_sparse_indexes.sql promises: every index of the
// visibility table over a nullable column is partial (NOT NULL), the others keep their
// shape, and a query on a search-attribute slot, as Temporal's visibility store writes it,
// is still planned on that slot's index.
func checkSparseIndexes(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT c.relname, a.attnotnull, i.indpred IS NOT NULL
		FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[1]
		WHERE i.indrelid = 'executions_visibility'::regclass AND NOT i.indisprimary AND i.indkey[1] <> 0`)
	if err != nil {
		t.Fatal(err)
	}
	partial, full := 0, 0
	for rows.Next() {
		var name string
		var notNull, hasPred bool
		if err := rows.Scan(&name, &notNull, &hasPred); err != nil {
			t.Fatal(err)
		}
		switch {
		case !notNull && !hasPred:
			t.Errorf("index %s over a nullable column is not partial", name)
		case notNull && hasPred:
			t.Errorf("index %s over a NOT NULL column became partial", name)
		case hasPred:
			partial++
		default:
			full++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// Temporal 1.14's visibility schema: 74 indexes, of which the slots and its own
	// nullable columns are most.
	if partial < 50 || full < 5 {
		t.Errorf("%d partial and %d full indexes; want most partial", partial, full)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only planner settings
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	lines, err := tx.Query(ctx, `EXPLAIN (FORMAT TEXT, COSTS OFF) SELECT run_id FROM executions_visibility
		WHERE namespace_id = $1 AND keyword09 = $2
		ORDER BY coalesce(close_time, '9999-12-31 23:59:59') DESC, start_time DESC, run_id LIMIT 10`,
		"ns", "awaiting_acceptance")
	if err != nil {
		t.Fatal(err)
	}
	steps, err := pgx.CollectRows(lines, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(steps, "\n")
	if !strings.Contains(plan, "by_keyword_09") {
		t.Errorf("a query on Keyword09 is not planned on its partial index:\n%s", plan)
	}
}
