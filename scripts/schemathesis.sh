#!/usr/bin/env bash
# Conformance: schemathesis (pinned) fuzzes the service through its own /openapi.json, once with an admin's token and
# once without one. It runs the binary the tests already built (no second build profile) on SQLite in a temp dir.
# Any failure fails the script. Usage: scripts/schemathesis.sh   (USERS_API_BIN, MAX_EXAMPLES to override)
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
BIN=${USERS_API_BIN:-target/debug/users-api}
MAX_EXAMPLES=${MAX_EXAMPLES:-25}
VENV=${SCHEMATHESIS_VENV:-.venv-schemathesis}
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance

[ -x "$BIN" ] || { echo "no $BIN: build it first (cargo build -p users-api, or cargo test)" >&2; exit 1; }
if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# The last-admin rule keeps the bootstrap admin whatever the fuzzer's own admin does to itself.
# shellcheck source=scripts/service-for-checks.sh
. scripts/service-for-checks.sh
start_service "$BIN" "$work" APP__STORAGE__BACKEND=sqlite APP__STORAGE__URL="sqlite://$work/users.db"

token_of() {
  curl -fsS -X POST "$base/auth/login" -H 'content-type: application/json' -d "{\"username\":\"$1\",\"password\":\"$2\"}" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}
root_token=$(token_of "$admin" "$admin_password")
curl -fsS -o /dev/null -X POST "$base/users" -H "Authorization: Bearer $root_token" -H 'content-type: application/json' \
  -d '{"username":"fuzzer","email":"fuzzer@admin.example","password":"fuzzer password","role":"admin"}'
fuzzer_token=$(token_of fuzzer "fuzzer password")

run() {
  # The hooks add the NDJSON serializer that POST /users/import needs.
  PYTHONPATH="$PWD/scripts" SCHEMATHESIS_HOOKS=schemathesis_hooks "$VENV/bin/schemathesis" run "$base/openapi.json" --checks "$CHECKS" --max-examples "$MAX_EXAMPLES" \
    --workers 1 --seed 1 "$@"
}
echo "== schemathesis $SCHEMATHESIS_VERSION with an admin's token"
run -H "Authorization: Bearer $fuzzer_token"
echo "== schemathesis without a token"
run
# The service is still whole after the fuzzing (the fuzzer's admin may have deleted or demoted itself; the
# last-admin rule kept an admin).
curl -fsS -o /dev/null "$base/health/ready"
echo "schemathesis: 0 failures"
