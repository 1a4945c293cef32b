#!/usr/bin/env bash
# A/B of authenticated GET /users/{id} between two release binaries: the base (before sessions, whose caller read
# checked the user alone) and the new one (whose caller read also checks the token's session, docs/api.md §6), on
# SQLite and PostgreSQL. The two binaries run in turn, several rounds, the order swapped each round, so drift of a
# shared machine hits both alike. Goal: the new figure within 10 % of the base's.
#
#   scripts/bench-sessions-ab.sh BASE_BIN NEW_BIN > ab.md     # progress on stderr, a markdown table on stdout
#
# BASE_BIN: build the base commit's binary in a folder of its own, e.g.
#   git archive <base> | tar -x -C /tmp/base && (cd /tmp/base && cargo build --release -p users-api)
# Knobs: AB_BACKENDS ("sqlite postgres"; memory too), AB_ROUNDS (3), AB_DURATION (10 s), AB_CONNECTIONS (32), AB_THREADS (2),
# BENCH_PG_HOST / BENCH_PG_PORT / BENCH_PG_USER (127.0.0.1 / 5432 / postgres). Needs curl, wrk, psql; PostgreSQL
# with trust auth. Servers, databases and temporary files are removed on exit, Ctrl-C included (scripts/lib/bench.sh).
set -euo pipefail

BASE_BIN=${1:?usage: $0 BASE_BIN NEW_BIN}
NEW_BIN=${2:?usage: $0 BASE_BIN NEW_BIN}
BACKENDS=${AB_BACKENDS:-sqlite postgres}
ROUNDS=${AB_ROUNDS:-3}
DURATION=${AB_DURATION:-10}
CONNECTIONS=${AB_CONNECTIONS:-32}
THREADS=${AB_THREADS:-2}
PG_HOST="${BENCH_PG_HOST:-127.0.0.1}"
PG_PORT="${BENCH_PG_PORT:-5432}"
PG_USER="${BENCH_PG_USER:-postgres}"
ADMIN_PASSWORD="bench admin password"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# shellcheck source=lib/bench.sh
source "$ROOT/scripts/lib/bench.sh"
bench_init ab
need_tools curl wrk psql timeout awk

# Starts `bin` on a fresh storage of `backend`; waits until ready. → SERVER_PID, PORT. A binary under
# <checkout>/target/release/ runs from that checkout, so it reads its own config/ (a base older than HEAD's
# config/default.toml would refuse the newer file's settings).
DB=""
STARTS=0
start() {
    local url="" checkout
    BIN=$1
    checkout="$(cd "$(dirname "$BIN")/../.." && pwd)"
    SERVER_DIR="$ROOT"
    [[ -d "$checkout/config" ]] && SERVER_DIR="$checkout"
    STARTS=$((STARTS + 1))
    case $2 in
        memory) ;;
        sqlite) rm -rf "$TMP/db"; url="sqlite://$TMP/db/users.db" ;;
        postgres)
            DB="users_ab_$$_$STARTS"
            create_db "$DB"
            url="postgres://$PG_USER@$PG_HOST:$PG_PORT/$DB" ;;
    esac
    start_server "ab-$STARTS" APP_ENV=test APP__STORAGE__BACKEND="$2" ${url:+APP__STORAGE__URL="$url"} \
        APP__AUTH__JWT_SECRET="a benchmark secret of at least thirty-two bytes" \
        APP__AUTH__BOOTSTRAP_ADMIN__USERNAME=benchadmin APP__AUTH__BOOTSTRAP_ADMIN__EMAIL=bench@example.com \
        APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD="$ADMIN_PASSWORD"
}

stop() {
    stop_server
    if [[ -n "$DB" ]]; then psql_admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null; DB=""; fi
}

# One run: a user signs up, logs in and reads itself (GET own); prints "req/s p99".
run() {
    local base="http://$HOST:$PORT" id token out
    id=$(curl -sf -H 'content-type: application/json' -d '{"username":"benchuser","email":"benchuser@example.com","password":"orbit-tulip-1"}' \
        "$base/users" | sed -E 's/.*"id":([0-9]+).*/\1/')
    token=$(curl -sf -H 'content-type: application/json' -d '{"username":"benchuser","password":"orbit-tulip-1"}' \
        "$base/auth/login" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
    [[ $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$base/users/$id") == 200 ]] ||
        { echo "GET /users/$id with the new user's token is not a 200" >&2; return 1; }
    bounded 30 wrk -t2 -c"$CONNECTIONS" -d3s -H "Authorization: Bearer $token" "$base/users/$id" >/dev/null
    bounded $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
        -H "Authorization: Bearer $token" "$base/users/$id" >"$TMP/wrk.out"
    out="$(cat "$TMP/wrk.out")"
    if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx answers" >&2; return 1; fi
    # p99 in ms, whatever unit wrk chose.
    echo "$(awk '/^Requests\/sec/ {print $2}' <<<"$out") $(awk '$1 == "99%" {v = $2; m = 1
        if (v ~ /us$/) m = 0.001; else if (v ~ /ms$/) m = 1; else if (v ~ /s$/) m = 1000
        sub(/[a-z]+$/, "", v); print v * m}' <<<"$out")"
}

echo "A/B of authenticated GET /users/{id} (own record), wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds,"
echo "order swapped each round; base $(basename "$BASE_BIN"), new $(basename "$NEW_BIN"); $(nproc) CPUs, $(date -u +%FT%RZ)."
echo
echo "| backend | base req/s (each round) | new req/s (each round) | base median | new median | new / base | base p99 (median) | new p99 (median) |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"
for backend in $BACKENDS; do
    declare -A rates=() p99s=()
    for round in $(seq "$ROUNDS"); do
        order="base new"; (( round % 2 == 0 )) && order="new base"
        for which in $order; do
            bin=$BASE_BIN; [[ $which == new ]] && bin=$NEW_BIN
            start "$bin" "$backend"
            # In this shell, not a subshell: the time-bounded wrk is then stopped at exit, SIGTERM included.
            run >"$TMP/run.out" || die "$backend round $round $which: the run failed"
            read -r rate p99 <"$TMP/run.out"
            stop
            log "$backend round $round $which: $rate req/s, p99 $p99"
            rates[$which]+="$rate "; p99s[$which]+="$p99 "
        done
    done
    median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    b=$(median "${rates[base]}"); n=$(median "${rates[new]}")
    ratio=$(awk -v b="$b" -v n="$n" 'BEGIN {printf "%.1f %%", 100 * n / b}')
    echo "| $backend | ${rates[base]}| ${rates[new]}| $b | $n | $ratio | $(median "${p99s[base]}") ms | $(median "${p99s[new]}") ms |"
    unset rates p99s
done
