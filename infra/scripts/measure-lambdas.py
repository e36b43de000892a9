#!/usr/bin/env python3
"""Size and cold-start init of the four Lambda bootstraps, against a local Runtime API stub.

usage: python3 infra/scripts/measure-lambdas.py [--runs N] [--bin-dir DIR] [--hello PATH] [--env NAME=VALUE] [--no-strace]

For each function it takes the release `bootstrap` of this machine's architecture, from
target/lambda-zips/<arch>/<function>.zip (infra/scripts/build-lambdas.sh; unpacked into a temporary
task directory, as Lambda does) or else target/release/<function> (plain `cargo build --release`;
target/ is CARGO_TARGET_DIR when that is set, as for cargo and build-lambdas.sh),
or from --bin-dir DIR/<function>. It starts the binary N times (default 20) with the environment
Lambda and shared/core/src/config.rs need (dummy values) and AWS_LAMBDA_RUNTIME_API pointing at a stub
served here on a random loopback port, and measures the time from spawn to the runtime's first
`GET /2018-06-01/runtime/invocation/next`: init done, ready for the first event. The process is
killed there; no event is served.

The yardstick: in the same run it builds infra/hello-lambda (a lambda_runtime function that only echoes
its event) with `cargo build --release --locked -p hello-lambda`, the workspace's release profile
(CARGO_TARGET_DIR is honoured), or takes --hello PATH, or DIR/hello-lambda with --bin-dir; it starts
it round-robin with the functions and prints each function's init median beside the hello-world's,
with the ratio (goal <= 1.5x). Whatever a function does at start beyond lambda_runtime (configuration,
SDK and HTTP clients, TLS setup, a bigger binary to map) shows in that ratio.

AWS_ENDPOINT_URL points at a loopback listener that counts connections: init must not call AWS
(the SDK clients connect lazily). With strace on PATH, one extra run per function also lists every
connect() made during init: an IP address (DNS, instance metadata, anything) fails the run; a local
socket (e.g. glibc asking nscd) is only listed. The same run counts the files opened under the
system trust store's directories (/etc/ssl, /etc/pki, /usr/lib/ssl, /usr/share/ca-certificates):
the functions use compiled-in roots, so any is printed as a regression (not a failure: the
SFBRIDGE_TLS_NATIVE_ROOTS=true opt-in reads the store, though on first use, not at init).

Prints a table: binary size (stripped), zip size, init median / p90 / max, against the goals
(<= 10 MB, <= 30 ms init, <= 1.5x the hello-world's init median), plus the cost of spawning /bin/true as the floor. Bootstraps of another
architecture found in target/lambda-zips/ are started under qemu-user when it is installed with
that architecture's glibc (Debian: apt-get install qemu-user libc6-arm64-cross), which shows they
start (emulated times say nothing about Lambda's), and are listed by size only otherwise. Exit
status 1 only if a binary is missing, fails to start, or calls the network during init; missing a
goal is printed, not asserted. Python 3 standard library only.
"""

import argparse
import http.server
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Where cargo (and so build-lambdas.sh) puts what it builds.
TARGET_DIR = os.path.abspath(os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"))
FUNCTIONS = ["admin-api", "oauth-callback", "activity-sync", "webhook-receiver", "salesforce-import"]
GOAL_INIT_MS = 30.0
GOAL_SIZE_MB = 10.0  # MB = 10^6 bytes
GOAL_RATIO = 1.5  # init median against the hello-world lambda_runtime binary's, same run
HELLO = "hello-lambda"  # package and binary: infra/hello-lambda
# Where a process reads the system trust store (Debian/Ubuntu, Amazon Linux/RHEL, OpenSSL's default).
TRUST_STORE_DIRS = ("/etc/ssl/", "/etc/pki/", "/usr/lib/ssl/", "/usr/share/ca-certificates/")
NEXT_PATH = "/2018-06-01/runtime/invocation/next"
INIT_TIMEOUT_S = 10.0
ELF_MACHINE = {62: "x86_64", 183: "arm64"}
# qemu-user and the glibc of the other architecture (Debian: qemu-user, libc6-arm64-cross).
QEMU = {"arm64": ("qemu-aarch64", "/usr/aarch64-linux-gnu"), "x86_64": ("qemu-x86_64", "/usr/x86_64-linux-gnu")}
HOST_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())


