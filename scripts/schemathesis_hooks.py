"""Schemathesis hooks for scripts/schemathesis.sh: how to send an NDJSON body (POST /users/import takes one JSON
value per line, docs/api.md §9), which schemathesis has no serializer for."""
import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    lines = value if isinstance(value, list) else [value]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()
