# Shared by the benchmark scripts (sourced, not run): cleanup of what a
# benchmark starts, the release binaries, TOTP codes for the gateway's
# moved clock, process measurements, and one gateway with its people.
# The sourcing script sets ROOT, HELPERS and BENCH_SKIP_BUILD first; a
# function `before_serve DATA_DIR`, when it defines one, runs between
# `init` and `serve` (to adjust sekisho.toml).

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------
# Cleanup: every process this script starts is recorded here and killed on
# exit, whatever the exit path; the work directory goes with it.
# ---------------------------------------------------------------------------
STARTED_PIDS=()
WORK=""

cleanup() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then rm -rf "$WORK"; fi
  rmdir "$ROOT/target/bench-tmp" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------
# The binaries are copied into the work directory so that a rebuild of the
# workspace during the (long) run cannot swap them halfway through.
build_binaries() {
  local built=$ROOT/target/release
  if [ "$BENCH_SKIP_BUILD" = 1 ]; then
    log "BENCH_SKIP_BUILD=1: using the release binaries already in $built"
  else
    log "building release binaries"
    cargo build --release --bins >&2
  fi
  [ -x "$built/sekisho" ] && [ -x "$built/sekisho-gateway" ] || die "release binaries missing in $built"
  BIN=$WORK/bin
  mkdir -p "$BIN"
  cp "$built/sekisho" "$built/sekisho-gateway" "$BIN/"
  BIN_BUILT_AT=$(date -u -r "$built/sekisho-gateway" +%FT%TZ)
}


# A fresh TOTP code for the gateway's clock (system time + our offset).
totp_code() {
  local secret=$1 at=$2
  if command -v oathtool >/dev/null 2>&1; then
    oathtool --totp -b --now "@$at" "$secret"
  else
    python3 "$HELPERS/totp.py" "$secret" "$at"
  fi
}

json_get() { python3 "$HELPERS/jget.py" "$1"; }

# ---------------------------------------------------------------------------
# Measurement helpers
# ---------------------------------------------------------------------------
now_ns() { date +%s%N; }

