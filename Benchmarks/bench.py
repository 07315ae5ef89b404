#!/usr/bin/env python3
"""Side-by-side load test: TokenGate beside nginx, HAProxy and Caddy, all proxying to the same nginx upstream.

Each peer does TokenGate's injection job: it replaces `Authorization` with a fixed bearer
token and sets the forwarding headers. One run, interleaved rounds (the order rotated each
round) so all see the same machine state. Prints requests per second, p99 latency and CPU
time per request of each proxy and the ratios to nginx, then the user-space instructions
per request that callgrind counts for nginx, HAProxy and the TokenGate paths (the figure
that does not move between runs or machines; --no-instructions skips it), then gateway
memory at idle, under load and while a 1 GiB upload and a 1 GiB download stream through
it. With --baseline BINARY an earlier build runs beside them. Every proxy writes an access
log line per request to a file (--no-access-log: none does).

Needs nginx, haproxy, caddy, wrk, and for instructions valgrind and ab (Debian: nginx-light
haproxy caddy wrk valgrind apache2-utils) and a release build of tokengate
(`scripts/build-release.sh`). Everything binds to 127.0.0.1 only; every load is bounded in
time (wrk's -d) or count (ab's -n) and stops by itself.
"""
import argparse, json, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request

from benchsupport import wait_for_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPSTREAM, NGINX_PROXY, GATEWAY, ADMIN, SINK, IDP, IDP_ECHO = 18080, 18081, 18082, 18083, 18084, 18085, 18086
BASELINE, BASELINE_ADMIN = 18087, 18088
HAPROXY, CADDY = 18089, 18090
INSTR_NGINX, INSTR_HAPROXY, INSTR_GATEWAY, INSTR_ADMIN = 18091, 18092, 18093, 18094
FIXED_BEARER = "Bearer fixed-benchmark-token-0123456789"
INSTR_TOOL = os.path.join(ROOT, "Benchmarks", "instr-per-request.sh")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except FileNotFoundError:
            pass
    return total / CLK_TCK


def memory_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def family(pid):
    """A process and its direct children (nginx master and workers)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid] + [int(p) for p in out]


def wait_for(port, path="/", timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1).read()
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"nothing answered on port {port}")




def start_nginx(work, name, body):
    conf = os.path.join(work, f"{name}.conf")
    with open(conf, "w") as f:
        f.write(f"""
pid {work}/{name}.pid;
error_log {work}/{name}-error.log warn;
{body}
""")
    return subprocess.Popen(["nginx", "-p", work, "-c", conf, "-g", "daemon off;"])


def nginx_proxy_body(port, workers, access_log_line):
    """The nginx proxy: the fixed bearer and forwarding headers, keep-alive to the upstream."""
    return f"""
worker_processes {workers};
events {{ worker_connections 4096; }}
http {{
  {access_log_line}
  upstream backend {{ server 127.0.0.1:{UPSTREAM}; keepalive 256; }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    keepalive_requests 1000000;
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host 127.0.0.1:{UPSTREAM};
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header Authorization "{FIXED_BEARER}";
    }}
  }}
}}"""


def haproxy_config(work, name, port, threads, access_log):
    """HAProxy doing the same job; its access log goes to standard output (NAME-access.log)."""
    conf = os.path.join(work, f"{name}.cfg")
    logging = ("  log stdout format raw local0\n", "  log global\n  option httplog\n") if access_log else ("", "")
    with open(conf, "w") as f:
        f.write(f"""global
  nbthread {threads}
  maxconn 4000
{logging[0]}
defaults
  mode http
{logging[1]}  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always

frontend proxy
  bind 127.0.0.1:{port}
  default_backend upstream

backend upstream
  option forwardfor
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request set-header Host 127.0.0.1:{UPSTREAM}
  http-request set-header Authorization "{FIXED_BEARER}"
  server upstream 127.0.0.1:{UPSTREAM} maxconn 1000
