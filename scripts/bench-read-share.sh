#!/usr/bin/env bash
# Authenticated GET /users/{id} on each backend as a share of the no-storage baseline
# (crates/app/examples/no_storage_baseline.rs: actix-web, the same JWT verification, the same JSON shape and
# headers, no storage), measured in one run. See docs/benchmarks.md.
#
# Every server runs at once (idle ones cost nothing); rounds are interleaved (each round runs wrk once against
# each server, in an order that rotates from round to round), so noise from the shared machine hits every
# backend alike. A round's share is the backend's req/s over the baseline's req/s in the same round; the summary
# gives each backend's median share over the rounds, and CPU time per request (the server's utime + stime from
# /proc, over the requests wrk counted), which the machine's other load disturbs less; beside it, the PostgreSQL
# server's processes' CPU time per request and the whole machine's (wrk included): on a machine whose cores the
# service shares with wrk and PostgreSQL, the share is about the baseline's machine time over the backend's.
#
# Usage: scripts/bench-read-share.sh            (progress on stderr, the markdown summary on stdout)
# Needs: cargo, curl, wrk, sqlite3, psql; PostgreSQL at $BENCH_PG_HOST:$BENCH_PG_PORT as $BENCH_PG_USER (trust
# auth) for the postgres backends. Servers, the database and temporary files are removed on exit, Ctrl-C included
# (scripts/lib/bench.sh).
# Knobs (environment):
#   BENCH_BACKENDS     backends to measure                  (default "memory sqlite postgres postgres-plain";
#                      postgres-plain is PostgreSQL on the same database over plain TCP, sslmode=disable)
#   BENCH_ROUNDS       interleaved rounds                   (default 5)
#   BENCH_DURATION     wrk seconds per server per round     (default 8)
#   BENCH_CONNECTIONS  wrk connections                      (default 64)
#   BENCH_THREADS      wrk threads                          (default 2)
#   BENCH_USERS        seeded users                         (default 3000)
#   BENCH_POOL_SIZE    APP__STORAGE__POOL_SIZE              (default 10)
#   BENCH_PG_HOST / BENCH_PG_PORT / BENCH_PG_USER           (default 127.0.0.1 / 5432 / postgres)
#   BENCH_PG_PARAMS    the service's URL parameters         (default sslmode=prefer, libpq's and sqlx's default:
#                      TLS when the server offers it; sslmode=disable measures plain TCP)
#   BENCH_RUST_LOG     the services' log filter              (default warn; info, the service's default, adds a log
#                      line per request, which the baseline does not write)
#   BENCH_SKIP_BUILD=1 reuse target/release/{users-api,examples/no_storage_baseline}
#   BENCH_BIN, BENCH_BASELINE_BIN  other binaries to measure (an A/B of two builds; implies BENCH_SKIP_BUILD=1)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BACKENDS="${BENCH_BACKENDS:-memory sqlite postgres postgres-plain}"
ROUNDS="${BENCH_ROUNDS:-5}"
DURATION="${BENCH_DURATION:-8}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
THREADS="${BENCH_THREADS:-2}"
USERS="${BENCH_USERS:-3000}"
POOL_SIZE="${BENCH_POOL_SIZE:-10}"
PG_HOST="${BENCH_PG_HOST:-127.0.0.1}"
PG_PORT="${BENCH_PG_PORT:-5432}"
PG_USER="${BENCH_PG_USER:-postgres}"
PG_PARAMS="${BENCH_PG_PARAMS:-sslmode=prefer}"
BIN="${BENCH_BIN:-$ROOT/target/release/users-api}"
BASELINE_BIN="${BENCH_BASELINE_BIN:-$ROOT/target/release/examples/no_storage_baseline}"
BENCH_DB="users_read_share_$$"

# shellcheck source=lib/bench.sh
source "$ROOT/scripts/lib/bench.sh"
bench_init read-share

need_tools cargo curl wrk sqlite3 psql timeout awk

[[ -n "${BENCH_BIN:-}${BENCH_BASELINE_BIN:-}" ]] && BENCH_SKIP_BUILD=1
if [[ "${BENCH_SKIP_BUILD:-0}" == 1 && -x "$BIN" && -x "$BASELINE_BIN" ]]; then
    log "reusing $BIN and $BASELINE_BIN"
