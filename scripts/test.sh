#!/usr/bin/env bash
# Every test, as CI runs them: the workspace (with the HTTP suite on SQLite, the default backend), then the HTTP
# suite again on memory and, when TEST_DATABASE_URL is set, on PostgreSQL. The suite is compiled once
# (tests/api.rs); USERS_API_TEST_BACKEND picks its backend at run time, so the later runs build nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace
backends=(memory)
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  backends+=(postgres)
else
  echo "TEST_DATABASE_URL is not set: the HTTP suite on PostgreSQL is skipped (PostgreSQL tests show as ignored)" >&2
fi
for backend in "${backends[@]}"; do
  echo "== the HTTP suite on $backend"
  USERS_API_TEST_BACKEND="$backend" cargo test -p users-api --test api
done
