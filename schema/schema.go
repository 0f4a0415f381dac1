// Package schema holds the SQL migrations of the application database, embedded in every
// binary and applied at start with goose. goose was chosen because it runs plain SQL files
// from an embed.FS through database/sql (pgx's stdlib driver, so the same driver as the rest
// of the code), serialises concurrent starts with a PostgreSQL advisory lock (the API and
// the worker may start together), and is actively maintained.
package schema

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies every migration not yet applied to the database at databaseURL and
// returns the schema version it ends at. It needs schema rights (`orders migrate`, or the
// start of a service with MIGRATE_ON_START).
func Migrate(ctx context.Context, databaseURL string) (int64, error) {
	p, closeDB, err := provider(databaseURL, true)
	if err != nil {
		return 0, err
	}
	defer closeDB()
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("apply migrations: %w", err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// CheckCurrent fails when the database at databaseURL lacks migrations this binary has: a
// service started without MIGRATE_ON_START refuses to run against an older schema. It only
// reads the version table, so the serving role needs no schema rights.
func CheckCurrent(ctx context.Context, databaseURL string) error {
	p, closeDB, err := provider(databaseURL, false)
	if err != nil {
		return err
	}
	defer closeDB()
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if pending {
		return errors.New("the database schema is older than this build: run `orders migrate`")
	}
	return nil
}

func provider(databaseURL string, locked bool) (*goose.Provider, func(), error) {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("open database for migrations: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("migrations folder: %w", err)
	}
	// Migrations written on parallel branches can land on main out of their number's order
	// (00016 was once on main 19 s before 00015), and a database migrated in between then
	// lacks a lower version than its highest. goose refuses that by default; applying the
	// missing one is right here, since a migration written without knowing of another cannot
	// depend on it (a real conflict still fails, loudly, when it is applied).
	opts := []goose.ProviderOption{goose.WithAllowOutofOrder(true)}
	if locked {
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			db.Close()
			return nil, nil, fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, opts...)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("migration provider: %w", err)
	}
	return p, func() { db.Close() }, nil
}
