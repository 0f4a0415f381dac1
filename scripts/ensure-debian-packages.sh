#!/usr/bin/env bash
# Installs the Debian packages `make run` and `make test` need when they are missing (the
# machines this project runs on have Debian's package archive and nothing else):
#   postgresql-15          server binaries for the local and the throwaway test clusters
#   openapi-specification  the OpenAPI 3.0 JSON Schema the contract test validates against
# As root with apt-get it installs them; otherwise it says in one line what to run.
set -euo pipefail

need=()
if [ -z "${DATABASE_URL:-}" ] && [ -z "${PG_BIN_DIR:-}" ] && [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
	need+=(postgresql-15)
fi
if [ "${1:-}" = "test" ] && [ ! -f /usr/share/openapi-specification/schemas/v3.0/schema.json ]; then
	need+=(openapi-specification)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "missing Debian packages: run 'sudo apt-get install ${need[*]}' and try again" >&2
	exit 1
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
