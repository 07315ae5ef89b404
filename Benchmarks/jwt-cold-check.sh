#!/usr/bin/env bash
# What a JWT costs the first time the gateway sees it (signature check, claims, cache insert)
# against a cache hit, in instructions per request under callgrind (the same method as
# instr-per-request.sh: marginal count between 1,000 and 3,000 requests).
#   Benchmarks/jwt-cold-check.sh STRIPPED_TOKENGATE_BINARY
# Starts `tokengate sandbox` (ES256 keys) and the gateway on loopback ports 23000-23001 and
# 28080/29901, takes 4,200 distinct JWTs from the sandbox's token endpoint, then sends them
# one each (cold) and one token over and over (hot) on one keep-alive connection.
set -euo pipefail
binary=$(realpath "$1")
work=$(mktemp -d /tmp/jwt-cold.XXXXXX)
cd "$work"
cat > gateway.json <<'JSON'
{ "listeners": { "main": { "address": "127.0.0.1:28080" } }, "admin": { "address": "127.0.0.1:29901" }, "workers": 1,
  "jwt": { "bench": { "issuer": "http://127.0.0.1:23001", "audience": "https://api.sandbox.test", "cache": { "max_entries": 10000 } } },
  "routes": [ { "name": "plain", "listener": "main", "match": { "path_prefix": "/" }, "upstream": "http://127.0.0.1:23000/" },
              { "name": "jwt", "listener": "main", "match": { "path_prefix": "/jwt/" }, "strip_prefix": true,
                "upstream": "http://127.0.0.1:23000/", "validate": { "jwt": "bench", "required_scopes": ["legacy:use"] } } ] }
JSON
cat > send.py <<'PY'
import http.client, sys
path, count, same = sys.argv[1], int(sys.argv[2]), len(sys.argv) > 3
tokens = open(path).read().split()
conn = http.client.HTTPConnection("127.0.0.1", 28080)
for i in range(count):
    conn.request("GET", "/jwt/x", headers={"Authorization": "Bearer " + (tokens[0] if same else tokens[i])})
    response = conn.getresponse(); response.read()
    if response.status != 200: sys.exit(f"status {response.status}")
PY
"$binary" sandbox --idp-port 23001 --echo-port 23000 > sandbox.log 2>&1 &
sandbox=$!
trap 'kill $sandbox ${gateway:-} 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 60); do curl -s -o /dev/null http://127.0.0.1:23000/ && break; sleep 0.5; done
python3 - <<'PY'
import base64, http.client, json
conn = http.client.HTTPConnection("127.0.0.1", 23001)
auth = "Basic " + base64.b64encode(b"demo-jwt-caller:demo-jwt-caller-secret").decode()
tokens = []
for _ in range(4200):
    conn.request("POST", "/oauth2/token", body="grant_type=client_credentials&scope=legacy:use",
                 headers={"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"})
    tokens.append(json.loads(conn.getresponse().read())["access_token"])
open("warm.txt", "w").write("\n".join(tokens[:100]))
open("cold1.txt", "w").write("\n".join(tokens[100:1100]))
open("cold3.txt", "w").write("\n".join(tokens[1100:4100]))
PY
valgrind --tool=callgrind --callgrind-out-file="$work/cg" "$binary" run --config gateway.json --no-watch > gateway.log 2>&1 &
gateway=$!
for _ in $(seq 1 120); do [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:28080/)" = 200 ] && break; sleep 1; done
python3 send.py warm.txt 100          # keys fetched, pools warm
count() {
  callgrind_control -z $gateway >/dev/null
  python3 send.py "$@"
  callgrind_control -d $gateway >/dev/null; sleep 1
  callgrind_annotate "$(ls -t "$work"/cg.* | head -1)" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1; exit}'
}
hot1=$(count warm.txt 1000 same); hot3=$(count warm.txt 3000 same)
cold1=$(count cold1.txt 1000); cold3=$(count cold3.txt 3000)
echo "cache hit: $(( (hot3 - hot1) / 2000 )) instructions/request; first sight (ES256 signature check): $(( (cold3 - cold1) / 2000 )) instructions/request"
