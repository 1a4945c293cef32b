#!/usr/bin/env bash
# Login-flood benchmark of users-api (issue: "a login flood must not stall other requests").
#
#   scripts/bench-login-flood.sh          # progress on stderr, a markdown summary on stdout; about 2 min
#
# One instance, default bcrypt cost 12, per-IP login limit off, on PostgreSQL (FLOOD_BACKEND=memory works too).
# It measures an authenticated GET /users/{id} (a user reading itself with its own token) with wrk
#   (a) alone, and
#   (b) while a second wrk, started at the same moment for the same window, logs in with valid passwords as fast
#       as the service answers,
# and sets the logins/s reached in (b) beside the bcrypt ceiling = CPUs ÷ the time of one cost-12 hash here;
#   (c), after them, runs the login flood once more with no GET load, for comparison.
#
# The time of one hash is measured two ways:
#   - in the service: sequential logins over one connection for a user whose stored hash has cost 12, minus the
#     same for a user whose stored hash has cost 4 (made with `users-api create-admin` at APP__AUTH__BCRYPT_COST=4
#     against the same database). Both logins run the same code path (user lookup, lock-out check, verify, clear,
#     refresh-token insert, JWT) and differ only in the bcrypt work, so the difference is hash(12) − hash(4) =
#     255/256 of hash(12); the script scales it back. On the memory backend (create-admin refuses it) the
#     sequential GET latency stands in for the non-bcrypt cost instead.
#   - outside it: bcrypt.checkpw at cost 12 with PyPI's `bcrypt` (Rust-backed, like the service's crate) in a venv
#     under /tmp (FLOOD_VENV; created once, reused; skipped with FLOOD_PY_BCRYPT=0 or when it cannot be set up).
# The ceiling uses the in-service figure; the Python one is a cross-check.
#
# Everything runs on this host, over 127.0.0.1: the service, both wrk processes and PostgreSQL share the CPUs.
# Every step is time-bounded; the server, the database and the temp folder are removed on exit, Ctrl-C included.
#
# Knobs (environment):
#   FLOOD_BACKEND           postgres | memory                           (default postgres)
#   FLOOD_DURATION          seconds of (a) and of (b)                   (default 15)
#   FLOOD_GET_THREADS / FLOOD_GET_CONNECTIONS      GET wrk              (default 2 / 32)
#   FLOOD_LOGIN_THREADS / FLOOD_LOGIN_CONNECTIONS  login wrk            (default 1 / 8)
#   FLOOD_LOGIN_USERS       users the flood logs in as, round-robin    (default 8)
#   FLOOD_BCRYPT_COST       APP__AUTH__BCRYPT_COST                      (default 12)
#   FLOOD_WARMUP            GET warm-up seconds before (a)              (default 3; 0 = none)
#   FLOOD_SEQ_SECS          seconds of each sequential-login probe      (default 6)
#   FLOOD_PY_BCRYPT         1 = also time bcrypt in Python              (default 1)
#   FLOOD_ALONE             1 = (c): the login flood once more, alone   (default 1)
#   FLOOD_VENV              venv for the Python timing                  (default /tmp/users-api-bcrypt-venv)
#   FLOOD_SKIP_BUILD        1 = reuse target/release/users-api as it is
#   FLOOD_PG_HOST / FLOOD_PG_PORT / FLOOD_PG_USER                       (default 127.0.0.1 / 5432 / postgres)
#   FLOOD_DB                throw-away database                         (default users_flood_<pid>; dropped)

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release/users-api"

BACKEND="${FLOOD_BACKEND:-postgres}"
DURATION="${FLOOD_DURATION:-15}"
GET_THREADS="${FLOOD_GET_THREADS:-2}"
GET_CONNECTIONS="${FLOOD_GET_CONNECTIONS:-32}"
LOGIN_THREADS="${FLOOD_LOGIN_THREADS:-1}"
LOGIN_CONNECTIONS="${FLOOD_LOGIN_CONNECTIONS:-8}"
LOGIN_USERS="${FLOOD_LOGIN_USERS:-8}"
COST="${FLOOD_BCRYPT_COST:-12}"
WARMUP="${FLOOD_WARMUP:-3}"
SEQ_SECS="${FLOOD_SEQ_SECS:-6}"
PY_BCRYPT="${FLOOD_PY_BCRYPT:-1}"
FLOOD_ALONE="${FLOOD_ALONE:-1}"
VENV="${FLOOD_VENV:-/tmp/users-api-bcrypt-venv}"
PG_HOST="${FLOOD_PG_HOST:-127.0.0.1}"
PG_PORT="${FLOOD_PG_PORT:-5432}"
PG_USER="${FLOOD_PG_USER:-postgres}"
DB="${FLOOD_DB:-users_flood_$$}"
HOST=127.0.0.1
PASSWORD="orbit-tulip-1"

