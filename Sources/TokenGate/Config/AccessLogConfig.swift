import NIOCore

/// `access_log`: the per-request log line, written to standard output.
struct AccessLogConfig: Sendable, Equatable {
    enum Format: String, Sendable, CaseIterable {
        /// JSON when standard output is not a terminal, text when it is.
        case auto, json, text
    }

    /// What the logged path keeps of the query string. Values of parameters that are
    /// known to carry secrets (`access_token`, `code`, `password`, … and
    /// `redact_query_params`) are never logged, whatever the policy.
    enum QueryPolicy: String, Sendable, CaseIterable {
        /// Names and values, with the values of sensitive parameters replaced.
        case redactSensitive = "redact_sensitive"
        /// Names only: every value replaced.
        case redactAll = "redact_all"
        /// No query string at all.
        case drop
    }

    /// `enabled`: default true.
    var enabled: Bool
    /// `format`: `auto` (default), `json` or `text`.
    var format: Format
    /// `sample_rate`: the share (0 to 1) of requests answered below 400 that are logged;
    /// every 4xx and 5xx is logged. Default 1.
    var sampleRate: Double
    /// `query`: default `redact_sensitive`.
    var query: QueryPolicy
    /// `redact_query_params`: more parameter names (case-insensitive) whose values are
    /// never logged.
    var redactQueryParameters: [String]

    static let `default` = AccessLogConfig(enabled: true, format: .auto, sampleRate: 1, query: .redactSensitive, redactQueryParameters: [])
}
