import Foundation

/// How much longer than on a plain debug build a test may wait for what it expects.
///
/// Deadlines in tests are generous for an ordinary run (the whole suite in parallel on
/// two cores), but under ThreadSanitizer every memory access is instrumented and the
/// gateway runs 5–15 times slower, so a 5-second wait for an answer that takes 0.5 s
/// normally fails although nothing is wrong. `scripts/sanitize.sh` sets
/// `TOKENGATE_TEST_TIME_SCALE`; every deadline helper (`eventually`, `withTimeout`, the
/// child-process deadline, the wait for a gateway's listener) multiplies by it, and a
/// test that configures a timeout which must *not* fire scales that too. Deadlines that
/// must fire (the thing under test) stay as configured: only the wait for them grows.
enum TestTime {
    /// 1 unless `TOKENGATE_TEST_TIME_SCALE` names a whole number from 1 to 100.
    static let scale: Int = {
        guard let text = ProcessInfo.processInfo.environment["TOKENGATE_TEST_TIME_SCALE"],
              let value = Int(text), (1...100).contains(value) else { return 1 }
        return value
    }()
}

extension Duration {
    /// This duration stretched by `TestTime.scale`.
    var scaledForRun: Duration { self * TestTime.scale }
}
