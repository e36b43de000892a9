#!/usr/bin/env bash
# The local stack against AWS APIs: DynamoDB, KMS and SQS in moto, with the table, key and queues
# template.yaml declares (created by infra/scripts/moto_stack.py from the template itself).
#
# usage: bash infra/scripts/local-on-moto.sh [sfbridge-local arguments, e.g. --simulate-salesforce --port 0]
#
# Starts a moto server on a free loopback port (log: target/moto-local.log), or uses the emulator
# at AWS_ENDPOINT_URL when that is set; creates or reuses the resources (names
# `<SFBRIDGE_MOTO_NAME>-<LogicalId>`, default prefix sfbridge-local); then runs
# `cargo run -p sfbridge-local --features aws -- --aws "$@"` with their variables, dummy
# credentials and no instance metadata, so nothing reaches real AWS. Stops moto when it ends
# (Ctrl-C, or a kill of this script). State lives in moto's memory: a new moto starts empty.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

moto_pid=""
app_pid=""
cleanup() {
  if [[ -n "$app_pid" ]]; then
    kill "$app_pid" 2>/dev/null || true
    wait "$app_pid" 2>/dev/null || true
  fi
  if [[ -n "$moto_pid" ]]; then
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
    echo "local-on-moto: stopped moto (pid $moto_pid)" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash infra/scripts/ensure-venv.sh

# Only the emulator: dummy credentials, no profile or config file, no instance metadata.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

if [[ -n "${AWS_ENDPOINT_URL:-}" ]]; then
  echo "local-on-moto: using the emulator at $AWS_ENDPOINT_URL" >&2
else
  mkdir -p target
  moto_log="$root/target/moto-local.log"
  # shellcheck source=infra/scripts/start-moto.sh
  source infra/scripts/start-moto.sh
  start_moto "$moto_log" || true
  if [[ -z "$moto_pid" ]]; then
    echo "local-on-moto: moto server did not start; its log:" >&2
    cat "$moto_log" >&2
    exit 1
  fi
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  echo "local-on-moto: moto on $AWS_ENDPOINT_URL (pid $moto_pid, log target/moto-local.log)" >&2
fi

variables="$(.venv/bin/python infra/scripts/moto_stack.py --endpoint "$AWS_ENDPOINT_URL" --name "${SFBRIDGE_MOTO_NAME:-sfbridge-local}")"
eval "$variables"
{
  echo "local-on-moto: to reach the same resources from another shell:"
  echo "  export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=$AWS_REGION"
  sed 's/^/  /' <<< "$variables"
} >&2

# In the background and waited for, so that a TERM to this script stops the stack and moto too
# (bash runs traps only between commands, never while a foreground command runs).
# The `aws` feature: the default build of the local stack leaves the AWS SDK out.
cargo run -p sfbridge-local --features aws -- --aws "$@" &
app_pid=$!
status=0
wait "$app_pid" || status=$?
app_pid=""
exit "$status"