DB_CREATED=0

# shellcheck source=lib/bench.sh
source "$ROOT/scripts/lib/bench.sh"
bench_init flood
bench_extra_cleanup() {
    if [[ "$DB_CREATED" == 1 ]]; then
        psql_admin -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 &&
            log "dropped database $DB" || log "could not drop database $DB"
    fi
}
trap 'log "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

# --- preflight ----------------------------------------------------------------------------------------------------

need_tools curl wrk timeout awk
case "$BACKEND" in
postgres) command -v psql >/dev/null || die "psql is not installed" ;;
memory) ;;
*) die "FLOOD_BACKEND must be postgres or memory" ;;
esac
[[ "$DB" =~ ^[a-z_][a-z0-9_]*$ ]] || die "FLOOD_DB must be a plain lower-case identifier"

build_release "${FLOOD_SKIP_BUILD:-0}"

# CPU accounting: the library's cpu_mark / cpu_since ("service/client/postgres/host-busy" cores; the host figure
# includes other tenants of this shared machine).

# --- wrk scripts --------------------------------------------------------------------------------------------------

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
      "BENCH_RESULT requests=%d secs=%.3f rps=%.2f min_ms=%.2f mean_ms=%.2f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
      summary.requests, secs, summary.requests / secs, latency.min / 1000, latency.mean / 1000, latency:percentile(50) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000, e.status, e.connect, e.read, e.write, e.timeout))
end
LUA

# GET /users/{args[1]} with bearer args[2], formatted once.
{
    cat "$TMP/report.lua"
    cat <<'LUA'
local req
function init(args)
   req = wrk.format("GET", "/users/" .. args[1], { ["Authorization"] = "Bearer " .. args[2] })
end
function request()
   return req
end
LUA
} >"$TMP/get.lua"

