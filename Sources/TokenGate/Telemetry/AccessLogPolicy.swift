#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import NIOCore

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
