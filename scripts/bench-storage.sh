#!/usr/bin/env bash
# Storage benchmark of users-api: the memory, SQLite and PostgreSQL backends under the same HTTP load, beside the
# ceiling of PostgreSQL itself (pgbench running the primary-key SELECT the service runs for GET /users/{id}).
# GET runs twice: "own", every request reading the same user with that user's token, and "any", an admin (the
# bootstrap admin the script configures) reading every seeded user in turn.
#
#   scripts/bench-storage.sh            # progress on stderr, a markdown summary on stdout
#
# Everything runs on this host, over loopback (127.0.0.1) only: the service, wrk, pgbench and PostgreSQL share
# the CPUs, so the figures compare backends with one another; they are not capacity figures for a real server.
#
# Needs: cargo, curl, wrk, psql and pgbench; PostgreSQL reachable at $BENCH_PG_HOST:$BENCH_PG_PORT as
# $BENCH_PG_USER with trust auth, allowed to create a database. Every step is time-bounded; servers, the bench
# database and the temporary folder are removed on exit, Ctrl-C included.
#
# Knobs (environment):
#   BENCH_BACKENDS     backends to run, in order            (default "memory sqlite postgres")
#   BENCH_USERS        users seeded through POST /users     (default 1000)
#   BENCH_DURATION     wrk and pgbench duration, seconds    (default 15)
#   BENCH_CONNECTIONS  wrk connections                      (default 64)
#   BENCH_THREADS      wrk threads                          (default 2)
#   BENCH_WARMUP       GET warm-up before measuring, secs   (default 3; 0 = none)
#   BENCH_POOL_SIZE    APP__STORAGE__POOL_SIZE = pgbench -c (default 10)
#   BENCH_SKIP_BUILD   1 = reuse target/release/users-api as it is, no cargo build
#   BENCH_PG_HOST / BENCH_PG_PORT / BENCH_PG_USER           (default 127.0.0.1 / 5432 / postgres)
#   BENCH_DB           name of the throw-away database      (default users_bench_<pid>; dropped at the end)

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release/users-api"

BACKENDS="${BENCH_BACKENDS:-memory sqlite postgres}"
USERS="${BENCH_USERS:-1000}"
DURATION="${BENCH_DURATION:-15}"
CONNECTIONS="${BENCH_CONNECTIONS:-64}"
THREADS="${BENCH_THREADS:-2}"
WARMUP="${BENCH_WARMUP:-3}"
POOL_SIZE="${BENCH_POOL_SIZE:-10}"
PG_HOST="${BENCH_PG_HOST:-127.0.0.1}"
PG_PORT="${BENCH_PG_PORT:-5432}"
PG_USER="${BENCH_PG_USER:-postgres}"
BENCH_DB="${BENCH_DB:-users_bench_$$}"
HOST=127.0.0.1
TARGET_RATIO=60

DB_CREATED=0

# shellcheck source=lib/bench.sh
source "$ROOT/scripts/lib/bench.sh"
bench_init bench
bench_extra_cleanup() {
    if [[ "$DB_CREATED" == 1 ]]; then
        psql_admin -c "DROP DATABASE IF EXISTS \"$BENCH_DB\" WITH (FORCE)" >/dev/null 2>&1 &&
            log "dropped database $BENCH_DB" || log "could not drop database $BENCH_DB"
    fi
}
psql_bench() { psql_in "$BENCH_DB" "$@"; }

# --- preflight ----------------------------------------------------------------------------------------------------

need_tools curl wrk psql pgbench timeout awk
[[ "$BENCH_DB" =~ ^[a-z_][a-z0-9_]*$ ]] || die "BENCH_DB must be a plain lower-case identifier"
build_release "${BENCH_SKIP_BUILD:-0}"

# --- wrk scripts --------------------------------------------------------------------------------------------------

# `done` runs once, in wrk's main Lua state: one machine-readable line with what the summary table needs.
cat >"$TMP/report.lua" <<'LUA'
local threads = 0
function setup(thread)
   thread:set("tid", threads)
   threads = threads + 1