# POST /auth/login as args[1] .. (1..args[2]) zero-padded to 2 digits (round-robin, each thread from its own
# offset), password args[3]; with args[2] = 0, always as args[1] itself.
{
    cat "$TMP/report.lua"
    cat <<'LUA'
local reqs, n = {}, 0
function init(args)
   local prefix, count, password = args[1], tonumber(args[2]), args[3]
   local names = {}
   if count == 0 then names[1] = prefix else
      for i = 1, count do names[#names + 1] = string.format("%s%02d", prefix, i) end
   end
   for _, name in ipairs(names) do
      reqs[#reqs + 1] = wrk.format("POST", "/auth/login", { ["Content-Type"] = "application/json" },
         '{"username":"' .. name .. '","password":"' .. password .. '"}')
   end
   n = (tid or 0) * 3
end
function request()
   n = n + 1
   return reqs[(n % #reqs) + 1]
end
LUA
} >"$TMP/login.lua"

# wrk in the background: start_wrk NAME THREADS CONNS SECS TIMEOUT SCRIPT [ARGS...] → LAST_PID; finish_wrk NAME
# → RESULT (the BENCH_RESULT line); the raw output goes to stderr.
start_wrk() {
    local name="$1" threads="$2" conns="$3" secs="$4" tmo="$5" script="$6"
    shift 6
    start_bounded $((secs + 60)) wrk -t"$threads" -c"$conns" -d"${secs}s" --timeout "$tmo" --latency -s "$script" \
        "http://$HOST:$PORT" -- "$@" >"$TMP/$name.wrk" 2>&1
}
finish_wrk() { # finish_wrk NAME PID
    local name="$1" pid="$2" rc=0
    wait "$pid" || rc=$?
    sed 's/^/    /' "$TMP/$name.wrk" | grep -v BENCH_RESULT >&2 || true
    [[ "$rc" == 0 ]] || die "wrk failed ($name, exit $rc)"
    RESULT="$(grep BENCH_RESULT "$TMP/$name.wrk" || true)"
    [[ -n "$RESULT" ]] || die "no result from wrk ($name)"
}
run_wrk() { # run_wrk NAME THREADS CONNS SECS TIMEOUT SCRIPT [ARGS...] → RESULT, with cpu=
    local mark
    cpu_mark
    mark="$CPU_MARK"
    start_wrk "$@"
    finish_wrk "$1" "$LAST_PID"
    cpu_since "$mark"
    RESULT="$RESULT cpu=$CPU_USED"
    log "$1: $(field rps "$RESULT") req/s, p99 $(field p99_ms "$RESULT") ms; service/client/postgres/host-busy cores $CPU_USED"
}

metric() { # metric NAME_WITH_LABELS → value from /metrics (0 if absent)
    curl -s --max-time 5 "http://$HOST:$PORT/metrics" | awk -v m="$1" 'index($0, m) == 1 {v = $2; f = 1} END {print f ? v : "?"}'
}

# --- the run ------------------------------------------------------------------------------------------------------

JWT_SECRET="$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n')"
log "host: $NCPU CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), load average $(cut -d' ' -f1-3 /proc/loadavg)"

# Other tenants' load before we start anything: host busy cores over 3 s.
cpu_mark
idle_mark="$CPU_MARK"
sleep 3
cpu_since "$idle_mark"
IDLE_BUSY="$(cut -d/ -f4 <<<"$CPU_USED")"
log "host busy before the run (others): $IDLE_BUSY of $NCPU cores"

url=""
if [[ "$BACKEND" == postgres ]]; then
    psql_admin -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null
    psql_admin -c "CREATE DATABASE \"$DB\"" >/dev/null
    DB_CREATED=1
    url="postgres://$PG_USER@$PG_HOST:$PG_PORT/$DB"
    log "created database $DB"
fi

# A user whose stored hash has cost 4, for the in-service hash timing (postgres only): create-admin at cost 4.
LOWCOST=""
if [[ "$BACKEND" == postgres ]]; then
    if (cd "$ROOT" && USERS_API_ADMIN_PASSWORD="$PASSWORD" APP__STORAGE__BACKEND=postgres APP__STORAGE__URL="$url" \
        APP__AUTH__BCRYPT_COST=4 APP__AUTH__JWT_SECRET="$JWT_SECRET" RUST_LOG=warn \
        timeout 60 "$BIN" create-admin --username lowcost --email lowcost@example.com) >"$TMP/create-admin.out" 2>&1; then
        LOWCOST=lowcost
    else
        log "create-admin at cost 4 failed; falling back to the GET latency as the non-bcrypt cost"
        sed 's/^/    /' "$TMP/create-admin.out" >&2
    fi
fi

storage_url=()
[[ -n "$url" ]] && storage_url=("APP__STORAGE__URL=$url")
start_server "$BACKEND" APP__STORAGE__BACKEND="$BACKEND" "${storage_url[@]}" APP__AUTH__BCRYPT_COST="$COST" \
    APP__AUTH__JWT_SECRET="$JWT_SECRET"
errlog="$TMP/$BACKEND.server.log"
log "$BACKEND: pid $SERVER_PID on $HOST:$PORT, bcrypt cost $COST, per-IP login limit off"

signup() { # signup NAME → 201 or die
    local code
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 -H 'Content-Type: application/json' \
        -d "{\"username\":\"$1\",\"email\":\"$1@example.com\",\"password\":\"$PASSWORD\"}" "http://$HOST:$PORT/users")"
    [[ "$code" == 201 ]] || die "sign-up of $1 answered $code"
}
login_body() { # login_body NAME → response body
    curl -s --max-time 30 -H 'Content-Type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"$PASSWORD\"}" "http://$HOST:$PORT/auth/login"
}

signup reader
for ((i = 1; i <= LOGIN_USERS; i++)); do signup "$(printf 'flood%02d' "$i")"; done
body="$(login_body reader)"
TOKEN="$(sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p' <<<"$body")"
READER_ID="$(curl -s --max-time 5 -H "Authorization: Bearer $TOKEN" "http://$HOST:$PORT/users/me" | sed -n 's/.*"id" *: *\([0-9][0-9]*\).*/\1/p')"
[[ -n "$TOKEN" && -n "$READER_ID" ]] || die "could not sign in as reader"
code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $TOKEN" "http://$HOST:$PORT/users/$READER_ID")"
[[ "$code" == 200 ]] || die "GET /users/$READER_ID with its own token answered $code"
log "users: reader (id $READER_ID) and $LOGIN_USERS flood users, each created at cost $COST"

# --- one hash's time ------------------------------------------------------------------------------------------------

log "sequential logins over one connection, ${SEQ_SECS}s each"
run_wrk seq-login12 1 1 "$SEQ_SECS" 30s "$TMP/login.lua" flood01 0 "$PASSWORD"
SEQ12="$RESULT"
if [[ -n "$LOWCOST" ]]; then
    run_wrk seq-login4 1 1 "$SEQ_SECS" 30s "$TMP/login.lua" "$LOWCOST" 0 "$PASSWORD"
    SEQBASE="$RESULT"
    # L12 − L4 = h12 − h4 = h12 · (1 − 2^(4 − cost)). The fastest request of each run is the one least slowed
    # by other tenants, so the minima give the ceiling; the means are shown beside them.
    scale="$(awk -v c="$COST" 'BEGIN {print 1 / (1 - 2 ^ (4 - c))}')"
    HASH_HOW="sequential login, hash cost $COST, minus sequential login, hash cost 4 (same code path), ×$(printf '%.4f' "$scale")"
else
    run_wrk seq-get 1 1 "$SEQ_SECS" 5s "$TMP/get.lua" "$READER_ID" "$TOKEN"
    SEQBASE="$RESULT"
    scale=1
    HASH_HOW="sequential login minus sequential authenticated GET (approximates the non-bcrypt cost)"
fi
HASH_MS="$(awk -v a="$(field min_ms "$SEQ12")" -v b="$(field min_ms "$SEQBASE")" -v k="$scale" 'BEGIN {printf "%.1f", (a - b) * k}')"
HASH_MEAN_MS="$(awk -v a="$(field mean_ms "$SEQ12")" -v b="$(field mean_ms "$SEQBASE")" -v k="$scale" 'BEGIN {printf "%.1f", (a - b) * k}')"
log "one cost-$COST hash in the service: $HASH_MS ms from the minima, $HASH_MEAN_MS ms from the means ($HASH_HOW)"

PY_HASH_MS=""
if [[ "$PY_BCRYPT" == 1 ]]; then
    if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import bcrypt' 2>/dev/null; then
        log "creating $VENV with PyPI's bcrypt"
        { timeout 60 python3 -m venv "$VENV" && timeout 180 "$VENV/bin/pip" install -q bcrypt; } >&2 2>&1 ||
            log "could not set up $VENV; skipping the Python timing"
    fi
    if "$VENV/bin/python" -c 'import bcrypt' 2>/dev/null; then
        PY_HASH_MS="$(timeout 120 "$VENV/bin/python" - "$COST" <<'PY' || true
import statistics, sys, time
import bcrypt
cost = int(sys.argv[1])
h = bcrypt.hashpw(b"orbit-tulip-1", bcrypt.gensalt(cost))
times = []
for _ in range(7):
    t = time.perf_counter()
    assert bcrypt.checkpw(b"orbit-tulip-1", h)
    times.append(time.perf_counter() - t)
print(f"{statistics.median(times) * 1000:.1f} {min(times) * 1000:.1f} {bcrypt.__version__}")
PY
)"
        [[ -n "$PY_HASH_MS" ]] && log "Python bcrypt $(cut -d' ' -f3 <<<"$PY_HASH_MS"), cost $COST checkpw: median $(cut -d' ' -f1 <<<"$PY_HASH_MS") ms, min $(cut -d' ' -f2 <<<"$PY_HASH_MS") ms (7 runs)"
    fi
fi

# --- (a) and (b) ----------------------------------------------------------------------------------------------------

if [[ "$WARMUP" -gt 0 ]]; then
    run_wrk warmup "$GET_THREADS" "$GET_CONNECTIONS" "$WARMUP" 2s "$TMP/get.lua" "$READER_ID" "$TOKEN"
fi

log "(a) GET /users/$READER_ID alone: wrk -t$GET_THREADS -c$GET_CONNECTIONS -d${DURATION}s"
run_wrk alone "$GET_THREADS" "$GET_CONNECTIONS" "$DURATION" 2s "$TMP/get.lua" "$READER_ID" "$TOKEN"
ALONE="$RESULT"

log "(b) the same GET while wrk -t$LOGIN_THREADS -c$LOGIN_CONNECTIONS logs in, both for ${DURATION}s"
ok_before="$(metric 'logins_total{outcome="succeeded"}')"
cpu_mark
mark="$CPU_MARK"
start_wrk flood-get "$GET_THREADS" "$GET_CONNECTIONS" "$DURATION" 2s "$TMP/get.lua" "$READER_ID" "$TOKEN"
get_pid="$LAST_PID"
start_wrk flood-login "$LOGIN_THREADS" "$LOGIN_CONNECTIONS" "$DURATION" 30s "$TMP/login.lua" flood "$LOGIN_USERS" "$PASSWORD"
login_pid="$LAST_PID"
finish_wrk flood-get "$get_pid"
DURING="$RESULT"
finish_wrk flood-login "$login_pid"
LOGINS="$RESULT"
cpu_since "$mark"
FLOOD_CPU="$CPU_USED"
sleep 2 # let the logins wrk abandoned finish on the server
ok_after="$(metric 'logins_total{outcome="succeeded"}')"
if [[ "$ok_before" =~ ^[0-9]+$ && "$ok_after" =~ ^[0-9]+$ ]]; then
    SERVER_LOGINS=$((ok_after - ok_before))
else
    SERVER_LOGINS="?"
    log "no logins_total{outcome=\"succeeded\"} in /metrics"
fi
log "(b) service/client/postgres/host-busy cores: $FLOOD_CPU"

SOLO=""
if [[ "$FLOOD_ALONE" == 1 ]]; then
    log "(c) the login flood alone, ${DURATION}s (what the CPUs left to it give, without the GET load)"
    run_wrk solo-login "$LOGIN_THREADS" "$LOGIN_CONNECTIONS" "$DURATION" 30s "$TMP/login.lua" flood "$LOGIN_USERS" "$PASSWORD"
    SOLO="$RESULT"
    sleep 2
fi

rss="$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$SERVER_PID/status" 2>/dev/null || echo "?")"
stop_server
warn_lines="$(grep -c -E '"level":"(WARN|ERROR)"' "$errlog" || true)"
if [[ "${warn_lines:-0}" -gt 0 ]]; then
    log "$warn_lines warn/error lines in the server log; distinct messages:"
    sed -n 's/.*"level":"\(WARN\|ERROR\)".*"message":"\([^"]*\)".*/\1 \2/p' "$errlog" | sort | uniq -c | sort -rn | head -n 10 >&2
