-- Sparse visibility indexes: run on Temporal's PostgreSQL visibility database after every
-- schema setup or upgrade (devserver.SetupClusterSchema runs it; deploy/temporal holds the
-- same file for setup-schema.sh, and deploy/check keeps the two equal). The dev server's
-- SQLite file gets the same treatment from internal/dev/devserver/sparse.go.
--
-- Why: Temporal's visibility schema indexes every predefined search-attribute slot (Bool01
-- to Text03, and its own Temporal* columns): 74 indexes on executions_visibility, each led
-- by namespace_id CHAR(64) and ending in run_id CHAR(64), about 190 bytes per row. An order
-- fills 11 of those slots; the NULLs of the other ~50 are indexed too, and each update of
-- the row adds a new entry to every index. That was 13.9 KiB of the 22.6 KiB of Temporal
-- storage per open order (compacted; 33 KiB right after a burst).
--
-- What: every index whose key column (the one after namespace_id) may be NULL becomes a
-- partial index over the rows where it is not. A query on a slot (`Keyword09 = 'x'`, a
-- range, IN, STARTS_WITH) implies the column is not NULL, so PostgreSQL still uses the
-- index; only `IS NULL` filters, which the UI does not issue, scan instead. The primary key,
-- default_idx and indexes over NOT NULL columns (workflow id, type, status, task queue,
-- execution time, root ids) are left as they are.
--
-- Idempotent: an index that already has a predicate is skipped, so it runs at every start;
-- after a Temporal upgrade that recreates an index in full, the next run makes it partial
-- again. Each index is rebuilt under the same name inside this one transaction, which
-- locks the table while it runs: instant on a new database; on a large existing one, run it
-- in a maintenance window (or rebuild each index CONCURRENTLY by hand).
DO $$
DECLARE
	ix record;
BEGIN
	FOR ix IN
		SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def, a.attname AS col
		FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[1]
		WHERE i.indrelid = 'executions_visibility'::regclass
			AND NOT i.indisprimary
			AND i.indnatts > 1
			AND i.indkey[1] <> 0
			AND i.indpred IS NULL
			AND NOT a.attnotnull
	LOOP
		EXECUTE format('DROP INDEX %I', ix.name);
		EXECUTE ix.def || format(' WHERE %I IS NOT NULL', ix.col);
	END LOOP;
END
$$;
