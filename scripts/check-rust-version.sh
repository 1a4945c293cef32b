#!/usr/bin/env bash
# The workspace's `rust-version` must be true: at least the highest `rust-version` of the locked dependencies
# (a crate needing a newer compiler makes it a lie), and every crate of the workspace inherits it.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo metadata --format-version 1 --locked | python3 -c '
import json, sys

def version(text):
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))

metadata = json.load(sys.stdin)
resolved = {node["id"] for node in metadata["resolve"]["nodes"]}
members = set(metadata["workspace_members"])
packages = [p for p in metadata["packages"] if p["id"] in resolved]
ours = {p["rust_version"] for p in packages if p["id"] in members}
if len(ours) != 1 or None in ours:
    sys.exit(f"every crate must inherit the workspace rust-version (rust-version.workspace = true): {sorted(map(str, ours))}")
declared = ours.pop()
needs = max((version(p["rust_version"]), p["name"], p["version"]) for p in packages
            if p["id"] not in members and p.get("rust_version"))
if version(declared) < needs[0]:
    needed = ".".join(map(str, needs[0]))
    sys.exit(f"rust-version {declared} is too low: {needs[1]} {needs[2]} needs {needed}")
print(f"rust-version {declared}: enough for every locked dependency (the highest need: {needs[1]} {needs[2]})")
'
