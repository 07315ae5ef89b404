#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import NIOCore

/// Writes access log lines to standard output (or a sink, in tests): buffered, and
/// flushed once the event loop that wrote them has finished its current batch of work, so
/// a busy loop makes one `write` for many requests and an idle one shows each line at once.
public final class AccessLogWriter: Sendable {
    public typealias Sink = @Sendable ([UInt8]) -> Void

    private struct Buffer {
        /// Lines not yet written out; each is formatted straight into it.
        var bytes = ByteBufferAllocator().buffer(capacity: 16 * 1024)
        /// Requests seen below 400, for deterministic sampling.
        var sampled: UInt64 = 0
        var clock = TimestampCache()
    }

    private let sink: Sink
    private let outputIsTerminal: Bool
    private let buffer = NIOLockedValueBox(Buffer())
    /// Held while writing, so two loops flushing at once never interleave their bytes
    /// (a pipe splits writes larger than PIPE_BUF).
    private let writing = NIOLock()
    static let flushThreshold = 64 * 1024

    /// `outputIsTerminal` decides the `auto` format (text on a terminal, JSON otherwise).
    public init(outputIsTerminal: Bool, sink: @escaping Sink) {
        self.outputIsTerminal = outputIsTerminal
        self.sink = sink
    }

    /// Standard output, as `tokengate run` uses it.
    public static func standardOutput() -> AccessLogWriter {
        AccessLogWriter(outputIsTerminal: isatty(1) == 1) { bytes in FileDescriptorOutput.write(bytes, to: 1) }
    }