end

function done(summary, latency, requests)
   local secs = summary.duration / 1e6
   local e = summary.errors
   io.write(string.format(
      "BENCH_RESULT requests=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
      summary.requests, summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
      latency.max / 1000, e.status, e.connect, e.read, e.write, e.timeout))
end
LUA

# GET /users/{id}, rotating over the ids [args[1], args[2]] (each thread from its own offset); args[3] is an
# optional bearer token. Requests are formatted once, in init, so wrk spends as little CPU as it can.
{
    cat "$TMP/report.lua"
    cat <<'LUA'
local reqs, n = {}, 0
function init(args)
   local first, last, token = tonumber(args[1]), tonumber(args[2]), args[3]
   for id = first, last do
      local headers = {}
      if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
      reqs[#reqs + 1] = wrk.format("GET", "/users/" .. id, headers)
   end
   n = (tid or 0) * 997
end
function request()
   n = n + 1
   return reqs[(n % #reqs) + 1]
end
LUA
} >"$TMP/get.lua"

# POST /users with a username and email unique per run (args[1]), thread and request.
{
    cat "$TMP/report.lua"
    cat <<'LUA'
local prefix, n = "", 0
function init(args)
   prefix = args[1] .. "t" .. (tid or 0) .. "n"
end
function request()
   n = n + 1
   local name = prefix .. n
   local body = '{"username":"' .. name .. '","email":"' .. name .. '@example.com","password":"orbit-tulip-1"}'
   return wrk.format("POST", "/users", { ["Content-Type"] = "application/json" }, body)
end
LUA
} >"$TMP/post.lua"

# --- helpers --------------------------------------------------------------------------------------------------------

start_server_for() { # start_server_for BACKEND URL → sets SERVER_PID and PORT (the library's start_server)
    local backend="$1" url="$2"
    local -a storage_url=()
    [[ -n "$url" ]] && storage_url=("APP__STORAGE__URL=$url") # none for memory
    start_server "$backend" APP__STORAGE__BACKEND="$backend" "${storage_url[@]}" APP__AUTH__BCRYPT_COST=4 \
        APP__AUTH__JWT_SECRET="$JWT_SECRET" \
        APP__AUTH__BOOTSTRAP_ADMIN__USERNAME=benchadmin \
        APP__AUTH__BOOTSTRAP_ADMIN__EMAIL=benchadmin@example.com \
        APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD=orbit-tulip-1 \
        APP__STORAGE__POOL_SIZE="$POOL_SIZE"
}

seed_users() { # seed_users BACKEND → sets ID_MIN, ID_MAX; every POST must be a 201
    local backend="$1" cfg="$TMP/$1.seed.curl" out="$TMP/$1.seed.out" i name
    : >"$cfg"
    for ((i = 1; i <= USERS; i++)); do
        printf -v name 'u%04d' "$i" # 3–32 characters (docs/api.md §2): u1 would be too short
        [[ "$i" -gt 1 ]] && echo next >>"$cfg"
        cat >>"$cfg" <<EOF
url = "http://$HOST:$PORT/users"
silent
request = "POST"
header = "Content-Type: application/json"
data = "{\"username\":\"$name\",\"email\":\"$name@example.com\",\"password\":\"orbit-tulip-1\"}"
output = "/dev/null"
write-out = "%{http_code} %header{location}\\n"
max-time = 30
EOF
    done
    # (curl 7.88 draws its parallel progress meter even when silent: stderr goes to a file.)
    bounded 300 curl -s --parallel --parallel-max 8 -K "$cfg" >"$out" 2>"$TMP/$backend.seed.err" || true
    local created
    created="$(awk '$1 == 201' "$out" | wc -l)"
    if [[ "$created" -ne "$USERS" ]]; then
        log "$backend: seeding answers: $(awk '{print $1}' "$out" | sort | uniq -c | tr '\n' ' ')"
        die "$backend: only $created of $USERS seed users created"
    fi
    read -r ID_MIN ID_MAX < <(sed -n 's#.*/users/\([0-9][0-9]*\).*#\1#p' "$out" | sort -n | awk 'NR == 1 {a = $1} {b = $1} END {print a, b}')
    [[ $((ID_MAX - ID_MIN + 1)) -eq "$USERS" ]] ||
        log "$backend: note: ids $ID_MIN..$ID_MAX are not contiguous ($USERS users); gaps will be 404s"
    log "$backend: seeded $USERS users (ids $ID_MIN..$ID_MAX)"
}

# GET /users/{id} needs, per docs/api.md §3, the user themself or an admin. If the service asks for a token, sign in
# as the first seeded user and read that user (a fixed id); if not, rotate over every seeded id.
choose_get_target() { # → sets GET_FIRST, GET_LAST, TOKEN, GET_MODE
    local backend="$1" code body
    TOKEN=""
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$HOST:$PORT/users/$ID_MIN")"
    case "$code" in
    200)
        GET_FIRST="$ID_MIN" GET_LAST="$ID_MAX" GET_MODE="ids $ID_MIN..$ID_MAX, no token"
        ;;
    401 | 403)
        body="$(curl -s --max-time 10 -H 'Content-Type: application/json' \
            -d '{"username":"u0001","password":"orbit-tulip-1"}' "http://$HOST:$PORT/auth/login")"
        TOKEN="$(sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p' <<<"$body")"
        [[ -n "$TOKEN" ]] || die "$backend: GET /users/$ID_MIN is $code and login as u0001 failed"
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $TOKEN" \
            "http://$HOST:$PORT/users/$ID_MIN")"
        [[ "$code" == 200 ]] || die "$backend: GET /users/$ID_MIN with u0001's token is $code"
        GET_FIRST="$ID_MIN" GET_LAST="$ID_MIN" GET_MODE="id $ID_MIN, u0001's bearer token"
        ;;
    *) die "$backend: GET /users/$ID_MIN answered $code" ;;
    esac
}

