#!/usr/bin/env bash
# Memory per idle keep-alive client connection: what each connection a proxy holds open
# costs it once it has served one proxied request, TokenGate beside nginx (one worker).
#   Benchmarks/idle-connection-memory.sh [TOKENGATE_BINARY]     (default .build/release/tokengate,
#                                                                 as scripts/build-release.sh makes it)
#   CONNECTIONS=3000 (default) SETTLE_SECONDS=6 (default) WORKERS=1 (default) to change them.
# For each proxy: one warm-up request, then VmRSS (/proc/PID/status); CONNECTIONS keep-alive
# connections each send one GET, read the whole answer and stay open (at most 32 requests in
# flight, so the upstream pools stay small); after SETTLE_SECONDS (pooled upstream
# connections TokenGate no longer needs close after 4 s) VmRSS again. Prints the growth over
# the connections still open. The upstream is nginx when it is installed, else the sandbox
# echo upstream (`tokengate sandbox`); the nginx proxy runs only when nginx is installed
# (Debian: nginx-light). Everything binds to 127.0.0.1 (ports 24080-24084); the client gives
# up after 120 s, and every process started here is stopped on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
binary=$(realpath "${1:-$root/.build/release/tokengate}")
[ -x "$binary" ] || { echo "$binary is missing: run scripts/build-release.sh first" >&2; exit 1; }
connections=${CONNECTIONS:-3000}
settle=${SETTLE_SECONDS:-6}
workers=${WORKERS:-1}
upstream_port=24080 gateway_port=24081 admin_port=24082 nginx_port=24083 idp_port=24084

# Descriptors: the client holds one per connection, and a proxy one per client connection
# plus its upstream ones; TokenGate admits at most half its limit in client connections.
need=$(( connections * 2 + 2048 ))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
  echo "the hard limit on open files is $hard; this needs $need (raise it as root, or set CONNECTIONS lower)" >&2
  exit 1
fi
ulimit -n "$need"

work=$(mktemp -d /tmp/idle-memory.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
  for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/client.py" <<'PY'
"""`wait PORT`: until 127.0.0.1:PORT accepts (30 s at most).
`measure PORT PID COUNT SETTLE`: the idle-connection measurement of one proxy (pid PID)."""
import selectors, socket, sys, time

REQUEST = b"GET /idle HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: idle-connection-memory\r\n\r\n"
IN_FLIGHT = 32
DEADLINE_SECONDS = 120


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def wait(port):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def complete(buffer):
    """Whether `buffer` holds one whole response, and its status (None until the head is in)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return False, None
    head = buffer[:end].decode("latin-1").split("\r\n")
    parts = head[0].split(" ")
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = buffer[end + 4:]
    if "content-length" in headers:
        return len(body) >= int(headers["content-length"]), status
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return body.endswith(b"0\r\n\r\n"), status
    return True, status


def warm_up(port):
    """One proxied request, so the 'before' figure includes what the first request sets up."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(REQUEST)
        buffer = b""
        while True:
            data = sock.recv(65536)
            if not data:
                raise SystemExit("the proxy closed the warm-up connection")
            buffer += data
            done, status = complete(buffer)
            if done:
                if status != 200:
                    raise SystemExit(f"the warm-up request was answered {status}")
                return


def measure(port, pid, count, settle):
    warm_up(port)
    time.sleep(0.5)
    before = rss_kib(pid)
    selector = selectors.DefaultSelector()
    held, answered, failed, started, in_flight = [], 0, 0, 0, 0
    deadline = time.monotonic() + DEADLINE_SECONDS
    while answered + failed < count and time.monotonic() < deadline:
        while in_flight < IN_FLIGHT and started < count:
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            selector.register(sock, selectors.EVENT_WRITE, {"buffer": b""})
            started += 1
            in_flight += 1
        for key, _ in selector.select(timeout=0.5):
            sock, state = key.fileobj, key.data
            try:
                if key.events == selectors.EVENT_WRITE:
                    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if error:
                        raise OSError(error, "connect failed")
                    sock.send(REQUEST)  # small enough for one send on a fresh connection
                    selector.modify(sock, selectors.EVENT_READ, state)
                    continue
                data = sock.recv(65536)
                if not data:
                    raise OSError("closed before the whole answer")
                state["buffer"] += data
                done, status = complete(state["buffer"])
                if not done:
                    continue
                selector.unregister(sock)
                in_flight -= 1
                if status == 200:
                    answered += 1
                    held.append(sock)  # kept open, idle, for the measurement
                else:
                    failed += 1
                    sock.close()
            except OSError:
                selector.unregister(sock)
                in_flight -= 1
                failed += 1
                sock.close()
    time.sleep(settle)
    after = rss_kib(pid)
    still_open = 0
    for sock in held:
        try:
            if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                continue  # the proxy closed it
        except BlockingIOError:
            pass  # open and idle
        except OSError:
            continue
        still_open += 1
    for sock in held:
        sock.close()
    per = (after - before) * 1024 / still_open if still_open else float("nan")
    print(f"{per / 1000:.1f} KB ({per:.0f} bytes) per connection  [VmRSS {before} KiB before, {after} KiB after; "
          f"{answered} answered 200, {failed} failed, {still_open} still open]")
    if failed or still_open < count:
        sys.exit(1)


if __name__ == "__main__":
    if sys.argv[1] == "wait":
        wait(int(sys.argv[2]))
    else:
        measure(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
PY

if command -v nginx >/dev/null 2>&1; then
  have_nginx=1
  cat > "$work/upstream.conf" <<NGINX
pid $work/upstream.pid;
error_log $work/upstream-error.log warn;
worker_processes 1;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$upstream_port backlog=4096;
    keepalive_timeout 600s;
    keepalive_requests 1000000;
    location / { default_type text/plain; return 200 'ok\n'; }
  }
}
NGINX
  nginx -p "$work" -c "$work/upstream.conf" -g "daemon off;" &
  pids+=($!)
  upstream_name="nginx (return 200)"