fi
log "server stopped (exit $STOP_RC), peak RSS $rss MiB"

# --- summary (stdout) -----------------------------------------------------------------------------------------------

login_ok=$(($(field requests "$LOGINS") - $(field non2xx "$LOGINS")))
login_rate="$(awk -v n="$login_ok" -v s="$(field secs "$LOGINS")" 'BEGIN {printf "%.2f", n / s}')"
server_rate="?"
[[ "$SERVER_LOGINS" == "?" ]] || server_rate="$(awk -v n="$SERVER_LOGINS" -v s="$DURATION" 'BEGIN {printf "%.2f", n / s}')"
ceiling="$(awk -v c="$NCPU" -v h="$HASH_MS" 'BEGIN {printf "%.2f", (h > 0) ? c * 1000 / h : 0}')"
pct() { awk -v r="$1" -v c="$ceiling" 'BEGIN {printf "%.0f", (c > 0) ? 100 * r / c : 0}'; }
bcrypt_cores() { awk -v r="$1" -v h="$HASH_MS" 'BEGIN {printf "%.2f", r * h / 1000}'; }
if [[ -n "$SOLO" ]]; then
    solo_ok=$(($(field requests "$SOLO") - $(field non2xx "$SOLO")))
    solo_rate="$(awk -v n="$solo_ok" -v s="$(field secs "$SOLO")" 'BEGIN {printf "%.2f", n / s}')"
