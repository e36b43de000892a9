#!/usr/bin/env bash
# Build the four Lambda functions as release `bootstrap` zips, reproducibly.
#
# usage: bash infra/scripts/build-lambdas.sh [--arm64 | --x86_64] [--verify-reproducible]
#
#   --arm64                (default) aarch64-unknown-linux-gnu, what template.yaml deploys
#   --x86_64               x86_64-unknown-linux-gnu: the fallback where the arm64 Rust std cannot be
#                          installed (deploying it needs `Architectures: [x86_64]` in template.yaml)
#   --verify-reproducible  then build again, from scratch, from a copy of the sources at another
#                          path into another target directory (both under $TMPDIR, removed after),
#                          and compare the sha256 of every bootstrap and zip; exit 1 if any differs,
#                          or if the sources changed during the first build (one more clean release
#                          build: ~8 min on a quiet 2-core machine, ~1 GB of disk while it runs)
#
# Needs cargo-lambda and zig, and installs neither (see missing_tools below for the command). Runs
# `cargo lambda build --release --locked --output-format zip` for the four function packages, then
# re-zips each bootstrap deterministically into target/lambda-zips/<arch>/<function>.zip with a
# SHA256SUMS file, and prints function, arch, sizes and sha256.
#
# Reproducible: same commit + same toolchain (Rust, cargo-lambda, zig) = same bytes.
# - Paths: --remap-path-prefix (Rust) and -ffile-prefix-map (C code built through zig: ring, the
#   functions' one crypto provider) replace the cargo home and the checkout path, so panic
#   locations and C __FILE__ strings do not depend on who built where.
# - Zips: cargo-lambda's own bootstrap.zip stores the binary's mtime and mode, so it changes on
#   every build. Ours stores SOURCE_DATE_EPOCH (default: the commit time), mode 0755, and nothing
#   else from the file system.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

# Pinned tools, as verified (shared/reference/toolchain.md). Bump both here and in the README.
cargo_lambda_version="1.9.2"
ziglang_version="0.17.0"
venv="${SFBRIDGE_LAMBDA_VENV:-$root/.venv-lambda}"

# function (= binary and SAM BuildProperties.Binary) and its package
functions=(admin-api oauth-callback activity-sync webhook-receiver salesforce-import)
packages=(sfbridge-admin-api sfbridge-oauth-callback sfbridge-activity-sync sfbridge-webhook-receiver sfbridge-salesforce-import)

arch=arm64
verify=false
for arg in "$@"; do
  case "$arg" in
    --arm64) arch=arm64 ;;
    --x86_64 | --x86-64) arch=x86_64 ;;
    --verify-reproducible) verify=true ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done
case "$arch" in
  arm64) rust_target=aarch64-unknown-linux-gnu; lambda_arch_flag=--arm64 ;;
  x86_64) rust_target=x86_64-unknown-linux-gnu; lambda_arch_flag=--x86-64 ;;
esac

# ---------------------------------------------------------------- tools (checked, never installed)
[[ -x "$venv/bin/cargo-lambda" ]] && export PATH="$venv/bin:$PATH"