else
  have_nginx=""
  "$binary" sandbox --idp-port "$idp_port" --echo-port "$upstream_port" > "$work/sandbox.log" 2>&1 &
  pids+=($!)
  upstream_name="the sandbox echo upstream (nginx is not installed)"
fi
python3 "$work/client.py" wait "$upstream_port"

cat > "$work/gateway.json" <<JSON
{ "listeners": { "main": { "address": "127.0.0.1:$gateway_port", "idle_timeout_seconds": 600,
                           "max_connections": $(( connections + 512 )) } },
  "admin": { "address": "127.0.0.1:$admin_port" }, "workers": $workers, "access_log": { "enabled": false },
  "routes": [ { "name": "plain", "listener": "main", "match": { "path_prefix": "/" },
                "upstream": "http://127.0.0.1:$upstream_port/" } ] }
JSON
"$binary" run --config "$work/gateway.json" --no-watch --log-level warning > "$work/gateway.log" 2>&1 &
gateway=$!
pids+=($gateway)
python3 "$work/client.py" wait "$gateway_port"

echo "Memory per idle keep-alive client connection: $connections connections, one proxied request each,"
echo "then idle ${settle} s; upstream: $upstream_name."
status=0
printf 'tokengate (%s worker%s)  ' "$workers" "$([ "$workers" = 1 ] || echo s)"
python3 "$work/client.py" measure "$gateway_port" "$gateway" "$connections" "$settle" || status=1

if [ -n "$have_nginx" ]; then
  cat > "$work/proxy.conf" <<NGINX
pid $work/proxy.pid;
error_log $work/proxy-error.log warn;
master_process off;
worker_processes 1;
worker_rlimit_nofile $need;
events { worker_connections $(( connections * 2 + 512 )); }
http {
  access_log off;
  upstream backend { server 127.0.0.1:$upstream_port; keepalive 32; }
  server {
    listen 127.0.0.1:$nginx_port backlog=4096;
    keepalive_timeout 600s;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGINX
  nginx -p "$work" -c "$work/proxy.conf" -g "daemon off;" &
  proxy=$!
  pids+=($proxy)
  python3 "$work/client.py" wait "$nginx_port"
  printf 'nginx %s (1 worker)  ' "$(nginx -v 2>&1 | sed 's|.*nginx/||')"
  python3 "$work/client.py" measure "$nginx_port" "$proxy" "$connections" "$settle" || status=1
else
  echo "nginx: not installed, not measured (Debian: apt-get install nginx-light)"
fi
exit $status
