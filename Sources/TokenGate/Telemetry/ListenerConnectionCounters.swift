import Prometheus

/// A listener's connection counters: accepted connections by protocol, and HTTP/2 streams.
struct ListenerConnectionCounters: Sendable {
    let http1: Counter
    let http2: Counter
    let http2Streams: Counter
}
