#!/usr/bin/env bash
# Dependencies point inward: the domain crate uses no adapter crate (web framework, database, hashing, JWT, OpenAPI).
# Run by .ci/run and by .gitlab-ci.yml, so both make the same check.
set -euo pipefail
cd "$(dirname "$0")/.."
for adapter in actix-web sqlx bcrypt jsonwebtoken paperclip; do
  if cargo tree -p users-domain -e normal -i "$adapter" >/dev/null 2>&1; then
    echo "users-domain depends on $adapter" >&2
    exit 1
  fi
done
echo "users-domain depends on no adapter crate"
