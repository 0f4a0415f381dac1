package pgcluster

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func selectOne(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(ctx)
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

// TestFreshClusterAndRestart covers the dev stack's life: first start on an empty folder
// (initdb), idempotent database creation, a restart on the same folder that finds the
// database again, and a start after an unclean end (stale postmaster.pid).
func TestFreshClusterAndRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Not t.TempDir(): its parent is 0700 and the postgres user could not traverse it.
	parent, err := os.MkdirTemp(os.TempDir(), "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(parent, "data")

	began := time.Now()
	c, err := Start(ctx, Options{DataDir: dataDir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fresh start: %v", time.Since(began))
	for range 2 {
		if err := c.CreateDatabase(ctx, "orders"); err != nil {
			t.Fatalf("CreateDatabase: %v", err)
		}
	}
	selectOne(ctx, t, c.URL("orders"))
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); err != nil {
		t.Fatalf("a given data folder must survive Stop: %v", err)
	}

	// Restart on the same folder, on a port that is taken: the database is still there
	// and a free port is used.
	busy, err := Start(ctx, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busy.Stop(ctx) }()
	began = time.Now()
	c, err = Start(ctx, Options{DataDir: dataDir, Port: busy.Port(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restart: %v", time.Since(began))
	if c.Port() == busy.Port() {
		t.Fatalf("took port %d that another cluster holds", c.Port())
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = 'orders'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("database orders after restart: count %d, %v", n, err)
	}
	conn.Close(ctx)
	selectOne(ctx, t, c.URL("orders"))
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// A killed run leaves a postmaster.pid naming a process that is gone.
	if err := os.WriteFile(filepath.Join(dataDir, "postmaster.pid"), []byte("999999\n"+dataDir+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Start(ctx, Options{DataDir: dataDir, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("start over a stale postmaster.pid: %v", err)
	}
	// And a server still running on the folder is taken over: stopped and started again.
	c2, err := Start(ctx, Options{DataDir: dataDir, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("start over a running server: %v", err)
	}
	selectOne(ctx, t, c2.URL("orders"))
	if err := c2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop of a cluster taken over by another: %v", err)
	}
}

func TestStartForTests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	began := time.Now()
	url, stop, err := StartForTests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("StartForTests: %v, %s", time.Since(began), url)
	selectOne(ctx, t, url)
	stop()
	if conn, err := pgx.Connect(ctx, url); err == nil {
		conn.Close(ctx)
		t.Fatal("database still reachable after stop")
	}

	// The same helper against an existing server (DATABASE_URL): a private database that
	// stop drops.
	c, err := Start(ctx, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Stop(ctx) }()
	t.Setenv("DATABASE_URL", c.URL("postgres"))
	url, stop, err = StartForTests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	selectOne(ctx, t, url)
	stop()
	if conn, err := pgx.Connect(ctx, url); err == nil {
		conn.Close(ctx)
		t.Fatal("test database still exists after stop")
	}
}