# CPU accounting (the library's cpu_mark / cpu_since): "service/client/postgres/host-busy" cores.
run_wrk() { # run_wrk NAME SCRIPT [ARGS...] → sets RESULT (the BENCH_RESULT line); raw output to stderr
    local name="$1" script="$2" secs="$3"
    shift 3
    local out="$TMP/$name.wrk" mark
    cpu_mark
    mark="$CPU_MARK"
    bounded $((secs + 60)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --latency -s "$script" \
        "http://$HOST:$PORT" -- "$@" >"$out" 2>&1 || {
        cat "$out" >&2
        die "wrk failed ($name)"
    }
    sed 's/^/    /' "$out" | grep -v BENCH_RESULT >&2 || true
    RESULT="$(grep BENCH_RESULT "$out" || true)"
    [[ -n "$RESULT" ]] || die "no result from wrk ($name)"
    cpu_since "$mark"
    RESULT="$RESULT cpu=$CPU_USED"
    log "$name: cores used, service/wrk/postgres/host busy: $(field cpu "$RESULT") (of $NCPU)"
}

user_count() { # user_count BACKEND → how many users the backend holds; on memory "probe:<id>" (see below)
    local n="" loc
    case "$1" in
    postgres) n="$(psql_bench -c 'SELECT count(*) FROM users' 2>/dev/null || true)" ;;
    sqlite) command -v sqlite3 >/dev/null && n="$(sqlite3 "$TMP/sqlite/users.db" 'SELECT count(*) FROM users' 2>/dev/null || true)" ;;
    esac
    if [[ -z "$n" ]]; then
        # Listing needs an admin, so create one probe user: ids are handed out in order and never reused, so the
        # id says how many users were created before it (the caller subtracts the probe).
        loc="$(curl -s -o /dev/null -w '%{http_code} %header{location}' --max-time 10 \
            -H 'Content-Type: application/json' \
            -d "{\"username\":\"probe$RANDOM$RANDOM\",\"email\":\"probe$RANDOM$RANDOM@example.com\",\"password\":\"orbit-tulip-1\"}" \
            "http://$HOST:$PORT/users")"
        [[ "$loc" =~ ^201\ .*/users/([0-9]+) ]] && n="probe:${BASH_REMATCH[1]}"
    fi
    echo "${n:-?}"
}

