package devserver

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// sparseSQLiteVisibility does in the dev server's SQLite file what
// visibility_sparse_indexes.sql does in PostgreSQL (that file says why): every index of
// executions_visibility whose key column after namespace_id may be NULL becomes a partial
// index over the rows where it is not. SQLite plans a query on the column (=, IN, ranges)
// on such an index, as it would on the full one. It runs before the server opens the file,
// so nothing contends for it; indexes already partial are left alone, so it is a no-op
// after the first start.
func sparseSQLiteVisibility(ctx context.Context, file string) (changed int, err error) {
	dsn := "file:" + (&url.URL{Path: file}).EscapedPath() + "?_pragma=" + url.QueryEscape("busy_timeout(10000)")
	db, err := sql.Open("sqlite", dsn) // modernc.org/sqlite, registered by Temporal's SQLite plugin
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", file, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op

	nullable := map[string]bool{}
	cols, err := tx.QueryContext(ctx, `SELECT name, "notnull" FROM pragma_table_xinfo('executions_visibility')`)
	if err != nil {
		return 0, fmt.Errorf("columns of executions_visibility: %w", err)
	}
	for cols.Next() {
		var name string
		var notNull bool
		if err := cols.Scan(&name, &notNull); err != nil {
			cols.Close()
			return 0, err
		}
		nullable[name] = !notNull
	}
	if err := cols.Err(); err != nil {
		return 0, err
	}
	cols.Close()

	type index struct{ name, ddl, col string }
	var todo []index
	rows, err := tx.QueryContext(ctx, `
		SELECT m.name, m.sql, coalesce(i.name, '') FROM sqlite_master m
		JOIN pragma_index_info(m.name) i ON i.seqno = 1
		WHERE m.type = 'index' AND m.tbl_name = 'executions_visibility' AND m.sql IS NOT NULL`)
	if err != nil {
		return 0, fmt.Errorf("indexes of executions_visibility: %w", err)
	}
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.name, &ix.ddl, &ix.col); err != nil {
			rows.Close()
			return 0, err
		}
		// An expression (default_idx's COALESCE) has no name; NOT NULL columns keep
		// their full index; a predicate means this ran before.
		if ix.col != "" && nullable[ix.col] && !strings.Contains(strings.ToUpper(ix.ddl), " WHERE ") {
			todo = append(todo, ix)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	rows.Close()
	for _, ix := range todo {
		if _, err := tx.ExecContext(ctx, `DROP INDEX "`+ix.name+`"`); err != nil {
			return 0, fmt.Errorf("drop index %s: %w", ix.name, err)
		}
		if _, err := tx.ExecContext(ctx, strings.TrimRight(strings.TrimSpace(ix.ddl), ";")+` WHERE "`+ix.col+`" IS NOT NULL`); err != nil {
			return 0, fmt.Errorf("recreate index %s as partial: %w", ix.name, err)
		}
	}
	return len(todo), tx.Commit()
}

// sparseTimeout bounds sparseSQLiteVisibility: rebuilding ~50 indexes of a large
// development file takes seconds, not minutes.
const sparseTimeout = 2 * time.Minute
