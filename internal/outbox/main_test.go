package outbox

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudmarket/orders/internal/testutil"
)

// db is the package's migrated database (pgcluster.StartForTests), shared by its tests,
// which therefore do not run in parallel: the outbox is one global feed.
var db *pgxpool.Pool

func TestMain(m *testing.M) { testutil.MainWithDB(m, "outbox", &db) }
