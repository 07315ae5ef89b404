#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import NIOCore

/// One answered request, as the access log and the metrics see it.
struct RequestRecord {
    var listener: String
    /// "" when no route matched.
    var route: String
    var method: String
    /// The client's request target as received; redacted when written.
    var target: String
    var status: Int
    var bytesIn: Int
    var bytesOut: Int
    var duration: TimeAmount
    var upstreamDuration: TimeAmount?
    var clientAddress: String
    var requestID: String?
    var subject: String?
    var clientID: String?
    var credential: String?
    /// The gateway's error code when the gateway answered (or cut the response short).
    var error: String?
}

/// The access log settings of one configuration snapshot, compiled for the hot path.
final class AccessLogPolicy: Sendable {
    let config: AccessLogConfig
    /// `redact_query_params`, lower-cased.
    let extraRedacted: Set<String>

    init(_ config: AccessLogConfig) {
        self.config = config
        self.extraRedacted = Set(config.redactQueryParameters.map { $0.lowercased() })
    }
}

/// Writes access log lines to standard output (or a sink, in tests): buffered, and
/// flushed once the event loop that wrote them has finished its current batch of work, so
/// a busy loop makes one `write` for many requests and an idle one shows each line at once.
public final class AccessLogWriter: Sendable {
    public typealias Sink = @Sendable ([UInt8]) -> Void

    private struct Buffer {
        var bytes: [UInt8] = []
        /// Requests seen below 400, for deterministic sampling.
        var sampled: UInt64 = 0
    }

    private let sink: Sink
    private let outputIsTerminal: Bool
    private let buffer = NIOLockedValueBox(Buffer())
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
        let line = format(record, policy: policy)
        enum After { case nothing, scheduleFlush, flushNow }
        let after = buffer.withLockedValue { buffer -> After in
            if record.status < 400, config.sampleRate < 1 {
                // Every 1/rate-th request: evenly spread, no random numbers per request.
                buffer.sampled &+= 1
                let before = UInt64(Double(buffer.sampled - 1) * config.sampleRate)
                if UInt64(Double(buffer.sampled) * config.sampleRate) == before { return .nothing }
            }
            let wasEmpty = buffer.bytes.isEmpty
            buffer.bytes.append(contentsOf: line.utf8)
            if buffer.bytes.count >= Self.flushThreshold { return .flushNow }
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
            defer { buffer.bytes.removeAll(keepingCapacity: true) }
            return buffer.bytes
        }
        if !pending.isEmpty { sink(pending) }
    }

    func format(_ record: RequestRecord, policy: AccessLogPolicy) -> String {
        let target = Redaction.target(record.target, policy: policy.config.query, extra: policy.extraRedacted)
        let json: Bool
        switch policy.config.format {
        case .json: json = true
        case .text: json = false
        case .auto: json = !outputIsTerminal
        }
        let duration = Self.milliseconds(record.duration)
        let upstream = record.upstreamDuration.map(Self.milliseconds)
        if json {
            var line = "{\"time\":\(JSONText.quote(JSONLogHandler.timestamp())),\"request_id\":\(Self.json(record.requestID))"
            line += ",\"listener\":\(JSONText.quote(record.listener)),\"route\":\(Self.json(record.route.isEmpty ? nil : record.route))"
            line += ",\"method\":\(JSONText.quote(record.method)),\"path\":\(JSONText.quote(target)),\"status\":\(record.status)"
            line += ",\"bytes_in\":\(record.bytesIn),\"bytes_out\":\(record.bytesOut),\"duration_ms\":\(duration)"
            line += ",\"upstream_ms\":\(upstream ?? "null"),\"client\":\(JSONText.quote(record.clientAddress))"
            line += ",\"subject\":\(Self.json(record.subject)),\"client_id\":\(Self.json(record.clientID))"
            line += ",\"credential\":\(Self.json(record.credential)),\"error\":\(Self.json(record.error))}\n"
            return line
        }
        func text(_ value: String?) -> String {
            guard let value, !value.isEmpty else { return "-" }
            return value.contains(where: { $0 == " " || $0 == "\"" || $0.isNewline }) ? JSONText.quote(value) : value
        }
        return "\(JSONLogHandler.timestamp()) \(record.listener) \(text(record.route)) \(record.method) \(text(target)) \(record.status)"
            + " in=\(record.bytesIn) out=\(record.bytesOut) \(duration)ms upstream=\(upstream.map { $0 + "ms" } ?? "-")"
            + " client=\(record.clientAddress) id=\(text(record.requestID)) sub=\(text(record.subject)) client_id=\(text(record.clientID))"
            + " credential=\(text(record.credential))\(record.error.map { " error=\($0)" } ?? "")\n"
    }

    private static func json(_ value: String?) -> String { value.map(JSONText.quote) ?? "null" }

    /// Milliseconds with microsecond precision: `12.345`.
    static func milliseconds(_ amount: TimeAmount) -> String {
        let micros = max(0, amount.nanoseconds / 1000)
        let fraction = String(micros % 1000)
        return "\(micros / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
