#!/usr/bin/env bash
# Load benchmark (not a test): requests per second and latency of the real
# gateway under many concurrent connections, with wrk over loopback HTTPS.
#
#   scripts/bench-load.sh
#
# Two requests, each at 8, 64 and 256 connections for BENCH_SECONDS:
#   - an authenticated API read: GET /api/v1/whoami with a staff session
#     (session lookup in the database, the policy, JSON);
#   - the public download page of a class III link: GET /d/{token} (token
#     lookup, the page; it does not count as a download).
# Reported: requests/s, p50 and p99 latency, non-2xx answers and socket
# errors (both must be 0), and the gateway's peak memory (VmHWM). The
# per-address throttles and connection caps are opened for the run (one
# client address makes all the load); the table goes to
# target/bench-load.md.
#
# Knobs: BENCH_SECONDS=10, BENCH_THREADS=2 (wrk threads), BENCH_SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
HELPERS=$ROOT/scripts/bench
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_SKIP_BUILD=${BENCH_SKIP_BUILD:-0}
REPORT=$ROOT/target/bench-load.md

# shellcheck source=bench/common.sh
source "$HELPERS/common.sh"

command -v wrk >/dev/null 2>&1 || die "wrk is missing: apt-get install wrk"
command -v age-keygen >/dev/null 2>&1 || die "age-keygen is missing: apt-get install age"

# One address makes every request: the throttles and caps that protect a
# real gateway from one source would measure themselves, not the gateway.
before_serve() {
  local config=$1/sekisho.toml
  sed -i -e 's/^public_requests_per_minute = .*/public_requests_per_minute = 100000000/' \
    -e 's/^login_attempts_per_minute = .*/login_attempts_per_minute = 100000/' \
    -e 's/^max_connections_per_address = .*/max_connections_per_address = 4096/' \
    -e 's/^max_connections = .*/max_connections = 4096/' "$config"
  grep -q '^public_requests_per_minute = 100000000' "$config" || die "could not open the throttles in $config"
}

mkdir -p "$ROOT/target/bench-tmp"
WORK=$(mktemp -d "$ROOT/target/bench-tmp/load.XXXXXX")
build_binaries
start_gateway load
activate "$ADMIN"
add_user tanaka staff
age-keygen -o "$WORK/recipient.key" 2>/dev/null
RECIPIENT=$(sed -n 's/^# public key: //p' "$WORK/recipient.key")
cli_as tanaka recipient add resident --org "Bench" --email r@example.jp --age-key "$RECIPIENT" >/dev/null
echo "お知らせ" >"$WORK/notice.txt"
TRANSFER=$(cli_as tanaka --json send "$WORK/notice.txt" --class III --to resident --purpose bench | json_get transfer.id)
LINK=$(cli_as tanaka --json link "$TRANSFER" | json_get 0.url)
TOKEN=$(json_get token <"${HOME_DIR[tanaka]}/session.json")

reset_hwm "$GW_PID" || log "note: cannot reset VmHWM; the peak covers set-up too"
ROWS=()
run_wrk() {
  local what=$1 connections=$2 url=$3 out rps p50 p99 non2xx errors
  shift 3
  out=$(wrk -t"$BENCH_THREADS" -c"$connections" -d"${BENCH_SECONDS}s" --latency "$@" "$url")
  rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' <<<"$out")
  errors=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' <<<"$out")
  ROWS+=("| $what | $connections | $rps | $p50 | $p99 | ${non2xx:-0} | ${errors:-0} |")
  log "$what c=$connections: $rps req/s, p50 $p50, p99 $p99, non-2xx ${non2xx:-0}, socket errors ${errors:-0}"
}
for connections in 8 64 256; do
  run_wrk "API read (whoami)" "$connections" "$GW_URL/api/v1/whoami" -H "Authorization: Bearer $TOKEN"
done
for connections in 8 64 256; do
  run_wrk "public page (/d/)" "$connections" "$LINK"
done
PEAK=$(vm_hwm_mib "$GW_PID")

{
  echo "# Load benchmark ($(date -u +%F), gateway built $BIN_BUILT_AT)"
  echo
  echo "wrk, $BENCH_THREADS threads, ${BENCH_SECONDS}s per row, loopback HTTPS, SQLite, $(nproc) cores shared by wrk and the gateway."
  echo
  echo "| request | connections | req/s | p50 | p99 | non-2xx | socket errors |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "Gateway peak memory (VmHWM) during the load: $PEAK MiB."
} | tee "$REPORT"
stop_gateway
