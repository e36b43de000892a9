# Sourced by test.sh and local-on-moto.sh: `start_moto LOG` starts a moto server (from .venv) on a
# free loopback port and waits until it answers HTTP. Sets `port` and `moto_pid`; returns 1 (with
# moto_pid empty) if it did not start in three tries. The caller stops it (kill "$moto_pid").
start_moto() {
  local log="$1" _attempt
  port="" moto_pid=""
  for _attempt in 1 2 3; do
    port="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    .venv/bin/moto_server -H 127.0.0.1 -p "$port" > "$log" 2>&1 &
    moto_pid=$!
    # Ready when it answers HTTP; give up on this port if the process exits (port taken meanwhile).
    if .venv/bin/python - "$port" "$moto_pid" <<'PY'
import os, sys, time, urllib.request, urllib.error
port, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # any HTTP answer means it is serving
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            sys.exit(1)
        time.sleep(0.1)
sys.exit(1)
PY
    then
      return 0
    fi
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
    moto_pid=""
  done
  return 1
}
