#!/usr/bin/env bash
# Builds the release binary as the container image does (Swift runtime linked in), checks
# that it starts and answers its health probe, and prints its size and resident memory.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> scripts/build-release.sh"
./scripts/build-release.sh
bin="$(./scripts/build-release.sh --show-bin-path)/tokengate"

work=$(mktemp -d)
pid=""
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$work"; }
trap cleanup EXIT

strip -o "$work/tokengate" "$bin"
echo "==> shared libraries it needs"
ldd "$bin" | awk '{print "  " $1}'

admin=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
cat > "$work/gateway.json" <<JSON
{ "listeners": { "main": { "address": "127.0.0.1:0" } }, "admin": { "address": "127.0.0.1:$admin" },
  "routes": [ { "name": "r", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:9" } ] }
JSON
"$work/tokengate" run --config "$work/gateway.json" --no-watch --log-format json >"$work/out.log" 2>&1 &
pid=$!
for _ in $(seq 1 50); do
  if "$work/tokengate" health --admin "http://127.0.0.1:$admin" 2>/dev/null; then break; fi
  sleep 0.1
done
"$work/tokengate" health --admin "http://127.0.0.1:$admin" --ready || { cat "$work/out.log"; exit 1; }
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
printf '==> the static release binary starts and is healthy\n'
printf '  size: %s MiB (%s MiB stripped)\n' "$(( $(stat -c %s "$bin") / 1048576 ))" "$(( $(stat -c %s "$work/tokengate") / 1048576 ))"
printf '  resident memory at idle: %s MiB\n' "$(( rss / 1024 ))"
