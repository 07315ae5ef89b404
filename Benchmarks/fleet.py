#!/usr/bin/env python3
"""The fleet benchmark: how fast a revocation reaches the other replicas, and how many
token requests a shared credential costs with 1, 3 and 10 replicas.

Starts its own PostgreSQL (initdb/pg_ctl in a temporary directory on a loopback port; as
the postgres user when run as root), the sandbox authorization server and echo upstream
(`tokengate sandbox`) and the gateways (`tokengate run`), all on loopback, and stops what
it started by PID.

  Benchmarks/fleet.py --binary .build/release/tokengate [--revocations 100] [--seconds 20]

Propagation: a token is validated (and cached) on replicas B and C, revoked with
`POST /revoke` on A, and B and C are asked again over kept-alive connections until each
answers 401; the time from the revoke's answer to each 401 is one sample. Token requests:
N replicas with a shared credential and 2 s tokens for `--seconds`, driven round robin;
the gateways' own `tokengate_token_requests_total` are summed and compared with the
refresh windows (lifetime x 0.8).
"""
import argparse
import glob
import http.client
import json
import os
import pwd
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchsupport import free_port, wait_for_port  # noqa: E402


class Postgres:
    def __init__(self, root):
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not versions:
            raise SystemExit("no initdb: apt-get install postgresql")
        self.bin = os.path.dirname(versions[-1])
        self.dir = os.path.join(root, "pg")
        os.makedirs(self.dir)
        self.port = free_port()
        self.password = "bench-" + os.urandom(8).hex()
        with open(os.path.join(self.dir, "pwfile"), "w") as f:
            f.write(self.password)
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(root, account.pw_uid, account.pw_gid)
            for path in (self.dir, os.path.join(self.dir, "pwfile")):
                os.chown(path, account.pw_uid, account.pw_gid)
        self.run("initdb", "-D", self.dir + "/data", "-U", "tokengate", "--auth=scram-sha-256",
                 "--pwfile=" + self.dir + "/pwfile", "-E", "UTF8", "--no-sync")
        self.run("pg_ctl", "-D", self.dir + "/data", "-l", self.dir + "/log", "-w", "-o",
                 f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off -c max_connections=200", "start")
        self.url = f"postgres://tokengate:{self.password}@127.0.0.1:{self.port}/postgres"

    def run(self, program, *arguments):
        command = [os.path.join(self.bin, program), *arguments]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/tmp")

    def stop(self):
        self.run("pg_ctl", "-D", self.dir + "/data", "-m", "fast", "-w", "stop")


class Fleet:
    def __init__(self, binary, root, pg, lifetime, replicas, shared):
        self.processes = []
        self.idp, self.echo = free_port(), free_port()
        self.spawn([binary, "sandbox", "--idp-port", str(self.idp), "--echo-port", str(self.echo), "--token-lifetime", str(lifetime)])
        wait_for_port(self.idp)
        wait_for_port(self.echo)
        self.gateways = []
        for index in range(replicas):
            port, admin = free_port(), free_port()
            config = {
                "listeners": {"main": {"address": f"127.0.0.1:{port}"}}, "admin": {"address": f"127.0.0.1:{admin}"},
                "access_log": {"enabled": False},
                "store": {"postgres": {"url": {"env": "STORE_URL"}, "max_connections": 2},
                          "seal_keys": [{"id": "b1", "secret": {"env": "SEAL_KEY"}}]},
                "introspection": {"rs": {"url": f"http://127.0.0.1:{self.idp}/oauth2/introspect", "client_id": "tokengate-rs",
                                         "client_secret": {"env": "RS_SECRET"}}},
                "credentials": {"billing": {"grant": "client_credentials", "token_url": f"http://127.0.0.1:{self.idp}/oauth2/token",
                                            "client_id": "billing-svc", "client_secret": {"env": "BILLING_SECRET"}, "shared": shared}},
                "routes": [
                    {"name": "in", "listener": "main", "match": {"path_prefix": "/in/"}, "upstream": f"http://127.0.0.1:{self.echo}/",
                     "validate": {"introspection": "rs"}},
                    {"name": "out", "listener": "main", "match": {"path_prefix": "/out/"}, "upstream": f"http://127.0.0.1:{self.echo}/",
                     "credential": "billing"},
                ],
            }
            path = os.path.join(root, f"gateway-{lifetime}-{index}.json")
            with open(path, "w") as f:
                json.dump(config, f)
            environment = dict(os.environ, STORE_URL=pg.url, SEAL_KEY="bench-seal-key-0123456789abcdef",
                               RS_SECRET="demo-introspection-secret", BILLING_SECRET="demo-billing-secret")
            self.spawn([binary, "run", "--config", path, "--no-watch", "--log-level", "warning"], environment)
            self.gateways.append((port, admin))
        for port, admin in self.gateways:
            wait_for_port(port)
            wait_for_port(admin)

    def spawn(self, command, environment=None):
        self.processes.append(subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop(self):
        for process in reversed(self.processes):
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    def token(self):
        body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": "demo-caller",
                                       "client_secret": "demo-caller-secret"}).encode()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.idp}/oauth2/token", body, timeout=10) as answer:
            return json.load(answer)["access_token"]

    def metric(self, admin, prefix):
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10) as answer:
            for line in answer.read().decode().splitlines():
                if line.startswith(prefix):
                    return float(line.rsplit(" ", 1)[1])
        return 0.0


