#!/usr/bin/env python3
"""HTTP/2 and TLS load test: TokenGate beside nginx, both proxying to the same nginx upstream.

Each proxy does TokenGate's injection job (a fixed `Authorization`, the forwarding headers),
writes an access-log line per request to a file, and serves three listeners: HTTP/2 over TLS (ALPN h2), HTTP/1.1 over TLS, and cleartext
HTTP/2 with prior knowledge (h2c). h2load (Debian: nghttp2-client) drives each, in
interleaved rounds whose order rotates, so both see the same machine state; the script
prints requests per second for each and the ratios to nginx. With instructions on
(default), it then counts the user-space instructions per request of an h2c stream and of
a cleartext HTTP/1.1 request under callgrind, for nginx and TokenGate (the figure that
does not move between runs).

Needs nginx (with http_v2), h2load, openssl, curl, and for instructions valgrind, ab and
strip, and a release build of tokengate (`scripts/build-release.sh`). Everything binds to
127.0.0.1 only; every load is bounded by count (h2load -n) and stops by itself.
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time

from benchsupport import wait_for_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPSTREAM = 18180
NGINX_H2, NGINX_H1TLS, NGINX_H2C = 18181, 18182, 18183
GW_H2, GW_H1TLS, GW_H2C, GW_ADMIN = 18184, 18185, 18186, 18187
INSTR_PORT, INSTR_ADMIN = 18188, 18189
FIXED_BEARER = "Bearer fixed-benchmark-token-0123456789"


def start_nginx(work, name, body):
    conf = os.path.join(work, f"{name}.conf")
    with open(conf, "w") as f:
        f.write(f"pid {work}/{name}.pid;\nerror_log {work}/{name}-error.log warn;\n{body}\n")
    return subprocess.Popen(["nginx", "-p", work, "-c", conf, "-g", "daemon off;"])


def proxy_location():
    return f"""
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host 127.0.0.1:{UPSTREAM};
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header Authorization "{FIXED_BEARER}";
    }}"""


def nginx_proxy(work, workers, ports, access_log):
    """nginx with the same three listeners as the gateway (h2+TLS, h1+TLS, h2c)."""
    h2, h1tls, h2c = ports
    return f"""