server_log_summary() { # server_log_summary BACKEND → "N warn/error lines" and the distinct messages
    local errlog="$TMP/$1.server.log" n
    n="$(grep -c -E '"level":"(WARN|ERROR)"' "$errlog" || true)"
    LOG_NOTE="${n:-0}"
    if [[ "${n:-0}" -gt 0 ]]; then
        log "$1: $n warn/error lines in the server log; distinct messages:"
        sed -n 's/.*"level":"\(WARN\|ERROR\)".*"message":"\([^"]*\)".*/\1 \2/p' "$errlog" |
            sort | uniq -c | sort -rn | head -n 10 | sed 's/^/    /' >&2
    fi
}

login() { # login USERNAME → the access token on stdout
    curl -s --max-time 10 -H 'Content-Type: application/json' -d "{\"username\":\"$1\",\"password\":\"orbit-tulip-1\"}" \
        "http://$HOST:$PORT/auth/login" | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p'
}

# Statements PostgreSQL committed in the bench database so far (each read is one), to show how many requests
# one statement served.
# PostgreSQL publishes a backend's counters within a second of its transactions: wait that second first.
pg_statements() { sleep 1 && psql_bench -c "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()" 2>/dev/null || echo ""; }

# --- the run ------------------------------------------------------------------------------------------------------

JWT_SECRET="$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n')"
declare -A ROW
PG_TPS="" PG_GET_RPS="" PG_CPU="" PG_GET_CPU="" PG_GET_ANY_RPS="" PG_GET_ANY_CPU=""
PG_GET_STATEMENTS="" PG_GET_ANY_STATEMENTS="" PG_GET_REQUESTS="" PG_GET_ANY_REQUESTS=""

log "host: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); $USERS users; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s"

for backend in $BACKENDS; do
    log "=== $backend (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    case "$backend" in
    memory) url="" ;;
    sqlite)
        mkdir -p "$TMP/sqlite"
        url="sqlite://$TMP/sqlite/users.db"
        ;;
    postgres)
        psql_admin -c "DROP DATABASE IF EXISTS \"$BENCH_DB\" WITH (FORCE)" >/dev/null
        psql_admin -c "CREATE DATABASE \"$BENCH_DB\"" >/dev/null
        DB_CREATED=1
        log "created database $BENCH_DB"
        url="postgres://$PG_USER@$PG_HOST:$PG_PORT/$BENCH_DB"
        ;;
    *) die "unknown backend $backend" ;;
    esac

    start_server_for "$backend" "$url"
    seed_users "$backend"
    # The statistics a deployment's autovacuum would have gathered by now (the CI machines' cluster runs with
    # autovacuum off), so the reads run the plans they would run there.
    [[ "$backend" == postgres ]] && psql_in "$BENCH_DB" -c "ANALYZE" >/dev/null
    choose_get_target "$backend"

    if [[ "$WARMUP" -gt 0 ]]; then
        log "$backend: warm-up, GET for ${WARMUP}s"
        run_wrk "$backend.warmup" "$TMP/get.lua" "$WARMUP" "$GET_FIRST" "$GET_LAST" "$TOKEN"
    fi

    log "$backend: GET /users/{id} ($GET_MODE)"
    [[ "$backend" == postgres ]] && tx0="$(pg_statements)"
    run_wrk "$backend.get" "$TMP/get.lua" "$DURATION" "$GET_FIRST" "$GET_LAST" "$TOKEN"
    get="$RESULT"
    [[ "$backend" == postgres ]] && PG_GET_STATEMENTS=$(($(pg_statements) - tx0))

    # The same route as an admin over every seeded id: no two requests in a row read the same user.
    ADMIN_TOKEN="$(login benchadmin)"
    [[ -n "$ADMIN_TOKEN" ]] || die "$backend: login as the bootstrap admin failed"
    log "$backend: GET /users/{id} (ids $ID_MIN..$ID_MAX, the admin's bearer token)"
    [[ "$backend" == postgres ]] && tx0="$(pg_statements)"
    run_wrk "$backend.get-any" "$TMP/get.lua" "$DURATION" "$ID_MIN" "$ID_MAX" "$ADMIN_TOKEN"
    get_any="$RESULT"
    [[ "$backend" == postgres ]] && PG_GET_ANY_STATEMENTS=$(($(pg_statements) - tx0))

    if [[ "$backend" == postgres ]]; then
        # The database's own ceiling for the same statement, as many clients as the pool has connections. The
        # service is idle meanwhile (it still holds its pool's connections).
        cat >"$TMP/pk.sql" <<EOF