# ---------------------------------------------------------------- Runtime API stub
class Run:
    """One start of one binary: when /next arrived, and what else was asked."""

    def __init__(self):
        self.ready = threading.Event()
        self.release = threading.Event()
        self.ready_ns = None
        self.other_requests = []


class RuntimeApiStub(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), StubHandler)
        self.run = Run()


class StubHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        now = time.perf_counter_ns()
        run = self.server.run
        if self.path == NEXT_PATH:
            if run.ready_ns is None:
                run.ready_ns = now
            run.ready.set()
            # Hold the long poll, as Lambda does between events, until the process is killed.
            run.release.wait(INIT_TIMEOUT_S)
            self.close_connection = True
            return
        self._other()

    def do_POST(self):
        self._other()

    def _other(self):
        # e.g. POST /2018-06-01/runtime/init/error: recorded, and the run counts as failed.
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.run.other_requests.append(f"{self.command} {self.path} {body[:300]!r}")
        self.server.run.ready.set()
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Sentinel:
    """A loopback listener standing in for every AWS endpoint: counts who connects to it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


# ---------------------------------------------------------------- binaries
def elf_info(path):
    """(architecture, stripped) of an ELF file, from its header and section names."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path}: not a little-endian 64-bit ELF file")
    u16 = lambda o: int.from_bytes(data[o : o + 2], "little")
    u32 = lambda o: int.from_bytes(data[o : o + 4], "little")
    u64 = lambda o: int.from_bytes(data[o : o + 8], "little")
    machine = ELF_MACHINE.get(u16(18), f"e_machine {u16(18)}")
    shoff, shentsize, shnum, shstrndx = u64(0x28), u16(0x3A), u16(0x3C), u16(0x3E)
    names_off = u64(shoff + shstrndx * shentsize + 0x18)
    names = set()
    for i in range(shnum):
        name_at = names_off + u32(shoff + i * shentsize)
        names.add(data[name_at : data.index(b"\0", name_at)].decode("ascii", "replace"))
    return machine, ".symtab" not in names


def shown(path):
    """A path as printed: relative to the checkout when inside it."""
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def unpack(zip_path, task_root):
    """The bootstrap of a Lambda zip, unpacked into task_root (as Lambda does into /var/task)."""
    os.makedirs(task_root, exist_ok=True)
    with zipfile.ZipFile(zip_path) as z:
        z.extract("bootstrap", task_root)
    binary = os.path.join(task_root, "bootstrap")
    os.chmod(binary, 0o755)
    return binary


def find_bootstraps(args, workdir):
    """{(function, arch): (binary, where it came from, zip bytes or None)}: this machine's
    architecture, then the zips of any other architecture in target/lambda-zips/."""
    found = {}
    base = os.path.join(TARGET_DIR, "lambda-zips")
    for name in FUNCTIONS:
        if args.bin_dir:
            candidates = [os.path.join(args.bin_dir, name)]
        else:
            candidates = [os.path.join(base, HOST_ARCH or "?", f"{name}.zip"), os.path.join(TARGET_DIR, "release", name)]
        for path in candidates:
            if os.path.isfile(path):
                is_zip = path.endswith(".zip")
                binary = unpack(path, os.path.join(workdir, HOST_ARCH or "?", name)) if is_zip else path
                found[(name, HOST_ARCH)] = (binary, shown(path), os.path.getsize(path) if is_zip else None)
                break
    for arch in sorted(os.listdir(base)) if os.path.isdir(base) and not args.bin_dir else []:
        for name in FUNCTIONS if arch != HOST_ARCH else []:
            path = os.path.join(base, arch, f"{name}.zip")
            if os.path.isfile(path):
                found[(name, arch)] = (unpack(path, os.path.join(workdir, arch, name)), shown(path), os.path.getsize(path))
    return found


def emulator(arch):
    """(command prefix, extra environment) that runs `arch` binaries on this machine, or None."""
    if arch == HOST_ARCH:
        return (), {}
    qemu, sysroot = QEMU.get(arch, (None, None))
    if qemu and shutil.which(qemu) and os.path.isdir(sysroot):
        return (qemu,), {"QEMU_LD_PREFIX": sysroot}
    return None


