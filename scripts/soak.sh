#!/usr/bin/env bash
# Soak test of users-api (issue: "60 s of mixed traffic (sign-up, login, get, list, update) against two instances
# on PostgreSQL; zero 5xx, memory (RSS) flat after warm-up, and the final row count equal to the number of 201s").
#
#   scripts/soak.sh          # progress on stderr, a markdown report on stdout; about 2 min
#
# - One fresh PostgreSQL database; two instances started at the same moment on it, with one JWT secret (a token
#   from either works on both), bcrypt cost 4, no per-IP login limit and a bootstrap admin.
# - Set-up: a pool of users signed up (spread over both instances) and signed in, and the admin signed in.
# - The soak: a Python client (stdlib only: threads, one keep-alive http.client connection each, half of them on
#   each instance) runs a weighted mix for SOAK_DURATION seconds: sign-up with a unique name, login of a pool user
#   with its password, GET of a pool user by itself, GET /users?limit=20 as the admin, PATCH of a pool user's age by
#   itself. Every status is counted per operation. At the deadline no new request starts and every request in
#   flight is answered (or times out), so the 201 count is exact: unlike wrk, nothing is abandoned mid-flight.
# - The client samples each instance's VmRSS (/proc/PID/status) every 5 s, from the start to the end.
# - Afterwards: SELECT count(*) FROM users minus the pool and the admin must equal the 201 sign-ups; the 5xx
#   count (client side, and the instances' own http_requests_total) must be 0. Exit 1 if either fails.
#   RSS growth from the 15 s sample to the end is reported (and flagged above SOAK_RSS_WARN_PCT) but does not fail.
#
# Everything runs on this host over 127.0.0.1; every step is time-bounded; the servers, the database and the temp
# folder are removed on exit, Ctrl-C included.
#
# Knobs (environment):
#   SOAK_DURATION     seconds of mixed traffic                         (default 60)
#   SOAK_CLIENTS      client threads, split over the two instances     (default 16)
#   SOAK_POOL         pre-created users                                (default 200)
#   SOAK_MIX          weights signup,login,get,list,patch              (default 10,10,45,15,20)
#   SOAK_WARMUP_AT    the RSS sample growth is measured from, seconds  (default 15)
#   SOAK_RSS_WARN_PCT flag RSS growth (warm-up sample → end) above this (default 10)
#   SOAK_SKIP_BUILD   1 = reuse target/release/users-api as it is
#   SOAK_PG_HOST / SOAK_PG_PORT / SOAK_PG_USER                        (default 127.0.0.1 / 5432 / postgres)
#   SOAK_DB           throw-away database                              (default users_soak_<pid>; dropped)

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release/users-api"

DURATION="${SOAK_DURATION:-60}"
CLIENTS="${SOAK_CLIENTS:-16}"
POOL="${SOAK_POOL:-200}"
MIX="${SOAK_MIX:-10,10,45,15,20}"
WARMUP_AT="${SOAK_WARMUP_AT:-15}"
RSS_WARN_PCT="${SOAK_RSS_WARN_PCT:-10}"
PG_HOST="${SOAK_PG_HOST:-127.0.0.1}"
PG_PORT="${SOAK_PG_PORT:-5432}"
PG_USER="${SOAK_PG_USER:-postgres}"
DB="${SOAK_DB:-users_soak_$$}"
HOST=127.0.0.1
ADMIN_USER=soakadmin
ADMIN_PASSWORD="admin-password-1"

SERVER_PIDS=()
SERVER_PORTS=()
STOP_RCS=()
DB_CREATED=0

# shellcheck source=lib/bench.sh
source "$ROOT/scripts/lib/bench.sh"
BENCH_DIE_STATUS=2
bench_init soak
bench_extra_cleanup() {
    stop_servers
    if [[ "$DB_CREATED" == 1 ]]; then
        psql_admin -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 &&
            log "dropped database $DB" || log "could not drop database $DB"
    fi
}
trap 'log "failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

stop_servers() { # the library's stop_pid for each instance, its exit status in STOP_RCS
    local pid
    STOP_RCS=()
    for pid in "${SERVER_PIDS[@]}"; do
        stop_pid "$pid"
        STOP_RCS+=("$STOP_RC")
    done
    SERVER_PIDS=()
}

psql_db() { psql_in "$DB" "$@"; }

# --- preflight ----------------------------------------------------------------------------------------------------

