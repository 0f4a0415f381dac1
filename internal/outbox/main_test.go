package outbox

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cloudmarket/orders/internal/testkit"
)

// db is the package's migrated database (pgcluster.StartForTests), shared by its tests,
// which therefore do not run in parallel: the outbox is one global feed.
var db *pgxpool.Pool

func TestMain(m *testing.M) { testkit.MainWithDB(m, "outbox", &db) }
