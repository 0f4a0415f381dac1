package outbox

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudmarket/orders/internal/pgcluster"
	"github.com/cloudmarket/orders/schema"
)

// db is the package's migrated database (pgcluster.StartForTests), shared by its tests,
// which therefore do not run in parallel: the outbox is one global feed.
var db *pgxpool.Pool

func TestMain(m *testing.M) {
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
		if db, err = pgxpool.New(ctx, url); err != nil {
			return 0, err
		}
		defer db.Close()
		return m.Run(), nil
	}()
	if err != nil {
		fmt.Fprintln(os.Stderr, "outbox tests:", err)
		code = 1
	}
	os.Exit(code)
}
