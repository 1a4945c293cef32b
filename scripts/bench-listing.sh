#!/usr/bin/env bash
# Listing benchmark of users-api (issue "Listing at a million users"): every query form of GET /users, and a
# login, at two sizes (10k and 1M users by default) on PostgreSQL and SQLite, from the release binary.
#
#   scripts/bench-listing.sh            # progress on stderr, a markdown table on stdout
#
# Users are seeded straight into the store, not through the API: one SQL statement of pre-made rows
# (generate_series on PostgreSQL, a recursive CTE in one transaction on SQLite), every row with the same bcrypt
# hash (that of the bootstrap admin, cost 4), so seeding costs no bcrypt per user. The schema's triggers (kept
# counts, SQLite's trigram index) run as they would for any write. Usernames are `user<k>` with k a permutation
# of the ids (so username order is not id order), emails `user<k>@example.com`, names `User <k>`, every 100th a
# admin, and created_at/updated_at in steps of one second shared by three users (ties, broken by id).
#
# Each query form is asked BENCH_REQUESTS times in a row on one keep-alive connection (curl), after a few
# warm-up requests; the table shows the median (p50) of curl's time_total in ms, client side, over loopback.
# The machine is shared and noisy: compare ratios (1M against 10k, one form against another) more than figures.
#
# Needs: cargo, curl, psql, sqlite3; PostgreSQL at $BENCH_PG_HOST:$BENCH_PG_PORT as $BENCH_PG_USER with trust
# auth, allowed to create a database (and pg_trgm, from postgresql-contrib). Everything is time-bounded; servers,
# databases and temporary files are removed on exit, Ctrl-C included.
#
# Knobs (environment):
#   BENCH_BACKENDS     backends, in order                   (default "postgres sqlite")
#   BENCH_SIZES        user counts, in order                (default "10000 1000000")
#   BENCH_REQUESTS     timed requests per query form        (default 50)
#   BENCH_SKIP_BUILD   1 = reuse target/release/users-api as it is
#   BENCH_PG_HOST / BENCH_PG_PORT / BENCH_PG_USER           (default 127.0.0.1 / 5432 / postgres)

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/target/release/users-api"
BACKENDS="${BENCH_BACKENDS:-postgres sqlite}"
SIZES="${BENCH_SIZES:-10000 1000000}"
REQUESTS="${BENCH_REQUESTS:-50}"
PG_HOST="${BENCH_PG_HOST:-127.0.0.1}"
PG_PORT="${BENCH_PG_PORT:-5432}"
PG_USER="${BENCH_PG_USER:-postgres}"

# shellcheck source=lib/bench.sh
source "$ROOT/scripts/lib/bench.sh"
bench_init listing

need_tools curl psql sqlite3 timeout awk
build_release "${BENCH_SKIP_BUILD:-0}"

JWT_SECRET="$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n')"
ADMIN_PASSWORD=orbit-tulip-1

# The query forms: a label and the request path (SIZE, HALF, CURSOR and CURSOR_NEWEST are filled in per run).
FORMS=(
    "first page, by id|/users?limit=20"
    "first page, newest first|/users?limit=20&sort=-created_at"
    "first page, by username|/users?limit=20&sort=username"
    "first page, by -username|/users?limit=20&sort=-username"
    "first page, by email|/users?limit=20&sort=email"
    "first page, by -email|/users?limit=20&sort=-email"
    "first page, by created_at|/users?limit=20&sort=created_at"
    "first page, by updated_at|/users?limit=20&sort=updated_at"
    "first page, by -updated_at|/users?limit=20&sort=-updated_at"
    "first page, by -id|/users?limit=20&sort=-id"
    "exact username|/users?username=USER7919"
    "exact email|/users?email=user7919%40example.com"
    "role=admin|/users?role=admin"
    "role=user, newest first|/users?role=user&sort=-created_at"
    "q=er77777 (selective)|/users?q=er77777"
    "q=er7919 (selective)|/users?q=er7919"
    "q=user4242@ (one match at any size)|/users?q=user4242%40"
    "deep page by starting_after, by id|/users?limit=20&starting_after=CURSOR"
    "deep page by starting_after, newest first|/users?limit=20&sort=-created_at&starting_after=CURSOR_NEWEST"
    "offset = half the users (O(offset))|/users?limit=20&offset=HALF"
)
LOGIN_FORM="login (POST /auth/login)"

declare -A P50 # P50[backend/size/label] = ms

