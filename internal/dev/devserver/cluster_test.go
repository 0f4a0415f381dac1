package devserver

import (
	"context"
	"log/slog"
	"os"
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
}