else
    log "cargo build --release (the service and the baseline)"
    (cd "$ROOT" && bounded 3600 cargo build --release -p users-api --bin users-api --example no_storage_baseline) >&2 ||
        die "release build failed"
fi

declare -A PID PORT_OF
PG_CREATED=0
JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export APP__AUTH__JWT_SECRET="$JWT_SECRET"

start_service() { # start_service NAME URL [STORAGE_BACKEND]
    local name="$1" url="$2" backend="${3:-$1}"
    start_server "$name" APP__STORAGE__BACKEND="$backend" ${url:+APP__STORAGE__URL="$url"} \
        APP__AUTH__BCRYPT_COST=4 APP__AUTH__ACCESS_TOKEN_TTL_SECS=86400 \
        APP__AUTH__BOOTSTRAP_ADMIN__USERNAME=benchadmin APP__AUTH__BOOTSTRAP_ADMIN__EMAIL=benchadmin@example.com \
        APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD=orbit-tulip-1 APP__STORAGE__POOL_SIZE="$POOL_SIZE"
    PID[$name]="$SERVER_PID" PORT_OF[$name]="$PORT"
}

# The baseline is no users-api: it has no /health/ready, so only its "listening on" line is awaited.
BASELINE_PID=""
bench_extra_cleanup() { [[ -n "$BASELINE_PID" ]] && stop_pid "$BASELINE_PID" 5; }
start_baseline() {
    "$BASELINE_BIN" "$HOST:0" >/dev/null 2>"$TMP/baseline.log" &
    BASELINE_PID=$!
    await_listening baseline "$BASELINE_PID" "$TMP/baseline.log"
    PID[baseline]="$BASELINE_PID" PORT_OF[baseline]="$PORT"
    log "baseline: pid $BASELINE_PID on port $PORT"
}

# Users u000001 … straight into the store (SQL for SQLite and PostgreSQL; sign-ups for memory, which only the
# process can reach), the admin (id 1) first. Reads then go over ids 2 … USERS+1.
seed() { # seed BACKEND
    local backend="$1" hash='$2b$04$abcdefghijklmnopqrstuu5Xo6jGs8TQbFeoeHMyfvYUDd6XHm6Tm'
    case "$backend" in
        sqlite)
            sqlite3 "$TMP/users.db" <<SQL
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $USERS)
INSERT INTO users (username, username_lower, email, name, name_lower, age, role, password_hash, created_at, updated_at)
SELECT printf('u%06d', i), printf('u%06d', i), printf('u%06d@example.com', i), 'Bench User', 'bench user', 30, 'user',
       '$hash', CAST(strftime('%s','now') AS INTEGER) * 1000000, CAST(strftime('%s','now') AS INTEGER) * 1000000 FROM n;
SQL
            ;;
        postgres)
            psql_in "$BENCH_DB" <<SQL
INSERT INTO users (username, username_lower, email, name, name_lower, age, role, password_hash, created_at, updated_at)
SELECT format('u%s', lpad(i::text, 6, '0')), format('u%s', lpad(i::text, 6, '0')),
       format('u%s@example.com', lpad(i::text, 6, '0')), 'Bench User', 'bench user', 30, 'user', '$hash',
       date_trunc('second', now()), date_trunc('second', now())
FROM generate_series(1, $USERS) AS i;
-- The statistics a deployment's autovacuum gathers once a table has grown (autovacuum is off on the CI machines'
-- cluster), so the reads run the plans they would run there.
ANALYZE;
SQL
            ;;
        memory)
            local cfg="$TMP/seed.curl" i name
            : >"$cfg"
            for ((i = 1; i <= USERS; i++)); do
                printf -v name 'u%06d' "$i"
                [[ "$i" -gt 1 ]] && echo next >>"$cfg"
                printf 'url = "http://%s:%s/users"\nrequest = "POST"\nheader = "Content-Type: application/json"\ndata = "{\\"username\\":\\"%s\\",\\"email\\":\\"%s@example.com\\",\\"password\\":\\"orbit-tulip-1\\",\\"name\\":\\"Bench User\\",\\"age\\":30}"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
                    "$HOST" "${PORT_OF[memory]}" "$name" "$name" >>"$cfg"
            done
            { bounded 300 curl -s --parallel --parallel-max 8 -K "$cfg" 2>/dev/null || true; } | sort | uniq -c >"$TMP/seed.codes"
            grep -q "^ *$USERS 201$" "$TMP/seed.codes" || die "memory: seeding answered $(tr '\n' ' ' <"$TMP/seed.codes")"
            ;;
    esac
}

