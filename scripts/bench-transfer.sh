#!/usr/bin/env bash
# Transfer benchmark (not a test): how fast does a class II file go through
# the real Sekisho gateway, compared with plain `rage` on the same file, and
# how much memory does the gateway need for it?
#
#   scripts/bench-transfer.sh
#
# Measures, on release builds and over loopback HTTPS:
#   - `sekisho send` (upload, encrypted at rest by the gateway)   -> MB/s
#   - `sekisho approve` (step-up TOTP, releases the links)        -> seconds
#   - `sekisho receive` (download, age-decrypt, untar, verify)    -> MB/s
#   - `rage -e` / `rage -d` on the same file, as the yardstick    -> MB/s
#   - the gateway's peak RSS (VmHWM) per upload size, fresh gateway each time
# Each timing is run BENCH_RUNS times; the median is reported. MB = 10^6 B.
# The results table is printed and written to target/bench-transfer.md.
#
# Knobs (environment):
#   BENCH_MIB=1024        size of the main test file in MiB
#   BENCH_BIG_MIB=4096    size of the large-upload memory case (0 skips it)
#   BENCH_RUNS=3          repetitions per timing
#   BENCH_MIN_FREE_GIB=15 free space needed to attempt the large case
#   BENCH_SKIP_BUILD=1    use target/release as it is (e.g. while the tree
#                         is mid-edit and does not compile)
#   BENCH_TOP=1           log `top -H` snapshots of the gateway every 5 s
#                         during each transfer to target/bench-transfer-top.log
#
# Caveats: the source file stays in the page cache (caches are not dropped:
# that disturbs other work on the machine); outputs are `sync`ed between
# timings so one run's writeback does not slow the next; `sekisho send`
# includes the gateway's fsync of its blob and `sekisho receive` the client's
# fsync of the saved file, while rage and cp end without fsync (about 0.3 s
# per GiB here); client and gateway share the same cores.
# Helpers: scripts/bench/totp.py (RFC 6238 when oathtool is missing) and
# scripts/bench/jget.py (reads one field of a JSON answer).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

BENCH_MIB=${BENCH_MIB:-1024}
BENCH_BIG_MIB=${BENCH_BIG_MIB:-4096}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_MIN_FREE_GIB=${BENCH_MIN_FREE_GIB:-15}
BENCH_TOP=${BENCH_TOP:-0}
BENCH_SKIP_BUILD=${BENCH_SKIP_BUILD:-0}

TOOLS=$ROOT/target/bench-tools
REPORT=$ROOT/target/bench-transfer.md
TOP_LOG=$ROOT/target/bench-transfer-top.log
HELPERS=$ROOT/scripts/bench
RECIPIENT_NAME=bench-recipient

# Shared with the other benchmarks: cleanup, binaries, TOTP, the gateway
# and its people (scripts/bench/common.sh).
# shellcheck source=bench/common.sh
source "$HELPERS/common.sh"

# rage is the yardstick. It is installed into target/ (never on the system,
# never committed) when it is not already on PATH.
ensure_rage() {
  if command -v rage >/dev/null 2>&1 && command -v rage-keygen >/dev/null 2>&1; then
    RAGE=$(command -v rage); RAGE_KEYGEN=$(command -v rage-keygen)
  else
    if [ ! -x "$TOOLS/bin/rage" ] || [ ! -x "$TOOLS/bin/rage-keygen" ]; then
      log "installing rage into $TOOLS (first run only)"
      cargo install rage --locked --root "$TOOLS" >&2
    fi
    RAGE=$TOOLS/bin/rage; RAGE_KEYGEN=$TOOLS/bin/rage-keygen
  fi
  log "using $("$RAGE" --version 2>/dev/null | head -n1) at $RAGE"
}

