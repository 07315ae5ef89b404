#!/usr/bin/env bash
# The whole test suite under ThreadSanitizer, then under AddressSanitizer (with its leak
# check), each in a build directory of its own (.build-thread, .build-address), so the
# ordinary debug build is left alone.
#   ./scripts/sanitize.sh [thread|address ...] [-- extra swift test arguments, e.g. --filter X]
# Each build takes about 8 minutes on 2 cores; the suite, one test at a time, about 4
# minutes under ThreadSanitizer and 3 under AddressSanitizer. Not part of CI's run
# (`scripts/test.sh`); run it before a release and after changing anything concurrent.
set -euo pipefail
cd "$(dirname "$0")/.."

sanitizers=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do sanitizers+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ "${#sanitizers[@]}" -gt 0 ] || sanitizers=(thread address)

./scripts/test.sh --setup-only

status=0
for sanitizer in "${sanitizers[@]}"; do
  case "$sanitizer" in thread|address) ;; *) echo "unknown sanitizer $sanitizer (thread or address)" >&2; exit 2 ;; esac
  build=".build-$sanitizer"
  printf '\n==> building with the %s sanitizer into %s\n' "$sanitizer" "$build"
  swift build --build-tests --sanitize="$sanitizer" --build-path "$build"
  printf '\n==> running the suite under the %s sanitizer\n' "$sanitizer"
  # halt_on_error: the first report fails the run, with its stack; second_deadlock_stack
  # makes lock-order reports readable. Child gateways started by tests inherit these.
  # The suite runs one test at a time: in parallel on two cores an instrumented process
  # stalls its event loops for seconds (connects to loopback time out after 10 s), which
  # fails tests for want of CPU, not for a fault. TOKENGATE_TEST_TIME_SCALE stretches
  # every wait of the tests (Tests/TokenGateTests/Support/TestTime.swift) by the
  # sanitizer's slowdown; the gateway's own timeouts under test stay as configured.
  # scripts/lsan.supp names the one leak LeakSanitizer reports outside our code.
  case "$sanitizer" in thread) scale=10 ;; address) scale=4 ;; esac
  if TOKENGATE_TEST_TIME_SCALE="${TOKENGATE_TEST_TIME_SCALE:-$scale}" \
     TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
     ASAN_OPTIONS="detect_leaks=1 halt_on_error=1 ${ASAN_OPTIONS:-}" \
     LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp print_suppressions=0 ${LSAN_OPTIONS:-}" \
     swift test --skip-build --sanitize="$sanitizer" --build-path "$build" --disable-xctest --no-parallel "$@"; then
    printf '==> %s sanitizer: passed\n' "$sanitizer"
  else
    printf '==> %s sanitizer: FAILED\n' "$sanitizer"
    status=1
  fi
done
exit $status