need_tools curl psql python3 timeout awk
[[ "$DB" =~ ^[a-z_][a-z0-9_]*$ ]] || die "SOAK_DB must be a plain lower-case identifier"
[[ "$MIX" =~ ^[0-9]+,[0-9]+,[0-9]+,[0-9]+,[0-9]+$ ]] || die "SOAK_MIX must be five comma-separated weights"

build_release "${SOAK_SKIP_BUILD:-0}"

# --- the client ---------------------------------------------------------------------------------------------------

cat >"$TMP/soak.py" <<'PY'
"""Mixed-traffic soak client for users-api: stdlib only, loopback only, every wait bounded."""
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

cfg = json.loads(sys.argv[1])
PORTS = cfg["ports"]
PIDS = cfg["pids"]
HOST = "127.0.0.1"
TIMEOUT = 30
PASSWORD = "orbit-tulip-1"
OPS = ["signup", "login", "get", "list", "patch"]
EXPECTED = {"signup": {201}, "login": {200}, "get": {200}, "list": {200}, "patch": {200}}


def log(msg):
    print(f"[soak-client {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Conn:
    """One keep-alive connection; reconnects after a transport error."""

    def __init__(self, port):
        self.port = port
        self.c = None

    def call(self, method, path, body=None, token=None):
        headers = {}
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
        if token:
            headers["Authorization"] = "Bearer " + token
        if self.c is None:
            self.c = http.client.HTTPConnection(HOST, self.port, timeout=TIMEOUT)
        try:
            self.c.request(method, path, body=body, headers=headers)
            r = self.c.getresponse()
            data = r.read()
            if r.getheader("Connection", "").lower() == "close":
                self.c.close()
                self.c = None
            return r.status, data, r.getheader("Location")
        except Exception:
            try:
                self.c.close()
            finally:
                self.c = None
            raise


def setup():
    """Pool users signed up over both instances, each signed in; the admin signed in."""
    n = cfg["pool"]
    prefix = cfg["prefix"]

    def make(i):
        conn = Conn(PORTS[i % 2])
        name = f"{prefix}p{i:05d}"
        st, data, _ = conn.call("POST", "/users", {"username": name, "email": f"{name}@example.com", "password": PASSWORD})
        if st != 201:
            raise RuntimeError(f"sign-up of {name}: {st} {data[:200]!r}")
        uid = json.loads(data)["id"]
        conn2 = Conn(PORTS[(i + 1) % 2])  # signed in on the other instance
        st, data, _ = conn2.call("POST", "/auth/login", {"username": name, "password": PASSWORD})
        if st != 200:
            raise RuntimeError(f"login of {name}: {st} {data[:200]!r}")
        return {"id": uid, "name": name, "token": json.loads(data)["access_token"]}

    with ThreadPoolExecutor(8) as ex:
        users = list(ex.map(make, range(n)))
    st, data, _ = Conn(PORTS[0]).call("POST", "/auth/login", {"username": cfg["admin_user"], "password": cfg["admin_password"]})
    if st != 200:
        raise RuntimeError(f"admin login: {st} {data[:200]!r}")
    admin = json.loads(data)["access_token"]
    # Tokens from one instance work on the other (one shared secret), and an admin may list on both.
    for port in PORTS:
        st, _, _ = Conn(port).call("GET", f"/users/{users[0]['id']}", token=users[0]["token"])
        if st != 200:
            raise RuntimeError(f"GET own user on port {port}: {st}")
        st, _, _ = Conn(port).call("GET", "/users?limit=20", token=admin)
        if st != 200:
            raise RuntimeError(f"admin list on port {port}: {st}")
    return users, admin


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_snapshot():
    """CPU ticks: each instance, every postgres process (reaped backends through the postmaster), this client,
    the host's total and idle."""

    def proc_ticks(pid, children=False):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return sum(int(x) for x in fields[11:15 if children else 13])
        except (OSError, ValueError, IndexError):
            return 0

    pg = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/comm") as f:
                    if f.read().strip() == "postgres":
                        pg += proc_ticks(d, children=True)
            except OSError:
                pass
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:9]]
    return {"servers": [proc_ticks(p) for p in PIDS], "pg": pg, "client": proc_ticks(os.getpid()),
            "host": sum(cpu), "idle": cpu[3] + cpu[4]}


