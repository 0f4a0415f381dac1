#!/usr/bin/env bash
# P4 of make bench: what open orders cost while they wait on timers. Starts a throwaway dev
# stack (bin/devstack: PostgreSQL, the embedded Temporal server on a SQLite file, and the
# orders and sellersim processes, each its own process as under `make run`) in a temporary
# folder, places BENCH_OPEN_ORDERS (default 10000) supervised SaaS orders through the API,
# waits until every one is awaiting acceptance (a workflow parked on its acceptance timer),
# and reports the orders process's resident memory and Go heap, and the Temporal SQLite
# file, per open order, against the same figures with no order open. Appends a Markdown
# section to the file named by BENCH_REPORT (or prints it).
#
# BENCH_TOPOLOGY=cluster runs the same on `make cluster`'s shape (bin/devstack -topology
# cluster): Temporal's services as separate processes on PostgreSQL, two API and two
# worker processes. There it reports the two workers' resident memory and Go heap per
# open order (each order is cached by the worker that ran its last task) and Temporal's
# PostgreSQL bytes per open order (pg_total_relation_size of every table of the temporal
# and temporal_visibility databases), twice: as the burst left them, with the row versions
# its updates left behind and the task queues' deleted rows (what autovacuum frees for
# reuse, so it does not grow with the open orders), and live, after VACUUM FULL of both
# databases, with where those live bytes are.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${BENCH_OPEN_ORDERS:-10000}"
topology="${BENCH_TOPOLOGY:-embedded}"
dir="$(mktemp -d /tmp/bench-open.XXXXXX)"
chmod 755 "$dir"
api=127.0.0.1:18080 metrics=127.0.0.1:19464 pgport=55532
ops=(-H 'Authorization: Bearer dev-ops-token' -H 'X-Actor-Id: bench')

# The demo seller's limit is raised: P4 measures open workflows, not the seller's pacing
# (P5 does), and 10,000 orders at the default 10 calls/s would take 17 minutes to place.
sed 's/^  sellers: {}$/  sellers: {seller-demo: {callsPerSecond: 2000, concurrency: 64}}/' internal/policy/default.yaml >"$dir/policy.yaml"
grep -q 'seller-demo: {callsPerSecond: 2000' "$dir/policy.yaml"

PG_DATA_DIR="$dir/pg" PG_PORT=$pgport TEMPORAL_DB_FILE="$dir/temporal.db" \
	TEMPORAL_ADDRESS=127.0.0.1:17233 TEMPORAL_UI_ADDR=127.0.0.1:18233 API_ADDR=$api \
	METRICS_ADDR=$metrics SELLERSIM_ADDR=127.0.0.1:18090 SELLERSIM_CALLBACK_URL=http://$api \
	DEV_KEY_FILE="$dir/kek" POLICY_FILE="$dir/policy.yaml" TIME_SCALE=1 \
	RATE_LIMIT_TOKEN=off RATE_LIMIT_ACTOR=off LOG_LEVEL=warn \
	./bin/devstack -topology "$topology" >"$dir/devstack.log" 2>&1 &