fi
rps_drop="$(awk -v a="$(field rps "$ALONE")" -v b="$(field rps "$DURING")" 'BEGIN {printf "%.0f", 100 * (1 - b / a)}')"
errs() { echo "$(field connect "$1")/$(field read "$1")/$(field write "$1")/$(field timeout "$1")"; }

commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
[[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]] && commit="$commit + uncommitted changes"

echo "## users-api login flood ($BACKEND backend)"
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $NCPU CPUs, commit $commit, bcrypt cost $COST, per-IP login limit off;"
echo "GET: wrk -t$GET_THREADS -c$GET_CONNECTIONS -d${DURATION}s (a user reading itself with its token);"
echo "flood: wrk -t$LOGIN_THREADS -c$LOGIN_CONNECTIONS -d${DURATION}s --timeout 30s, valid passwords, $LOGIN_USERS users round-robin, started with the GET run."
echo "Host busy before the run (other tenants): $IDLE_BUSY of $NCPU cores."
echo
echo "| GET /users/{id} | req/s | p50 | p99 | max | non-2xx | socket errors c/r/w/t | service/client/postgres/host-busy cores |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"
printf '| (a) alone | %.0f | %s ms | %s ms | %s ms | %s | %s | %s |\n' "$(field rps "$ALONE")" "$(field p50_ms "$ALONE")" \
    "$(field p99_ms "$ALONE")" "$(field max_ms "$ALONE")" "$(field non2xx "$ALONE")" "$(errs "$ALONE")" "$(field cpu "$ALONE")"
