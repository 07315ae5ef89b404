import NIOCore

/// `shutdown`: draining on SIGTERM/SIGINT.
struct ShutdownConfig: Sendable, Equatable {
    /// `grace_seconds`: how long in-flight requests may take to finish after SIGTERM
    /// before connections are closed. Default 25 (under Kubernetes' default 30 s).
    var grace: Duration

    static let defaultGrace = Duration.seconds(25)
}
