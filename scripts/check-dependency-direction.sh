#!/usr/bin/env bash
# Dependencies point inward (hexagonal architecture): every wrong arrow of the crate graph is banned here.
#   users-domain           uses no adapter crate (web framework, database, hashing, JWT, OpenAPI) and no adapter of ours
#   users-http, users-auth reach no storage crate of ours and no sqlx: storage is chosen by the binary alone
#   storage crates         reach no web, hashing or JWT crate, and not the HTTP or auth adapters
# Run by .ci/run and by .gitlab-ci.yml, so both make the same check.
set -euo pipefail
cd "$(dirname "$0")/.."

storage="users-storage-sql users-storage-sqlite users-storage-postgres users-storage-memory"
declare -A banned=(
  [users-domain]="actix-web sqlx bcrypt jsonwebtoken paperclip lettre hyper users-http users-auth users-mail $storage"
  [users-http]="sqlx $storage"
  [users-auth]="sqlx actix-web users-http $storage"
  [users-mail]="sqlx actix-web bcrypt jsonwebtoken paperclip users-http users-auth $storage"
  [users-storage-memory]="actix-web sqlx bcrypt jsonwebtoken paperclip users-http users-auth"
  [users-storage-sql]="actix-web bcrypt jsonwebtoken paperclip users-http users-auth"
  [users-storage-sqlite]="actix-web bcrypt jsonwebtoken paperclip users-http users-auth users-storage-postgres"
  [users-storage-postgres]="actix-web bcrypt jsonwebtoken paperclip users-http users-auth users-storage-sqlite"
)

failed=0
for crate in "${!banned[@]}"; do
  for dependency in ${banned[$crate]}; do
    # `cargo tree -i X` fails when X is not in the crate's graph at all.
    if cargo tree -p "$crate" -e normal -i "$dependency" >/dev/null 2>&1; then
      echo "$crate depends on $dependency" >&2
      failed=1
    fi
  done
done
[ "$failed" -eq 0 ] || exit 1
echo "dependencies point inward: no banned arrow in the crate graph"
