package testkit

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudmarket/orders/internal/dev/pgcluster"
	"github.com/cloudmarket/orders/schema"
)

// MainWithDB is a package's TestMain when its tests share one migrated PostgreSQL database:
// it starts a throwaway cluster (pgcluster.StartForTests, or DATABASE_URL when set), applies
// the schema, sets *db to a pool on it, runs the tests, stops everything and exits with their
// code. name says whose tests failed to start.
func MainWithDB(m *testing.M, name string, db **pgxpool.Pool) {
	code, err := func() (int, error) {
		ctx := context.Background()
		url, stop, err := pgcluster.StartForTests(ctx)
		if err != nil {
			return 0, err
		}
		defer stop()
		if _, err := schema.Migrate(ctx, url); err != nil {
			return 0, err
		}
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			return 0, err
		}
		defer pool.Close()
		*db = pool
		return m.Run(), nil
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+" tests:", err)
		code = 1
	}
	os.Exit(code)
}