\\set id random($ID_MIN, $ID_MAX)
SELECT id, username, email, name, age, role, password_hash, created_at, updated_at FROM users WHERE id = :id;
EOF
        log "postgres: pgbench -c $POOL_SIZE -j 2 -T $DURATION -M prepared -n (ids $ID_MIN..$ID_MAX)"
        cpu_mark
        mark="$CPU_MARK"
        bounded $((DURATION + 60)) pgbench -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -c "$POOL_SIZE" -j 2 \
            -T "$DURATION" -M prepared -n -f "$TMP/pk.sql" "$BENCH_DB" >"$TMP/pgbench.out" 2>&1 || {
            cat "$TMP/pgbench.out" >&2
            die "pgbench failed"
        }
        sed 's/^/    /' "$TMP/pgbench.out" >&2
        cpu_since "$mark"
        PG_CPU="$CPU_USED"
        log "pgbench: cores used, service/pgbench/postgres/host busy: $PG_CPU (of $NCPU)"
        PG_TPS="$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' "$TMP/pgbench.out")"
        [[ -n "$PG_TPS" ]] || PG_TPS="$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$TMP/pgbench.out" | tail -n1)"
        PG_GET_RPS="$(field rps "$get")"
        PG_GET_CPU="$(field cpu "$get")"
        PG_GET_ANY_RPS="$(field rps "$get_any")"
        PG_GET_ANY_CPU="$(field cpu "$get_any")"
        PG_GET_REQUESTS="$(field requests "$get")"
        PG_GET_ANY_REQUESTS="$(field requests "$get_any")"
    fi

    before="$(user_count "$backend")"
    log "$backend: POST /users (unique username and email per thread and request)"
    run_wrk "$backend.post" "$TMP/post.lua" "$DURATION" "b$RANDOM"
    post="$RESULT"
    after="$(user_count "$backend")"
    if [[ "$before" =~ ^[0-9]+$ && "$after" =~ ^[0-9]+$ ]]; then
        created=$((after - before))
    elif [[ "$before" =~ ^probe:([0-9]+)$ ]] && b="${BASH_REMATCH[1]}" && [[ "$after" =~ ^probe:([0-9]+)$ ]]; then
        created=$((BASH_REMATCH[1] - b - 1))
    else
        created="?"
    fi
    post_ok=$(($(field requests "$post") - $(field non2xx "$post")))
    log "$backend: wrk counted $post_ok 2xx POSTs; the store grew by $created users"

    rss="$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$SERVER_PID/status" 2>/dev/null || echo "?")"
    stop_server
    server_log_summary "$backend"
    log "$backend: stopped (exit $STOP_RC), peak RSS ${rss} MiB"
    ROW[$backend]="$get|$post|$created|$STOP_RC|$LOG_NOTE|$rss|$GET_MODE|$get_any"

    if [[ "$backend" == postgres ]]; then
        psql_admin -c "DROP DATABASE IF EXISTS \"$BENCH_DB\" WITH (FORCE)" >/dev/null && DB_CREATED=0
        log "dropped database $BENCH_DB"
    fi
done

# --- summary (stdout) -----------------------------------------------------------------------------------------------

errs() { # socket errors of a result line, as "c/r/w/t"
    echo "$(field connect "$1")/$(field read "$1")/$(field write "$1")/$(field timeout "$1")"
}

