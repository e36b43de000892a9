#!/usr/bin/env bash
# Lint the SAM template twice: as written, and after expanding the SAM transform offline.
# cfn-lint 1.x does not expand AWS::Serverless resources, so mistakes inside them (a misspelt
# property, `Architectures: [arm65]`, a `!Ref` to a missing resource in Policies, a circular
# dependency through the HTTP API) only show up in the expanded CloudFormation. Any finding
# (error, warning) fails.
#
# Then check_template.py checks the reliability invariants no linter knows (queue visibility
# timeout >= 6 x its consumer's timeout, maxReceiveCount >= 5, DLQ retention > source's,
# ReportBatchItemFailures, queue encryption, KMS key rotation, no wildcard IAM grants, every
# function's environment holding what shared/core/src/config.rs requires) on the template and on its
# expansion, and breaks each invariant in memory to prove the check still catches it.
#
# usage: bash infra/scripts/lint-template.sh [TEMPLATE]   (default template.yaml; tools from .venv)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
template="${1:-$root/template.yaml}"

bash "$root/infra/scripts/ensure-venv.sh"
python="$root/.venv/bin/python"
cfn_lint="$root/.venv/bin/cfn-lint"

work="$(mktemp -d -t sfbridge-lint.XXXXXX)"
trap 'rm -rf "$work"' EXIT

echo "cfn-lint $template"
"$cfn_lint" -- "$template"

echo "cfn-lint $template, SAM transform expanded"
AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" \
  "$python" "$root/infra/scripts/expand_sam.py" "$template" "$work/expanded.json"
if ! "$cfn_lint" -- "$work/expanded.json" > "$work/findings" 2>&1; then
  sed "s|$work/expanded.json|$template (expanded)|g" "$work/findings"
  exit 1
fi

echo "invariants of $template"
"$python" "$root/infra/scripts/check_template.py" "$template"
echo "invariants of $template, SAM transform expanded"
check_ok=true
"$python" "$root/infra/scripts/check_template.py" "$work/expanded.json" > "$work/findings" 2>&1 || check_ok=false
sed "s|$work/expanded.json|$template (expanded)|g" "$work/findings"
[[ "$check_ok" == true ]] || exit 1
"$python" "$root/infra/scripts/check_template.py" --self-test "$template"
echo "template OK"
