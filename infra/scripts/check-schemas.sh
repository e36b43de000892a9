#!/usr/bin/env bash
# The queue messages' JSON Schemas, docs/schemas/*.json: each must be what the code generates now
# (a message type changed without `cargo run -p sfbridge-e2e --bin gen-schemas` fails here) and a
# valid draft 2020-12 schema, its patterns included, by the jsonschema validator pinned in
# infra/requirements-test.txt. That messages match them is tested in Rust (tests/e2e, "schemas").
#
# usage: bash infra/scripts/check-schemas.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bash infra/scripts/ensure-venv.sh

ok=true
if ! cargo run --locked -q -p sfbridge-e2e --bin gen-schemas -- --check; then
  echo "FAIL: a committed schema in docs/schemas/ is not what the code generates (above); regenerate and commit" >&2
  ok=false
fi

.venv/bin/python - docs/schemas/*.json <<'PY' || ok=false
import json
import sys
from importlib.metadata import version

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

failed = False
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8") as f:
            schema = json.load(f)
        if schema.get("$schema") != Draft202012Validator.META_SCHEMA["$id"]:
            raise SchemaError(f'"$schema" is {schema.get("$schema")!r}, not draft 2020-12')
        # Against the 2020-12 meta-schema, with its formats checked: every "pattern" must compile.
        Draft202012Validator.check_schema(schema)
        print(f"{path}: a valid draft 2020-12 schema (jsonschema {version('jsonschema')})")
    except (OSError, ValueError, SchemaError) as e:
        failed = True
        print(f"FAIL: {path} is not a valid draft 2020-12 schema: {e}", file=sys.stderr)
sys.exit(1 if failed else 0)
PY

[[ "$ok" == true ]]
