import NIOConcurrencyHelpers
import NIOCore

/// A Prometheus histogram of durations that is cheap to record on every request: bucket
/// bounds in nanoseconds, one count per bucket (not cumulative) and the sum, under one
/// short lock; made cumulative only when `/metrics` is scraped. (swift-prometheus's
/// histogram compares the value with every bucket and adds to each one it fits, at about
/// 650 instructions a record; this one stops at the first.)
final class LatencyHistogram: Sendable {
    private struct State {
        /// One per bound, and one past the last (`+Inf`).
        var counts: [UInt64]
        var sumNanoseconds: Int64 = 0
    }

    /// `listener="…",route="…"`, escaped once.
    let labels: String
    private let bounds: [Int64]
    private let state: NIOLockedValueBox<State>

    init(labels: [(String, String)], bounds: [Duration]) {
        self.labels = labels.map { "\($0.0)=\"\(Self.escaped($0.1))\"" }.joined(separator: ",")
        self.bounds = bounds.map { Int64($0.components.seconds) * 1_000_000_000 + $0.components.attoseconds / 1_000_000_000 }
        self.state = NIOLockedValueBox(State(counts: Array(repeating: 0, count: bounds.count + 1)))
    }

    func record(_ amount: TimeAmount) {
        let nanoseconds = max(0, amount.nanoseconds)
        var slot = 0
        while slot < bounds.count, bounds[slot] < nanoseconds { slot += 1 }
        state.withLockedValue { state in
            state.counts[slot] &+= 1
            state.sumNanoseconds = state.sumNanoseconds.addingReportingOverflow(nanoseconds).overflow ? .max : state.sumNanoseconds + nanoseconds
        }
    }

    /// The `NAME_bucket`, `NAME_sum` and `NAME_count` lines of this series.
    func render(name: String, into text: inout String) {
        let snapshot = state.withLockedValue { $0 }
        let separator = labels.isEmpty ? "" : ","
        var cumulative: UInt64 = 0
        for (index, count) in snapshot.counts.enumerated() {
            cumulative += count
            let bound = index < bounds.count ? Self.seconds(bounds[index]) : "+Inf"
            text += "\(name)_bucket{\(labels)\(separator)le=\"\(bound)\"} \(cumulative)\n"
        }
        text += "\(name)_sum{\(labels)} \(Self.seconds(snapshot.sumNanoseconds))\n"
        text += "\(name)_count{\(labels)} \(cumulative)\n"
    }

    private static func seconds(_ nanoseconds: Int64) -> String {
        "\(Double(nanoseconds) / 1_000_000_000)"
    }

    /// A label value as the exposition format wants it (`\`, `"` and newlines escaped).
    static func escaped(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
