#!/usr/bin/env python3
"""A flood of random bearer tokens against an introspecting route: does a real token stay
cached, does egress token refresh stay on time, and does memory stay bounded?

Starts `tokengate sandbox` (authorization server + echo upstream, access tokens living
--token-lifetime seconds; egress refreshes at 11 % of that) and `tokengate run` with an ingress route that introspects and an
egress route that injects a client-credentials token. Then, from --connections keep-alive
connections, sends --tokens distinct random tokens (each once), with the one real token
mixed in every 50th request, while one more connection calls the egress route every
100 ms. Prints how each kind of request was answered, how often the real token was
introspected (from the gateway's metrics: it is the only active one), how many egress
requests failed and how many tokens were fetched, and the gateway's RSS before, at peak and
after. Everything binds to 127.0.0.1; the load is bounded by --tokens and --seconds.
"""
import argparse, base64, http.client, json, os, secrets, socket, subprocess, sys, tempfile, threading, time

from benchsupport import free_port, rss_kib, wait_for_port


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_mib(pid):
    return rss_kib(pid) / 1024


def metric(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/tokengate"))
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=120, help="upper bound on the flood's duration")
    parser.add_argument("--token-lifetime", type=int, default=20,
                        help="access token lifetime at the sandbox; egress refreshes at 11 %% of it (default 20 s: every 2.2 s)")
    args = parser.parse_args()
    if not os.access(args.binary, os.X_OK):
        raise SystemExit(f"{args.binary} is missing: run `scripts/build-release.sh` first")

    idp, echo, ingress, egress, admin = (free_port() for _ in range(5))
    work = tempfile.mkdtemp()
    config = {
        "listeners": {"ingress": {"address": f"127.0.0.1:{ingress}"}, "egress": {"address": f"127.0.0.1:{egress}"}},
        "admin": {"address": f"127.0.0.1:{admin}"},
        "access_log": {"enabled": False},
        "credentials": {"billing": {"grant": "client_credentials", "token_url": f"http://127.0.0.1:{idp}/oauth2/token",
                                    "client_id": "billing-svc", "client_secret": "demo-billing-secret",
                                    "refresh_at_lifetime_fraction": 0.11}},
        "introspection": {"idp": {"url": f"http://127.0.0.1:{idp}/oauth2/introspect", "client_id": "tokengate-rs",
                                  "client_secret": "demo-introspection-secret",
                                  "cache": {"max_entries": 1000, "negative_max_entries": 1024}, "max_in_flight": 64}},
        "routes": [
            {"name": "app", "listener": "ingress", "match": {"path_prefix": "/"}, "upstream": f"http://127.0.0.1:{echo}/",
             "validate": {"introspection": "idp", "required_scopes": ["legacy:use"]}},
            {"name": "billing", "listener": "egress", "match": {"path_prefix": "/"}, "upstream": f"http://127.0.0.1:{echo}/",
             "credential": "billing"},
        ],
    }
    with open(os.path.join(work, "gateway.json"), "w") as f:
        json.dump(config, f)
    sandbox = subprocess.Popen([args.binary, "sandbox", "--idp-port", str(idp), "--echo-port", str(echo),
                                "--token-lifetime", str(args.token_lifetime)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gateway = None
    try:
        wait_for_port(idp)
        wait_for_port(echo)
        gateway = subprocess.Popen([args.binary, "run", "--config", os.path.join(work, "gateway.json"), "--no-watch"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(ingress)
        wait_for_port(admin)

        # The one real token, issued to a caller of the legacy app.
        conn = http.client.HTTPConnection("127.0.0.1", idp, timeout=10)
        basic = base64.b64encode(b"demo-caller:demo-caller-secret").decode()
        conn.request("POST", "/oauth2/token", body="grant_type=client_credentials&scope=legacy%3Ause",
                     headers={"Authorization": "Basic " + basic, "Content-Type": "application/x-www-form-urlencoded"})
        real = json.loads(conn.getresponse().read())["access_token"]
        conn.close()

        def get(connection, port, token=None):
            headers = {"Host": "a"}
            if token:
                headers["Authorization"] = "Bearer " + token
            connection.request("GET", "/x", headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status

        warm = http.client.HTTPConnection("127.0.0.1", ingress, timeout=10)
        assert get(warm, ingress, real) == 200, "the real token must pass before the flood"
        warm.close()

        rss_before = rss_mib(gateway.pid)
        peak = [rss_before]
        counts = {"random": {}, "real": {}, "egress": {}}
        lock = threading.Lock()
        stop = threading.Event()
        next_index = [0]
        deadline = time.time() + args.seconds

        def record(kind, status):
            with lock:
                counts[kind][status] = counts[kind].get(status, 0) + 1

        def flooder():
            connection = http.client.HTTPConnection("127.0.0.1", ingress, timeout=30)
            while time.time() < deadline:
                with lock:
                    index = next_index[0]
                    next_index[0] += 1
                if index >= args.tokens:
                    break
                try:
                    if index % 50 == 0:
                        record("real", get(connection, ingress, real))
                    record("random", get(connection, ingress, secrets.token_urlsafe(24)))
                except Exception:
                    record("random", "error")
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", ingress, timeout=30)
            connection.close()

        def egress_caller():
            connection = http.client.HTTPConnection("127.0.0.1", egress, timeout=30)
            while not stop.is_set():
                try:
                    record("egress", get(connection, egress))
                except Exception:
                    record("egress", "error")
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", egress, timeout=30)
                stop.wait(0.1)
            connection.close()

        def sampler():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mib(gateway.pid))
                stop.wait(0.1)

        helpers = [threading.Thread(target=egress_caller), threading.Thread(target=sampler)]
        for thread in helpers:
            thread.start()
        started = time.time()
        flooders = [threading.Thread(target=flooder) for _ in range(args.connections)]
        for thread in flooders:
            thread.start()
        for thread in flooders:
            thread.join()
        elapsed = time.time() - started
        stop.set()
        for thread in helpers:
            thread.join()
        time.sleep(0.5)
        rss_after = rss_mib(gateway.pid)

        conn = http.client.HTTPConnection("127.0.0.1", admin, timeout=10)
        conn.request("GET", "/metrics", headers={"Host": "127.0.0.1"})
        text = conn.getresponse().read().decode()
        conn.close()
        active_calls = metric(text, "tokengate_introspection_requests_total", outcome="active")
        inactive_calls = metric(text, "tokengate_introspection_requests_total", outcome="inactive")
        overloaded = metric(text, "tokengate_introspection_requests_total", outcome="overloaded")
        token_fetches = metric(text, "tokengate_token_requests_total", outcome="success")

        print(f"{args.tokens:,} random tokens from {args.connections} connections in {elapsed:.1f} s "
              f"({args.tokens / elapsed:,.0f} req/s), real token every 50th request, egress every 100 ms")
        print(f"  random tokens answered:        {dict(sorted(counts['random'].items(), key=str))}")
        print(f"  real token answered:           {dict(sorted(counts['real'].items(), key=str))}")
        print(f"  real token introspected:       {active_calls:.0f} time(s) (the only active token)")
        print(f"  random tokens introspected:    {inactive_calls:.0f}; refused at once as overload: {overloaded:.0f}")
        print(f"  egress requests answered:      {dict(sorted(counts['egress'].items(), key=str))}")
        print(f"  egress tokens fetched:         {token_fetches:.0f} over {elapsed:.0f} s (one due every {args.token_lifetime * 0.11:.1f} s)")
        print(f"  gateway RSS:                   {rss_before:.1f} MiB before, {peak[0]:.1f} MiB peak, {rss_after:.1f} MiB after")
        ok = active_calls == 1 and set(counts["egress"]) == {200} and set(counts["real"]) <= {200}
        print("  verdict:                       " + ("ok" if ok else "NOT OK"))
        sys.exit(0 if ok else 1)
    finally:
        for process in (gateway, sandbox):
            if process:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()


if __name__ == "__main__":
    main()
