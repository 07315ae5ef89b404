#!/usr/bin/env bash
# Builds TokenGate's libFuzzer harness (the separate package in Fuzz/) once and runs each
# fuzz target for a while, starting from its committed seeds in Fuzz/Corpus/TARGET/.
# Not part of ./scripts/test.sh or CI's test run; CI may run `--smoke`.
#
#   ./scripts/fuzz.sh [--seconds N] [--smoke] [TARGET...]
#
#   --seconds N   run each target for N seconds (default 60)
#   --smoke       5 seconds per target
#   TARGET...     some of the targets (default: all of them)
#
# Everything goes under .build-fuzz/ (ignored by git): the build, each target's working
# corpus (corpus/TARGET, seeded from Fuzz/Corpus/TARGET and kept between runs, so it
# grows), libFuzzer's log (logs/TARGET.log) and the inputs that crashed, hung or leaked
# (artifacts/TARGET/). One summary line per target; exits 1 if any target found a
# crash, a hang, a leak or ran out of memory, 2 on a usage error.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(config path headers headbuilder response chunked cookies redirect jwt jwks token introspection discovery form logout fleet)

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  echo "targets: ${all_targets[*]}"
}

seconds=60
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds)
      [ $# -ge 2 ] || { usage >&2; exit 2; }
      seconds="$2"
      shift 2
      ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    --smoke) seconds=5; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
# libFuzzer reads -max_total_time=0 as "no limit".
case "$seconds" in
  '' | *[!0-9]* | 0) echo "--seconds takes a whole number of seconds, at least 1" >&2; exit 2 ;;
esac
if [ "${#targets[@]}" -eq 0 ]; then targets=("${all_targets[@]}"); fi
for target in "${targets[@]}"; do
  case " ${all_targets[*]} " in
    *" $target "*) ;;
    *) echo "unknown target: $target (targets: ${all_targets[*]})" >&2; exit 2 ;;
  esac
done

scratch=.build-fuzz
# SwiftPM's own --sanitize=fuzzer: with it SwiftPM stops renaming an executable's entry
# point to TokenGateFuzz_main (and linking with `--defsym main=TokenGateFuzz_main`), which
# fails when the target is compiled with -parse-as-library and libFuzzer supplies `main`
# (swiftlang/swift-package-manager#8731; swift-protobuf's FuzzTesting builds the same
# way), and it instruments every module, the dependencies too. AddressSanitizer comes as
# `-Xswiftc -sanitize=fuzzer,address` and `-Xcc -fsanitize=address`, not as a second
# `--sanitize=address`: swiftc keeps only the last `-sanitize=` flag it is given, so
# `-sanitize=fuzzer -sanitize=address` (what two --sanitize flags pass) compiles Swift
# with no coverage at all, and libFuzzer fuzzes blind ("no interesting inputs"). -parse-as-library
# is set on the target itself (Fuzz/Package.swift). Debug builds compile every module
# with -enable-testing already (what `@testable import TokenGate` needs); it is passed
# again so that a change of SwiftPM's default cannot break the harness.
build=(swift build --package-path Fuzz --scratch-path "$scratch" -c debug --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=address -Xswiftc -enable-testing)

# The fuzz package resolves its own dependencies; start from the versions the main
# package resolved (Fuzz/Package.resolved is ignored by git, like the root one).
if [ -f Package.resolved ] && [ ! -f Fuzz/Package.resolved ]; then cp Package.resolved Fuzz/Package.resolved; fi

printf '\n==> building the fuzz harness (debug, libFuzzer, AddressSanitizer)\n'
"${build[@]}"
binary="$("${build[@]}" --show-bin-path)/TokenGateFuzz"
[ -x "$binary" ] || { echo "no fuzz binary at $binary" >&2; exit 1; }

printf '\n==> fuzzing %d target(s), %s s each\n' "${#targets[@]}" "$seconds"
mkdir -p "$scratch/logs"
summary=()
found=0
for target in "${targets[@]}"; do
  corpus="$scratch/corpus/$target"
  artifacts="$scratch/artifacts/$target"
  log="$scratch/logs/$target.log"
  mkdir -p "$corpus" "$artifacts"
  cp -R "Fuzz/Corpus/$target/." "$corpus/"
  printf '%s: ' "$target"
  status=0
  TOKENGATE_FUZZ_TARGET="$target" "$binary" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 \
    "$corpus" >"$log" 2>&1 || status=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
  if [ "$status" -eq 0 ] && [ -z "$artifact" ]; then
    line="ok (${runs:-?} runs, corpus $(find "$corpus" -type f | wc -l | tr -d ' ') inputs)"
  else
    found=1
    if grep -q 'TokenGateFuzz invariant failed' "$log"; then kind="invariant failed: $(sed -n 's/.*TokenGateFuzz invariant failed at //p' "$log" | head -n 1)"
    elif grep -q 'ERROR: libFuzzer: timeout' "$log"; then kind="hang (over 10 s)"
    elif grep -q 'ERROR: LeakSanitizer' "$log"; then kind="leak"
    elif grep -q 'ERROR: libFuzzer: out-of-memory' "$log"; then kind="out of memory"
    elif grep -q 'ERROR: AddressSanitizer' "$log"; then kind="memory error: $(grep -m 1 'ERROR: AddressSanitizer' "$log" | sed 's/.*AddressSanitizer: //')"
    elif grep -q 'Fatal error' "$log"; then kind="Swift trap: $(grep -m 1 'Fatal error' "$log")"
    elif grep -q 'TokenGateFuzz harness:' "$log"; then kind="harness failure: $(sed -n 's/.*TokenGateFuzz harness: //p' "$log" | head -n 1)"
    else kind="crash (exit $status)"
    fi
    line="FOUND $kind; input: ${artifact:-none written}; log: $log"
  fi
  echo "$line"
  summary+=("$(printf '%-14s %s' "$target" "$line")")
done

printf '\n==> summary\n'
printf '%s\n' "${summary[@]}"
if [ "$found" -ne 0 ]; then
  printf '\nReproduce one input: TOKENGATE_FUZZ_TARGET=TARGET %s INPUT\n' "$binary"
  exit 1
fi
