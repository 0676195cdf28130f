#!/usr/bin/env bash
# The one command that runs every test, on a fresh machine too:
#   scripts/test.sh
# It installs what the end-to-end tests need (the Debian `age` CLI), starts a
# throwaway PostgreSQL cluster, and runs the whole suite twice: against the
# embedded SQLite and against that PostgreSQL. Under CI (CI set), anything
# missing is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

need_root_install() {
  local pkg=$1 bin=$2
  if command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ]; then return 0; fi
  if [ "$(id -u)" = 0 ]; then
    log "installing $pkg"
    if ! apt-get install -y "$pkg" >/dev/null 2>&1; then
      apt-get update >/dev/null && apt-get install -y "$pkg" >/dev/null
    fi
  else
    echo "warning: $bin is missing and this is not root; install the Debian package $pkg" >&2
  fi
}

need_root_install age age
need_root_install openssh-client ssh-keygen
# clamd for the scanner's integration tests (tests write their own signatures:
# Debian ships none and freshclam has no network here).
need_root_install clamav-daemon clamd

log "checks: formatting and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

log "building the binaries the end-to-end tests drive"
cargo build --workspace --bins

# --- PostgreSQL: a throwaway cluster owned by a non-root user -------------
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
PG_DIR=$(mktemp -d /tmp/sekisho-pg.XXXXXX)
PG_PORT=${PG_PORT:-55432}
pg_as() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
stop_pg() {
  if [ -f "$PG_DIR/data/postmaster.pid" ]; then
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$PG_DIR"
}
trap stop_pg EXIT

start_pg() {
  [ -x "$PG_BIN/initdb" ] || { echo "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin)" >&2; return 1; }
  if [ "$(id -u)" = 0 ]; then chown postgres "$PG_DIR"; fi
  pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1
  pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
}

log "unit tests and end-to-end tests against SQLite"
SEKISHO_TEST_DATABASE=sqlite cargo test --workspace --no-fail-fast -- --test-threads "${TEST_THREADS:-4}"

if start_pg; then
  log "end-to-end tests against PostgreSQL (port $PG_PORT)"
  SEKISHO_TEST_DATABASE="postgres://postgres@127.0.0.1:$PG_PORT/postgres" \
    cargo test -p sekisho-e2e --no-fail-fast -- --test-threads "${TEST_THREADS:-4}"
else
  if [ -n "${CI:-}" ]; then
    echo "error: PostgreSQL could not be started; CI never skips it" >&2
    exit 1
  fi
  echo "warning: PostgreSQL could not be started; its run was SKIPPED (outside CI only)" >&2
fi
log "all tests passed"
