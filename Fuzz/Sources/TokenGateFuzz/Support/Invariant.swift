#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers

/// Writes `text` to standard error (libFuzzer's own output goes there too).
func standardError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(2, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
            if written <= 0 { return }
            offset += written
        }
    }
}

/// A property of the code under test that must hold for every input. When it does not,
/// the process aborts, which libFuzzer reports as a crash and saves the input. Messages
/// name the property, never a fuzz-chosen secret (there are none here).
func invariant(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    guard !condition else { return }
    standardError("TokenGateFuzz invariant failed at \(file):\(line): \(message())\n")
    abort()
}

/// A harness bug or a fixture that no longer loads (not a finding): says so and exits 3.
func harnessFailure(_ message: String) -> Never {
    standardError("TokenGateFuzz harness: \(message)\n")
    exit(3)
}

/// Runs an async parser to completion from the fuzzer's thread (libFuzzer calls in
/// synchronously). The fuzzer's thread is not one of the concurrency pool's, so blocking
/// it while the task runs on the pool cannot deadlock.
func runBlocking<Value: Sendable>(_ body: @escaping @Sendable () async -> Value) -> Value {
    let done = ConditionLock(value: false)
    let result = NIOLockedValueBox<Value?>(nil)
    Task {
        let value = await body()
        result.withLockedValue { $0 = value }
        done.lock()
        done.unlock(withValue: true)
    }
    done.lock(whenValue: true)
    done.unlock()
    guard let value = result.withLockedValue({ $0 }) else { harnessFailure("an awaited task finished without a value") }
    return value
}
