#!/usr/bin/env bash
# Sets up everything TokenGate's tests need on a fresh Debian machine with Swift, builds,
# and runs the whole suite. Safe to run again: installs only what is missing.
#   ./scripts/test.sh [--setup-only]
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# System packages the tests use: openssl makes throwaway certificates for TLS tests;
# Debian's chromium and its chromedriver are the real browser of the login tests (driven
# by selenium, which is pointed at them: nothing is downloaded at test time); postgresql
# gives the fleet tests a real store.
missing=()
for tool in openssl curl; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
# PostgreSQL's server programs (initdb, pg_ctl) for the fleet tests, which start their own
# server on a loopback port; the system service is never used.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The real authorization server for interop tests (django-oauth-toolkit), the schema
# checker (check-jsonschema), Prometheus's parser and the deploy linters (hadolint,
# kubernetes-validate) in a venv, and a migrated database each interop test copies.
venv=.build-interop/venv
if [ ! -x "$venv/bin/python" ] || ! cmp -s Tests/Interop/requirements.txt .build-interop/requirements.installed; then
  log "installing django-oauth-toolkit into $venv"
  if ! python3 -m venv "$venv" 2>/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check -r Tests/Interop/requirements.txt
  cp Tests/Interop/requirements.txt .build-interop/requirements.installed
  rm -f .build-interop/template.sqlite3
fi
if [ ! -f .build-interop/template.sqlite3 ]; then
  log "preparing the interop database"
  (cd Tests/Interop/dot && INTEROP_DB="$PWD/../../../.build-interop/template.sqlite3" "../../../$venv/bin/python" manage.py migrate -v 0 \
    && INTEROP_DB="$PWD/../../../.build-interop/template.sqlite3" "../../../$venv/bin/python" manage.py setup_interop)
fi

# `--setup-only`: stop here (scripts/sanitize.sh and scripts/fuzz.sh build their own way).
if [ "${1:-}" = "--setup-only" ]; then exit 0; fi

log "building (debug, with tests)"
swift build --build-tests

log "checking shipped configurations against the JSON Schema and tokengate check"
for config in $(git ls-files '*gateway*.json' | grep -v schema | grep -v '^Deploy/'); do
  "$venv/bin/check-jsonschema" --schemafile gateway.schema.json "$config"
  "$(swift build --show-bin-path)/tokengate" check "$config" >/dev/null
done

log "checking the deployment files (Dockerfile, Kubernetes, systemd, compose, their configurations)"
./scripts/check-deploy.sh

# A fleet test that fails half-way leaves its PostgreSQL running (a passing one stops
# it): stop every server the tests made (data in a tg-pg-* temporary directory), by the
# PID its postmaster.pid names, whatever the run came to.
stop_test_postgres() {
  for pidfile in "${TMPDIR:-/tmp}"/tg-pg-*/data/postmaster.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(head -n 1 "$pidfile")
    case "$pid" in ''|*[!0-9]*) continue ;; esac
    # Only that server: a postgres whose command line names this data directory.
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$(dirname "$pidfile")" || continue
    kill -QUIT "$pid" 2>/dev/null && log "stopped a test PostgreSQL left running (pid $pid)"
  done
}
trap stop_test_postgres EXIT

log "running tests"
swift test --skip-build --disable-xctest