# ---------------------------------------------------------------- runs
def lambda_env(name, runtime_api, aws_port, task_root):
    """What Lambda sets, what shared/core/src/config.rs requires, and dummy AWS credentials. Nothing
    inherited from this shell (no profile, no real credentials)."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": task_root,
        "_HANDLER": "bootstrap",
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "AWS_LAMBDA_FUNCTION_NAME": f"sfbridge-{name}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/sfbridge-{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]measure",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "measure",
        "AWS_SECRET_ACCESS_KEY": "measure",
        "AWS_SESSION_TOKEN": "measure",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{aws_port}",
        "RUST_LOG": "info",
        "SFBRIDGE_TABLE": "sfbridge-measure",
        "SFBRIDGE_KMS_KEY_ID": "arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000",
        "SFBRIDGE_PUBLIC_URL": "https://sfbridge.example.com",
        # Both spellings: SFBRIDGE_APP_ORIGINS (comma-separated) replaced SFBRIDGE_APP_ORIGIN.
        "SFBRIDGE_APP_ORIGIN": "https://app.example.com",
        "SFBRIDGE_APP_ORIGINS": "https://app.example.com",
        "SFBRIDGE_ACTIVITY_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/activity",
        "SFBRIDGE_ACTIVITY_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/activity-dlq",
        "SFBRIDGE_INBOUND_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/inbound",
    }


def start_once(stub, binary, env, prefix=()):
    """Spawn, wait for /next. Returns (init ms, None) or (None, why it failed)."""
    run = stub.run = Run()
    log = tempfile.TemporaryFile()
    started = time.perf_counter_ns()
    proc = subprocess.Popen([*prefix, binary], env=env, cwd=env["LAMBDA_TASK_ROOT"], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + INIT_TIMEOUT_S
    failure = None
    while not run.ready.wait(0.005):
        if proc.poll() is not None:
            failure = f"exited with status {proc.returncode} before asking for an event"
            break
        if time.monotonic() > deadline:
            failure = f"no request for an event within {INIT_TIMEOUT_S:.0f} s"
            break
    if failure is None and run.other_requests:
        failure = "reported: " + "; ".join(run.other_requests)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    run.release.set()
    if failure is None and run.ready_ns is not None:
        result = ((run.ready_ns - started) / 1e6, None)
    else:
        log.seek(0)
        tail = log.read().decode("utf-8", "replace").strip().splitlines()[-10:]
        result = (None, failure + ("\n      " + "\n      ".join(tail) if tail else ""))
    log.close()
    return result


def traced_init(stub, binary, env, runtime_port):
    """From one run under strace: connect() calls other than to the Runtime API, and the files
    opened under the trust store directories. ([why it failed], None) if the run failed."""
    with tempfile.NamedTemporaryFile(suffix=".strace") as trace:
        _, failure = start_once(stub, binary, env, prefix=("strace", "-f", "-qq", "-e", "trace=connect,openat,open", "-o", trace.name))
        if failure:
            return [f"(strace run failed: {failure.splitlines()[0]})"], None
        text = open(trace.name, encoding="utf-8", errors="replace").read()
    found = []
    trust_files = set()
    for line in text.splitlines():
        opened = re.search(r'open(?:at)?\((?:AT_FDCWD, )?"([^"]+)"', line)
        if opened:
            if opened.group(1).startswith(TRUST_STORE_DIRS):
                trust_files.add(opened.group(1))
            continue
        if "connect(" not in line:
            continue
        port = re.search(r"sin6?_port=htons\((\d+)\)", line)
        addr = re.search(r'inet_(?:addr|pton)\((?:AF_INET6, )?"([^"]+)"', line)
        path = re.search(r'sun_path="([^"]+)"', line)
        if port and addr:
            if addr.group(1) == "127.0.0.1" and int(port.group(1)) == runtime_port:
                continue
            found.append(f"{addr.group(1)}:{port.group(1)}")
        elif path:
            found.append(path.group(1))
        else:
            found.append(line.split("connect(", 1)[1][:80])
    return sorted(set(found)), sorted(trust_files)


def build_hello():
    """Build infra/hello-lambda with the release profile; (path of the binary, how it was built)."""
    command = ["cargo", "build", "--release", "--locked", "-p", HELLO]
    print(f"building the yardstick: {' '.join(command)}", flush=True)
    subprocess.run(command, cwd=ROOT, check=True)
    return os.path.join(TARGET_DIR, "release", HELLO), " ".join(command)


def spawn_floor(runs):
    """Median ms to spawn /bin/true and reap it: the part of every figure that is not ours."""
    times = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        subprocess.run(["/bin/true"], env={}, check=False)
        times.append((time.perf_counter_ns() - started) / 1e6)
    return statistics.median(times)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * p // 100) - 1)]  # nearest rank


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="starts per function (default 20)")
    parser.add_argument("--bin-dir", help="take DIR/<function> (and DIR/hello-lambda) instead of target/lambda-zips or target/release")
    parser.add_argument("--hello", metavar="PATH", help="the hello-world binary to compare with, instead of building infra/hello-lambda")
    parser.add_argument("--no-strace", action="store_true", help="skip the strace run that lists connect() calls during init")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="add or override a variable of the functions' environment (repeatable)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if any("=" not in e for e in args.env):
        parser.error("--env takes NAME=VALUE")
    extra_env = dict(e.split("=", 1) for e in args.env)

    stub = RuntimeApiStub()
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    runtime_port = stub.server_address[1]
    sentinel = Sentinel()
    use_strace = not args.no_strace and shutil.which("strace") is not None

    failed = False
    rows = []
    emulated = set()
    if args.hello:
        hello, hello_how = os.path.abspath(args.hello), "given with --hello"
    elif args.bin_dir and os.path.isfile(os.path.join(args.bin_dir, HELLO)):
        hello, hello_how = os.path.abspath(os.path.join(args.bin_dir, HELLO)), "from --bin-dir"
    else:
        hello, hello_how = build_hello()
    with tempfile.TemporaryDirectory(prefix="sfbridge-measure.") as workdir:
        bootstraps = find_bootstraps(args, workdir)
        bootstraps[(HELLO, HOST_ARCH)] = (hello, shown(hello), None)
        print(f"Runtime API stub on 127.0.0.1:{runtime_port}, AWS_ENDPOINT_URL -> 127.0.0.1:{sentinel.port} (counts connections), {args.runs} starts per function, host {HOST_ARCH}")
        for name in FUNCTIONS:
            if (name, HOST_ARCH) not in bootstraps:
                print(f"  {name}: no {HOST_ARCH} bootstrap (run infra/scripts/build-lambdas.sh --{HOST_ARCH}, or cargo build --release)", file=sys.stderr)
                failed = True
        # Which binaries run here, and how; then the starts round-robin, so a burst of other work on
        # the machine spreads over all functions instead of landing on one.
        plan = {}
        for key, (binary, source, zip_size) in bootstraps.items():
            machine, stripped = elf_info(binary)
            runner = emulator(machine)
            if runner is None:
                print(f"  {key[0]}: {source} ({machine}): size only (no {QEMU.get(machine, ('qemu',))[0]} with a {machine} glibc to run it)")
                rows.append((key[0], machine, os.path.getsize(binary), stripped, zip_size, None))
                continue
            env = lambda_env(key[0], f"127.0.0.1:{runtime_port}", sentinel.port, os.path.dirname(binary))
            env.update(runner[1])
            env.update(extra_env)
            plan[key] = dict(binary=binary, source=source, zip_size=zip_size, machine=machine, stripped=stripped,
                             prefix=runner[0], env=env, times=[], errors=[], aws_calls=0)
        for _ in range(args.runs):
            for m in plan.values():
                before = sentinel.connections
                ms, why = start_once(stub, m["binary"], m["env"], m["prefix"])
                m["aws_calls"] += sentinel.connections - before
                if why:
                    m["errors"].append(why)
                else:
                    m["times"].append(ms)
        for (name, _), m in plan.items():
            prefix, times, errors = m["prefix"], m["times"], m["errors"]
            traced = use_strace and not errors and not prefix
            connects, trust_files = traced_init(stub, m["binary"], m["env"], runtime_port) if traced else ([], None)
            network = [c for c in connects if re.fullmatch(r"[0-9a-fA-F.:]+:\d+", c)]
            print(f"  {name}: {m['source']} ({m['machine']}{', under ' + prefix[0] if prefix else ''}{'' if m['stripped'] else ', NOT stripped'}), {len(times)}/{args.runs} started"
                  + (f", connect() during init besides the Runtime API: {', '.join(connects) or 'none'}" if traced else "")
                  + (f", trust store files opened: {len(trust_files)}" if trust_files is not None else ""))
            if trust_files:
                print(f"    init read the system trust store ({len(trust_files)} files, e.g. {trust_files[0]}): the roots should be compiled in", file=sys.stderr)
            if errors:
                failed = True
                print(f"    FAILED to start: {errors[0]}", file=sys.stderr)
            if m["aws_calls"] or network:
                failed = True
                print(f"    init used the network: {m['aws_calls']} connection(s) to the AWS endpoint; connect() to {network}", file=sys.stderr)
            if prefix:
                emulated.add(m["machine"])
            rows.append((name, m["machine"] + ("*" if prefix else ""), os.path.getsize(m["binary"]), m["stripped"], m["zip_size"], times))
        floor = spawn_floor(max(args.runs, 20))

    order = [HELLO, *FUNCTIONS]
    rows.sort(key=lambda r: (not r[1].startswith(HOST_ARCH or "?"), r[1], order.index(r[0])))
    hello_times = next((t for n, a, *_, t in rows if n == HELLO and a == HOST_ARCH and t), None)
    hello_median = statistics.median(hello_times) if hello_times else None
    print()
    header = (f"{'function':<17} {'arch':<7} {'bytes':>10} {'MB':>6} {'zip MB':>6} {'<=10MB':>6}  {'init median':>11} {'p90':>7} {'max':>7} {'<=30ms':>6}"
              f"  {'hello median':>12} {'ratio':>6} {'<=' + format(GOAL_RATIO, 'g') + 'x':>6}")
    print(header)
    print("-" * len(header))
    for name, arch, size, stripped, zip_size, times in rows:
        mb = size / 1e6
        zip_mb = f"{zip_size / 1e6:6.2f}" if zip_size else f"{'-':>6}"
        size_ok = "-" if name == HELLO else "yes" if mb <= GOAL_SIZE_MB else "NO"
        if times:
            median, p90 = statistics.median(times), percentile(times, 90)
            goal = "-" if arch.endswith("*") or name == HELLO else "yes" if p90 <= GOAL_INIT_MS else "NO"
            init = f"{median:9.1f}ms {p90:5.1f}ms {max(times):5.1f}ms {goal:>6}"
            # The ratio only against the hello-world started in this run, on this machine, natively.
            if hello_median and arch == HOST_ARCH and name != HELLO:
                ratio = median / hello_median
                init += f"  {hello_median:10.1f}ms {ratio:5.2f}x {'yes' if ratio <= GOAL_RATIO else 'NO':>6}"
        elif times is None:
            init = f"{'not run':>11}"
        else:
            init = f"{'failed':>11}"
        print(f"{name:<17} {arch:<7} {size:>10} {mb:6.2f} {zip_mb} {size_ok:>6}  {init}" + ("" if stripped else "  (not stripped)"))
    print()
    print(f"goals: stripped bootstrap <= {GOAL_SIZE_MB:.0f} MB (10^6 bytes), init p90 <= {GOAL_INIT_MS:.0f} ms (spawn to first /next), "
          f"init median <= {GOAL_RATIO:g}x the hello-world's")
    print(f"{HELLO}: infra/hello-lambda, lambda_runtime and nothing of ours, {hello_how}; started round-robin with the functions in this run")
    for arch in sorted(emulated):
        print(f"{arch}*: under qemu-user emulation on {HOST_ARCH}: proves the bootstraps start; the times are emulation's, not Lambda's")
    print(f"floor: spawning and reaping /bin/true takes {floor:.1f} ms (median) on this machine; it is part of every init figure")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs (other work on the machine inflates the figures)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