worker_processes {workers};
events {{ worker_connections 4096; }}
http {{
  {access_log}
  upstream backend {{ server 127.0.0.1:{UPSTREAM}; keepalive 256; }}
  ssl_certificate {work}/server.pem;
  ssl_certificate_key {work}/server.key;
  keepalive_requests 1000000;
  http2_max_concurrent_streams 128;
  server {{ listen 127.0.0.1:{h2} ssl http2 backlog=4096; {proxy_location()} }}
  server {{ listen 127.0.0.1:{h1tls} ssl backlog=4096; {proxy_location()} }}
  server {{ listen 127.0.0.1:{h2c} http2 backlog=4096; {proxy_location()} }}
}}"""


def gateway_config(work, ports, admin):
    h2, h1tls, h2c = ports
    tls = {"cert_file": f"{work}/server.pem", "key_file": f"{work}/server.key"}
    listeners = {"h2": {"address": f"127.0.0.1:{h2}", "tls": tls},
                 "h1tls": {"address": f"127.0.0.1:{h1tls}", "tls": tls, "http2": False},
                 "h2c": {"address": f"127.0.0.1:{h2c}", "h2c": True}}
    routes = [{"name": name, "listener": name, "match": {"path_prefix": "/"}, "upstream": f"http://127.0.0.1:{UPSTREAM}/"}
              for name in listeners]
    return {"listeners": listeners, "admin": {"address": f"127.0.0.1:{admin}"}, "routes": routes}


def h2load(url, requests, clients, streams, h1=False):
    """Requests per second, as h2load reports them (None when some failed)."""
    cmd = ["h2load", "-n", str(requests), "-c", str(clients), "-m", str(streams), "-t", "1",
           "-H", f"Authorization: {FIXED_BEARER}", url]
    if h1:
        cmd.insert(1, "--h1")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    rps, failed = None, None
    for line in out.splitlines():
        if line.startswith("finished in"):
            rps = float(line.split(",")[1].split()[0])
        if line.startswith("requests:"):
            # requests: N total, N started, N done, N succeeded, F failed, E errored, T timeout
            counts = {part.split()[1]: int(part.split()[0]) for part in line[len("requests:"):].split(",")}
            failed = counts.get("failed", 0) + counts.get("errored", 0) + counts.get("timeout", 0)
    if failed:
        print(f"    {failed} failed requests: {url}", flush=True)
        return None
    return rps


def instructions(url, command, h2):
    """User-space instructions per request under callgrind: the marginal count of 3000
    over 1000 requests on 8 connections (h2load for an h2c stream, ab for HTTP/1.1)."""
    tool = os.path.join(ROOT, "Benchmarks", "instr-per-request-h2.sh" if h2 else "instr-per-request.sh")
    run = subprocess.run([tool, url, "--"] + command, capture_output=True, text=True, timeout=900)
    last = (run.stdout.strip().splitlines() or [""])[-1]
    if not last.isdigit():
        print(f"  instructions for {url} failed (exit {run.returncode}): {run.stderr.strip()[-300:]}", flush=True)
        return None
    return int(last)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200000, help="requests per h2load run (default 200000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--streams", type=int, default=8, help="concurrent streams per HTTP/2 connection (default 8)")
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/tokengate"))
    parser.add_argument("--no-instructions", dest="instructions", action="store_false")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    for tool in ["nginx", "h2load", "openssl", "curl"] + (["valgrind", "callgrind_control", "ab", "strip"] if args.instructions else []):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing (Debian: apt-get install nginx-light nghttp2-client openssl curl valgrind apache2-utils binutils)")
    if not os.access(args.binary, os.X_OK):
        raise SystemExit(f"{args.binary} is missing: run `scripts/build-release.sh` first")

    work = tempfile.mkdtemp(prefix="tokengate-h2-bench-")
    os.chmod(work, 0o755)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{work}/server.key", "-out", f"{work}/server.pem",
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    os.chmod(f"{work}/server.key", 0o644)
    procs = []
    results = {}
    try:
        procs.append(start_nginx(work, "upstream", f"""
