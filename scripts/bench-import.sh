#!/usr/bin/env bash
# Import and export benchmark (docs/api.md §9; standalone: it does not use scripts/lib/bench.sh yet).
# Starts the release binary on SQLite or PostgreSQL, imports N users with bcrypt hashes as NDJSON (in requests of
# 40,000 lines: 100,000 lines are over one request's 10 MiB),
# exports them, and prints both durations and the service's peak RSS (VmHWM) over the run.
#   scripts/bench-import.sh sqlite              (default N=100000)
#   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres scripts/bench-import.sh postgres
# Goals: import ≤ 10 s, RSS < 100 MB, export ≤ 5 s.
set -euo pipefail
backend=${1:-sqlite}
n=${N:-100000}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/target/release/users-api
[ -x "$bin" ] || cargo build --release --manifest-path "$root/Cargo.toml" -p users-api
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
case $backend in
  sqlite) url="sqlite://$work/users.db" ;;
  postgres)
    db="bench_import_$$"
    psql "${TEST_DATABASE_URL:?TEST_DATABASE_URL}" -qc "CREATE DATABASE $db"
    url="${TEST_DATABASE_URL%/*}/$db"
    trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"; psql "$TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT ;;
  *) echo "usage: $0 sqlite|postgres" >&2; exit 2 ;;
esac
port=18089
APP_ENV=production APP__LOG__FORMAT=json APP__SERVER__PORT=$port APP__STORAGE__URL=$url \
  APP__AUTH__JWT_SECRET=bench-import-secret-of-at-least-32-bytes APP__AUTH__BCRYPT_COST=4 \
  APP__AUTH__LOGIN_IP_LIMIT_PER_MINUTE=0 APP__AUTH__EXPORT_HASHES=true \
  APP__AUTH__BOOTSTRAP_ADMIN__USERNAME=bench APP__AUTH__BOOTSTRAP_ADMIN__EMAIL=bench@example.com \
  APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD=bench-password "$bin" serve >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 300); do curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$port/health/ready" >/dev/null || { echo "the service did not start:" >&2; cat "$work/log" >&2; exit 1; }
token=$(curl -fs "http://127.0.0.1:$port/auth/login" -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"bench-password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
# One real bcrypt hash (cost 10, of "bench password") for every user: the import stores hashes as they are.
hash='$2b$10$4K1cnDDlZXUpEBPcjgJCSuYqlc4QLD/K3k8XdL1YXSWs4Mj6RO1mS'
# Compact lines; 100,000 of them are over the 10 MiB a request may carry, so they go in files of 40,000 lines
# (about 5 MiB each), imported one after another.
python3 - "$n" "$hash" "$work" <<'PY'
import json, sys
n, h, work = int(sys.argv[1]), sys.argv[2], sys.argv[3]
for part in range(0, n, 40000):
    with open(f"{work}/users-{part // 40000:03d}.ndjson", "w") as out:
        for i in range(part, min(n, part + 40000)):
            line = {"username": f"user{i:07d}", "email": f"user{i:07d}@example.com", "name": f"User {i}", "password_hash": h}
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
PY
echo "files: $(du -ch "$work"/users-*.ndjson | tail -1 | cut -f1), $n users"
start=$(date +%s.%N)
for file in "$work"/users-*.ndjson; do
  curl -fsS "http://127.0.0.1:$port/users/import" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/x-ndjson' --data-binary "@$file" >>"$work/results.ndjson"
done
import_s=$(echo "$(date +%s.%N) - $start" | bc)
created=$(grep -c '"status":"created"' "$work/results.ndjson" || true)
start=$(date +%s.%N)
curl -fsS "http://127.0.0.1:$port/users/export?include_hashes=true" -H "Authorization: Bearer $token" >"$work/export.ndjson"
export_s=$(echo "$(date +%s.%N) - $start" | bc)
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo "backend=$backend import=${import_s}s created=$created export=${export_s}s lines=$(wc -l <"$work/export.ndjson") peak_rss=$((rss_kb / 1024))MB"
