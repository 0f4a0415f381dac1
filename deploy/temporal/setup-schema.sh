#!/bin/sh
# Runs in temporalio/admin-tools (compose service temporal-schema): creates Temporal's two
# PostgreSQL databases and brings their schemas to the versions shipped in the image.
# Every step is idempotent (an existing database is kept, setup-schema -v 0.0 leaves a newer
# version alone, update-schema applies only what is missing), so it runs at every `up`,
# and after a Temporal upgrade it is the schema upgrade. SQL_PASSWORD comes from the env.
# Then the visibility indexes over sparse search-attribute slots become partial
# (visibility-sparse-indexes.sql says why; idempotent too).
set -eu
: "${SQL_HOST:?}" "${SQL_USER:?}" "${SQL_PASSWORD:?}"
schema=/etc/temporal/schema/postgresql/v12

i=0
until nc -z "$SQL_HOST" "${SQL_PORT:-5432}"; do
	i=$((i + 1))
	[ "$i" -lt 60 ] || { echo "PostgreSQL at $SQL_HOST did not open its port" >&2; exit 1; }
	sleep 1
done

for pair in temporal:temporal temporal_visibility:visibility; do
	db=${pair%%:*}
	dir=${pair#*:}
	temporal-sql-tool --plugin postgres12 --db "$db" create
	temporal-sql-tool --plugin postgres12 --db "$db" setup-schema -v 0.0
	temporal-sql-tool --plugin postgres12 --db "$db" update-schema -d "$schema/$dir/versioned"
done
PGPASSWORD="$SQL_PASSWORD" psql -v ON_ERROR_STOP=1 -q -h "$SQL_HOST" -p "${SQL_PORT:-5432}" -U "$SQL_USER" \
	-d temporal_visibility -f /scripts/visibility-sparse-indexes.sql
echo "Temporal schemas ready"
