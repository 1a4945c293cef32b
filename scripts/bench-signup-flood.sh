#!/usr/bin/env bash
# Sign-up flood benchmark of users-api (issue "Trust", item 4: no client can make another's login wait behind its
# hashes).
#
#   scripts/bench-signup-flood.sh        # progress on stderr, a markdown summary on stdout; about 1 min
#
# One instance at bcrypt cost 12 (the default), per-IP login and sign-up limits off, memory backend (so the figures
# are hashing and HTTP, not storage), started as scripts/service-for-checks.sh starts it. It records the latency of a login from one client IP (127.0.0.2)
#   (a) alone: SIGNUP_FLOOD_LOGINS sequential logins, and
#   (b) the same logins while SIGNUP_FLOOD_CLIENTS concurrent clients from another IP (127.0.0.1) sign up as fast as
#       the service answers, each on a keep-alive connection of its own, retrying at once after a 503 (an
#       attacker does not honour Retry-After);
# and checks the goal: the median login during (b) ≤ 2 × the median alone + 0.5 s. Both client IPs are this host's
# loopback (Linux answers on all of 127.0.0.0/8), so the service sees two client IPs without a proxy.
#
# Knobs (environment):
#   SIGNUP_FLOOD_BIN        the users-api binary (default: target/release/users-api, built if missing;
#                           target/debug/users-api works too: bcrypt is optimised in debug builds, see Cargo.toml)
#   SIGNUP_FLOOD_COST       APP__AUTH__BCRYPT_COST                      (default 12)
#   SIGNUP_FLOOD_CLIENTS    concurrent sign-up clients                   (default 96)
#   SIGNUP_FLOOD_LOGINS     logins measured in (a) and in (b)            (default 10)
#   SIGNUP_FLOOD_WARMUP     seconds of flood before (b)'s first login    (default 3)
#
# Every step is time-bounded; the server and the temp folder are removed on exit, Ctrl-C included.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${SIGNUP_FLOOD_BIN:-$ROOT/target/release/users-api}"
COST="${SIGNUP_FLOOD_COST:-12}"
CLIENTS="${SIGNUP_FLOOD_CLIENTS:-96}"
LOGINS="${SIGNUP_FLOOD_LOGINS:-10}"
WARMUP="${SIGNUP_FLOOD_WARMUP:-3}"
HOST=127.0.0.1

# shellcheck source=lib/bench.sh
source "$ROOT/scripts/lib/bench.sh"
bench_init signup-flood

need_tools curl python3 timeout
if [[ ! -x "$BIN" ]]; then
    [[ -z "${SIGNUP_FLOOD_BIN:-}" ]] || die "no binary at $BIN"
    build_release 0
fi

start_server signup-flood APP__STORAGE__BACKEND=memory APP__AUTH__BCRYPT_COST="$COST" \
    APP__AUTH__JWT_SECRET="$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n')"
log "pid $SERVER_PID on $HOST:$PORT, bcrypt cost $COST, $(nproc) CPUs, binary $BIN"

timeout 600 python3 - "$PORT" "$CLIENTS" "$LOGINS" "$WARMUP" "$COST" "$BIN" <<'PY'
import http.client, json, statistics, sys, threading, time

port, clients, logins, warmup, cost, binary = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
JSON = {"Content-Type": "application/json"}

def log(message):
    print(f"[signup-flood {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

def connection(source):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=120, source_address=(source, 0))

def post(conn, path, body):
    conn.request("POST", path, json.dumps(body), JSON)
    response = conn.getresponse()
    response.read()
    return response.status

def login_latencies(count, pause):
    """Sequential logins from 127.0.0.2, each on a fresh connection (as a browser's first request would be)."""
    times = []
    for _ in range(count):
        conn = connection("127.0.0.2")
        started = time.perf_counter()
        status = post(conn, "/auth/login", {"username": "alice", "password": "orbit-tulip-1"})
        times.append(time.perf_counter() - started)
        conn.close()
        if status != 200:
            raise SystemExit(f"login answered {status}")
        time.sleep(pause)
    return times

conn = connection("127.0.0.2")
status = post(conn, "/users", {"username": "alice", "email": "alice@example.com", "password": "orbit-tulip-1"})
if status != 201:
    raise SystemExit(f"sign-up of alice answered {status}")

log(f"(a) {logins} logins alone")
alone = login_latencies(logins, 0.2)

stop = threading.Event()
outcomes, lock = {}, threading.Lock()
def flood(worker):
    conn, n = connection("127.0.0.1"), 0
    while not stop.is_set():
        n += 1
        name = f"f{worker}x{n}"
        try:
            status = post(conn, "/users", {"username": name, "email": f"{name}@example.com", "password": "orbit-tulip-1"})
        except Exception as e:  # a reset connection: count it, reconnect
            status = type(e).__name__
            conn = connection("127.0.0.1")
        with lock:
            outcomes[status] = outcomes.get(status, 0) + 1

log(f"(b) {clients} clients sign up from 127.0.0.1; {warmup:g} s later, {logins} logins from 127.0.0.2")
threads = [threading.Thread(target=flood, args=(i,), daemon=True) for i in range(clients)]
flood_started = time.perf_counter()
for t in threads:
    t.start()
time.sleep(warmup)
during = login_latencies(logins, 0.5)
stop.set()
for t in threads:
    t.join(timeout=130)
flood_secs = time.perf_counter() - flood_started

def ms(seconds):
    return f"{seconds * 1000:.0f} ms"

median_alone, median_during = statistics.median(alone), statistics.median(during)
goal = 2 * median_alone + 0.5
created = outcomes.get(201, 0)
print(f"## users-api sign-up flood, bcrypt cost {cost}")
print()
print(f"{time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, {len(open('/proc/cpuinfo').read().split('processor')) - 1} CPUs, "
      f"binary {binary.split('/target/')[-1]}, memory backend, per-IP limits off; "
      f"load average at the end {open('/proc/loadavg').read().split()[0]} (other tenants included).")
print(f"Flood: {clients} concurrent sign-up clients from 127.0.0.1 (keep-alive, retrying at once after a 503); "
      f"logins from 127.0.0.2, one at a time.")
print()
print("| login latency | median | min | max |")
print("| --- | ---: | ---: | ---: |")
print(f"| (a) alone, {logins} logins | {ms(median_alone)} | {ms(min(alone))} | {ms(max(alone))} |")
print(f"| (b) during the flood, {logins} logins | {ms(median_during)} | {ms(min(during))} | {ms(max(during))} |")
print()
print(f"Goal: median (b) ≤ 2 × median (a) + 0.5 s = {ms(goal)}: **{'met' if median_during <= goal else 'NOT met'}**.")
print()
answers = ", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items(), key=lambda kv: str(kv[0])))
print(f"Flood answers over {flood_secs:.1f} s: {answers} ({created / flood_secs:.1f} sign-ups/s created).")
PY

log "done"
