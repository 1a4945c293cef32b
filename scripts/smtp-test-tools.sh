#!/usr/bin/env bash
# The SMTP server the mail adapter's tests talk to: aiosmtpd (pinned, from PyPI) in a virtualenv of its own, made once
# and reused while the version matches. Prints the virtualenv's python. crates/mail's tests run this themselves;
# .ci/run runs it first so the install is not timed inside a test.
# Usage: scripts/smtp-test-tools.sh   (SMTP_TOOLS_DIR to override the folder, default .smtp-tools)
set -euo pipefail
cd "$(dirname "$0")/.."

AIOSMTPD_VERSION=1.4.6
TOOLS=${SMTP_TOOLS_DIR:-.smtp-tools}
stamp="aiosmtpd $AIOSMTPD_VERSION"

if [ "$(cat "$TOOLS/versions" 2>/dev/null)" != "$stamp" ] || [ ! -x "$TOOLS/venv/bin/python" ]; then
  rm -rf "$TOOLS"
  mkdir -p "$TOOLS"
  python3 -m venv "$TOOLS/venv" >&2
  timeout 600 "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION" >&2
  echo "$stamp" >"$TOOLS/versions"
fi
echo "$(cd "$TOOLS" && pwd)/venv/bin/python"
