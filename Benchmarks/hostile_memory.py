#!/usr/bin/env python3
"""Gateway memory under hostile clients: does a client that never reads, or that streams
after an Upgrade or a CONNECT, make the gateway's resident memory grow?

Starts `tokengate run` (a release build by default) on loopback with one route to a
"silent" upstream that accepts connections and never answers, then runs each scenario on
one connection for a bounded time (--seconds, default 5) and byte count, sampling the
gateway's RSS every 50 ms:

- pipeline-404: requests the gateway answers itself, pipelined, never read;
- admin-metrics: `GET /metrics` (tens of KiB each) pipelined to the admin port, never read;
- upgrade-stream: a WebSocket upgrade to the silent upstream, then bytes streamed behind it;
- connect-stream: `CONNECT`, then bytes streamed behind it.

Prints, per scenario, RSS before, the peak during it, the growth, how many bytes the
client got into the gateway, and whether the growth stayed under --limit-mib (default 16).
Exits 1 if any did not. Everything binds to 127.0.0.1; every loop is bounded in time.
"""
import argparse, json, os, socket, subprocess, sys, tempfile, threading, time

from benchsupport import free_port, rss_kib, wait_for_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SilentUpstream:
    """Accepts connections, reads what they send, never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.drain, args=(conn,), daemon=True).start()

    @staticmethod
    def drain(conn):
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass

    def stop(self):
        self.stopped = True
        self.sock.close()


def flood(port, first, repeated, seconds, byte_cap):
    """Sends `first`, then `repeated` over and over, never reading, until `seconds` pass,
    `byte_cap` bytes are sent, or the gateway stops taking bytes for a whole second."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    sent = 0
    pending = first
    block = repeated * max(1, 65536 // len(repeated))
    deadline = time.time() + seconds
    stalled_since = None
    while time.time() < deadline and sent < byte_cap:
        if not pending:
            pending = block
        try:
            n = sock.send(pending)
            sent += n
            pending = pending[n:]
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.time()
            if time.time() - stalled_since > 1.0:
                break
            time.sleep(0.01)
        except OSError:
            break
    return sock, sent


def run_scenario(name, gateway_pid, port, first, repeated, seconds, byte_cap):
    before = rss_kib(gateway_pid)
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(gateway_pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    sock, sent = flood(port, first, repeated, seconds, byte_cap)
    time.sleep(0.3)  # let the gateway act on what it has read; the sampler keeps sampling
    done.set()
    sampler.join()
    sock.close()
    time.sleep(0.3)
    after = rss_kib(gateway_pid)
    return {"scenario": name, "rss_before_mib": before / 1024, "rss_peak_mib": peak[0] / 1024,
            "growth_mib": (peak[0] - before) / 1024, "rss_after_close_mib": after / 1024, "bytes_sent": sent}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/tokengate"))
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--byte-cap", type=int, default=2 << 30, help="most bytes a scenario sends (default 2 GiB)")
    parser.add_argument("--limit-mib", type=float, default=16)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if not os.access(args.binary, os.X_OK):
        raise SystemExit(f"{args.binary} is missing: run `scripts/build-release.sh` first")

    upstream = SilentUpstream()
    listen, admin = free_port(), free_port()
    work = tempfile.mkdtemp()
    config = {
        "listeners": {"main": {"address": f"127.0.0.1:{listen}"}},
        "admin": {"address": f"127.0.0.1:{admin}"},
        "access_log": {"enabled": False},
        "routes": [{"name": "silent", "listener": "main", "match": {"path_prefix": "/ws/"},
                    "upstream": f"http://127.0.0.1:{upstream.port}/"}],
    }
    with open(os.path.join(work, "gateway.json"), "w") as f:
        json.dump(config, f)
    gateway = subprocess.Popen([args.binary, "run", "--config", os.path.join(work, "gateway.json"), "--no-watch"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = []
    try:
        wait_for_port(listen)
        wait_for_port(admin)
        scenarios = [
            ("pipeline-404", listen, b"", b"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("admin-metrics", admin, b"", b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
            ("upgrade-stream", listen,
             b"GET /ws/chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
             b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", b"x" * 65536),
            ("connect-stream", listen, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", b"x" * 65536),
        ]
        for name, port, first, repeated in scenarios:
            results.append(run_scenario(name, gateway.pid, port, first, repeated, args.seconds, args.byte_cap))
    finally:
        gateway.terminate()
        try:
            gateway.wait(timeout=10)
        except subprocess.TimeoutExpired:
            gateway.kill()
        upstream.stop()

    print(f"{'scenario':<16} {'RSS before':>11} {'peak':>9} {'growth':>9} {'after close':>12} {'bytes sent':>12}  verdict")
    failed = False
    for r in results:
        ok = r["growth_mib"] < args.limit_mib
        failed = failed or not ok
        print(f"{r['scenario']:<16} {r['rss_before_mib']:>8.1f} MiB {r['rss_peak_mib']:>5.1f} MiB {r['growth_mib']:>5.1f} MiB "
              f"{r['rss_after_close_mib']:>8.1f} MiB {r['bytes_sent']:>12,}  {'ok' if ok else 'OVER ' + str(args.limit_mib) + ' MiB'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