def cores_used(a, b):
    ncpu = os.cpu_count() or 1
    wall = (b["host"] - a["host"]) / ncpu
    if wall <= 0:
        return None
    return {"A": (b["servers"][0] - a["servers"][0]) / wall, "B": (b["servers"][1] - a["servers"][1]) / wall,
            "postgres": (b["pg"] - a["pg"]) / wall, "client": (b["client"] - a["client"]) / wall,
            "host": ((b["host"] - a["host"]) - (b["idle"] - a["idle"])) / wall}


def main():
    t0 = time.monotonic()
    users, admin = setup()
    log(f"set-up: {len(users)} users signed up and signed in, admin signed in ({time.monotonic() - t0:.1f} s)")
    rows_before = int(subprocess.run(cfg["count_cmd"], capture_output=True, text=True, timeout=30, check=True).stdout)
    log(f"users in the table before the soak: {rows_before}")

    duration = cfg["duration"]
    weights = cfg["mix"]
    lock = threading.Lock()
    status = defaultdict(Counter)  # (instance, op) → Counter(status or "transport")
    lat = defaultdict(list)  # op → seconds
    buckets = Counter()  # 5 s bucket → completed requests
    max_lat = Counter()  # 5 s bucket → worst latency (ms)
    transport_examples = []
    unexpected_examples = []
    signup_unknown = [0]
    samples = []  # (t, [rss_kib per instance])

    cpu0 = cpu_snapshot()
    start = time.monotonic()
    deadline = start + duration
    stop_sampling = threading.Event()

    def sampler():
        k = 0
        while True:
            t = start + 5 * k
            now = time.monotonic()
            if t > deadline + 0.001:
                break
            if t > now:
                if stop_sampling.wait(t - now):
                    break
            samples.append((round(time.monotonic() - start, 1), [rss_kib(p) for p in PIDS]))
            k += 1

    def worker(w):
        inst = w % 2
        conn = Conn(PORTS[inst])
        rnd = random.Random(w * 7919 + 1)
        n = 0
        local_status = defaultdict(Counter)
        local_lat = defaultdict(list)
        while time.monotonic() < deadline:
            op = rnd.choices(OPS, weights)[0]
            u = users[rnd.randrange(len(users))]
            if op == "signup":
                n += 1
                name = f"{cfg['prefix']}w{w}n{n}"
                args = ("POST", "/users", {"username": name, "email": f"{name}@example.com", "password": PASSWORD}, None)
            elif op == "login":
                args = ("POST", "/auth/login", {"username": u["name"], "password": PASSWORD}, None)
            elif op == "get":
                args = ("GET", f"/users/{u['id']}", None, u["token"])
            elif op == "list":
                args = ("GET", "/users?limit=20", None, admin)
            else:
                args = ("PATCH", f"/users/{u['id']}", {"age": rnd.randint(1, 150)}, u["token"])
            t = time.monotonic()
            try:
                st, data, _ = conn.call(*args)
            except Exception as e:  # noqa: BLE001 - counted, never retried (a POST might have been applied)
                st = "transport"
                with lock:
                    if len(transport_examples) < 5:
                        transport_examples.append(f"{op}: {type(e).__name__}: {e}")
                    if op == "signup":
                        signup_unknown[0] += 1
            done = time.monotonic()
            local_status[op][st] += 1
            local_lat[op].append(done - t)
            b = int((done - start) // 5)
            with lock:
                buckets[b] += 1
                max_lat[b] = max(max_lat[b], int((done - t) * 1000))
                if st != "transport" and st not in EXPECTED[op] and len(unexpected_examples) < 10:
                    unexpected_examples.append(f"{op} on instance {'AB'[inst]}: {st} {data[:200]!r}")
        with lock:
            for op, c in local_status.items():
                status[("AB"[inst], op)].update(c)
            for op, l in local_lat.items():
                lat[op].extend(l)

    log(f"soak: {cfg['clients']} threads, {duration} s, mix signup/login/get/list/patch = {weights}")
    st = threading.Thread(target=sampler, daemon=True)
    st.start()
    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(cfg["clients"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + TIMEOUT + 30)
    finished = time.monotonic() - start
    cpu = cores_used(cpu0, cpu_snapshot())
    stop_sampling.set()
    st.join(10)
    if any(t.is_alive() for t in threads):
        log("some client threads did not finish")
    # one last sample after the last answer, if the deadline sample was taken before the tail drained
    if not samples or samples[-1][0] < finished - 0.5:
        samples.append((round(finished, 1), [rss_kib(p) for p in PIDS]))

    def pct(xs, q):
        if not xs:
            return 0.0
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(q / 100 * len(xs)))] * 1000

    out = {
        "pool": len(users),
        "rows_before": rows_before,
        "elapsed": finished,
        "status": {f"{i}:{op}": {str(k): v for k, v in c.items()} for (i, op), c in status.items()},
        "latency": {op: {"n": len(l), "p50": pct(l, 50), "p99": pct(l, 99), "max": max(l) * 1000 if l else 0} for op, l in lat.items()},
        "buckets": [[b, buckets[b], max_lat[b]] for b in sorted(buckets)],
        "samples": samples,
        "transport_examples": transport_examples,
        "unexpected_examples": unexpected_examples,
        "signup_unknown": signup_unknown[0],
        "cpu": cpu,
    }
    with open(cfg["out"], "w") as f:
        json.dump(out, f)
    total = sum(sum(c.values()) for c in status.values())
    log(f"soak done: {total} requests in {finished:.1f} s")


