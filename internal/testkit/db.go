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

// MigratedDB starts the throwaway PostgreSQL a package's tests share (pgcluster's, or the
// server of DATABASE_URL when set), applies the schema, and opens a pool of at most maxConns
// connections (0: pgx's default). stop closes the pool and stops the cluster. Every package
// whose tests need the application's database starts it here, so the bootstrap has one copy.
func MigratedDB(ctx context.Context, maxConns int32) (url string, pool *pgxpool.Pool, stop func(), err error) {
	url, stopPG, err := pgcluster.StartForTests(ctx)
	if err != nil {
		return "", nil, nil, fmt.Errorf("PostgreSQL: %w", err)
	}
	if _, err := schema.Migrate(ctx, url); err != nil {
		stopPG()
		return "", nil, nil, fmt.Errorf("migrate: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		stopPG()
		return "", nil, nil, fmt.Errorf("pool: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		stopPG()
		return "", nil, nil, fmt.Errorf("pool: %w", err)
	}
	return url, pool, func() { pool.Close(); stopPG() }, nil
}

// MainWithDB is a package's TestMain when its tests share one migrated PostgreSQL database
// (MigratedDB): it sets *db to a pool on it, runs the tests, stops everything and exits with
// their code. name says whose tests failed to start.
func MainWithDB(m *testing.M, name string, db **pgxpool.Pool) {
	code, err := func() (int, error) {
		_, pool, stop, err := MigratedDB(context.Background(), 0)
		if err != nil {
			return 0, err
		}
		defer stop()
		*db = pool
		return m.Run(), nil
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+" tests:", err)
		code = 1
	}
	os.Exit(code)
}
