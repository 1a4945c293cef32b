#!/usr/bin/env bash
# Gives the machine's own PostgreSQL cluster a certificate that clients can verify, for the sslmode=verify-ca and
# verify-full tests: a CA of its own and a server certificate for localhost, 127.0.0.1 and ::1, kept in the
# cluster's data directory (so they last as long as the cluster does), switched to with ALTER SYSTEM and a reload,
# never a restart. Prints the CA's path on stdout:
#   export TEST_DATABASE_CA_FILE="$(scripts/pg-tls.sh)"
# Idempotent: while the cluster already serves a valid certificate made by this script, nothing changes. The
# cluster never points at a missing file: new files go into a new folder, the settings move to it, the reload is
# checked with a verify-full connection, and only then is the previous folder removed; if the check fails, the
# settings go back to what they were. Needs root (or the postgres user) on the machine that runs the cluster.
set -euo pipefail

PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGUSER=${PGUSER:-postgres}
export PGHOST PGPORT PGUSER
PREFIX=users-api-tls
psql_() { psql -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }
say() { echo "pg-tls: $*" >&2; }

data_dir=$(psql_ -c 'SHOW data_directory')
[ -d "$data_dir" ] || { say "the cluster's data directory $data_dir is not on this machine"; exit 1; }
owner=$(stat -c %U "$data_dir")

# Does the cluster accept a verify-full connection for both names with this CA?
verifies() {
  local ca=$1 host
  for host in 127.0.0.1 localhost; do
    psql -X -q -At -d "host=$host port=$PGPORT user=$PGUSER dbname=postgres sslmode=verify-full sslrootcert=$ca" \
      -c 'SELECT 1' >/dev/null 2>&1 || return 1
  done
}

# Is the folder's certificate valid for 30 more days, signed by its CA, with its key?
usable() {
  local dir=$1
  [ -f "$dir/ca.crt" ] && [ -f "$dir/server.crt" ] && [ -f "$dir/server.key" ] || return 1
  openssl x509 -in "$dir/server.crt" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 || return 1
  openssl verify -CAfile "$dir/ca.crt" "$dir/server.crt" >/dev/null 2>&1 || return 1
  [ "$(openssl x509 -in "$dir/server.crt" -noout -pubkey)" = "$(openssl pkey -in "$dir/server.key" -pubout)" ]
}

# Removes this script's folders other than the one the cluster uses.
remove_others() {
  local keep=$1 dir
  for dir in "$data_dir/$PREFIX"-*; do
    [ -d "$dir" ] && [ "$dir" != "$keep" ] && rm -rf "$dir"
  done
  return 0
}

current_cert=$(psql_ -c 'SHOW ssl_cert_file')
current_key=$(psql_ -c 'SHOW ssl_key_file')
current_dir=$(dirname "$current_cert")
case "$current_dir" in
  "$data_dir/$PREFIX"-*)
    if [ "$(psql_ -c 'SHOW ssl')" = on ] && usable "$current_dir" && verifies "$current_dir/ca.crt"; then
      remove_others "$current_dir"
      echo "$current_dir/ca.crt"
      exit 0
    fi
    ;;
esac

new_dir="$data_dir/$PREFIX-$(date +%Y%m%d%H%M%S)-$$"
mkdir -m 700 "$new_dir"
(
  cd "$new_dir"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt \
    -days 3650 -subj "/CN=users-api test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
    -subj "/CN=localhost" 2>/dev/null
  printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >server.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
    -days 825 -extfile server.ext -out server.crt 2>/dev/null
  # The CA signs nothing else: its key is not kept.
  rm -f ca.key server.csr server.ext
  chmod 600 server.key
  chmod 644 ca.crt server.crt
)
chown -R "$owner:" "$new_dir"

switch_to() {
  psql_ -c "ALTER SYSTEM SET ssl_cert_file = '$1'" -c "ALTER SYSTEM SET ssl_key_file = '$2'" \
    -c "ALTER SYSTEM SET ssl = on" -c 'SELECT pg_reload_conf()' >/dev/null
}

switch_to "$new_dir/server.crt" "$new_dir/server.key"
for _ in $(seq 1 20); do
  if verifies "$new_dir/ca.crt"; then
    remove_others "$new_dir"
    say "the cluster serves a certificate for localhost and 127.0.0.1 signed by $new_dir/ca.crt"
    echo "$new_dir/ca.crt"
    exit 0
  fi
  sleep 0.5
done

say "the cluster did not accept the new certificate; going back to the one it had"
if usable "$current_dir"; then
  switch_to "$current_cert" "$current_key"
else
  psql_ -c 'ALTER SYSTEM RESET ssl_cert_file' -c 'ALTER SYSTEM RESET ssl_key_file' -c 'ALTER SYSTEM RESET ssl' \
    -c 'SELECT pg_reload_conf()' >/dev/null
fi
rm -rf "$new_dir"
exit 1