login() { # login BACKEND → the admin's access token
    curl -s --max-time 10 -H 'Content-Type: application/json' \
        -d '{"username":"benchadmin","password":"orbit-tulip-1"}' "http://$HOST:${PORT_OF[$1]}/auth/login" |
        sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p'
}

# wrk: the admin's token, ids 2 … USERS+1 in turn (each thread from its own offset), requests formatted once.
cat >"$TMP/get.lua" <<'LUA'
local threads, reqs, n = 0, {}, 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
function init(args)
   local last, token = tonumber(args[1]), args[2]
   for id = 2, last do
      reqs[#reqs + 1] = wrk.format("GET", "/users/" .. id, { Authorization = "Bearer " .. token })
   end
   n = (tid or 0) * 997
end
function request() n = n + 1; return reqs[(n % #reqs) + 1] end
function done(summary, latency, requests)
   io.write(string.format("RESULT requests=%d rps=%.1f p99_ms=%.2f non2xx=%d errors=%d\n",
      summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000,
      summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

# CPU: scripts/lib/bench.sh's cpu_mark/cpu_since give the cores each used over a round (the server SERVER_PID,
# PostgreSQL's processes, the whole machine); times the round's wall time over its requests, µs per request
# (cores come to two decimals: about ±0.1 µs per request at these rates).
now_us() { echo $(($(date +%s%N) / 1000)); }
per_request() { awk -v cores="$1" -v us="$2" -v n="$3" 'BEGIN {printf "%.1f", cores * us / n}'; } # CORES US REQUESTS
# context switches of every thread of a process (voluntary and not): how often its work hops between threads
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}'; }

# --- the servers -----------------------------------------------------------------------------------------------------

log "host: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); $USERS users; $ROUNDS rounds of wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s each"
start_baseline
TARGETS="baseline"
for backend in $BACKENDS; do
    case "$backend" in
        memory) start_service memory "" ;;
        sqlite) start_service sqlite "sqlite://$TMP/users.db" ;;
        postgres | postgres-plain)
            # One database for both: the first to start creates and migrates it, and it is seeded once.
            params="$PG_PARAMS"
            [[ "$backend" == postgres-plain ]] && params=sslmode=disable
            first=$((1 - PG_CREATED))
            if [[ "$first" == 1 ]]; then
                create_db "$BENCH_DB"
                PG_CREATED=1
            fi
            start_service "$backend" "postgres://$PG_USER@$PG_HOST:$PG_PORT/$BENCH_DB?$params" postgres
            [[ "$first" == 1 ]] && seed postgres
            TARGETS="$TARGETS $backend"
            continue
            ;;
        *) die "unknown backend $backend" ;;
    esac
    seed "$backend"
    TARGETS="$TARGETS $backend"
done

declare -A TOKEN
# Every backend's admin token carries the same secret, issuer and audience: the baseline takes the first one.
for target in $TARGETS; do
    [[ "$target" == baseline ]] && continue
    TOKEN[$target]="$(login "$target")"
    [[ -n "${TOKEN[$target]}" ]] || die "$target: the admin's login failed"
    TOKEN[baseline]="${TOKEN[baseline]:-${TOKEN[$target]}}"
    code="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${TOKEN[$target]}" "http://$HOST:${PORT_OF[$target]}/users/$((USERS + 1))")"
    [[ "$code" == 200 ]] || die "$target: GET /users/$((USERS + 1)) answered $code"
done
[[ -n "${TOKEN[baseline]:-}" ]] || die "no backend to measure"

# --- interleaved rounds ----------------------------------------------------------------------------------------------

