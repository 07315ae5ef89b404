#!/usr/bin/env bash
# The release build, as the container image, the benchmarks and the release check make it:
# the Swift runtime linked in (--static-swift-stdlib), and the run-time exclusivity checks
# off in every module, SwiftNIO's included. Those checks (a `swift_beginAccess` call on
# each access to a class's stored property that the compiler cannot prove exclusive) cost
# about 14,000 instructions per proxied request, 15 % of the gateway's CPU; SwiftNIO's own
# performance tests build the same way. The compile-time checks stay, and debug builds
# (the test suite) keep the run-time ones.
# Cross-module optimisation in every module too: SwiftNIO's generic types
# (`ByteToMessageHandler<Decoder>`, `NIOAny`'s casts, `BaseStreamSocketChannel`) are then
# specialised for the gateway's own types instead of looking up their metadata at run time
# on each read, about 650 instructions per proxied request (0.8 %). It costs about three
# minutes more on a first build on 2 cores.
#   scripts/build-release.sh [extra swift build arguments]   then: scripts/build-release.sh --show-bin-path
set -euo pipefail
cd "$(dirname "$0")/.."
exec swift build -c release --static-swift-stdlib --product tokengate -Xswiftc -enforce-exclusivity=unchecked -Xswiftc -cross-module-optimization "$@"