""")
    return conf


def start_haproxy(work, access_log):
    conf = haproxy_config(work, "haproxy", HAPROXY, os.cpu_count(), access_log)
    return subprocess.Popen(["haproxy", "-db", "-f", conf], stdout=open(os.path.join(work, "haproxy-access.log"), "w"),
                            stderr=open(os.path.join(work, "haproxy.log"), "w"))


def start_caddy(work, access_log):
    """Caddy doing the same job (it sets X-Forwarded-* itself); access log to a file."""
    conf = os.path.join(work, "Caddyfile")
    log = f"\tlog {{\n\t\toutput file {work}/caddy-access.log\n\t}}\n" if access_log else ""
    with open(conf, "w") as f:
        f.write(f"""{{
\tadmin off
\tauto_https off
}}
http://127.0.0.1:{CADDY} {{
\tbind 127.0.0.1
{log}\treverse_proxy 127.0.0.1:{UPSTREAM} {{
\t\theader_up Host 127.0.0.1:{UPSTREAM}
\t\theader_up Authorization "{FIXED_BEARER}"
\t}}
}}
""")
    env = dict(os.environ, XDG_DATA_HOME=work, XDG_CONFIG_HOME=work, HOME=work)
    return subprocess.Popen(["caddy", "run", "--config", conf, "--adapter", "caddyfile"], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "caddy.log"), "w"))


# The fleet store's URL for `--store-url` (set once the store runs are reached).
STORE_URL = [""]


def instructions(url, command, header=None):
    """User-space instructions per request under callgrind (Benchmarks/instr-per-request.sh)."""
    env = dict(os.environ, AB_HEADER=header or "", BENCH_CLIENT_SECRET="demo-billing-secret",
               BENCH_RS_SECRET="demo-introspection-secret", BENCH_STORE_URL=STORE_URL[0])
    run = subprocess.run([INSTR_TOOL, url, "--"] + command, capture_output=True, text=True, env=env, timeout=900)
    # The count is the last line; the exit status can be the target's (stopped by a signal) once it was printed.
    last = (run.stdout.strip().splitlines() or [""])[-1]
    if not last.isdigit():
        print(f"  instructions for {url} failed (exit {run.returncode}): {run.stderr.strip()[-300:]}", flush=True)
        return None
    return int(last)


def count_instructions(args, work, gateway_config, bearer, jwt_bearer):
    """nginx, HAProxy and the four TokenGate paths, one process at a time under callgrind."""
    results = {}
    with open(os.path.join(work, "instr-nginx.conf"), "w") as f:
        log = f"access_log {work}/instr-nginx-access.log;" if args.access_log else "access_log off;"
        f.write(f"pid {work}/instr-nginx.pid;\nerror_log {work}/instr-nginx-error.log warn;\n" + nginx_proxy_body(INSTR_NGINX, 1, log))
        f.flush()
    results["nginx"] = instructions(f"http://127.0.0.1:{INSTR_NGINX}/bench/x",
                                    ["nginx", "-p", work, "-c", os.path.join(work, "instr-nginx.conf"), "-g", "daemon off; master_process off;"])
    print(f"  nginx                        {results['nginx']} instructions/request", flush=True)
    conf = haproxy_config(work, "instr-haproxy", INSTR_HAPROXY, 1, args.access_log)
    results["haproxy"] = instructions(f"http://127.0.0.1:{INSTR_HAPROXY}/bench/x", ["haproxy", "-db", "-f", conf])
    print(f"  haproxy                      {results['haproxy']} instructions/request", flush=True)
    stripped = os.path.join(work, "tokengate-stripped")
    subprocess.run(["strip", "-o", stripped, args.binary], check=True)
    config = json.loads(json.dumps(gateway_config))
    config["listeners"]["egress"]["address"] = f"127.0.0.1:{INSTR_GATEWAY}"
    config["admin"]["address"] = f"127.0.0.1:{INSTR_ADMIN}"
    with open(os.path.join(work, "instr-gateway.json"), "w") as f:
        json.dump(config, f)
    command = [stripped, "run", "--config", os.path.join(work, "instr-gateway.json"), "--no-watch"]
    paths = (("tokengate", "/bench/x", None), ("tokengate_inject", "/inject/x", None),
             ("tokengate_validate", "/validate/x", bearer), ("tokengate_jwt", "/jwt/x", jwt_bearer))
    for name, path, header in paths:
        results[name] = instructions(f"http://127.0.0.1:{INSTR_GATEWAY}{path}", command, header)
        print(f"  {name:<28} {results[name]} instructions/request", flush=True)
    if args.store_url:
        # The same paths with a fleet store joined and nothing revoked: the revocation
        # snapshot's cost on requests that need no store (issue 24: within 2 %).
        STORE_URL[0] = args.store_url
        config["store"] = {"postgres": {"url": {"env": "BENCH_STORE_URL"}}, "revocation_poll_seconds": 5}
        with open(os.path.join(work, "instr-gateway-store.json"), "w") as f:
            json.dump(config, f)
        command = [stripped, "run", "--config", os.path.join(work, "instr-gateway-store.json"), "--no-watch"]
        for name, path, header in paths:
            results[name + "_store"] = instructions(f"http://127.0.0.1:{INSTR_GATEWAY}{path}", command, header)
            change = (results[name + "_store"] / results[name] - 1) * 100 if results[name] and results[name + "_store"] else float("nan")
            print(f"  {name + '_store':<28} {results[name + '_store']} instructions/request ({change:+.2f} %)", flush=True)
    return results


def wrk(port, seconds, connections, threads, header=None, path="/bench/x"):
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency"]
    if header:
        cmd += ["-H", header]
    run = subprocess.run(cmd + [f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, timeout=seconds + 30)
    out = run.stdout
    if "Requests/sec" not in out:
        raise SystemExit(f"wrk failed against port {port}:\n{out}\n{run.stderr}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failed = (int(bad.group(1)) if bad else 0) + (sum(int(x) for x in errors.groups()) if errors else 0)
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale, "requests": total, "failed": failed}


def measure(name, port, pids, args, header=None, path="/bench/x"):
    before = cpu_seconds(pids)
    result = wrk(port, args.duration, args.connections, args.threads, header, path)
    result["cpu_us_per_request"] = (cpu_seconds(pids) - before) / max(result["requests"], 1) * 1e6
    print(f"  {name:<28} {result['rps']:>10.0f} req/s  p99 {result['p99_ms']:>7.2f} ms  "
          f"{result['cpu_us_per_request']:>6.1f} µs CPU/req  failed {result['failed']}", flush=True)
    return result


SINK_CODE = r"""
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_PUT(self):
        remaining = int(self.headers.get("Content-Length", "0"))
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                break
            remaining -= len(chunk)
        body = b"received\n"
        self.send_response(200 if remaining == 0 else 400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
"""


def start_gateway(binary, work, name):
    """`tokengate run` on WORK/NAME.json, its log in NAME.log and access log in NAME-access.log."""
    return subprocess.Popen([binary, "run", "--config", os.path.join(work, f"{name}.json"), "--log-format", "json",
                             "--log-level", "warning"], stderr=open(os.path.join(work, f"{name}.log"), "w"),
                            stdout=open(os.path.join(work, f"{name}-access.log"), "w"),
                            env=dict(os.environ, BENCH_CLIENT_SECRET="demo-billing-secret",
                                     BENCH_RS_SECRET="demo-introspection-secret"))


def stream_test(gateway_pid, work):
    """1 GiB up and 1 GiB down through the gateway; the gateway's peak RSS must stay flat."""
    big = os.path.join(work, "big.bin")
    hwm_before = memory_kib(gateway_pid, "VmHWM")
    up = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_upload}", "-T", big,
                         f"http://127.0.0.1:{GATEWAY}/upload"], capture_output=True, text=True, timeout=600).stdout
    down = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                           f"http://127.0.0.1:{GATEWAY}/big.bin"], capture_output=True, text=True, timeout=600).stdout
    hwm_after = memory_kib(gateway_pid, "VmHWM")
    return {"upload": up, "download": down, "peak_rss_before_mib": hwm_before / 1024, "peak_rss_after_mib": hwm_after / 1024}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds, order rotated each round (default 4)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/tokengate"))
    parser.add_argument("--no-access-log", dest="access_log", action="store_false",
                        help="neither proxy writes an access log (default: both log every request to a file)")
    parser.add_argument("--skip-streaming", action="store_true", help="skip the 1 GiB upload/download check")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--baseline", help="another tokengate binary (an earlier build) measured in the same interleaved rounds")
    parser.add_argument("--no-instructions", dest="instructions", action="store_false",
                        help="skip the callgrind instruction counts (about five minutes)")
    parser.add_argument("--store-url", help="a PostgreSQL URL (loopback): also count the instructions of every path with a fleet store joined and nothing revoked")
    parser.add_argument("--only-instructions", action="store_true",
                        help="only the callgrind instruction counts: no wrk rounds, no streaming")
    args = parser.parse_args()
    tools = ["nginx", "haproxy", "caddy", "wrk", "curl"] + (["valgrind", "callgrind_control", "ab", "strip"] if args.instructions else [])
    for tool in tools:
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing (Debian: apt-get install nginx-light haproxy caddy wrk curl valgrind apache2-utils binutils)")
    if not os.access(args.binary, os.X_OK):
        raise SystemExit(f"{args.binary} is missing: run `scripts/build-release.sh` first")

    work = tempfile.mkdtemp(prefix="tokengate-bench-")
    os.chmod(work, 0o755)  # nginx workers run as an unprivileged user
    with open(os.path.join(work, "big.bin"), "wb") as f:
        f.truncate(1 << 30)
    os.chmod(os.path.join(work, "big.bin"), 0o644)
    procs = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-c", SINK_CODE, str(SINK)]))
        # The sandbox authorization server issues the injected token (one-hour lifetime, so
        # the measured path is the cached token).
        procs.append(subprocess.Popen([args.binary, "sandbox", "--idp-port", str(IDP), "--echo-port", str(IDP_ECHO)],
                                      stdout=subprocess.DEVNULL))
        procs.append(start_nginx(work, "upstream", f"""
worker_processes 1;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  server {{
    listen 127.0.0.1:{UPSTREAM} backlog=4096;
    keepalive_requests 1000000;
    client_max_body_size 0;
    location = /big.bin {{ root {work}; }}
    location / {{ default_type application/json; return 200 '{{"ok":true}}\\n'; }}
  }}
}}"""))
        # Both proxies log every request to a file (what an operator runs), or neither does.
        proxy_access_log = f"access_log {work}/nginx-access.log;" if args.access_log else "access_log off;"
        proxy = start_nginx(work, "proxy", nginx_proxy_body(NGINX_PROXY, os.cpu_count(), proxy_access_log))
        procs.append(proxy)
        haproxy = start_haproxy(work, args.access_log)
        procs.append(haproxy)
        caddy = start_caddy(work, args.access_log)
        procs.append(caddy)
        config = {
            "listeners": {"egress": {"address": f"127.0.0.1:{GATEWAY}"}},
            "admin": {"address": f"127.0.0.1:{ADMIN}"},
            "introspection": {"bench": {"url": f"http://127.0.0.1:{IDP}/oauth2/introspect", "client_id": "tokengate-rs",
                                        "client_secret": {"env": "BENCH_RS_SECRET"}}},
            "jwt": {"bench": {"issuer": f"http://127.0.0.1:{IDP}", "audience": "https://api.sandbox.test"}},
            "credentials": {"bench": {"grant": "client_credentials", "token_url": f"http://127.0.0.1:{IDP}/oauth2/token",
                                      "client_id": "billing-svc", "client_secret": {"env": "BENCH_CLIENT_SECRET"}}},
            "routes": [{"name": "bench", "listener": "egress", "match": {"path_prefix": "/"},
                        "upstream": f"http://127.0.0.1:{UPSTREAM}/"},
                       {"name": "inject", "listener": "egress", "match": {"path_prefix": "/inject/"}, "strip_prefix": True,
                        "upstream": f"http://127.0.0.1:{UPSTREAM}/", "credential": "bench"},
                       {"name": "validate", "listener": "egress", "match": {"path_prefix": "/validate/"}, "strip_prefix": True,
                        "upstream": f"http://127.0.0.1:{UPSTREAM}/",
                        "validate": {"introspection": "bench", "required_scopes": ["legacy:use"]}},
                       {"name": "jwt", "listener": "egress", "match": {"path_prefix": "/jwt/"}, "strip_prefix": True,
                        "upstream": f"http://127.0.0.1:{UPSTREAM}/",
                        "validate": {"jwt": "bench", "required_scopes": ["legacy:use"]}},
                       {"name": "upload", "listener": "egress", "match": {"path_prefix": "/upload"},
                        "upstream": f"http://127.0.0.1:{SINK}/", "max_body_bytes": 4 << 30}],
            "access_log": {"enabled": args.access_log},
        }
        with open(os.path.join(work, "gateway.json"), "w") as f:
            json.dump(config, f)
        wait_for_port(IDP)
        gateway = start_gateway(args.binary, work, "gateway")
        procs.append(gateway)
        baseline = None
        if args.baseline:
            other = json.loads(json.dumps(config))
            other["listeners"]["egress"]["address"] = f"127.0.0.1:{BASELINE}"
            other["admin"]["address"] = f"127.0.0.1:{BASELINE_ADMIN}"
            with open(os.path.join(work, "baseline.json"), "w") as f:
                json.dump(other, f)
            baseline = start_gateway(args.baseline, work, "baseline")
            procs.append(baseline)
            wait_for(BASELINE_ADMIN, "/readyz")
        for port in (UPSTREAM, NGINX_PROXY, HAPROXY, CADDY):
            wait_for(port)
        wait_for_port(SINK)
        wait_for(ADMIN, "/readyz")
        time.sleep(0.5)
        nginx_pids = family(proxy.pid)
        idle_rss = memory_kib(gateway.pid, "VmRSS") / 1024

        caller_token = json.loads(subprocess.run(
            ["curl", "-s", "-u", "demo-caller:demo-caller-secret", "-d", "grant_type=client_credentials",
             f"http://127.0.0.1:{IDP}/oauth2/token"], capture_output=True, text=True, timeout=30).stdout)["access_token"]
        bearer = f"Authorization: Bearer {caller_token}"
        # A JWT access token (RFC 9068) from the sandbox, for the locally validated path.
        jwt_token = json.loads(subprocess.run(
            ["curl", "-s", "-u", "demo-jwt-caller:demo-jwt-caller-secret", "-d", "grant_type=client_credentials",
             f"http://127.0.0.1:{IDP}/oauth2/token"], capture_output=True, text=True, timeout=30).stdout)["access_token"]
        jwt_bearer = f"Authorization: Bearer {jwt_token}"
        if args.only_instructions:
            print("instructions per request (callgrind, one worker each, keep-alive)")
            counts = count_instructions(args, work, config, bearer, jwt_bearer)
            if counts.get("nginx"):
                print("  × nginx: " + ", ".join(f"{name} {count / counts['nginx']:.2f}" for name, count in counts.items() if count))
            if args.json:
                with open(args.json, "w") as f:
                    json.dump({"instructions": counts}, f, indent=2)
            return
        print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.rounds} interleaved rounds, {os.cpu_count()} cores")
        print("warm-up")
        wrk(NGINX_PROXY, 2, args.connections, args.threads)
        wrk(HAPROXY, 2, args.connections, args.threads)
        wrk(CADDY, 2, args.connections, args.threads)
        wrk(GATEWAY, 2, args.connections, args.threads)
        wrk(GATEWAY, 2, args.connections, args.threads, path="/inject/x")
        wrk(GATEWAY, 2, args.connections, args.threads, header=bearer, path="/validate/x")
        results = {"nginx": [], "haproxy": [], "caddy": [], "tokengate": [], "tokengate_inject": [], "tokengate_validate": []}
        if baseline:
            for path, header in (("/bench/x", None), ("/inject/x", None), ("/validate/x", bearer)):
                wrk(BASELINE, 2, args.connections, args.threads, header=header, path=path)
            results.update({"baseline": [], "baseline_inject": [], "baseline_validate": []})
        runs = [
            ("nginx", lambda: measure("nginx (fixed bearer)", NGINX_PROXY, nginx_pids, args)),
            ("haproxy", lambda: measure("haproxy (fixed bearer)", HAPROXY, [haproxy.pid], args)),
            ("caddy", lambda: measure("caddy (fixed bearer)", CADDY, [caddy.pid], args)),
            ("tokengate", lambda: measure("tokengate (plain proxy)", GATEWAY, [gateway.pid], args)),
            ("tokengate_inject", lambda: measure("tokengate (injected token)", GATEWAY, [gateway.pid], args, path="/inject/x")),
            ("tokengate_validate", lambda: measure("tokengate (validated, cached)", GATEWAY, [gateway.pid], args,
                                                   header=bearer, path="/validate/x")),
        ]
        if baseline:
            runs += [
                ("baseline", lambda: measure("baseline (plain proxy)", BASELINE, [baseline.pid], args)),
                ("baseline_inject", lambda: measure("baseline (injected token)", BASELINE, [baseline.pid], args, path="/inject/x")),
                ("baseline_validate", lambda: measure("baseline (validated, cached)", BASELINE, [baseline.pid], args,
                                                      header=bearer, path="/validate/x")),
            ]
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}")
            # Rotate the order each round so no variant always runs in the same slot.
            shift = (round_number - 1) % len(runs)
            for name, run in runs[shift:] + runs[:shift]:
                results[name].append(run())
        loaded_rss = memory_kib(gateway.pid, "VmHWM") / 1024

        def median(name, key):
            return statistics.median(r[key] for r in results[name])

        peers = ("haproxy", "caddy")
        variants = ("tokengate", "tokengate_inject", "tokengate_validate") + (
            ("baseline", "baseline_inject", "baseline_validate") if baseline else ())
        summary = {}
        for key in ("rps", "p99_ms", "cpu_us_per_request"):
            n = median("nginx", key)
            summary[key] = {"nginx": n}
            for variant in peers + variants:
                t = median(variant, key)
                summary[key][variant] = t
                summary[key][variant + "_ratio"] = t / n if n else float("nan")
        failed = sum(r["failed"] for rs in results.values() for r in rs)
        print("\nmedians (ratio to nginx)      nginx          haproxy            caddy  tokengate plain           inject         validate")
        for key, label in (("rps", "requests/s"), ("p99_ms", "p99 ms"), ("cpu_us_per_request", "CPU µs/req")):
            row = summary[key]
            cells = "".join(f" {row[v]:>9.2f} ({row[v + '_ratio']:.2f})" for v in peers + variants[:3])
            print(f"  {label:<14} {row['nginx']:>12.2f} {cells}")
            if baseline:
                cells = "".join(f" {row[v]:>8.2f} ({row[v + '_ratio']:.2f})" for v in variants[3:])
                print(f"  {'  baseline':<14} {'':>12} {cells}")
        instructions_per_request = None
        if args.instructions:
            print("\ninstructions per request (callgrind, one worker each, keep-alive)")
            instructions_per_request = count_instructions(args, work, config, bearer, jwt_bearer)
            reference = instructions_per_request.get("nginx")
            if reference:
                cells = ", ".join(f"{name} {count / reference:.2f}" for name, count in instructions_per_request.items() if count)
                print(f"  × nginx: {cells}")
        plain, inject = summary["rps"]["tokengate"], summary["rps"]["tokengate_inject"]
        print(f"  injection vs plain proxy: {inject / plain:.3f} of the plain path's requests/s")
        print(f"  failed requests: {failed}")
        print(f"\ngateway memory: idle RSS {idle_rss:.1f} MiB, peak RSS after load {loaded_rss:.1f} MiB")
        streaming = None
        if not args.skip_streaming:
            streaming = stream_test(gateway.pid, work)
            print(f"1 GiB upload: HTTP/bytes {streaming['upload']}; 1 GiB download: HTTP/bytes {streaming['download']}; "
                  f"gateway peak RSS {streaming['peak_rss_before_mib']:.1f} → {streaming['peak_rss_after_mib']:.1f} MiB")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"rounds": results, "summary": summary, "instructions": instructions_per_request, "failed": failed, "idle_rss_mib": idle_rss,
                           "peak_rss_mib": loaded_rss, "streaming": streaming}, f, indent=2)
        if failed:
            sys.exit(1)
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if os.environ.get("KEEP_BENCH_DIR"):
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