main()
PY

# The report: reads the client's JSON and what the shell measured afterwards; prints markdown; exit 1 on a failure.
cat >"$TMP/report.py" <<'PY'
import json
import sys
from collections import Counter

r = json.load(open(sys.argv[1]))
extra = json.loads(sys.argv[2])
OPS = ["signup", "login", "get", "list", "patch"]


def cls(k):
    return "transport" if k == "transport" else f"{k[0]}xx"


by_class = Counter()
by_op = {op: Counter() for op in OPS}
by_inst = {"A": Counter(), "B": Counter()}
for key, c in r["status"].items():
    inst, op = key.split(":")
    for k, v in c.items():
        by_class[cls(k)] += v
        by_op[op][k] += v
        by_inst[inst][cls(k)] += v
total = sum(by_class.values())
fivexx = by_class["5xx"]
created = by_op["signup"].get("201", 0)
rows_new = extra["rows_after"] - r["pool"] - 1
expected_before = r["pool"] + 1
ok_count = rows_new == created
ok_5xx = fivexx == 0 and extra["server_5xx"] == 0

print("### Requests")
print()
print(f"{total} requests in {r['elapsed']:.1f} s ({total / r['elapsed']:.0f} req/s over both instances).")
c = r.get("cpu")
if c:
    print(f"Cores used during the soak: instance A {c['A']:.2f}, instance B {c['B']:.2f}, PostgreSQL {c['postgres']:.2f}, "
          f"this client {c['client']:.2f}; host busy {c['host']:.2f} of {extra['ncpu']} (other tenants included).")
print()
classes = ["2xx", "3xx", "4xx", "5xx", "transport"]
print("| instance | " + " | ".join(classes) + " |")
print("| --- | " + " | ".join("---:" for _ in classes) + " |")
for inst in "AB":
    print(f"| {inst} | " + " | ".join(str(by_inst[inst][c]) for c in classes) + " |")
print("| **total** | " + " | ".join(f"**{by_class[c]}**" for c in classes) + " |")
print()
print("| operation | requests | statuses | p50 | p99 | max |")
print("| --- | ---: | --- | ---: | ---: | ---: |")
for op in OPS:
    c = by_op[op]
    l = r["latency"].get(op, {"n": 0, "p50": 0, "p99": 0, "max": 0})
    sts = ", ".join(f"{k}: {v}" for k, v in sorted(c.items()))
    print(f"| {op} | {sum(c.values())} | {sts} | {l['p50']:.1f} ms | {l['p99']:.1f} ms | {l['max']:.0f} ms |")
