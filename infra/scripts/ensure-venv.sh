#!/usr/bin/env bash
# Create or refresh .venv from infra/requirements-test.txt. A no-op when the venv was built from
# the same requirements file with the same Python (stamp: hash of both). Python: $PYTHON or python3.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.venv"
requirements="$root/infra/requirements-test.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

want="$( { sha256sum < "$requirements"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] && "$venv/bin/python" -c '' 2>/dev/null; then
  exit 0
fi

echo "creating $venv from infra/requirements-test.txt"
rm -rf "$venv"
"$python" -m venv "$venv"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --quiet --no-input -r "$requirements"
echo "$want" > "$stamp"