p50_of() { # p50_of FILE → the median of one number per line, in ms with 2 decimals (input in seconds)
    sort -n "$1" | awk '{v[NR] = $1} END {if (NR == 0) {print "?"; exit}; m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m * 1000}'
}

# Times REQUESTS requests of one form on one keep-alive connection; every answer must be `expect`.
time_form() { # time_form KEY EXPECT CURL_ARGS... → P50[KEY]
    local key="$1" expect="$2" cfg="$TMP/form.curl" out="$TMP/form.out" i
    shift 2
    : >"$cfg"
    for ((i = 0; i < REQUESTS + 5; i++)); do
        [[ "$i" -gt 0 ]] && echo next >>"$cfg"
        printf 'url = "%s"\nwrite-out = "%%{http_code} %%{time_total}\\n"\noutput = "/dev/null"\nsilent\nmax-time = 30\n' \
            "$URL" >>"$cfg"
        for arg in "$@"; do printf '%s\n' "$arg" >>"$cfg"; done
    done
    bounded 600 curl -K "$cfg" >"$out" 2>"$TMP/form.err" || die "$key: curl failed: $(head -c 300 "$TMP/form.err")"
    local bad
    bad="$(awk -v e="$expect" '$1 != e' "$out" | head -n 3)"
    [[ -z "$bad" ]] || die "$key: answered $(awk '{print $1}' "$out" | sort | uniq -c | tr '\n' ' ')"
    tail -n "$REQUESTS" "$out" | awk '{print $2}' >"$TMP/form.times"
    P50[$key]="$(p50_of "$TMP/form.times")"
}

seed_postgres() { # seed_postgres DB SIZE
    local db="$1" size="$2"
    psql_in "$db" -c "
        INSERT INTO users (username, username_lower, email, name, name_lower, age, role, password_hash, created_at,
                           updated_at)
        SELECT 'user' || k, 'user' || k, 'user' || k || '@example.com', 'User ' || k, 'user ' || k, NULL,
               CASE WHEN i % 100 = 0 THEN 'admin' ELSE 'user' END,
               (SELECT password_hash FROM users WHERE username = 'benchadmin'),
               TIMESTAMPTZ '2026-01-01 00:00:00Z' + (i / 3) * INTERVAL '1 second',
               TIMESTAMPTZ '2026-01-01 00:00:00Z' + (i / 3) * INTERVAL '1 second'
          FROM generate_series(1, $size) AS i, LATERAL (SELECT (i::bigint * 7919) % $size AS k) AS permuted" >/dev/null
    psql_in "$db" -c "VACUUM ANALYZE users" >/dev/null
}

seed_sqlite() { # seed_sqlite FILE SIZE
    local file="$1" size="$2"
    sqlite3 "$file" "
        PRAGMA busy_timeout = 30000;
        PRAGMA cache_size = -400000;
        BEGIN;
        WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < $size)
        INSERT INTO users (username, username_lower, email, name, name_lower, age, role, password_hash, created_at,
                           updated_at)
        SELECT 'user' || k, 'user' || k, 'user' || k || '@example.com', 'User ' || k, 'user ' || k, NULL,
               CASE WHEN i % 100 = 0 THEN 'admin' ELSE 'user' END,
               (SELECT password_hash FROM users WHERE username = 'benchadmin'),
               1767225600000000 + (i / 3) * 1000000, 1767225600000000 + (i / 3) * 1000000
          FROM (SELECT i, (i * 7919) % $size AS k FROM seq);
        COMMIT;" >/dev/null
}

