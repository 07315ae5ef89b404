#!/usr/bin/env bash
# Instructions per proxied HTTP/2 stream (h2c, prior knowledge), counted by callgrind: user space only, and the same figure run after run whatever
# else the machine is doing (wall-clock benchmarks here move by +-20 %). Needs valgrind and nghttp2-client (h2load).
#   Benchmarks/instr-per-request-h2.sh URL -- COMMAND...   (http2.py runs it; Benchmarks/instr-per-request.sh is HTTP/1.1's)
#   e.g. strip -o /tmp/tokengate-stripped .build/release/tokengate
#        Benchmarks/instr-per-request.sh http://127.0.0.1:8081/x -- /tmp/tokengate-stripped run --config bench.json --no-watch
#   nginx for comparison: run it with "master_process off; daemon off;" under the same script.
# Starts COMMAND under callgrind, waits for URL to answer 200, then counts the instructions of 1000 and of 3000
# requests (h2load -c 8 -m 1: eight connections, one stream at a time each) and prints the marginal count per
# request: (I3000 - I1000) / 2000.
# AB_HEADER: one request header for every request (e.g. 'Authorization: Bearer x'). The binary must carry no debug
# info (strip it): valgrind 3.19 cannot read Swift 6.3's.
set -euo pipefail
url=$1; shift; [ "$1" = "--" ] && shift
out=$(mktemp -d /tmp/instr.XXXXXX)
valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$@" >"$out/stdout" 2>"$out/stderr" &
vpid=$!
trap 'kill $vpid 2>/dev/null; wait $vpid 2>/dev/null; rm -rf "$out"' EXIT
ok=""
for _ in $(seq 1 120); do
  [ "$(curl -s --http2-prior-knowledge -o /dev/null -w '%{http_code}' -m 3 ${AB_HEADER:+-H "$AB_HEADER"} "$url" 2>/dev/null)" = 200 ] && { ok=1; break; }
  kill -0 $vpid 2>/dev/null || break; sleep 1
done
[ -n "$ok" ] || { echo "target did not answer 200 under callgrind" >&2; tail -5 "$out/stderr" >&2; exit 1; }
h2load -n 200 -c 8 -m 1 "$url" >/dev/null 2>&1 || true     # warm pools and caches
count() {
  callgrind_control -z $vpid >/dev/null 2>&1
  h2load -n "$1" -c 8 -m 1 "${@:2}" "$url" > "$out/h2load.$1" 2>&1
  grep -q "requests: $1 total, $1 started, $1 done, $1 succeeded, 0 failed" "$out/h2load.$1" || { echo "h2load saw failures at n=$1" >&2; cat "$out/h2load.$1" >&2; exit 1; }
  grep -q "status codes: $1 2xx" "$out/h2load.$1" || { echo "h2load saw non-2xx at n=$1" >&2; exit 1; }
  callgrind_control -d $vpid >/dev/null 2>&1; sleep 1
  f=$(ls -t "$out"/cg.* | head -1)
  callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1; exit}'
}
a=$(count 1000 ${AB_HEADER:+-H "$AB_HEADER"}); b=$(count 3000 ${AB_HEADER:+-H "$AB_HEADER"})
echo $(( (b - a) / 2000 ))
