package schema

import (
	"context"
	"testing"
	"time"

	"github.com/cloudmarket/orders/internal/dev/pgcluster"
)

// TestMigrateAppliesAMissingLowerVersion: a database that has every migration but one lower
// than its highest (two branches landed out of order, and it was migrated in between) is
// reported as behind by CheckCurrent, and Migrate applies the missing one instead of
// refusing to start.
func TestMigrateAppliesAMissingLowerVersion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	url, stop, err := pgcluster.StartForTests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	top, err := Migrate(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckCurrent(ctx, url); err != nil {
		t.Fatalf("just migrated: %v", err)
	}
	const missing = 15
	p, closeDB, err := provider(url, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.ApplyVersion(ctx, missing, false); err != nil { // down: as if never applied
		closeDB()
		t.Fatal(err)
	}
	closeDB()
	if err := CheckCurrent(ctx, url); err == nil {
		t.Fatalf("version %d missing below %d, and CheckCurrent says the schema is current", missing, top)
	}
	v, err := Migrate(ctx, url)
	if err != nil {
		t.Fatalf("migrate with version %d missing: %v", missing, err)
	}
	if v != top {
		t.Errorf("at version %d after migrating, want %d", v, top)
	}
	if err := CheckCurrent(ctx, url); err != nil {
		t.Errorf("after migrating: %v", err)
	}
}
