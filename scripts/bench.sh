#!/usr/bin/env bash
# make bench: measures the whole job against baselines run in the same command (these
# machines are noisy, so every figure that matters is a ratio), prints it, and writes the
# table to docs/benchmarks.md with the machine it ran on.
#
#   P1 full-lifecycle orders/s against a bare workflow of the same shape, on the one-process
#      test server and again on a throwaway `make cluster` (its frontend), with the ratio
#   P2 history events (and replay time) of every recorded path
#   P3 POST /v1/orders against a bare SDK start; GET order p50/p99 under concurrent load
#   P4 BENCH_OPEN_ORDERS (10,000) open orders: memory and Temporal database per order; and
#      BENCH_CLUSTER_OPEN_ORDERS (2,000) on the cluster shape: worker memory and Temporal's
#      PostgreSQL bytes per open order
#   P5 a mass freeze of BENCH_FREEZE_ORDERS orders under a seller limit of 50 calls/s
#   P6 the simulation of the machines and the books: steps per second, against the floor of
#      a million steps in ten minutes
set -euo pipefail
cd "$(dirname "$0")/.."
go="${GO:-go}"
out="${BENCH_OUT:-docs/benchmarks.md}"
tmp="$(mktemp -d)"
chmod 755 "$tmp" # the cluster's PostgreSQL runs as the postgres user and must reach its folder
cluster=""
cleanup() {
	if [ -n "$cluster" ]; then
		kill -INT "$cluster" 2>/dev/null || true
		wait "$cluster" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "== P2: replay of every recorded path"
"$go" test -run '^$' -bench BenchmarkReplay -benchtime 20x ./workflows/ | tee "$tmp/replay.txt"

echo "== P6: the simulation (internal/sim), one goroutine"
"$go" test -run '^$' -bench BenchmarkSimulation -benchtime 5s ./internal/sim/ | tee "$tmp/sim.txt"

echo "== P1, P3, P5 on the embedded stack (one process)"
BENCH_REPORT="$tmp/stack.md" BENCH_ORDERS="${BENCH_ORDERS:-200}" \
	"$go" test -run '^$' -bench 'BenchmarkAPILatency|BenchmarkMassFreeze|BenchmarkOrderThroughput' \
	-benchtime 1x -timeout 30m ./internal/e2e/ 2>&1 | grep -v 'level=' | tee "$tmp/stack.txt"

echo "== P1 on the cluster: a throwaway make cluster (bin/devstack -topology cluster)"
# The benchmark's API and worker run in the test process as above; only the Temporal server
# changes: the cluster's frontend, history x2, matching and worker processes on PostgreSQL.
cdir="$tmp/cluster"
mkdir -p "$cdir"
PG_DATA_DIR="$cdir/postgres" PG_PORT=55632 TEMPORAL_DB_FILE="$cdir/temporal.db" \
	TEMPORAL_ADDRESS=127.0.0.1:27233 TEMPORAL_UI_ADDR=127.0.0.1:28233 API_ADDR=127.0.0.1:28080 \
	METRICS_ADDR=127.0.0.1:29464 SELLERSIM_ADDR=127.0.0.1:28090 SELLERSIM_CALLBACK_URL=http://127.0.0.1:28080 \
	DEV_KEY_FILE="$cdir/kek" DEMO_CATALOGUE=false \
	./bin/devstack -topology cluster >"$cdir/devstack.log" 2>&1 &
cluster=$!
for _ in $(seq 300); do
	grep -q 'dev stack ready' "$cdir/devstack.log" && break
	kill -0 "$cluster" 2>/dev/null || break
	sleep 1
done
grep -q 'dev stack ready' "$cdir/devstack.log" || {
	tail -20 "$cdir/devstack.log" >&2
	echo "the cluster did not come up" >&2
	exit 1
}
BENCH_TEMPORAL_ADDRESS=127.0.0.1:27233 BENCH_REPORT="$tmp/cluster.md" BENCH_ORDERS="${BENCH_ORDERS:-200}" \
	"$go" test -run '^$' -bench 'BenchmarkOrderThroughput' -benchtime 1x -timeout 30m ./internal/e2e/ 2>&1 |
	grep -v 'level=' | tee "$tmp/cluster.txt"
kill -INT "$cluster"
wait "$cluster" || true
cluster=""
metric() { awk -v m="$2" '/^BenchmarkOrderThroughput/ { for (i = 2; i <= NF; i++) if ($(i) == m) print $(i-1) }' "$1"; }
one="$(metric "$tmp/stack.txt" orders/s)" clu="$(metric "$tmp/cluster.txt" orders/s)"
one_ev="$(metric "$tmp/stack.txt" events/order)" clu_ev="$(metric "$tmp/cluster.txt" events/order)"
ratio="$(awk -v a="$clu" -v b="$one" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"
echo "P1: one-process server $one orders/s, cluster $clu orders/s, ratio $ratio; history events per order $one_ev (one process), $clu_ev (cluster)"
{
	echo
	echo "### P1 on the cluster against the one-process server (same run)"
	echo
	echo "The same benchmark (API and worker in the test process, the seller simulator over HTTP) on the"
	echo "in-process test server and on a throwaway \`make cluster\` (its frontend; history x2, matching and"
	echo "worker as separate processes on PostgreSQL, durable), one after the other on this machine."
	echo
	echo "| server | orders/s | history events per order |"
	echo "|---|---|---|"
	echo "| one process (SQLite in memory) | $one | $one_ev |"
	echo "| cluster (PostgreSQL) | $clu | $clu_ev |"
	echo "| cluster / one process | $ratio | |"
	cat "$tmp/cluster.md"
} >>"$tmp/stack.md"

echo "== P4: open orders on a throwaway dev stack (bin/devstack)"
BENCH_REPORT="$tmp/open.md" ./scripts/bench-open-orders.sh

echo "== P4 on the cluster: open orders on a throwaway make cluster (bin/devstack -topology cluster)"
BENCH_REPORT="$tmp/open.md" BENCH_TOPOLOGY=cluster BENCH_OPEN_ORDERS="${BENCH_CLUSTER_OPEN_ORDERS:-2000}" \
	./scripts/bench-open-orders.sh

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)"
mem="$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
{
	echo "# Benchmarks"
	echo
	echo "Written by \`make bench\` (scripts/bench.sh) on $(date -u +%Y-%m-%d); do not edit by hand."
	echo "Machine: $(nproc) cores ($cpu), $mem, $("$go" env GOVERSION), $(uname -sr)."
	echo "Everything runs in one process on that machine: the embedded Temporal server (SQLite),"
	echo "PostgreSQL 15, the seller simulator, the worker, the API and the load-generating client share"
	echo "its cores, so absolute figures say little and the ratios against the baseline measured in"
	echo "the same run say what the code costs."
	cat "$tmp/stack.md"
	echo
	echo "### P2: history events per order, by path (recorded histories in workflows/testdata)"
	echo
	echo "| path | history events | one replay (ms) |"
	echo "|---|---|---|"
	awk '/^BenchmarkReplay\// {
		name=$1; sub(/^BenchmarkReplay\//, "", name); sub(/-[0-9]+$/, "", name)
		for (i = 1; i <= NF; i++) { if ($(i) == "ns/op") ns=$(i-1); if ($(i) == "events") ev=$(i-1) }
		printf "| %s | %d | %.2f |\n", name, ev, ns/1e6
	}' "$tmp/replay.txt"
	cat "$tmp/open.md"
	echo
	echo "### P6: the simulation (make simulate)"
	echo
	echo "One goroutine running seeded runs of the order machine, the account machine and the books,"
	echo "every invariant checked after every step (internal/sim). The floor is the issue's: a million"
	echo "steps in ten minutes, 1,667 steps/s; \`make simulate\` runs on every core."
	echo
	echo "| steps/s | steps per run | a million steps take | against the floor |"
	echo "|---|---|---|---|"
	awk '/^BenchmarkSimulation/ {
		for (i = 1; i <= NF; i++) { if ($(i) == "steps/s") sps=$(i-1); if ($(i) == "steps/run") spr=$(i-1) }
		printf "| %.0f | %.0f | %.1f s | %.0fx |\n", sps, spr, 1e6/sps, sps/(1e6/600)
	}' "$tmp/sim.txt"
} >"$out"
echo "wrote $out"