worker_processes 1;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  server {{
    listen 127.0.0.1:{UPSTREAM} backlog=4096;
    keepalive_requests 1000000;
    location / {{ default_type application/json; return 200 '{{"ok":true}}\\n'; }}
  }}
}}"""))
        procs.append(start_nginx(work, "proxy", nginx_proxy(work, os.cpu_count(), (NGINX_H2, NGINX_H1TLS, NGINX_H2C), f"access_log {work}/nginx-access.log;")))
        with open(f"{work}/gateway.json", "w") as f:
            json.dump(gateway_config(work, (GW_H2, GW_H1TLS, GW_H2C), GW_ADMIN), f)
        procs.append(subprocess.Popen([args.binary, "run", "--config", f"{work}/gateway.json", "--no-watch", "--log-level", "warning"],
                                      stdout=open(f"{work}/gateway-access.log", "w"), stderr=open(f"{work}/gateway.log", "w")))
        for port in (UPSTREAM, NGINX_H2, NGINX_H1TLS, NGINX_H2C, GW_H2, GW_H1TLS, GW_H2C):
            wait_for_port(port)
        targets = {
            "h2 (TLS)": (f"https://127.0.0.1:{{}}/x", NGINX_H2, GW_H2, False),
            "HTTP/1.1 (TLS)": (f"https://127.0.0.1:{{}}/x", NGINX_H1TLS, GW_H1TLS, True),
            "h2c": (f"http://127.0.0.1:{{}}/x", NGINX_H2C, GW_H2C, False),
        }
        samples = {(name, peer): [] for name in targets for peer in ("nginx", "tokengate")}
        # Warm both (TLS session setup, pools).
        for name, (url, nginx_port, gw_port, h1) in targets.items():
            h2load(url.format(nginx_port), 2000, 8, args.streams, h1)
            h2load(url.format(gw_port), 2000, 8, args.streams, h1)
        for round_index in range(args.rounds):
            order = [("nginx", 1), ("tokengate", 2)]
            if round_index % 2:
                order.reverse()
            for name, (url, nginx_port, gw_port, h1) in targets.items():
                for peer, which in order:
                    port = nginx_port if which == 1 else gw_port
                    rps = h2load(url.format(port), args.requests, args.clients, 1 if h1 else args.streams, h1)
                    samples[(name, peer)].append(rps)
                    print(f"  round {round_index + 1} {name:<15} {peer:<9} {rps if rps else 'failed'} req/s", flush=True)
        print("\nmedian requests per second (ratio to nginx):")
        for name in targets:
            nginx = statistics.median([v for v in samples[(name, "nginx")] if v] or [0])
            gateway = statistics.median([v for v in samples[(name, "tokengate")] if v] or [0])
            ratio = gateway / nginx if nginx else 0
            results[name] = {"nginx": nginx, "tokengate": gateway, "ratio": round(ratio, 3)}
            print(f"  {name:<15} nginx {nginx:>10.0f}  tokengate {gateway:>10.0f}  ratio {ratio:.2f}")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    if args.instructions:
        print("\ninstructions per request (callgrind, user space):", flush=True)
        upstream = start_nginx(work, "instr-upstream", f"""
worker_processes 1;
events {{ worker_connections 4096; }}
http {{ access_log off; server {{ listen 127.0.0.1:{UPSTREAM}; keepalive_requests 1000000;
  location / {{ default_type application/json; return 200 '{{"ok":true}}\\n'; }} }} }}""")
        try:
            wait_for_port(UPSTREAM)
            stripped = os.path.join(work, "tokengate-stripped")
            subprocess.run(["strip", "-o", stripped, args.binary], check=True)
            config = {"listeners": {"main": {"address": f"127.0.0.1:{INSTR_PORT}", "h2c": True}},
                      "admin": {"address": f"127.0.0.1:{INSTR_ADMIN}"},
                      "routes": [{"name": "main", "listener": "main", "match": {"path_prefix": "/"}, "upstream": f"http://127.0.0.1:{UPSTREAM}/"}]}
            with open(f"{work}/instr-gateway.json", "w") as f:
                json.dump(config, f)
            command = [stripped, "run", "--config", f"{work}/instr-gateway.json", "--no-watch", "--log-level", "warning"]
            with open(f"{work}/instr-nginx.conf", "w") as f:
                f.write(f"pid {work}/instr-nginx.pid;\nerror_log {work}/instr-nginx-error.log warn;\n"
                        f"worker_processes 1;\nevents {{ worker_connections 4096; }}\nhttp {{ access_log off;\n"
                        f"  upstream backend {{ server 127.0.0.1:{UPSTREAM}; keepalive 256; }}\n  keepalive_requests 1000000;\n"
                        f"  server {{ listen 127.0.0.1:{INSTR_PORT} http2; {proxy_location()} }} }}\n")
            nginx_cmd = ["nginx", "-p", work, "-c", f"{work}/instr-nginx.conf", "-g", "daemon off; master_process off;"]
            url = f"http://127.0.0.1:{INSTR_PORT}/x"
            for name, command_line, h2 in (("nginx h2c stream", nginx_cmd, True), ("tokengate h2c stream", command, True),
                                           ("tokengate HTTP/1.1", command, False)):
                count = instructions(url, command_line, h2)
                results[f"instructions {name}"] = count
                print(f"  {name:<22} {count} instructions/request", flush=True)
        finally:
            upstream.terminate()
            upstream.wait(timeout=10)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