# Runs a command and records, in globals:
#   T_WALL (s), T_CPU (client user+sys s), T_RSS (client max RSS MiB),
#   T_GW_CPU (gateway CPU s spent meanwhile, when a gateway is running).
# stdout goes to $WORK/last.out; on failure stderr is shown and we stop.
timed() {
  local start end gw_before=0 gw_after=0 sampler=""
  sync
  if [ -n "${GW_PID:-}" ]; then gw_before=$(proc_cpu_seconds "$GW_PID"); fi
  if [ "$BENCH_TOP" = 1 ] && [ -n "${GW_PID:-}" ]; then
    { echo "=== $(date +%T) $*"; while sleep 5; do top -b -n1 -H -p "$GW_PID" | head -n 20; done; } >>"$TOP_LOG" 2>&1 &
    sampler=$!; STARTED_PIDS+=("$sampler")
  fi
  start=$(now_ns)
  if ! /usr/bin/time -f '%U %S %M' -o "$WORK/last.time" "$@" >"$WORK/last.out" 2>"$WORK/last.err" </dev/null; then
    [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
    cat "$WORK/last.err" >&2
    die "command failed: $*"
  fi
  end=$(now_ns)
  if [ -n "$sampler" ]; then kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; fi
  if [ -n "${GW_PID:-}" ]; then gw_after=$(proc_cpu_seconds "$GW_PID"); fi
  T_WALL=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", (e - s) / 1e9 }')
  read -r T_CPU T_RSS < <(awk '{ printf "%.2f %.0f\n", $1 + $2, $3 / 1024 }' "$WORK/last.time")
  T_GW_CPU=$(awk -v a="$gw_before" -v b="$gw_after" 'BEGIN { printf "%.2f", b - a }')
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# Admin, a clerk who sends, an approver, and the age recipient.
prepare_people() {
  activate "$ADMIN"
  add_user tanaka staff
  add_user jicho approver
  cli_as tanaka recipient add "$RECIPIENT_NAME" --org "Bench Printing Co." \
    --email bench@example.jp --age-key "$AGE_RECIPIENT" >/dev/null || die "recipient add failed"
  mkdir -p "$GW_DIR/home-outside"
}

# ---------------------------------------------------------------------------
# The three steps of a transfer. Each sets T_* (see `timed`).
# ---------------------------------------------------------------------------
send_file() {
  client_as tanaka
  timed "${CLIENT[@]}" --json send "$1" --class II --to "$RECIPIENT_NAME" --purpose bench
  TRANSFER_ID=$(json_get transfer.id <"$WORK/last.out")
  [ "$(json_get transfer.state <"$WORK/last.out")" = pending_approval ] \
    || die "class II transfer is not pending approval: $(cat "$WORK/last.out")"
}

approve_transfer() {
  fresh_otp "${SECRET[jicho]}"   # made before the clock starts
  client_as jicho
  timed "${CLIENT[@]}" --json approve "$TRANSFER_ID" --otp "$OTP" --comment bench
  [ "$(json_get state <"$WORK/last.out")" = released ] \
    || die "approval did not release the transfer: $(cat "$WORK/last.out")"
  LINK_URL=$(cli_as tanaka --json link "$TRANSFER_ID" | json_get 0.url)
}

# Downloads into a fresh folder, checks the bytes, and frees the space.
receive_and_check() {
  local original=$1 out=$WORK/received
  rm -rf "$out"
  client_outsider
  timed "${CLIENT[@]}" --json receive "$LINK_URL" -o "$out" --identity "$AGE_KEY"
  [ "$(json_get verified <"$WORK/last.out")" = true ] || die "receive did not verify the package"
  cmp "$original" "$out/$(basename "$original")" || die "received file differs from the original"
  rm -rf "$out"
}

# ---------------------------------------------------------------------------
# Phases
# ---------------------------------------------------------------------------
make_random_file() {
  local path=$1 mib=$2
  log "writing $mib MiB of random data to $path"
  head -c "$((mib * 1024 * 1024))" /dev/urandom >"$path"
}

# The big file is the main file repeated: nothing on the path compresses or
# deduplicates, so repetition costs the gateway the same as fresh randomness,
# and copying is much faster than /dev/urandom.
make_big_file() {
  local path=$1 mib=$2 copies
  copies=$((mib / BENCH_MIB))
  if [ $((copies * BENCH_MIB)) -ne "$mib" ] || [ "$copies" -lt 1 ]; then
    make_random_file "$path" "$mib"; return
  fi
  log "writing $mib MiB ($copies x the main file) to $path"
  : >"$path"
  for _ in $(seq "$copies"); do cat "$FILE" >>"$path"; done
}

make_age_key() {
  AGE_KEY=$WORK/recipient.agekey
  "$RAGE_KEYGEN" -o "$AGE_KEY" 2>/dev/null
  AGE_RECIPIENT=$(sed -n 's/^# public key: //p' "$AGE_KEY")
  [[ $AGE_RECIPIENT == age1* ]] || die "could not read the public key from $AGE_KEY"
}

declare -a SEND_S RECV_S APPROVE_S RAGE_E_S RAGE_D_S CP_S
declare -a SEND_GW_CPU SEND_CL_CPU RECV_GW_CPU RECV_CL_CPU SEND_CL_RSS RECV_CL_RSS
declare -a RAGE_E_CPU RAGE_D_CPU

# BENCH_RUNS full transfers (send, approve, receive) on one gateway.
phase_throughput() {
  local i
  start_gateway throughput
  prepare_people
  for i in $(seq "$BENCH_RUNS"); do
    log "transfer run $i/$BENCH_RUNS: send"
    send_file "$FILE"
    SEND_S+=("$T_WALL"); SEND_GW_CPU+=("$T_GW_CPU"); SEND_CL_CPU+=("$T_CPU"); SEND_CL_RSS+=("$T_RSS")
    log "  send ${T_WALL}s ($(mbps "$BYTES" "$T_WALL") MB/s); approve"
    approve_transfer
    APPROVE_S+=("$T_WALL")
    log "  approve ${T_WALL}s; receive"
    receive_and_check "$FILE"
    RECV_S+=("$T_WALL"); RECV_GW_CPU+=("$T_GW_CPU"); RECV_CL_CPU+=("$T_CPU"); RECV_CL_RSS+=("$T_RSS")
    log "  receive ${T_WALL}s ($(mbps "$BYTES" "$T_WALL") MB/s), file identical"
  done
  stop_gateway
}

# rage on the same file, same disk: what age encryption alone costs.
phase_rage() {
  local i enc=$WORK/rage.age dec=$WORK/rage.out
  for i in $(seq "$BENCH_RUNS"); do
    rm -f "$enc" "$dec"
    timed "$RAGE" -e -r "$AGE_RECIPIENT" -o "$enc" "$FILE"
    RAGE_E_S+=("$T_WALL"); RAGE_E_CPU+=("$T_CPU")
    timed "$RAGE" -d -i "$AGE_KEY" -o "$dec" "$enc"
    RAGE_D_S+=("$T_WALL"); RAGE_D_CPU+=("$T_CPU")
    cmp "$FILE" "$dec" || die "rage round trip changed the file"
    log "rage run $i/$BENCH_RUNS: -e ${RAGE_E_S[-1]}s, -d ${RAGE_D_S[-1]}s"
    rm -f "$dec"
    timed cp "$FILE" "$dec"   # the disk's own speed, for context
    CP_S+=("$T_WALL")
  done
  rm -f "$enc" "$dec"
}

# Peak RSS for one upload (and its download) on a gateway that has done
# nothing else. VmHWM is cumulative, so it also holds the setup (logins hash
# passwords); where the kernel lets us, the peak is also reset before each
# step, which isolates what the step itself needed.
declare -A HWM
max() { if [ "$1" -ge "$2" ]; then echo "$1"; else echo "$2"; fi; }
phase_memory() {
  local label=$1 path=$2 cumulative step_resets=1
  start_gateway "memory-$label"
  prepare_people
  HWM[$label-idle]=$(vm_hwm_mib "$GW_PID")
  HWM[$label-idle-rss]=$(vm_rss_mib "$GW_PID")
  cumulative=${HWM[$label-idle]}

  log "memory $label: send"
  HWM[$label-upload-start]=$(vm_rss_mib "$GW_PID")
  reset_hwm "$GW_PID" || step_resets=0
  send_file "$path"
  HWM[$label-upload-step]=$(vm_hwm_mib "$GW_PID")
  cumulative=$(max "$cumulative" "${HWM[$label-upload-step]}")
  HWM[$label-upload]=$cumulative
  HWM[$label-upload-s]=$T_WALL

  approve_transfer
  log "memory $label: receive"
  HWM[$label-receive-start]=$(vm_rss_mib "$GW_PID")
  reset_hwm "$GW_PID" || step_resets=0
  receive_and_check "$path"
  HWM[$label-receive-step]=$(vm_hwm_mib "$GW_PID")
  cumulative=$(max "$cumulative" "${HWM[$label-receive-step]}")
  HWM[$label-receive]=$cumulative
  HWM[$label-receive-s]=$T_WALL
  HWM[$label-end-rss]=$(vm_rss_mib "$GW_PID")

  if [ "$step_resets" = 0 ]; then
    HWM[$label-upload-step]="n/a"; HWM[$label-receive-step]="n/a"
  fi
  log "memory $label: VmHWM idle ${HWM[$label-idle]} MiB, after upload ${HWM[$label-upload]} MiB (step ${HWM[$label-upload-step]}), after receive ${HWM[$label-receive]} MiB (step ${HWM[$label-receive-step]})"
  stop_gateway
}

free_gib() { df -Pk "$1" | awk 'NR == 2 { printf "%d", $4 / 1024 / 1024 }'; }

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
runs_cell() { printf '%s\n' "$@" | paste -sd '/' - | sed 's|/| / |g'; }

memory_rows() {
  local label=$1 mib=$2
  echo "| $mib MiB run: idle after setup (VmRSS ${HWM[$label-idle-rss]}) | ${HWM[$label-idle]} | - | - |"
  echo "| $mib MiB run: after the $mib MiB upload | ${HWM[$label-upload]} | ${HWM[$label-upload-start]} | ${HWM[$label-upload-step]} |"
  echo "| $mib MiB run: after the $mib MiB receive (VmRSS then ${HWM[$label-end-rss]}) | ${HWM[$label-receive]} | ${HWM[$label-receive-start]} | ${HWM[$label-receive-step]} |"
}

write_report() {
  local send_m recv_m appr_m re_m rd_m cp_m
  send_m=$(median "${SEND_S[@]}"); recv_m=$(median "${RECV_S[@]}")
  appr_m=$(median "${APPROVE_S[@]}"); re_m=$(median "${RAGE_E_S[@]}")
  rd_m=$(median "${RAGE_D_S[@]}"); cp_m=$(median "${CP_S[@]}")
  {
    echo "## Sekisho transfer benchmark"
    echo
    echo "- $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (dirty tree)')"
    echo "- $(nproc) cores, load average at start $LOAD_AT_START; $BENCH_MIB MiB file ($BYTES bytes), $BENCH_RUNS runs, median; MB = 10^6 bytes"
    echo "- loopback HTTPS, release build of $BIN_BUILT_AT, SQLite, class II to one age recipient; $("$RAGE" --version | head -n1)"
    echo
    echo "| Step | runs (s) | median (s) | MB/s | client CPU s | gateway CPU s |"
    echo "|---|---|---|---|---|---|"
    echo "| sekisho send | $(runs_cell "${SEND_S[@]}") | $send_m | $(mbps "$BYTES" "$send_m") | $(median "${SEND_CL_CPU[@]}") | $(median "${SEND_GW_CPU[@]}") |"
    echo "| sekisho approve | $(runs_cell "${APPROVE_S[@]}") | $appr_m | - | - | - |"
    echo "| sekisho receive | $(runs_cell "${RECV_S[@]}") | $recv_m | $(mbps "$BYTES" "$recv_m") | $(median "${RECV_CL_CPU[@]}") | $(median "${RECV_GW_CPU[@]}") |"
    echo "| rage -e | $(runs_cell "${RAGE_E_S[@]}") | $re_m | $(mbps "$BYTES" "$re_m") | $(median "${RAGE_E_CPU[@]}") | - |"
    echo "| rage -d | $(runs_cell "${RAGE_D_S[@]}") | $rd_m | $(mbps "$BYTES" "$rd_m") | $(median "${RAGE_D_CPU[@]}") | - |"
    echo "| cp (disk, context) | $(runs_cell "${CP_S[@]}") | $cp_m | $(mbps "$BYTES" "$cp_m") | - | - |"
    echo
    echo "| Ratio (time) | value |"
    echo "|---|---|"
    echo "| send / rage -e | $(ratio "$send_m" "$re_m") |"
    echo "| receive / rage -d | $(ratio "$recv_m" "$rd_m") |"
    echo
    echo "| Gateway memory, fresh gateway per size | VmHWM MiB (cumulative) | VmRSS at step start MiB | peak during this step alone MiB |"
    echo "|---|---|---|---|"
    memory_rows main "$BENCH_MIB"
    if [ -n "${HWM[big-upload]:-}" ]; then
      memory_rows big "$BENCH_BIG_MIB"
      echo "| ($BENCH_BIG_MIB MiB, one run: send $(mbps "$BIG_BYTES" "${HWM[big-upload-s]}") MB/s, receive $(mbps "$BIG_BYTES" "${HWM[big-receive-s]}") MB/s) | | | |"
    else
      echo "| $BENCH_BIG_MIB MiB case | skipped: $BIG_SKIPPED | | |"
    fi
    echo
    echo "VmHWM is cumulative, so it includes the setup (logins hash passwords with argon2, 19 MiB each)."
    echo "The step column resets the peak (/proc/PID/clear_refs) to the RSS at step start: a step that"
    echo "needs no more memory than is already resident shows the same figure in both columns."
    echo
    echo "| Client memory | MiB |"
    echo "|---|---|"
    echo "| client max RSS, send (median) | $(median "${SEND_CL_RSS[@]}") |"
    echo "| client max RSS, receive (median) | $(median "${RECV_CL_RSS[@]}") |"
  } >"$REPORT"
  echo
  cat "$REPORT"
  log "written to $REPORT"
}

# ---------------------------------------------------------------------------
main() {
  command -v python3 >/dev/null || die "python3 is needed (TOTP codes, JSON answers)"
  [ -x /usr/bin/time ] || die "/usr/bin/time (GNU time) is needed for client CPU and RSS"
  LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
  mkdir -p "$ROOT/target/bench-tmp"
  WORK=$(mktemp -d "$ROOT/target/bench-tmp/run.XXXXXX")
  build_binaries
  ensure_rage
  [ "$BENCH_TOP" = 1 ] && : >"$TOP_LOG"

  # Decide about the large case before anything is written: it needs the
  # source file, the gateway's encrypted copy and the received copy at once.
  BIG_BYTES=$((BENCH_BIG_MIB * 1024 * 1024))
  BIG_SKIPPED=""
  if [ "$BENCH_BIG_MIB" -le 0 ]; then
    BIG_SKIPPED="BENCH_BIG_MIB=0"
  elif [ "$(free_gib "$WORK")" -lt "$BENCH_MIN_FREE_GIB" ]; then
    BIG_SKIPPED="only $(free_gib "$WORK") GiB free on $(df -P "$WORK" | awk 'NR == 2 { print $6 }'), $BENCH_MIN_FREE_GIB GiB needed"
    log "the $BENCH_BIG_MIB MiB case will be SKIPPED: $BIG_SKIPPED"
  fi

  FILE=$WORK/bench-$BENCH_MIB-MiB.bin
  BYTES=$((BENCH_MIB * 1024 * 1024))
  make_random_file "$FILE" "$BENCH_MIB"
  make_age_key

  phase_throughput
  phase_rage
  phase_memory main "$FILE"

  if [ -z "$BIG_SKIPPED" ]; then
    local big=$WORK/bench-$BENCH_BIG_MIB-MiB.bin
    make_big_file "$big" "$BENCH_BIG_MIB"
    phase_memory big "$big"
    rm -f "$big"
  fi

  write_report
}

# Run only when executed, so a profiling session can `source` this file and
# call the functions one by one.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then main "$@"; fi