run_one() { # run_one BACKEND SIZE
    local backend="$1" size="$2" key url_env db file token form label path started
    local -a storage=()
    case "$backend" in
    postgres)
        db="users_listing_$$_$size"
        create_db "$db"
        storage=(APP__STORAGE__BACKEND=postgres "APP__STORAGE__URL=postgres://$PG_USER@$PG_HOST:$PG_PORT/$db")
        ;;
    sqlite)
        mkdir -p "$TMP/sqlite-$size"
        file="$TMP/sqlite-$size/users.db"
        storage=(APP__STORAGE__BACKEND=sqlite "APP__STORAGE__URL=sqlite://$file")
        ;;
    *) die "unknown backend $backend" ;;
    esac
    start_server "$backend-$size" "${storage[@]}" APP__AUTH__BCRYPT_COST=4 APP__AUTH__JWT_SECRET="$JWT_SECRET" \
        APP__AUTH__BOOTSTRAP_ADMIN__USERNAME=benchadmin APP__AUTH__BOOTSTRAP_ADMIN__EMAIL=benchadmin@example.com \
        APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD="$ADMIN_PASSWORD"
    started=$SECONDS
    case "$backend" in
    postgres) seed_postgres "$db" "$size" ;;
    sqlite) seed_sqlite "$file" "$size" ;;
    esac
    log "$backend: seeded $size users in $((SECONDS - started)) s"
    token="$(curl -s --max-time 10 -H 'Content-Type: application/json' \
        -d "{\"username\":\"benchadmin\",\"password\":\"$ADMIN_PASSWORD\"}" "http://$HOST:$PORT/auth/login" |
        sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p')"
    [[ -n "$token" ]] || die "$backend: no admin token"
    local half=$((size / 2)) cursor cursor_newest total
    # Deep cursors: the users half-way down the id order and the newest-first order (read with an offset once).
    cursor="$(curl -s --max-time 60 -H "Authorization: Bearer $token" "http://$HOST:$PORT/users?limit=1&offset=$half" |
        sed -n 's/^\[{"id":\([0-9]*\).*/\1/p')"
    cursor_newest="$(curl -s --max-time 60 -H "Authorization: Bearer $token" \
        "http://$HOST:$PORT/users?limit=1&sort=-created_at&offset=$half" | sed -n 's/^\[{"id":\([0-9]*\).*/\1/p')"
    [[ -n "$cursor" && -n "$cursor_newest" ]] || die "$backend: no deep cursor"
    total="$(curl -s -o /dev/null -D - --max-time 60 -H "Authorization: Bearer $token" "http://$HOST:$PORT/users?limit=1" |
        tr -d '\r' | sed -n 's/^x-total-count: //Ip')"
    [[ "$total" == $((size + 1)) ]] || die "$backend: X-Total-Count $total, expected $((size + 1))"
    for form in "${FORMS[@]}"; do
        label="${form%%|*}"
        path="${form#*|}"
        path="${path//CURSOR_NEWEST/$cursor_newest}"
        path="${path//CURSOR/$cursor}"
        path="${path//HALF/$half}"
        URL="http://$HOST:$PORT$path"
        time_form "$backend/$size/$label" 200 "header = \"Authorization: Bearer $token\""
        log "$backend $size: $label: p50 ${P50[$backend/$size/$label]} ms"
    done
    URL="http://$HOST:$PORT/auth/login"
    time_form "$backend/$size/$LOGIN_FORM" 200 'header = "Content-Type: application/json"' \
        "data = \"{\\\"username\\\":\\\"user7919\\\",\\\"password\\\":\\\"$ADMIN_PASSWORD\\\"}\""
    log "$backend $size: $LOGIN_FORM: p50 ${P50[$backend/$size/$LOGIN_FORM]} ms"
    stop_server
    case "$backend" in
    postgres) psql_admin -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null ;;
    sqlite) rm -rf -- "$TMP/sqlite-$size" ;;
    esac
}

log "host: $NCPU CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); sizes $SIZES; $REQUESTS requests per form"
for backend in $BACKENDS; do
    for size in $SIZES; do
        run_one "$backend" "$size"
    done
done

# --- the table ------------------------------------------------------------------------------------------------------

read -r -a SIZE_LIST <<<"$SIZES"
small="${SIZE_LIST[0]}"
large="${SIZE_LIST[${#SIZE_LIST[@]} - 1]}"
header="| query form |"
rule="| --- |"
for backend in $BACKENDS; do
    for size in "${SIZE_LIST[@]}"; do
        header+=" $backend $size (ms) |"
        rule+=" ---: |"
    done
    [[ "$small" != "$large" ]] && header+=" $backend ratio |" && rule+=" ---: |"
done
echo
echo "Listing benchmark, p50 of $REQUESTS requests per form (curl time_total, ms); $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "$header"
echo "$rule"
for form in "${FORMS[@]}" "$LOGIN_FORM|"; do
    label="${form%%|*}"
    row="| $label |"
    for backend in $BACKENDS; do
        for size in "${SIZE_LIST[@]}"; do
            row+=" ${P50[$backend/$size/$label]:-?} |"
        done
        if [[ "$small" != "$large" ]]; then
            row+=" $(awk -v a="${P50[$backend/$small/$label]:-0}" -v b="${P50[$backend/$large/$label]:-0}" \
                'BEGIN {if (a > 0) printf "%.1f×", b / a; else print "?"}') |"
        fi
    done
    echo "$row"
done
