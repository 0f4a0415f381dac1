package pgcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestDatabase is the database StartForTests creates in a throwaway cluster.
const TestDatabase = "orders_test"

// StartForTests gives a test binary (typically its TestMain) an empty database and a
// function that removes it.
//
// With DATABASE_URL set (CI with a service container, or a developer's own server), it
// creates a uniquely named database on that server, so parallel test packages and
// repeated runs never see each other's rows, and stop drops it. Otherwise it starts a
// throwaway cluster (temporary folder, free port, no fsync) with database "orders_test",
// and stop shuts the cluster down and deletes its folder. Either way, call stop before
// the process exits (os.Exit skips deferred calls).
func StartForTests(ctx context.Context) (dbURL string, stop func(), err error) {
	// The harness's info messages would only clutter test output; problems still show.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if base := os.Getenv("DATABASE_URL"); base != "" {
		return databaseOnServer(ctx, base, log)
	}
	c, err := Start(ctx, Options{Logger: log})
	if err != nil {
		return "", nil, err
	}
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			log.Error("stop test cluster", "err", err)
		}
	}
	if err := c.CreateDatabase(ctx, TestDatabase); err != nil {
		stop()
		return "", nil, err
	}
	return c.URL(TestDatabase), stop, nil
}

// databaseOnServer creates a fresh database on the server of base and returns its URL
// with the same credentials and parameters.
func databaseOnServer(ctx context.Context, base string, log *slog.Logger) (string, func(), error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("pgcluster: DATABASE_URL is not a postgres:// URL")
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("pgcluster: random database name: %w", err)
	}
	name := TestDatabase + "_" + hex.EncodeToString(b[:])
	if err := createDatabase(ctx, base, name); err != nil {
		return "", nil, err
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			log.Error("drop test database: connect", "db", name, "err", err)
			return
		}
		defer conn.Close(ctx)
		// FORCE ends sessions a test left open (pools not closed), which would block the drop.
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			log.Error("drop test database", "db", name, "err", err)
		}
	}
	// Same server, credentials and parameters as DATABASE_URL; only the database differs.
	dbURL := *u
	dbURL.Path = "/" + name
	dbURL.RawPath = ""
	return dbURL.String(), stop, nil
}