missing_tools() {
  cat >&2 <<EOF
$1
Install cargo-lambda and zig from PyPI into a venv (about 15 s; \`cargo install cargo-lambda\` takes 20+ min):

  python3 -m venv ${venv/#$root\//}
  ${venv/#$root\//}/bin/python -m pip install cargo-lambda==$cargo_lambda_version ziglang==$ziglang_version

This script puts ${venv/#$root\//}/bin on PATH by itself (another venv: SFBRIDGE_LAMBDA_VENV=/path/to/venv).
EOF
  exit 1
}

if ! cargo lambda --version > /dev/null 2>&1; then
  missing_tools "cargo-lambda not found (no \`cargo lambda\` on PATH, no $venv/bin/cargo-lambda)."
fi
if zig version > /dev/null 2>&1; then
  zig_version="$(zig version)"
elif python3 -m ziglang version > /dev/null 2>&1; then
  zig_version="$(python3 -m ziglang version) (python3 -m ziglang)"
else
  missing_tools "zig not found (no \`zig\` on PATH, no ziglang module for python3); cargo-lambda links with it."
fi
found_cargo_lambda="$(cargo lambda --version | awk '{ print $2 }')"
if [[ "$found_cargo_lambda" != "$cargo_lambda_version" ]]; then
  echo "warning: cargo-lambda $found_cargo_lambda, pinned $cargo_lambda_version: zips may differ from other builds" >&2
fi

# cargo-lambda would run `rustup target add` by itself; we check, and tell.
if ! rustup target list --installed 2> /dev/null | grep -qx "$rust_target"; then
  cat >&2 <<EOF
The $arch build needs the Rust standard library for $rust_target, which is not installed:

  rustup target add $rust_target

(rustup downloads it from static.rust-lang.org; where that is not reachable, build the x86_64
fallback instead: bash infra/scripts/build-lambdas.sh --x86_64, and deploy it with
\`Architectures: [x86_64]\` in template.yaml.)
EOF
  exit 1
fi

# ---------------------------------------------------------------- reproducible environment
target_dir="${CARGO_TARGET_DIR:-$root/target}"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2> /dev/null || echo 315532800)}"
export CARGO_INCREMENTAL=0
base_rustflags="${RUSTFLAGS:-}"
base_cflags="${CFLAGS:-}"

# Environment of one build of the checkout at $1 into target directory $2. When several prefixes
# match a path the last one wins, so the target directory (maybe inside the checkout) comes last.
build_env() {
  local src="$1" dir="$2"
  local -a maps=("$cargo_home=/cargo" "$src=/sfbridge")
  [[ "$dir" != "$src/target" ]] && maps+=("$dir=/sfbridge/target")
  local rust="" c="" m
  for m in "${maps[@]}"; do
    rust+=" --remap-path-prefix=$m"
    c+=" -ffile-prefix-map=$m"
  done
  # cargo-lambda appends `-C target-cpu=` (neoverse-n1 for arm64, haswell for x86_64) to RUSTFLAGS.
  printf '%s\n' "CARGO_TARGET_DIR=$dir" "RUSTFLAGS=${base_rustflags:+$base_rustflags }${rust# }" \
    "CFLAGS=${base_cflags:+$base_cflags }${c# }" "CXXFLAGS=${CXXFLAGS:+$CXXFLAGS }${c# }"
}

# cargo lambda build of the checkout at $1 into target directory $2; the bootstraps land in
# $2/lambda/<function>/.
lambda_build() {
  local src="$1" dir="$2" started="$EPOCHREALTIME"
  local -a env_vars package_args=()
  mapfile -t env_vars < <(build_env "$src" "$dir")
  local p
  for p in "${packages[@]}"; do package_args+=(-p "$p"); done
  echo "==> cargo lambda build --release --locked $lambda_arch_flag --output-format zip (in $src, target dir $dir)"
  (cd "$src" && env "${env_vars[@]}" cargo lambda build --release --locked "$lambda_arch_flag" --output-format zip \
    --skip-target-check "${package_args[@]}")
  awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "build took %.0f s\n", b - a }'
}

# Re-zip the bootstraps built into target directory $1 into directory $2, deterministically.
rezip() {
  python3 - "$1" "$2" "$SOURCE_DATE_EPOCH" "$arch" "${functions[@]}" <<'PY'
import hashlib, os, sys, time, zipfile

target_dir, out_dir, epoch, arch, functions = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:]
# ELF e_machine of the expected architecture (guards against a stale bootstrap of the other arch).
machine = {"arm64": 183, "x86_64": 62}[arch]
# Zip stores local time fields with no zone: write the UTC fields, clamped to zip's 1980 minimum.
date_time = max(time.gmtime(epoch)[:6], (1980, 1, 1, 0, 0, 0))
os.makedirs(out_dir, exist_ok=True)
sums = []
for name in functions:
    src_zip = os.path.join(target_dir, "lambda", name, "bootstrap.zip")
    with zipfile.ZipFile(src_zip) as z:
        data = z.read("bootstrap")
    if data[:4] != b"\x7fELF" or int.from_bytes(data[18:20], "little") != machine:
        sys.exit(f"{src_zip}: bootstrap is not a {arch} ELF binary")
    info = zipfile.ZipInfo("bootstrap", date_time=date_time)
    info.create_system = 3  # unix, so external_attr carries the mode
    info.external_attr = (0o100755 & 0xFFFF) << 16  # regular file, rwxr-xr-x
    info.compress_type = zipfile.ZIP_DEFLATED
    dst = os.path.join(out_dir, f"{name}.zip")
    with open(dst + ".tmp", "wb") as f, zipfile.ZipFile(f, "w") as z:
        z.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    os.replace(dst + ".tmp", dst)
    with open(dst, "rb") as f:
        zip_sha = hashlib.sha256(f.read()).hexdigest()
    sums.append((name, len(data), hashlib.sha256(data).hexdigest(), os.path.getsize(dst), zip_sha))
with open(os.path.join(out_dir, "SHA256SUMS"), "w") as f:
    for name, _, bin_sha, _, zip_sha in sums:
        f.write(f"{zip_sha}  {name}.zip\n{bin_sha}  {name}/bootstrap\n")
with open(os.path.join(out_dir, "sizes.tsv"), "w") as f:
    for name, bin_size, bin_sha, zip_size, zip_sha in sums:
        f.write(f"{name}\t{arch}\t{bin_size}\t{zip_size}\t{bin_sha}\t{zip_sha}\n")
PY
}

print_table() {
  awk -F'\t' 'BEGIN { printf "%-17s %-7s %15s %11s  %s\n", "function", "arch", "bootstrap bytes", "zip bytes", "zip sha256" }
    { printf "%-17s %-7s %15d %11d  %s\n", $1, $2, $3, $4, $6 }' "$1/sizes.tsv"
}

# What the build reads (the workspace's files, tracked and untracked, not ignored), and a digest.
source_files() {
  git -C "$root" ls-files -z --cached --others --exclude-standard -- \
    Cargo.toml Cargo.lock .cargo rust-toolchain rust-toolchain.toml shared functions infra tests benches
}
sources_digest() { (cd "$1" && source_files | xargs -0 sha256sum 2> /dev/null | sha256sum | cut -d' ' -f1); }

echo "cargo-lambda $found_cargo_lambda, zig $zig_version, $(rustc --version), SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
[[ "$verify" == true ]] && digest_before="$(sources_digest "$root")"
zips="$target_dir/lambda-zips/$arch"
lambda_build "$root" "$target_dir"
rezip "$target_dir" "$zips"
echo
echo "zips in ${zips/#$root\//}/ (SHA256SUMS beside them):"
print_table "$zips"

if [[ "$verify" == true ]]; then
  echo
  # Unchanged sources across the first build mean a copy taken now holds what it compiled.
  if [[ "$(sources_digest "$root")" != "$digest_before" ]]; then
    echo "inconclusive: the sources changed during the build; run --verify-reproducible again on a quiet checkout" >&2
    exit 1
  fi
  scratch="$(mktemp -d -t sfbridge-repro.XXXXXX)"
  trap 'rm -rf "$scratch"' EXIT
  mkdir "$scratch/src"
  source_files | tar --null -T - --ignore-failed-read -cf - 2> /dev/null | tar -xf - -C "$scratch/src"
  echo "==> second build, from scratch, of a copy of the sources in $scratch/src, to compare"
  lambda_build "$scratch/src" "$scratch/target"
  rezip "$scratch/target" "$scratch/zips"
  echo
  if cmp -s "$zips/SHA256SUMS" "$scratch/zips/SHA256SUMS"; then
    echo "reproducible: a second build from another checkout path and target directory gave byte-identical bootstraps and zips"
  else
    echo "NOT reproducible: sha256 differ between the two builds (first, second):" >&2
    diff "$zips/SHA256SUMS" "$scratch/zips/SHA256SUMS" >&2 || true
    exit 1
  fi
fi