declare -A RPS CPU PG_CPU MACHINE_CPU SWITCHES BAD
list=($TARGETS)
for ((round = 1; round <= ROUNDS; round++)); do
    # Rotate the order each round, so no server always runs first (or right after another).
    order=("${list[@]:$((round % ${#list[@]}))}" "${list[@]:0:$((round % ${#list[@]}))}")
    for target in "${order[@]}"; do
        url="http://$HOST:${PORT_OF[$target]}"
        bounded 30 wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$TMP/get.lua" "$url" -- "$((USERS + 1))" "${TOKEN[$target]}" >/dev/null # warm-up
        SERVER_PID="${PID[$target]}"
        cpu_mark
        mark="$CPU_MARK" started="$(now_us)" switches_before="$(switches "${PID[$target]}")"
        bounded $((DURATION + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s "$TMP/get.lua" \
            "$url" -- "$((USERS + 1))" "${TOKEN[$target]}" >"$TMP/wrk.out"
        cpu_since "$mark" # CPU_USED = service/children/postgres/host-busy, in cores
        elapsed=$(($(now_us) - started)) switches_after="$(switches "${PID[$target]}")"
        out="$(grep '^RESULT' "$TMP/wrk.out")"
        requests="$(field requests "$out")"
        IFS=/ read -r server_cores _ pg_cores machine_cores <<<"$CPU_USED"
        CPU[$target,$round]="$(per_request "$server_cores" "$elapsed" "$requests")"
        PG_CPU[$target,$round]="$(per_request "$pg_cores" "$elapsed" "$requests")"
        MACHINE_CPU[$target,$round]="$(per_request "$machine_cores" "$elapsed" "$requests")"
        RPS[$target,$round]="$(field rps "$out")"
        SWITCHES[$target,$round]="$(awk -v s=$((switches_after - switches_before)) -v n="$requests" 'BEGIN {printf "%.2f", s / n}')"
        BAD[$target]=$((${BAD[$target]:-0} + $(field non2xx "$out") + $(field errors "$out")))
        log "round $round $target: ${RPS[$target,$round]} req/s, ${CPU[$target,$round]} µs CPU/request (PostgreSQL ${PG_CPU[$target,$round]}, machine ${MACHINE_CPU[$target,$round]}), ${SWITCHES[$target,$round]} context switches/request, p99 $(field p99_ms "$out") ms"
    done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR] = $1} END {print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'; }

# --- summary ---------------------------------------------------------------------------------------------------------

declare -A GOAL=([memory]=85 [sqlite]=60 [postgres]=70 [postgres-plain]=70)
# A reused binary may be older than the checkout: say when it was built rather than which commit is checked out.
if [[ "${BENCH_SKIP_BUILD:-0}" == 1 ]]; then
    built="binaries built $(date -u -r "$BIN" +%Y-%m-%dT%H:%MZ) (reused; the checkout is at $(git -C "$ROOT" rev-parse --short HEAD))"
else
    built="commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet || echo ' + uncommitted changes')"
fi
echo "Run at $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $built:"
echo "$ROUNDS interleaved rounds of wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, GET /users/{id} over ids 2..$((USERS + 1)) with the admin's token, pool $POOL_SIZE, the services' logs at ${BENCH_RUST_LOG:-warn}, PostgreSQL URL parameters $PG_PARAMS (server ssl: $(psql_in postgres -c 'SHOW ssl' 2>/dev/null || echo unknown))."
echo
echo "| server | median req/s | median share of baseline (per-round shares) | goal | median CPU µs/request: server | PostgreSQL | whole machine | context switches/request | non-2xx + socket errors |"
echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for target in $TARGETS; do
    rps="" shares="" cpus="" pg_cpus="" machine_cpus="" switch_counts=""
    for ((round = 1; round <= ROUNDS; round++)); do
        rps+="${RPS[$target,$round]} "
        cpus+="${CPU[$target,$round]} "
        pg_cpus+="${PG_CPU[$target,$round]} "
        machine_cpus+="${MACHINE_CPU[$target,$round]} "
        switch_counts+="${SWITCHES[$target,$round]} "
        shares+="$(awk -v a="${RPS[$target,$round]}" -v b="${RPS[baseline,$round]}" 'BEGIN {printf "%.1f", 100 * a / b}') "
    done
    share="$(median <<<"$shares")"
    if [[ "$target" == baseline ]]; then
        goal="" verdict="100 %"
    else
        goal="≥ ${GOAL[$target]} %"
        met="$(awk -v s="$share" -v g="${GOAL[$target]}" 'BEGIN {print (s >= g ? "meets" : "misses")}')"
        verdict="**$share %** ($met; ${shares% })"
    fi
    echo "| $target | $(median <<<"$rps") | $verdict | $goal | $(median <<<"$cpus") | $(median <<<"$pg_cpus") | $(median <<<"$machine_cpus") | $(median <<<"$switch_counts") | ${BAD[$target]} |"
done
