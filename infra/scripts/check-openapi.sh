#!/usr/bin/env bash
# docs/openapi.json against the code and against the OpenAPI 3.1 specification:
# 1. generates the document again from the admin API's route table and types (the `openapi`
#    example of sfbridge-admin-api, which GET /v1/openapi.json serves too) and fails when the
#    committed file differs from it: a route, parameter or field changed without regenerating;
# 2. validates the committed file with openapi-spec-validator (pinned in infra/requirements-test.txt).
#
# usage: bash infra/scripts/check-openapi.sh [DOCUMENT]   (default docs/openapi.json)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
document="${1:-$root/docs/openapi.json}"
regenerate="cargo run -p sfbridge-admin-api --example openapi"

bash "$root/infra/scripts/ensure-venv.sh"

work="$(mktemp -d -t sfbridge-openapi.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# --workspace: the features the tests were built with, so after `cargo test` nothing compiles again.
(cd "$root" && cargo build --locked -q --workspace --examples)
"${CARGO_TARGET_DIR:-$root/target}/debug/examples/openapi" "$work/openapi.json"
if ! cmp -s "$work/openapi.json" "$document"; then
  echo "FAIL: docs/openapi.json is stale: run \`$regenerate\` and commit it. What the code says now (+):" >&2
  diff -u "$document" "$work/openapi.json" | head -60 >&2 || true
  exit 1
fi
echo "docs/openapi.json matches the admin API's code"

"$root/.venv/bin/openapi-spec-validator" "$document"