print()
print("### RSS (VmRSS, MiB) every 5 s, and the requests completed in the 5 s before each sample")
print()
print("| t (s) | instance A | instance B | requests in the last 5 s | slowest of them |")
print("| ---: | ---: | ---: | ---: | ---: |")
buckets = {b: (n, m) for b, n, m in r["buckets"]}
for t, rss in r["samples"]:
    b = int(t // 5) - 1
    n, m = buckets.get(b, (0, 0)) if t >= 5 else ("", "")
    m = f"{m} ms" if m != "" else ""
    cells = " | ".join(f"{x / 1024:.1f}" if x is not None else "?" for x in rss)
    print(f"| {t:g} | {cells} | {n} | {m} |")
print()
warm = extra["warmup_at"]
base = next(((t, rss) for t, rss in r["samples"] if t >= warm - 0.5), None)
end = r["samples"][-1] if r["samples"] else None
rss_flags = []
if base and end:
    print(f"| RSS growth | instance A | instance B |")
    print("| --- | ---: | ---: |")
    g = []
    for i in range(2):
        a, z = base[1][i], end[1][i]
        if a is None or z is None:
            g.append("?")
            continue
        pct = 100 * (z - a) / a
        g.append(f"{(z - a) / 1024:+.1f} MiB ({pct:+.1f} %)")
        if pct > extra["rss_warn_pct"]:
            rss_flags.append("AB"[i])
    print(f"| from {base[0]:g} s to {end[0]:g} s | {g[0]} | {g[1]} |")
    print(f"| peak (VmHWM) | {extra['hwm'][0]} MiB | {extra['hwm'][1]} MiB |")
    print()
print("### Rows")
print()
print("| check | value |")
print("| --- | ---: |")
print(f"| users before the soak (pool {r['pool']} + admin 1 = {expected_before}) | {extra['rows_before']} |")
print(f"| admins in the table (the bootstrap admin, created once by two instances starting together) | {extra['admins']} |")
print(f"| users after the soak | {extra['rows_after']} |")
print(f"| new rows (after − pool − admin) | **{rows_new}** |")
print(f"| 201 sign-ups counted by the client | **{created}** |")
print(f"| sign-ups with no answer (transport error) | {r['signup_unknown']} |")
print(f"| 5xx counted by the client; by the instances' http_requests_total | **{fivexx}**; {extra['server_5xx']} |")
print()
verdicts = []
verdicts.append(f"5xx = {fivexx} (server side {extra['server_5xx']}): {'PASS' if ok_5xx else 'FAIL'}")
verdicts.append(f"rows {rows_new} vs 201s {created}: {'PASS' if ok_count else 'FAIL'}")
if extra["rows_before"] != expected_before:  # the pool and the admin, and nothing else
    verdicts.append(f"NOTE: {extra['rows_before']} users before the soak, expected {expected_before}")
if extra["admins"] != 1:
    verdicts.append(f"NOTE: {extra['admins']} admins, expected 1")
verdicts.append(
    f"RSS after warm-up: {'flagged for ' + ', '.join(rss_flags) + ' (growth above ' + str(extra['rss_warn_pct']) + ' %)' if rss_flags else 'flat within ' + str(extra['rss_warn_pct']) + ' %'}"
)
others = sum(v for k, v in by_class.items() if k not in ("2xx",))
if others:
    verdicts.append(f"NOTE: {others} answers that are not 2xx (see the operation table)")
for v in verdicts:
    print(f"- {v}")
if r["transport_examples"]:
    print("- transport errors, first ones: " + "; ".join(r["transport_examples"]))
if r["unexpected_examples"]:
    print("- unexpected statuses, first ones: " + "; ".join(r["unexpected_examples"]))
print(f"- server logs: {extra['warn_lines']} warn/error lines; exit on SIGTERM: A {extra['rcs'][0]}, B {extra['rcs'][1]}")
sys.exit(0 if ok_5xx and ok_count else 1)
PY

# --- the run ------------------------------------------------------------------------------------------------------

JWT_SECRET="$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n')"
host_busy() { # host busy cores over $1 seconds (includes every tenant of this machine)
    local a b
    a="$(awk '$1 == "cpu" {print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6}' /proc/stat)"
    sleep "$1"
    b="$(awk '$1 == "cpu" {print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6}' /proc/stat)"
    awk -v a="$a" -v b="$b" -v n="$NCPU" 'BEGIN {split(a, x, " "); split(b, y, " "); t = y[1] - x[1];
        printf "%.2f", (t > 0) ? n * ((t) - (y[2] - x[2])) / t : 0}'
}
log "host: $NCPU CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
IDLE_BUSY="$(host_busy 3)"
log "host busy before the run (others): $IDLE_BUSY of $NCPU cores"

psql_admin -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null
psql_admin -c "CREATE DATABASE \"$DB\"" >/dev/null
DB_CREATED=1
URL="postgres://$PG_USER@$PG_HOST:$PG_PORT/$DB"
log "created database $DB"

# Both instances at the same moment (they race to apply the migrations and to create the bootstrap admin).
for inst in A B; do
    launch_server "$inst" APP__STORAGE__BACKEND=postgres APP__STORAGE__URL="$URL" APP__AUTH__BCRYPT_COST=4 \
        APP__AUTH__JWT_SECRET="$JWT_SECRET" \
        APP__AUTH__BOOTSTRAP_ADMIN__USERNAME="$ADMIN_USER" \
        APP__AUTH__BOOTSTRAP_ADMIN__EMAIL="$ADMIN_USER@example.com" \
        APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD="$ADMIN_PASSWORD"
    SERVER_PIDS+=("$SERVER_PID")
