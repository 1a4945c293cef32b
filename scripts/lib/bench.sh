# shellcheck shell=bash
# The shared library of the load scripts (bench-storage.sh, bench-login-flood.sh, bench-signup-flood.sh, soak.sh,
# bench-listing.sh, bench-read-share.sh, bench-sessions-ab.sh): progress lines, time bounds, starting and stopping servers, a throw-away PostgreSQL
# database, clean-up on exit (Ctrl-C included) and CPU accounting. Sourced, never run:
#
#   source "$ROOT/scripts/lib/bench.sh"
#   bench_init flood                # the tag of progress lines; creates $TMP and installs the traps
#
# A script may define `bench_extra_cleanup` (run first at exit) for what only it started. Variables it reads:
# BIN (the users-api binary), HOST (default 127.0.0.1), PG_HOST / PG_PORT / PG_USER for the PostgreSQL helpers.
# Servers log JSON at BENCH_RUST_LOG (default warn: no line per request; info is the service's own default, one line
# per request, and costs the reads CPU that docs/benchmarks.md measures).

BENCH_TAG="bench"
BENCH_CHILDREN=() # time-bounded commands started by start_bounded
BENCH_SERVERS=()  # servers started by start_server, stopped at exit
BENCH_DBS=()      # databases created by create_db, dropped at exit
SERVER_PID=""
PORT=""
TMP=""
HOST="${HOST:-127.0.0.1}"

# Progress goes to fd 3, a copy of stderr, so it still shows when a trap fires inside a redirected command.
exec 3>&2
log() { printf '[%s %s] %s\n' "$BENCH_TAG" "$(date +%H:%M:%S)" "$*" >&3; }
die() { # exits BENCH_DIE_STATUS (default 1)
    log "FATAL: $*"
    exit "${BENCH_DIE_STATUS:-1}"
}

bench_init() { # bench_init TAG
    BENCH_TAG="$1"
    TMP="$(mktemp -d "${TMPDIR:-/tmp}/users-$1.XXXXXX")"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# --- time bounds ----------------------------------------------------------------------------------------------------

start_bounded() { # start_bounded LIMIT CMD... → LAST_PID: in the background, stopped at exit if still running
    local limit="$1"
    shift
    timeout -k 5 "$limit" "$@" &
    LAST_PID=$!
    BENCH_CHILDREN+=("$LAST_PID")
}

# In the background and waited for, so a signal to the script is handled at once (the EXIT trap then stops it).
bounded() { # bounded LIMIT CMD...
    start_bounded "$@"
    local rc=0
    wait "$LAST_PID" || rc=$?
    return "$rc"
}

need_tools() { # need_tools TOOL... : each on PATH, or die naming it
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "$tool is not installed (wrk: apt-get install -y wrk)"
    done
}

build_release() { # build_release SKIP : cargo build --release unless SKIP is 1 and $BIN exists
    if [[ "${1:-0}" == 1 && -x "$BIN" ]]; then
        log "reusing $BIN"
    else
        log "cargo build --release -p users-api (reuses what is built already)"
        (cd "$ROOT" && bounded 1800 cargo build --release -p users-api) >&2 || die "release build failed"
    fi
    [[ -x "$BIN" ]] || die "no binary at $BIN"
}

# --- servers --------------------------------------------------------------------------------------------------------

# Starts `$BIN serve` from $SERVER_DIR (default: the repository root; its config/ applies below the env vars) on
# port 0 (the kernel picks a free one and the service logs it: no race with anything else on a shared host), with
# the given env vars on top of the benchmark defaults, without waiting. → SERVER_PID; stderr in
# $TMP/NAME.server.log.
launch_server() { # launch_server NAME [VAR=value...]
    local name="$1"
    shift
    : >"$TMP/$name.server.log"
    (
        cd "${SERVER_DIR:-$ROOT}"
        exec env APP__SERVER__HOST="$HOST" APP__SERVER__PORT=0 \
            APP__AUTH__LOGIN_IP_LIMIT_PER_MINUTE=0 APP__AUTH__SIGNUP_IP_LIMIT_PER_MINUTE=0 \
            APP__LOG__FORMAT=json RUST_LOG="${BENCH_RUST_LOG:-warn}" \
            "$@" "$BIN" serve
    ) >"$TMP/$name.server.out" 2>"$TMP/$name.server.log" &
    SERVER_PID=$!
    BENCH_SERVERS+=("$SERVER_PID")
}

# Waits for a process's `listening on http://…:PORT` line in its log (the service's, or any program that logs its
# bound address the same way). → PORT
await_listening() { # await_listening NAME PID LOG
    local name="$1" pid="$2" errlog="$3" i
    PORT=""
    for ((i = 0; i < 600; i++)); do
        PORT="$(sed -n 's#.*listening on http://[^ ]*:\([0-9][0-9]*\).*#\1#p' "$errlog" | head -n1)"
        [[ -n "$PORT" ]] && return 0
        kill -0 "$pid" 2>/dev/null || {
            cat "$errlog" >&2
            die "$name: the server exited before listening"
        }
        sleep 0.1
    done
    die "$name: no 'listening on' line within 60 s"
}

# Waits for a launched server's `listening on` line and for /health/ready. → PORT
await_server() { # await_server NAME PID
    local name="$1" pid="$2" ready
    await_listening "$name" "$pid" "$TMP/$1.server.log"
    ready="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$HOST:$PORT/health/ready" || true)"
    [[ "$ready" == 200 ]] || {
        cat "$TMP/$name.server.log" >&2
        die "$name: /health/ready answered $ready"
    }
    log "$name: pid $pid listening on $HOST:$PORT"
}

