#!/usr/bin/env bash
# A throwaway single-node Garage (S3-compatible server) for the
# object-storage end-to-end tests:
#   scripts/garage.sh start DIR   # then: . DIR/env
#   scripts/garage.sh stop DIR
# Everything (config, metadata, data, log, pid, env) lives in DIR, so
# parallel runs never share state and `rm -rf DIR` is the whole cleanup.
# Garage 2.5.0 (scripts/test.sh installs it); quiet on success.
set -euo pipefail

fail() {
  printf 'garage.sh: %s\n' "$*" >&2
  exit 1
}

[ $# -eq 2 ] || fail "usage: $0 start|stop DIR"
cmd=$1
dir=$2
GARAGE=$(command -v garage || echo "${CARGO_HOME:-$HOME/.cargo}/bin/garage")
BUCKET=sekisho-test
REGION=garage

# Every CLI call names the config: the CLI reaches the server over RPC with
# the rpc_secret and address from it (default /etc/garage.toml is not ours).
g() { "$GARAGE" -c "$dir/garage.toml" "$@"; }

# Shows the server's log, which is where the reason for a failure is, and
# stops the half-set-up server so a failed start leaves nothing running.
fail_with_log() {
  tail -n 30 "$dir/garage.log" >&2 2>/dev/null || true
  stop
  fail "$*"
}

start() {
  [ -x "$GARAGE" ] || fail "garage is not installed (scripts/test.sh installs it)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd) # the config needs absolute paths
  [ ! -e "$dir/pid" ] || fail "$dir/pid exists: already started? ($0 stop $dir)"
  umask 077 # the config and env files hold secrets

  # Ports from the kernel (bind to 0), all held at once so they differ.
  local rpc s3 admin secret
  read -r rpc s3 admin secret < <(python3 -c '
import secrets, socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks], secrets.token_hex(32))')

  # lmdb: the engine of the --no-default-features build that test.sh installs.
  cat >"$dir/garage.toml" <<EOF
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$secret"

[s3_api]
s3_region = "$REGION"
api_bind_addr = "127.0.0.1:$s3"

[admin]
api_bind_addr = "127.0.0.1:$admin"
EOF

  # Detached from our stdout/stderr, so callers capturing this script's
  # output ($(...), test.sh's `quietly`) do not wait for the server.
  # Not through g(): a backgrounded function is a subshell, and $! would be
  # its pid, not the server's.
  "$GARAGE" -c "$dir/garage.toml" server </dev/null >"$dir/garage.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/pid"

  # `status` answers once the RPC layer is up; 30 s is ample on a busy machine.
  local i
  for i in $(seq 60); do
    kill -0 "$pid" 2>/dev/null || fail_with_log "garage server exited at startup (log: $dir/garage.log)"
    g status >/dev/null 2>&1 && break
    [ "$i" -lt 60 ] || fail_with_log "garage did not answer within 30 s (log: $dir/garage.log)"
    sleep 0.5
  done

  # A fresh node has no role: until the layout gives it one, it stores nothing.
  local node out
  node=$(g node id -q 2>/dev/null) || fail_with_log "garage node id failed"
  node=${node%%@*}
  out=$(g layout assign -z dc1 -c 1G "$node" 2>&1) || fail_with_log "layout assign failed: $out"
  out=$(g layout apply --version 1 2>&1) || fail_with_log "layout apply failed: $out"

  out=$(g bucket create "$BUCKET" 2>&1) || fail_with_log "bucket create failed: $out"
  out=$(g key create "$BUCKET-key" 2>&1) || fail_with_log "key create failed: $out"
  out=$(g bucket allow --read --write --owner "$BUCKET" --key "$BUCKET-key" 2>&1) ||
    fail_with_log "bucket allow failed: $out"
  # `key create` prints a human table; `key info --key-id/--secret-key`
  # print the bare value, which needs no parsing.
  local id key
  id=$(g key info --key-id "$BUCKET-key") || fail_with_log "key info --key-id failed"
  key=$(g key info --secret-key "$BUCKET-key") || fail_with_log "key info --secret-key failed"
  [[ $id =~ ^GK[0-9a-f]+$ && $key =~ ^[0-9a-f]+$ ]] ||
    fail "unexpected key format from garage: id '$id'"

  cat >"$dir/env" <<EOF
export SEKISHO_TEST_S3_ENDPOINT=http://127.0.0.1:$s3
export SEKISHO_TEST_S3_BUCKET=$BUCKET
export SEKISHO_TEST_S3_REGION=$REGION
export SEKISHO_TEST_S3_ACCESS_KEY_ID=$id
export SEKISHO_TEST_S3_SECRET_ACCESS_KEY=$key
EOF
}

stop() {
  [ -f "$dir/pid" ] || return 0 # never started, or already stopped
  local pid i
  dir=$(cd "$dir" && pwd)
  pid=$(cat "$dir/pid")
  # Only our server: a stale pid file may name a process reused since.
  if grep -qF "$dir/garage.toml" "/proc/$pid/cmdline" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for i in $(seq 50); do # it flushes metadata on SIGTERM; 10 s, then force
      kill -0 "$pid" 2>/dev/null || break
      [ "$i" -lt 50 ] || kill -9 "$pid" 2>/dev/null || true
      sleep 0.2
    done
  fi
  rm -f "$dir/pid"
}

case $cmd in
start) start ;;
stop) stop ;;
*) fail "usage: $0 start|stop DIR" ;;
esac
