#!/usr/bin/env bash
# The OpenAPI document is valid for generators: the binary the tests built serves /openapi.json, then
#   1. openapi-spec-validator and Spectral's spectral:oas ruleset (.spectral.yaml) check it: any error fails;
#      openapi-typescript's types for it must pass `tsc --strict`;
#   2. openapi-python-client generates a client from it, and scripts/openapi_smoke.py calls every operation of that
#      client against the running service (and fails when the client lacks an operation of the document).
# Tools are pinned and installed from PyPI and npm into one cache folder, reused while the versions match.
# Usage: scripts/openapi-checks.sh   (USERS_API_BIN, OPENAPI_TOOLS_DIR to override)
set -euo pipefail
cd "$(dirname "$0")/.."

SPEC_VALIDATOR_VERSION=0.9.0
PYTHON_CLIENT_VERSION=0.29.1
SPECTRAL_VERSION=6.16.3
OPENAPI_TYPESCRIPT_VERSION=7.13.0
TYPESCRIPT_VERSION=5.9.3
BIN=${USERS_API_BIN:-target/debug/users-api}
TOOLS=${OPENAPI_TOOLS_DIR:-.openapi-tools}

[ -x "$BIN" ] || { echo "no $BIN: build it first (cargo build -p users-api, or cargo test)" >&2; exit 1; }

stamp="openapi-spec-validator $SPEC_VALIDATOR_VERSION, openapi-python-client $PYTHON_CLIENT_VERSION, spectral $SPECTRAL_VERSION"
stamp+=", openapi-typescript $OPENAPI_TYPESCRIPT_VERSION, typescript $TYPESCRIPT_VERSION"
echo "== tools ($stamp)"
if [ "$(cat "$TOOLS/versions" 2>/dev/null)" != "$stamp" ] || [ ! -x "$TOOLS/venv/bin/openapi-python-client" ] \
  || [ ! -x "$TOOLS/npm/node_modules/.bin/spectral" ]; then
  rm -rf "$TOOLS"
  mkdir -p "$TOOLS"
  python3 -m venv "$TOOLS/venv"
  timeout 600 "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check \
    "openapi-spec-validator==$SPEC_VALIDATOR_VERSION" "openapi-python-client==$PYTHON_CLIENT_VERSION"
  timeout 600 npm install --prefix "$TOOLS/npm" --no-audit --no-fund --loglevel=error \
    "@stoplight/spectral-cli@$SPECTRAL_VERSION" "openapi-typescript@$OPENAPI_TYPESCRIPT_VERSION" \
    "typescript@$TYPESCRIPT_VERSION"
  echo "$stamp" >"$TOOLS/versions"
fi
tools=$(cd "$TOOLS" && pwd)

work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== the service (memory backend, EdDSA tokens so the JWKS route answers, file mail so the mail routes do) on a free port"
# shellcheck source=scripts/service-for-checks.sh
. scripts/service-for-checks.sh
"$BIN" generate-key --dir "$work/keys" >/dev/null
start_service "$BIN" "$work" APP__STORAGE__BACKEND=memory APP__AUTH__SIGNING__ALGORITHM=EdDSA \
  APP__AUTH__SIGNING__KEYS_DIR="$work/keys" APP__MAIL__TRANSPORT=file APP__MAIL__DIR="$work/mail" \
  APP__MAIL__FROM=no-reply@example.com APP__MAIL__LINK_BASE=http://localhost:3000/account
curl -fsS --max-time 10 -o "$work/openapi.json" "$base/openapi.json"

echo "== openapi-spec-validator"
"$tools/venv/bin/openapi-spec-validator" "$work/openapi.json"

echo "== spectral lint (spectral:oas; errors fail, warnings are justified in docs/openapi.md)"
timeout 300 "$tools/npm/node_modules/.bin/spectral" lint --ruleset .spectral.yaml --fail-severity error \
  "$work/openapi.json"

echo "== openapi-typescript, then tsc --strict on its output"
timeout 120 "$tools/npm/node_modules/.bin/openapi-typescript" "$work/openapi.json" --output "$work/users-api.d.ts"
timeout 120 "$tools/npm/node_modules/.bin/tsc" --noEmit --strict "$work/users-api.d.ts"

echo "== openapi-python-client: generate a client and call every operation it has"
# The venv on PATH: the generator formats its output with the ruff it installed.
(cd "$work" && PATH="$tools/venv/bin:$PATH" timeout 300 openapi-python-client generate --path openapi.json \
  --meta none --output-path users_api_client >generate.log 2>&1) || { cat "$work/generate.log" >&2; exit 1; }
# The generator warns about what it skipped: show it, the smoke test fails on any operation missing.
cat "$work/generate.log"
PYTHONPATH="$work" USERS_API_BASE="$base" USERS_API_DOCUMENT="$work/openapi.json" USERS_API_ADMIN="$admin" \
  USERS_API_ADMIN_PASSWORD="$admin_password" USERS_API_MAIL_DIR="$work/mail" timeout 300 "$tools/venv/bin/python" scripts/openapi_smoke.py