    /// Logs `record` if the policy says so; `eventLoop` is the loop the request ran on
    /// (without one, the line is written at once).
    func log(_ record: RequestRecord, policy: AccessLogPolicy, on eventLoop: (any EventLoop)?) {
        let config = policy.config
        guard config.enabled else { return }
        if record.status < 400, config.sampleRate < 1 {
            // Every 1/rate-th request: evenly spread, no random numbers per request.
            let sampled = buffer.withLockedValue { buffer -> Bool in
                buffer.sampled &+= 1
                let before = UInt64(Double(buffer.sampled - 1) * config.sampleRate)
                return UInt64(Double(buffer.sampled) * config.sampleRate) != before
            }
            if !sampled { return }
        }
        let target = Redaction.target(record.target, policy: config.query, extra: policy.extraRedacted)
        let json = isJSON(policy)
        enum After { case nothing, scheduleFlush, flushNow }
        let after = buffer.withLockedValue { buffer -> After in
            let wasEmpty = buffer.bytes.readableBytes == 0
            buffer.bytes.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.bound(record, target: target)) { out in
                Self.format(record, target: target, json: json, clock: &buffer.clock, into: out)
            }
            if buffer.bytes.readableBytes >= Self.flushThreshold { return .flushNow }
            return wasEmpty ? .scheduleFlush : .nothing
        }
        switch after {
        case .nothing: break
        case .flushNow: flush()
        case .scheduleFlush:
            if let eventLoop { eventLoop.execute { self.flush() } } else { flush() }
        }
    }

    /// Writes out whatever is buffered.
    func flush() {
        let pending = buffer.withLockedValue { buffer -> [UInt8] in
            defer { buffer.bytes.clear() }
            return Array(buffer.bytes.readableBytesView)
        }
        if !pending.isEmpty { writing.withLock { sink(pending) } }
    }

    /// One line, JSON or text, ending in a newline.
    func format(_ record: RequestRecord, policy: AccessLogPolicy) -> [UInt8] {
        let target = Redaction.target(record.target, policy: policy.config.query, extra: policy.extraRedacted)
        let json = isJSON(policy)
        var clock = TimestampCache()
        return [UInt8](unsafeUninitializedCapacity: Self.bound(record, target: target)) { out, count in
            count = Self.format(record, target: target, json: json, clock: &clock, into: UnsafeMutableRawBufferPointer(out))
        }
    }

    private func isJSON(_ policy: AccessLogPolicy) -> Bool {
        switch policy.config.format {
        case .json: return true
        case .text: return false
        case .auto: return !outputIsTerminal
        }
    }

    /// The most bytes a line for `record` can take, in either format.
    private static func bound(_ record: RequestRecord, target: String) -> Int {
        256 + LogLineBuilder.timestampBound + 6 * LogLineBuilder.numberBound
            + LogLineBuilder.bound(record.listener) + LogLineBuilder.bound(record.route) + LogLineBuilder.bound(record.method)
            + LogLineBuilder.bound(target) + LogLineBuilder.bound(record.clientAddress) + LogLineBuilder.bound(record.requestID)
            + LogLineBuilder.bound(record.subject) + LogLineBuilder.bound(record.clientID) + LogLineBuilder.bound(record.credential)
            + LogLineBuilder.bound(record.error)
    }

    /// Writes one line into `out` (at least `bound` bytes); the bytes written.
    private static func format(_ record: RequestRecord, target: String, json: Bool, clock: inout TimestampCache,
                               into out: UnsafeMutableRawBufferPointer) -> Int {
        var line = LogLineBuilder(into: out)
        if json {
            line.raw("{\"time\":\"")
            line.timestamp(cache: &clock)
            line.raw("\",\"request_id\":")
            line.quoted(record.requestID)
            line.raw(",\"listener\":")
            line.quoted(record.listener)
            line.raw(",\"route\":")
            line.quoted(record.route.isEmpty ? nil : record.route)
            line.raw(",\"method\":")
            line.quoted(record.method)
            line.raw(",\"path\":")
            line.quoted(target)
            line.raw(",\"protocol\":\"")
            line.raw(record.protocolName)
            line.raw("\",\"status\":")
            line.integer(record.status)
            line.raw(",\"bytes_in\":")
            line.integer(record.bytesIn)
            line.raw(",\"bytes_out\":")
            line.integer(record.bytesOut)
            line.raw(",\"duration_ms\":")
            line.milliseconds(nanoseconds: record.duration.nanoseconds)
            line.raw(",\"upstream_ms\":")
            if let upstream = record.upstreamDuration { line.milliseconds(nanoseconds: upstream.nanoseconds) } else { line.raw("null") }
            line.raw(",\"client\":")
            line.quoted(record.clientAddress)
            line.raw(",\"subject\":")
            line.quoted(record.subject)
            line.raw(",\"client_id\":")
            line.quoted(record.clientID)
            line.raw(",\"credential\":")
            line.quoted(record.credential)
            line.raw(",\"error\":")
            line.quoted(record.error)
            line.raw("}\n")
        } else {
            line.timestamp(cache: &clock)
            line.raw(" ")
            line.field(record.listener)
            line.raw(" ")
            line.field(record.route)
            line.raw(" ")
            line.field(record.method)
            line.raw(" ")
            line.field(target)
            line.raw(" ")
            line.integer(record.status)
            line.raw(" in=")
            line.integer(record.bytesIn)
            line.raw(" out=")
            line.integer(record.bytesOut)
            line.raw(" ")
            line.milliseconds(nanoseconds: record.duration.nanoseconds)
            line.raw("ms upstream=")
            if let upstream = record.upstreamDuration {
                line.milliseconds(nanoseconds: upstream.nanoseconds)
                line.raw("ms")
            } else {
                line.raw("-")
            }
            line.raw(" client=")
            line.field(record.clientAddress)
            line.raw(" id=")
            line.field(record.requestID)
            line.raw(" sub=")
            line.field(record.subject)
            line.raw(" client_id=")
            line.field(record.clientID)
            line.raw(" credential=")
            line.field(record.credential)
            line.raw(" proto=")
            line.raw(record.protocolName)
            if let error = record.error {
                line.raw(" error=")
                line.field(error)
            }
            line.raw("\n")
        }
        return line.count
    }
}