done
SERVER_PID=""
INSTANCES=(A B)
for idx in 0 1; do
    await_server "${INSTANCES[$idx]}" "${SERVER_PIDS[$idx]}"
    SERVER_PORTS+=("$PORT")
done

prefix="s$RANDOM"
cfg="$(printf '{"ports":[%s,%s],"pids":[%s,%s],"pool":%s,"duration":%s,"clients":%s,"mix":[%s],"prefix":"%s","admin_user":"%s","admin_password":"%s","out":"%s","count_cmd":["psql","-X","-q","-tA","-h","%s","-p","%s","-U","%s","-d","%s","-c","SELECT count(*) FROM users"]}' \
    "${SERVER_PORTS[0]}" "${SERVER_PORTS[1]}" "${SERVER_PIDS[0]}" "${SERVER_PIDS[1]}" "$POOL" "$DURATION" "$CLIENTS" \
    "$MIX" "$prefix" "$ADMIN_USER" "$ADMIN_PASSWORD" "$TMP/result.json" "$PG_HOST" "$PG_PORT" "$PG_USER" "$DB")"

log "set-up ($POOL users) and soak (${DURATION}s, $CLIENTS client threads)"
bounded $((DURATION + 600)) python3 "$TMP/soak.py" "$cfg" || die "the soak client failed"

rows_after="$(psql_db -c 'SELECT count(*) FROM users')"
admins="$(psql_db -c "SELECT count(*) FROM users WHERE role = 'admin'")"
rows_before="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["rows_before"])' "$TMP/result.json")"
server_5xx=0
for port in "${SERVER_PORTS[@]}"; do
    n="$(curl -s --max-time 5 "http://$HOST:$port/metrics" |
        awk '/^http_requests_total\{/ && /status="5[0-9][0-9]"/ {s += $2} END {print s + 0}')"
    server_5xx=$((server_5xx + n))
done
hwm=()
for pid in "${SERVER_PIDS[@]}"; do
    hwm+=("$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status" 2>/dev/null || echo "?")")
done
stop_servers
warn_lines=0
for inst in A B; do
    n="$(grep -c -E '"level":"(WARN|ERROR)"' "$TMP/$inst.server.log" || true)"
    warn_lines=$((warn_lines + ${n:-0}))
    if [[ "${n:-0}" -gt 0 ]]; then
        log "instance $inst: $n warn/error lines; distinct messages:"
        sed -n 's/.*"level":"\(WARN\|ERROR\)".*"message":"\([^"]*\)".*/\1 \2/p' "$TMP/$inst.server.log" |
            sort | uniq -c | sort -rn | head -n 10 >&2
    fi
done
log "instances stopped (exit ${STOP_RCS[*]})"

extra="$(printf '{"rows_before":%s,"rows_after":%s,"admins":%s,"server_5xx":%s,"hwm":["%s","%s"],"warn_lines":%s,"rcs":[%s,%s],"warmup_at":%s,"rss_warn_pct":%s,"ncpu":%s}' \
    "$rows_before" "$rows_after" "$admins" "$server_5xx" "${hwm[0]}" "${hwm[1]}" "$warn_lines" "${STOP_RCS[0]}" "${STOP_RCS[1]}" \
    "$WARMUP_AT" "$RSS_WARN_PCT" "$NCPU")"

commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
[[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]] && commit="$commit + uncommitted changes"
{
    echo "## users-api soak: two instances on PostgreSQL"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), $NCPU CPUs, commit $commit; host busy before the run (other tenants): $IDLE_BUSY of $NCPU cores."
    echo "Two instances on one fresh database, bcrypt cost 4, per-IP login limit off, one JWT secret, a bootstrap admin;"
    echo "$POOL pre-created users; $CLIENTS client threads (half per instance), ${DURATION} s, mix sign-up/login/get/list/patch = $MIX."
    echo
} >"$TMP/report.md"
rc=0
python3 "$TMP/report.py" "$TMP/result.json" "$extra" >>"$TMP/report.md" || rc=$?
cat "$TMP/report.md"
[[ "$rc" == 0 ]] && log "PASS" || log "FAIL (see the report)"
exit "$rc"