stack=$!
cleanup() {
	kill -INT "$stack" 2>/dev/null || true
	wait "$stack" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

for _ in $(seq 300); do
	curl -sf "${ops[@]}" "http://$api/v1/products/prod-demo-saas" >/dev/null 2>&1 && break
	sleep 1
done
curl -sf "${ops[@]}" "http://$api/v1/products/prod-demo-saas" >/dev/null || {
	tail -20 "$dir/devstack.log" >&2
	echo "the dev stack did not come up" >&2
	exit 1
}
orders_pid=""
worker_pids=()
for p in $(pgrep -P "$stack"); do
	[ "$(basename "$(readlink "/proc/$p/exe")")" = orders ] || continue
	orders_pid=$p
	tr '\0' '\n' <"/proc/$p/environ" | grep -qx 'ORDERS_ROLES=worker' && worker_pids+=("$p")
done
[ -n "$orders_pid" ] || { echo "no orders process under the dev stack" >&2; exit 1; }
[ "$topology" != cluster ] || [ "${#worker_pids[@]}" -eq 2 ] || { echo "expected two worker processes" >&2; exit 1; }
# The cluster moves to a free port when the requested one is taken; it says so in the log.
moved="$(sed -n 's/.*requested PostgreSQL port is taken.* port=\([0-9]*\).*/\1/p' "$dir/devstack.log" | tail -1)"
pgport="${moved:-$pgport}"
psql=(/usr/lib/postgresql/15/bin/psql -h 127.0.0.1 -p "$pgport" -U postgres -d orders -Atc)
"${psql[@]}" 'SELECT 1' >/dev/null
rss() { awk '/VmRSS/ {print $2 * 1024}' "/proc/$orders_pid/status"; }
heap() { curl -s "http://$metrics/metrics" | awk '/^go_memstats_heap_inuse_bytes / {printf "%d", $2}'; }
dbsize() { du -cb "$dir"/temporal.db* | tail -1 | cut -f1; }
if [ "$topology" = cluster ]; then
	# The workers are worker-1 and worker-2, metrics on METRICS_ADDR's port + 2 and + 3.
	rss() { for p in "${worker_pids[@]}"; do awk '/VmRSS/ {print $2 * 1024}' "/proc/$p/status"; done | awk '{s += $1} END {print s}'; }
	heap() { for port in 19466 19467; do curl -s "http://127.0.0.1:$port/metrics" | awk '/^go_memstats_heap_inuse_bytes / {printf "%d\n", $2}'; done | awk '{s += $1} END {print s}'; }
	dbsize() {
		for db in temporal temporal_visibility; do
			/usr/lib/postgresql/15/bin/psql -h 127.0.0.1 -p "$pgport" -U postgres -d "$db" -Atc \
				"SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace"
		done | awk '{s += $1} END {print s}'
	}
	# livesize: the same after VACUUM FULL, which rewrites every table and index without the
	# dead row versions and free space.
	livesize() {
		for db in temporal temporal_visibility; do
			/usr/lib/postgresql/15/bin/psql -h 127.0.0.1 -p "$pgport" -U postgres -d "$db" -qAtc 'VACUUM FULL' >/dev/null
		done
		dbsize
	}
	# parts: live bytes of the histories (history_node, history_tree), the task queues
	# (timers due, tasks not yet run), the visibility rows and their indexes, space-separated.
	part() {
		/usr/lib/postgresql/15/bin/psql -h 127.0.0.1 -p "$pgport" -U postgres -d "$1" -Atc "SELECT coalesce(sum($2), 0) FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace AND $3"
	}
	parts() {
		local total='pg_total_relation_size(c.oid)'
		echo "$(part temporal "$total" "c.relname IN ('history_node', 'history_tree')")" \
			"$(part temporal "$total" "c.relname IN ('tasks', 'tasks_v2', 'transfer_tasks', 'timer_tasks', 'visibility_tasks', 'replication_tasks', 'outbound_tasks')")" \
			"$(part temporal_visibility 'pg_table_size(c.oid)' "c.relname = 'executions_visibility'")" \
			"$(part temporal_visibility 'pg_indexes_size(c.oid)' "c.relname = 'executions_visibility'")"
	}
fi
waiting() { "${psql[@]}" "SELECT count(*) FROM orders WHERE customer_id = 'cust-bench' AND status = 'awaiting_acceptance'"; }

sleep 10
rss0=$(rss) heap0=$(heap) db0=$(dbsize)
if [ "$topology" = cluster ]; then
	live0=$(livesize)
	read -r hist0 queues0 visheap0 visidx0 <<<"$(parts)"
fi
echo "baseline: orders RSS $rss0 B, heap $heap0 B, Temporal database $db0 B; placing $n orders"
began=$(date +%s)
seq "$n" | xargs -P 16 -I{} curl -s -o /dev/null -w '%{http_code}\n' -X POST "http://$api/v1/orders" \
	-H 'Authorization: Bearer dev-web-token' -H 'X-Actor-Role: buyer' -H 'X-Actor-Id: cust-bench' \
	-H 'Content-Type: application/json' \
	-d '{"orderId":"OPEN-{}","orderLineId":"OPEN-{}-1","customerId":"cust-bench","productId":"prod-demo-saas","quantity":1,"amount":{"value":19900,"currency":"CNY"},"expireTime":"2031-01-01T00:00:00Z"}' |
	sort | uniq -c >"$dir/codes.txt"
cat "$dir/codes.txt"
for _ in $(seq 1200); do
	[ "$(waiting)" -ge "$n" ] && break
	sleep 1
done
w=$(waiting)
placed=$(($(date +%s) - began))
[ "$w" -ge "$n" ] || echo "only $w of $n orders reached awaiting_acceptance" >&2
sleep 20 # let the last tasks settle
rss1=$(rss) heap1=$(heap) db1=$(dbsize)
if [ "$topology" = cluster ]; then
	live1=$(livesize)
	read -r hist1 queues1 visheap1 visidx1 <<<"$(parts)"
	echo "live: Temporal database $live0 B before, $live1 B after; history $hist0 to $hist1 B, task queues $queues0 to $queues1 B, visibility rows $visheap0 to $visheap1 B, their indexes $visidx0 to $visidx1 B"
	rest0=$((live0 - hist0 - queues0 - visheap0 - visidx0)) rest1=$((live1 - hist1 - queues1 - visheap1 - visidx1))
fi
echo "after: orders RSS $rss1 B, heap $heap1 B, Temporal database $db1 B ($w orders waiting, placed in ${placed}s)"

per() { awk -v a="$1" -v b="$2" -v n="$w" 'BEGIN {printf "%.1f", (b - a) / n / 1024}'; }
at100k() { awk -v a="$1" -v b="$2" -v n="$w" 'BEGIN {printf "%.0f", (a + (b - a) / n * 100000) / 1048576}'; }
mib() { awk -v a="$1" 'BEGIN {printf "%.0f", a / 1048576}'; }
if [ "$topology" = cluster ]; then
	section="
### P4 on the cluster: open orders waiting on timers ($w supervised SaaS orders awaiting acceptance)

Measured on a throwaway \`make cluster\` (Temporal's services as separate processes on
PostgreSQL, two API and two worker processes), placed through the API's proxy in ${placed} s.
Worker memory is the sum over both workers (each order is in the sticky cache of the worker
that ran its last task); Temporal's storage is every table of its two PostgreSQL databases
(pg_total_relation_size: heap, indexes, TOAST).

| measure | no order open | $w orders open | per open order |
|---|---|---|---|
| workers' resident memory (both) | $(mib "$rss0") MiB | $(mib "$rss1") MiB | $(per "$rss0" "$rss1") KiB |
| workers' Go heap in use (both) | $(mib "$heap0") MiB | $(mib "$heap1") MiB | $(per "$heap0" "$heap1") KiB |
| Temporal's PostgreSQL (temporal + temporal_visibility), as the burst left it | $(mib "$db0") MiB | $(mib "$db1") MiB | $(per "$db0" "$db1") KiB |
| the same, live (after VACUUM FULL of both databases) | $(mib "$live0") MiB | $(mib "$live1") MiB | $(per "$live0" "$live1") KiB |
| of which histories (history_node, history_tree) | $(mib "$hist0") MiB | $(mib "$hist1") MiB | $(per "$hist0" "$hist1") KiB |
| of which task queues (timers due, tasks not yet run) | $(mib "$queues0") MiB | $(mib "$queues1") MiB | $(per "$queues0" "$queues1") KiB |
| of which visibility rows (executions_visibility) | $(mib "$visheap0") MiB | $(mib "$visheap1") MiB | $(per "$visheap0" "$visheap1") KiB |
| of which their indexes (sparse slots partial: visibility_sparse_indexes.sql) | $(mib "$visidx0") MiB | $(mib "$visidx1") MiB | $(per "$visidx0" "$visidx1") KiB |
| of which the rest: mutable state, current executions, shards, namespaces | $(mib "$rest0") MiB | $(mib "$rest1") MiB | $(per "$rest0" "$rest1") KiB |

The live figure is what open orders keep: the burst's dead row versions (each update of an
execution or visibility row leaves one until autovacuum frees it for reuse) and the task
queues' deleted rows do not grow with the number of open orders."
else
section="
### P4: open orders waiting on timers ($w supervised SaaS orders awaiting acceptance)

Measured on a throwaway dev stack (separate processes as under \`make run\`; Temporal on a
SQLite file), placed through the API in ${placed} s. The orders process runs the API and the
worker; the SDK's sticky cache (10,000 workflows by default) holds every open order here.

| measure | no order open | $w orders open | per open order | 100,000 orders (extrapolated linearly, not measured) |
|---|---|---|---|---|
| orders process resident memory | $(mib "$rss0") MiB | $(mib "$rss1") MiB | $(per "$rss0" "$rss1") KiB | $(at100k "$rss0" "$rss1") MiB (the cache caps at 10,000 workflows: beyond it, memory stays flat and evicted workflows replay on their next task) |
| orders process Go heap in use | $(mib "$heap0") MiB | $(mib "$heap1") MiB | $(per "$heap0" "$heap1") KiB | $(at100k "$heap0" "$heap1") MiB (same caveat) |
| Temporal database (SQLite file + WAL) | $(mib "$db0") MiB | $(mib "$db1") MiB | $(per "$db0" "$db1") KiB | $(at100k "$db0" "$db1") MiB |"
fi
if [ -n "${BENCH_REPORT:-}" ]; then
	echo "$section" >>"$BENCH_REPORT"
else
	echo "$section"
fi
