#!/usr/bin/env bash
# The whole test suite under ThreadSanitizer, then under AddressSanitizer (with its leak
# check), each in a build directory of its own (.build-thread, .build-address), so the
# ordinary debug build is left alone.
#   ./scripts/sanitize.sh [thread|address ...] [-- extra swift test arguments, e.g. --filter X]
# Each build takes minutes on 2 cores and the suite runs several times slower than
# without a sanitizer. Not part of CI's run (`scripts/test.sh`); run it before a release
# and after changing anything concurrent.
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
  if TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
     ASAN_OPTIONS="detect_leaks=1 halt_on_error=1 ${ASAN_OPTIONS:-}" \
     swift test --skip-build --sanitize="$sanitizer" --build-path "$build" --disable-xctest "$@"; then
    printf '==> %s sanitizer: passed\n' "$sanitizer"
  else
    printf '==> %s sanitizer: FAILED\n' "$sanitizer"
    status=1
  fi
done
exit $status