printf '| (b) during the login flood | %.0f | %s ms | %s ms | %s ms | %s | %s | %s |\n' "$(field rps "$DURING")" \
    "$(field p50_ms "$DURING")" "$(field p99_ms "$DURING")" "$(field max_ms "$DURING")" "$(field non2xx "$DURING")" \
    "$(errs "$DURING")" "$FLOOD_CPU"
echo
echo "GET throughput during the flood: $rps_drop % below alone."
echo
echo "| logins | value |"
echo "| --- | ---: |"
echo "| logins/s during (b), 200s counted by wrk | **$login_rate** ($login_ok in $(field secs "$LOGINS") s) |"
echo "| logins/s during (b), server-side \`logins_total{outcome=\"succeeded\"}\` ÷ ${DURATION} s | $server_rate ($SERVER_LOGINS, includes logins wrk abandoned at the end) |"
echo "| login latency during (b): p50 / p99 / max | $(field p50_ms "$LOGINS") / $(field p99_ms "$LOGINS") / $(field max_ms "$LOGINS") ms |"
echo "| login non-2xx; socket errors c/r/w/t | $(field non2xx "$LOGINS"); $(errs "$LOGINS") |"
echo "| one cost-$COST hash, in the service: from the fastest requests; from the means | **$HASH_MS ms**; $HASH_MEAN_MS ms |"
if [[ -n "$PY_HASH_MS" ]]; then
    echo "| one cost-$COST hash, Python bcrypt $(cut -d' ' -f3 <<<"$PY_HASH_MS") checkpw, 7 runs: min; median (cross-check) | $(cut -d' ' -f2 <<<"$PY_HASH_MS") ms; $(cut -d' ' -f1 <<<"$PY_HASH_MS") ms |"
fi
echo "| bcrypt ceiling = $NCPU CPUs ÷ $HASH_MS ms | **$ceiling logins/s** |"
echo "| logins/s during (b) ÷ ceiling | $(pct "$login_rate") % (≈ $(bcrypt_cores "$login_rate") cores hashing) |"
if [[ -n "$SOLO" ]]; then
    echo "| (c) logins/s, the same flood with no GET load | $solo_rate = $(pct "$solo_rate") % of the ceiling (≈ $(bcrypt_cores "$solo_rate") cores hashing; p50 $(field p50_ms "$SOLO") ms, p99 $(field p99_ms "$SOLO") ms, non-2xx $(field non2xx "$SOLO"); service/postgres/host-busy cores $(field cpu "$SOLO")) |"
fi
echo
echo "- Hash time in the service: $HASH_HOW."
echo "  Sequential requests over one connection, min / mean: login with a cost-$COST hash $(field min_ms "$SEQ12") / $(field mean_ms "$SEQ12") ms ($(field requests "$SEQ12") requests); baseline $(field min_ms "$SEQBASE") / $(field mean_ms "$SEQBASE") ms."
echo "- Server: peak RSS $rss MiB, ${warn_lines:-0} warn/error log lines, exit $STOP_RC on SIGTERM."
