// libFuzzer entry points. Declarations only: this file is compiled with
// `-parse-as-library` and libFuzzer's own `main` drives the two functions below.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One fuzz target: a parser of outside input, fed the fuzzer's bytes. The raw value is
/// the name `TOKENGATE_FUZZ_TARGET` takes and the directory of its seeds in `Fuzz/Corpus/`.
enum FuzzTarget: String, CaseIterable, Sendable {
    case config, path, headers, headbuilder, response, chunked, cookies, redirect
    case jwt, jwks, token, introspection, discovery, form, logout, fleet

    /// Feeds one input to the target. Only a real bug may crash (an `invariant` that does
    /// not hold, or a trap in the code under test).
    func run(_ bytes: [UInt8]) {
        switch self {
        case .config: JSONConfigTarget.run(bytes)
        case .path: PathTarget.run(bytes)
        case .headers: HeadersTarget.run(bytes)
        case .headbuilder: HeadBuilderTarget.run(bytes)
        case .response: ResponseTarget.run(bytes)
        case .chunked: ChunkedTarget.run(bytes)
        case .cookies: CookiesTarget.run(bytes)
        case .redirect: RedirectLocationTarget.run(bytes)
        case .jwt: JWTTarget.run(bytes)
        case .jwks: JWKSTarget.run(bytes)
        case .token: TokenTarget.run(bytes)
        case .introspection: IntrospectionTarget.run(bytes)
        case .discovery: DiscoveryTarget.run(bytes)
        case .form: FormTarget.run(bytes)
        case .logout: LogoutTarget.run(bytes)
        case .fleet: FleetTarget.run(bytes)
        }
    }

    /// Builds what the target shares between inputs (configuration, profiles, key sets)
    /// before the first input, on the fuzzer's thread, so no input pays for it and no
    /// task of the concurrency pool ever waits for it.
    func prepare() {
        switch self {
        case .headers, .form, .cookies, .redirect:
            _ = Fixture.shared
        case .jwt, .logout:
            _ = Fixture.shared
            _ = Fixture.keys
        case .introspection, .discovery:
            _ = Fixture.shared
        case .config, .path, .headbuilder, .response, .chunked, .jwks, .token, .fleet:
            break
        }
    }

    /// The target `TOKENGATE_FUZZ_TARGET` names; an unknown or missing name prints the
    /// list and exits 2.
    static func fromEnvironment() -> FuzzTarget {
        let name = getenv("TOKENGATE_FUZZ_TARGET").map { String(cString: $0) } ?? ""
        if let target = FuzzTarget(rawValue: name) { return target }
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: " ")
        standardError("TOKENGATE_FUZZ_TARGET must name one of: \(names) (got \"\(name)\")\n")
        exit(2)
    }
}

/// The target of this process, read once.
let selectedTarget = FuzzTarget.fromEnvironment()

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutableRawPointer?, _ argv: UnsafeMutableRawPointer?) -> CInt {
    selectedTarget.prepare()
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes: [UInt8]
    if let start, count > 0 {
        bytes = Array(UnsafeBufferPointer(start: start, count: count))
    } else {
        bytes = []
    }
    selectedTarget.run(bytes)
    return 0
}