def status(connection, path, token=None):
    headers = {"Authorization": "Bearer " + token} if token else {}
    connection.request("GET", path, headers=headers)
    answer = connection.getresponse()
    answer.read()
    return answer.status


def propagation(fleet, count):
    (a_port, a_admin), others = fleet.gateways[0], fleet.gateways[1:]
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for port, _ in others]
    samples = []
    for _ in range(count):
        token = fleet.token()
        for connection in connections:
            if status(connection, "/in/x", token) != 200:
                raise SystemExit("a fresh token was refused")
        revoke = http.client.HTTPConnection("127.0.0.1", a_admin, timeout=10)
        revoke.request("POST", "/revoke", body=json.dumps({"token": token}), headers={"Content-Type": "application/json"})
        if revoke.getresponse().status != 200:
            raise SystemExit("POST /revoke failed")
        revoked = time.perf_counter()
        for connection in connections:
            deadline = revoked + 30
            while status(connection, "/in/x", token) != 401:
                if time.perf_counter() > deadline:
                    raise SystemExit("a revocation did not arrive within 30 s")
            samples.append((time.perf_counter() - revoked) * 1000)
    for connection in connections:
        connection.close()
    return samples


def token_requests(binary, root, pg, replicas, seconds, shared):
    fleet = Fleet(binary, root, pg, lifetime=2, replicas=replicas, shared=shared)
    try:
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for port, _ in fleet.gateways]
        started = time.perf_counter()
        sent = failed = 0
        while time.perf_counter() - started < seconds and sent < 10_000_000:
            if status(connections[sent % replicas], "/out/x") != 200:
                failed += 1
            sent += 1
        elapsed = time.perf_counter() - started
        requests = sum(fleet.metric(admin, 'tokengate_token_requests_total{profile="billing",outcome="success"}')
                       for _, admin in fleet.gateways)
        return requests, elapsed / (2 * 0.8) + 1, failed, sent
    finally:
        fleet.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build/release/tokengate")
    parser.add_argument("--revocations", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    arguments = parser.parse_args()
    binary = os.path.abspath(arguments.binary)
    root = tempfile.mkdtemp(prefix="tg-fleet-bench-")
    os.chmod(root, 0o755)
    pg = Postgres(root)
    try:
        fleet = Fleet(binary, root, pg, lifetime=3600, replicas=3, shared=False)
        try:
            samples = propagation(fleet, arguments.revocations)
        finally:
            fleet.stop()
        print(f"revocation propagation, {arguments.revocations} revocations at one of 3 replicas, {len(samples)} arrivals:"
              f" median {statistics.median(samples):.1f} ms, max {max(samples):.1f} ms")
        for replicas in (1, 3, 10):
            for shared in (False, True):
                requests, windows, failed, sent = token_requests(binary, root, pg, replicas, arguments.seconds, shared)
                print(f"{replicas:2d} replicas, shared={str(shared).lower():5s}: {requests:.0f} token requests in {windows:.1f} refresh windows"
                      f" ({requests / windows:.2f} per window; {sent} requests, {failed} failed)")
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