# CPU seconds (user+system) a process has used so far; 0 if it is gone.
proc_cpu_seconds() {
  local pid=$1 stat rest
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || { echo 0; return; }
  rest=${stat##*) }   # the command name may contain spaces; skip past it
  # After the name, field 3 is the state; utime and stime are fields 14, 15.
  awk -v tck="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / tck }' <<<"$rest"
}

# Peak (VmHWM) and current (VmRSS) resident set size of a process, in MiB.
vm_hwm_mib() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
vm_rss_mib() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# Lowers VmHWM to the current RSS (Linux >= 4.0, own process), so the next
# reading is the peak of one step alone. Returns non-zero when not allowed.
reset_hwm() { echo 5 2>/dev/null >"/proc/$1/clear_refs"; }


# ---------------------------------------------------------------------------
# Gateway lifecycle. One gateway at a time; its state lives in GW_* globals.
# ---------------------------------------------------------------------------
declare -A PASSWORD SECRET HOME_DIR

# The gateway accepts each 30-second TOTP step only once per user, so every
# code is made for a new step: the clock file moves 30 s forward first.
# The code is left in OTP rather than printed, because a $(...) subshell
# would lose the new offset.
CLOCK_OFFSET=0
fresh_otp() {
  CLOCK_OFFSET=$((CLOCK_OFFSET + 30))
  echo "$CLOCK_OFFSET" >"$GW_DIR/clock-offset.tmp"
  mv "$GW_DIR/clock-offset.tmp" "$GW_DIR/clock-offset"   # atomic for the reader
  OTP=$(totp_code "$1" $(($(date +%s) + CLOCK_OFFSET)))
}

start_gateway() {
  local name=$1 init line deadline
  GW_DIR=$WORK/$name
  mkdir -p "$GW_DIR"
  CLOCK_OFFSET=0
  echo 0 >"$GW_DIR/clock-offset"
  init=$("$BIN/sekisho-gateway" init --json --dir "$GW_DIR/data") || die "gateway init failed"
  GW_CA=$(json_get ca_file <<<"$init")
  ADMIN=$(json_get admin.username <<<"$init")
  PASSWORD[$ADMIN]=$(json_get admin.temporary_password <<<"$init")
  SECRET[$ADMIN]=$(json_get admin.totp_secret <<<"$init")
  HOME_DIR[$ADMIN]=$GW_DIR/home-$ADMIN
  mkdir -p "${HOME_DIR[$ADMIN]}"
  if declare -F before_serve >/dev/null; then before_serve "$GW_DIR/data"; fi

  SEKISHO_DANGER_CLOCK_OFFSET_FILE=$GW_DIR/clock-offset \
    SEKISHO_LOG=info,tower_http=warn,sqlx=warn \
    "$BIN/sekisho-gateway" serve --listen 127.0.0.1:0 --public-listen 127.0.0.1:0 \
    --dir "$GW_DIR/data" >"$GW_DIR/stdout.log" 2>"$GW_DIR/stderr.log" </dev/null &
  GW_PID=$!
  STARTED_PIDS+=("$GW_PID")

  deadline=$((SECONDS + 30))
  until line=$(grep -m1 '^sekisho-gateway listening' "$GW_DIR/stdout.log" 2>/dev/null); do
    if ! kill -0 "$GW_PID" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      cat "$GW_DIR/stderr.log" >&2
      die "the gateway did not start"
    fi
    sleep 0.2
  done
  GW_URL=$(grep -o 'internal=[^ ]*' <<<"$line" | cut -d= -f2-)
  GW_PUBLIC_URL=$(grep -o 'public=[^ ]*' <<<"$line" | cut -d= -f2-)
  log "gateway $name up (pid $GW_PID, $GW_URL)"
}

stop_gateway() {
  kill "$GW_PID" 2>/dev/null || true
  wait "$GW_PID" 2>/dev/null || true
  GW_PID=""
  rm -rf "$GW_DIR"   # its blob store holds gigabytes
}

# The client command line as one user would run it (their own home, which
# holds their session), left in CLIENT so it can be run plain or `timed`.
client_as() {
  local user=$1
  CLIENT=(env -u SEKISHO_PASSPHRASE
    SEKISHO_GATEWAY="$GW_URL" SEKISHO_CA="$GW_CA"
    SEKISHO_HOME="${HOME_DIR[$user]}" SEKISHO_PASSWORD="${PASSWORD[$user]}"
    "$BIN/sekisho")
}

# The client as someone outside: only the CA, no gateway, no session.
client_outsider() {
  CLIENT=(env -u SEKISHO_PASSPHRASE SEKISHO_CA="$GW_CA" SEKISHO_HOME="$GW_DIR/home-outside"
    "$BIN/sekisho")
}

cli_as() {
  client_as "$1"; shift
  "${CLIENT[@]}" "$@" </dev/null
}

login() {
  local user=$1
  fresh_otp "${SECRET[$user]}"
  cli_as "$user" login --user "$user" --otp "$OTP" >/dev/null \
    || die "login as $user failed"
}

# First login with the temporary password, change it, log in again.
activate() {
  local user=$1
  login "$user"
  SEKISHO_NEW_PASSWORD="$user-Bench-Pass-9" cli_as "$user" password >/dev/null \
    || die "password change for $user failed"
  PASSWORD[$user]="$user-Bench-Pass-9"
  login "$user"
}

add_user() {
  local user=$1 role=$2 created
  created=$(cli_as "$ADMIN" --json admin user add "$user" --role "$role") || die "user add $user failed"
  PASSWORD[$user]=$(json_get temporary_password <<<"$created")
  SECRET[$user]=$(json_get totp_secret <<<"$created")
  HOME_DIR[$user]=$GW_DIR/home-$user
  mkdir -p "${HOME_DIR[$user]}"
  activate "$user"
}

