#!/usr/bin/env bash
# Replays workflow histories against the workflow code of this working tree, before a new
# worker build rolls out while orders run (deploy/README.md, "Releasing workflow code").
#
#   scripts/replay-release.sh <git ref>   the histories kept in workflows/testdata by that
#                                         release (default: the newest v* tag, else HEAD)
#   scripts/replay-release.sh <folder>    histories exported from a real cluster, one JSON
#                                         file per workflow (temporal workflow show -o json)
#
# Exits non-zero when any history no longer replays: the new code would break orders of that
# shape that are still running. Add a workflow.GetVersion marker (or a new workflow type).
set -euo pipefail
cd "$(dirname "$0")/.."
go="${GO:-go}"
src="${1:-$(git describe --tags --abbrev=0 --match 'v*' 2>/dev/null || echo HEAD)}"

if [ -d "$src" ]; then
	dir="$(cd "$src" && pwd)"
else
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	git archive "$src" workflows/testdata | tar -x -C "$tmp"
	dir="$tmp/workflows/testdata"
fi
n=$(find "$dir" -maxdepth 1 -name '*.json' | wc -l)
echo "replaying $n histories from $src against the working tree's workflows"
REPLAY_HISTORIES_DIR="$dir" "$go" test -count=1 -run '^TestReplayRecordedHistories$' ./workflows/
