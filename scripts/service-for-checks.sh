# Sourced by the scripts that check a running service (schemathesis.sh, openapi-checks.sh): one way to start it.
#
# start_service BIN WORK [NAME=VALUE …]: starts BIN in the folder WORK under APP_ENV=test on a free port, with fast
# hashing, no per-IP login limit, a random JWT secret, a bootstrap admin and the extra settings given; its log goes
# to WORK/server.log. Sets `server` (its pid, for the caller's EXIT trap to stop), `base` (its URL), and `admin`
# and `admin_password`: a name nobody guesses, so a fuzzer's failed logins never lock it out.
start_service() {
  local bin=$1 work=$2 port=
  shift 2
  case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
  admin="root-$RANDOM$RANDOM"
  admin_password="p-$RANDOM$RANDOM$RANDOM"
  local secret
  secret=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
  (
    cd "$work"
    exec env APP_ENV=test APP__SERVER__PORT=0 APP__AUTH__BCRYPT_COST=4 APP__AUTH__LOGIN_IP_LIMIT_PER_MINUTE=0 APP__AUTH__SIGNUP_IP_LIMIT_PER_MINUTE=0 \
      APP__AUTH__JWT_SECRET="$secret" APP__AUTH__BOOTSTRAP_ADMIN__USERNAME="$admin" \
      APP__AUTH__BOOTSTRAP_ADMIN__EMAIL="$admin@admin.example" APP__AUTH__BOOTSTRAP_ADMIN__PASSWORD="$admin_password" \
      RUST_LOG=warn "$@" "$bin"
  ) 2>"$work/server.log" &
  server=$!
  for _ in $(seq 1 100); do
    port=$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\)$#\1#p' "$work/server.log")
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$work/server.log" >&2; echo "the service did not start" >&2; exit 1; }
  base="http://127.0.0.1:$port"
}
