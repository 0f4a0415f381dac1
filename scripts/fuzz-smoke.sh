#!/usr/bin/env bash
# Runs every fuzz target of the module briefly (FUZZTIME each, default 3s), starting from its
# corpus in testdata/fuzz. `go test` alone runs only the corpus; this explores a little
# further on every `make test`, and fails on the first input that breaks a target.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-3s}"
go="${GO:-go}"

# package directory and target name of every `func FuzzXxx(f *testing.F)`
grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(' . | sed -E 's#^\./##; s#/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+)\($# \1#' |
	sort -u | while read -r dir target; do
	echo "fuzz $target ($dir, $fuzztime)"
	"$go" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "./$dir" >/tmp/fuzz-smoke.$$ 2>&1 || {
		cat /tmp/fuzz-smoke.$$
		rm -f /tmp/fuzz-smoke.$$
		echo "fuzz $target failed: the failing input is in $dir/testdata/fuzz/$target" >&2
		exit 1
	}
done
rm -f /tmp/fuzz-smoke.$$
