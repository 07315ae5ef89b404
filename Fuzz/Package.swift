// swift-tools-version:6.2
import PackageDescription

// TokenGate's fuzzing harness (libFuzzer), a package of its own so that the main package,
// its tests and CI never build it. Run it with `scripts/fuzz.sh` (see README, "Fuzzing").
//
// One executable, `TokenGateFuzz`, holds every target; `TOKENGATE_FUZZ_TARGET` picks one.
// Its `main.swift` only declares `LLVMFuzzerTestOneInput`: libFuzzer supplies `main`, so
// the target is compiled with `-parse-as-library` (below), and the build passes
// `--sanitize=fuzzer --sanitize=address` (scripts/fuzz.sh says why SwiftPM's flags rather
// than `-Xswiftc -sanitize=…`). The parsers are internal to TokenGate, reached through
// `@testable import`: build in debug, where SwiftPM compiles every module with
// `-enable-testing`.
let package = Package(
    name: "TokenGateFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "TokenGate", path: ".."),
        // The same packages and versions as the root Package.swift, for the types the
        // targets build inputs from and check outputs with (request and response heads,
        // jwt-kit's verifiers, Base64).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/swift-extras/swift-extras-base64", from: "1.2.0"),
    ],
    targets: [
        .executableTarget(
            name: "TokenGateFuzz",
            dependencies: [
                .product(name: "TokenGate", package: "TokenGate"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "ExtrasBase64", package: "swift-extras-base64"),
            ],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ],
    swiftLanguageModes: [.v6]
)