start_server() { # start_server NAME [VAR=value...] → SERVER_PID, PORT
    launch_server "$@"
    await_server "$1" "$SERVER_PID"
}

# SIGTERM, a bounded wait for the graceful shutdown, SIGKILL only if it hangs. → STOP_RC (the exit status).
stop_pid() { # stop_pid PID [GRACE_SECS]
    local pid="$1" grace="${2:-40}" i
    STOP_RC=""
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < grace * 10; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "process $pid still running $grace s after SIGTERM: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    # (no set +e/-e around it: that would turn errexit back on inside bench_cleanup, whose later waits then end it)
    wait "$pid" 2>/dev/null && STOP_RC=0 || STOP_RC=$?
}

stop_server() { # stops SERVER_PID (if any) → STOP_RC
    STOP_RC=""
    [[ -n "$SERVER_PID" ]] || return 0
    stop_pid "$SERVER_PID"
    SERVER_PID=""
}

# --- PostgreSQL -----------------------------------------------------------------------------------------------------

psql_admin() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres "$@"; }
psql_in() { # psql_in DB ARGS... : tuples only, unaligned
    local db="$1"
    shift
    PGOPTIONS="-c client_min_messages=warning" psql -X -q -tA -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$db" "$@"
}

create_db() { # create_db NAME : a throw-away database, dropped at exit
    [[ "$1" =~ ^[a-z_][a-z0-9_]*$ ]] || die "database name $1 must be a plain lower-case identifier"
    psql_admin -c "CREATE DATABASE \"$1\"" >/dev/null || die "cannot create database $1"
    BENCH_DBS+=("$1")
}

# --- clean-up -------------------------------------------------------------------------------------------------------

bench_cleanup() {
    local rc=$? pid db
    trap - EXIT INT TERM
    set +e
    declare -F bench_extra_cleanup >/dev/null && bench_extra_cleanup
    for pid in "${BENCH_CHILDREN[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
        fi
    done
    for pid in "${BENCH_SERVERS[@]}"; do
        kill -0 "$pid" 2>/dev/null && stop_pid "$pid"
    done
    for db in "${BENCH_DBS[@]}"; do
        psql_admin -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 &&
            log "dropped database $db" || log "could not drop database $db"
    done
    [[ -n "$TMP" && -d "$TMP" ]] && rm -rf -- "$TMP"
    exit "$rc"
}

# --- CPU accounting -------------------------------------------------------------------------------------------------
# So a noisy shared host shows in the figures: `cpu_mark` stores a snapshot in CPU_MARK; `cpu_since MARK` sets
# CPU_USED = "service/children/postgres/host-busy", the cores each used since (1.00 = one core busy throughout):
# the server SERVER_PID, this shell's waited-for children (wrk, pgbench, curl), every postgres process (reaped
# backends count through the postmaster), and the whole host (every tenant of this machine). Both must run in the
# script's shell (never in $(…)): `times` must see its children.

CLK_TCK="$(getconf CLK_TCK)"
NCPU="$(nproc)"
cpu_mark() {
    local srv=0 kids pg host
    if [[ -n "$SERVER_PID" && -r "/proc/$SERVER_PID/stat" ]]; then
        srv="$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")"
    fi
    times >"$TMP/times" # second line: user and system time of this shell's waited-for children
    kids="$(awk -v hz="$CLK_TCK" 'NR == 2 {
        t = 0
        for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); t += p[1] * 60 + p[2] }
        printf "%.0f", t * hz }' "$TMP/times")"
    # (a process may exit between the glob and cat: cat then fails, which must not end the script)
    pg="$({ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '$2 == "(postgres)" {s += $14 + $15 + $16 + $17} END {print s + 0}')"
    host="$(awk '$1 == "cpu" {print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6}' /proc/stat)"
    CPU_MARK="$srv $kids $pg $host"
}
cpu_since() { # cpu_since MARK → CPU_USED
    local before="$1"
    cpu_mark
    CPU_USED="$(awk -v ncpu="$NCPU" -v a="$before" -v b="$CPU_MARK" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        ticks = (y[4] - x[4]) / ncpu # wall time, in ticks
        if (ticks <= 0) { print "?"; exit }
        printf "%.2f/%.2f/%.2f/%.2f", (y[1] - x[1]) / ticks, (y[2] - x[2]) / ticks, (y[3] - x[3]) / ticks,
            ((y[4] - x[4]) - (y[5] - x[5])) / ticks
    }')"
}

# --- results --------------------------------------------------------------------------------------------------------

field() { # field NAME LINE → the value of NAME=value in a BENCH_RESULT line
    sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"
}