echo "## users-api storage benchmark"
echo
commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    commit="$commit + uncommitted changes"
fi
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, commit $commit:"
echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s over 127.0.0.1, $USERS seeded users, bcrypt cost 4, pool $POOL_SIZE."
echo
echo "GET own: each user reads their own record (u0001's token, one id). GET any: the admin reads every seeded id in turn."
echo
echo "| backend | GET own req/s | GET own p99 | GET any req/s | GET any p50 | GET any p99 | GET non-2xx (own; any) | POST req/s | POST p50 | POST p99 | POST non-2xx | POST 2xx / users created | socket errors GET own; any; POST (c/r/w/t) | server warn+error lines | exit on SIGTERM |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"
for backend in $BACKENDS; do
    IFS='|' read -r get post created rc lognote rss mode get_any <<<"${ROW[$backend]}"
    post_ok=$(($(field requests "$post") - $(field non2xx "$post")))
    printf '| %s | %.0f | %s ms | %.0f | %s ms | %s ms | %s; %s | %.0f | %s ms | %s ms | %s | %s / %s | %s; %s; %s | %s | %s |\n' \
        "$backend" "$(field rps "$get")" "$(field p99_ms "$get")" \
        "$(field rps "$get_any")" "$(field p50_ms "$get_any")" "$(field p99_ms "$get_any")" \
        "$(field non2xx "$get")" "$(field non2xx "$get_any")" \
        "$(field rps "$post")" "$(field p50_ms "$post")" "$(field p99_ms "$post")" "$(field non2xx "$post")" \
        "$post_ok" "$created" "$(errs "$get")" "$(errs "$get_any")" "$(errs "$post")" "$lognote" "$rc"
done
echo
ratio() { awk -v a="$1" -v b="$PG_TPS" 'BEGIN {printf "%.1f", 100 * a / b}'; }
verdict() { awk -v r="$1" -v t="$TARGET_RATIO" 'BEGIN {print (r >= t) ? "meets" : "misses"}'; }
per_statement() { awk -v r="$1" -v s="$2" 'BEGIN {if (s > 0) printf "%.1f", r / s; else print "?"}'; }
if [[ -n "$PG_TPS" && -n "$PG_GET_RPS" ]]; then
    own="$(ratio "$PG_GET_RPS")" any="$(ratio "$PG_GET_ANY_RPS")"
    echo "| PostgreSQL ceiling | value |"
    echo "| --- | ---: |"
    printf '| pgbench PK SELECT, -c %s -j 2 -T %s -M prepared | %.0f TPS |\n' "$POOL_SIZE" "$DURATION" "$PG_TPS"
    printf '| GET own on postgres | %.0f req/s: **%s %%** of pgbench (target ≥ %s %%: %s) |\n' "$PG_GET_RPS" "$own" "$TARGET_RATIO" "$(verdict "$own")"
    printf '| GET any on postgres | %.0f req/s: **%s %%** of pgbench (target ≥ %s %%: %s) |\n' "$PG_GET_ANY_RPS" "$any" "$TARGET_RATIO" "$(verdict "$any")"
    printf '| requests per statement, GET own; GET any | %s; %s |\n' "$(per_statement "$PG_GET_REQUESTS" "$PG_GET_STATEMENTS")" "$(per_statement "$PG_GET_ANY_REQUESTS" "$PG_GET_ANY_STATEMENTS")"
    echo "| cores used during GET own; GET any: service/wrk/postgres/host busy | $PG_GET_CPU; $PG_GET_ANY_CPU (of $NCPU) |"
    echo "| cores used during pgbench: service/pgbench/postgres/host busy | $PG_CPU (of $NCPU) |"
    echo
fi
for backend in $BACKENDS; do
    IFS='|' read -r get post created rc lognote rss mode get_any <<<"${ROW[$backend]}"
    echo "- $backend: GET own over $mode; peak RSS $rss MiB; cores used (service/wrk/postgres/host busy) during GET own $(field cpu "$get"), GET any $(field cpu "$get_any"), POST $(field cpu "$post")."
done
