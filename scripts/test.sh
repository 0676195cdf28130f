#!/usr/bin/env bash
# The one command that runs every test, on a fresh machine too:
#   scripts/test.sh
# It installs what is missing (Debian packages, the pinned Rust toolchain's
# name, cargo-deny, cargo-fuzz, rage, Garage), checks formatting, lints and the supply
# chain, runs every fuzz target for 20 s, starts a throwaway PostgreSQL
# cluster and a throwaway Garage (S3-compatible), and runs the suite three
# times: against the embedded SQLite, against that PostgreSQL, and against
# PostgreSQL with the objects in Garage. Under CI (CI set), anything
# missing is a failure, never a skip. When everything is present it prints
# only the checks' and the tests' own output.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
fail() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# A scratch folder for install logs, shown only when an install fails.
WORK=$(mktemp -d /tmp/sekisho-test.XXXXXX)
cleanup_work() {
  # A background install still running (the script failed before the
  # object-storage run) goes too: its own process group, rustc included.
  if [ -n "${GARAGE_INSTALL_PID:-}" ]; then kill -- "-$GARAGE_INSTALL_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup_work EXIT

# Runs a command, quietly; on failure prints what it said and returns 1.
quietly() {
  local out="$WORK/out.log"
  if "$@" >"$out" 2>&1; then return 0; fi
  tail -n 40 "$out" >&2
  return 1
}

# --- Debian packages ------------------------------------------------------
# What the build and the tests use: a C compiler and pkg-config (aws-lc-sys,
# libsqlite3-sys), the PostgreSQL server (binaries in
# /usr/lib/postgresql/*/bin), the `age` CLI (a test opens packages with it),
# ssh-keygen (SSH recipients) and clamd (the scanner's tests write their own
# signatures: Debian ships none and freshclam has no network here), and
# Python 3 for the mail tests' SMTP server, and Chromium with chromedriver
# for the web console's browser tests (fonts-noto-cjk so Japanese pages
# render as glyphs, not boxes, when a failing test takes a screenshot).
DEBIAN_PACKAGES=(build-essential pkg-config postgresql age openssh-client clamav-daemon python3
  chromium chromium-driver fonts-noto-cjk)

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@" # -n: never wait for a password; CI has no terminal
  else
    echo "not root and no sudo" >&2
    return 1
  fi
}

apt_install() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

apt_update() {
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
}

install_debian_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "warning: not a Debian system; make sure these are installed: ${DEBIAN_PACKAGES[*]}" >&2
    return 0
  fi
  local missing=() pkg
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]; then
      missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  # A fresh machine has no package lists yet (only compressed *_Packages.*
  # files count); an install can also fail on lists that went stale.
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    quietly apt_update || fail "apt-get update failed"
  fi
  if ! quietly apt_install "${missing[@]}"; then
    quietly apt_update || fail "apt-get update failed"
    quietly apt_install "${missing[@]}" ||
      fail "could not install ${missing[*]}; run: sudo apt-get install ${missing[*]}"
  fi
}

# --- Python packages ------------------------------------------------------
# aiosmtpd: the real SMTP server the mail tests send to (tests/src/smtp.rs).
# Pinned; from PyPI through pip. Debian's own Python refuses pip installs
# into the system (PEP 668), so there it goes to the user's site folder.
AIOSMTPD_VERSION=1.4.6

ensure_aiosmtpd() {
  local python=${SEKISHO_TEST_PYTHON:-python3}
  if "$python" -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$AIOSMTPD_VERSION')" 2>/dev/null; then
    return 0
  fi
  log "installing aiosmtpd $AIOSMTPD_VERSION from PyPI (the mail tests' SMTP server)"
  if ! "$python" -m pip --version >/dev/null 2>&1; then
    quietly apt_install python3-pip || fail "pip is missing; run: sudo apt-get install python3-pip"
  fi
  quietly "$python" -m pip install -q "aiosmtpd==$AIOSMTPD_VERSION" ||
    quietly "$python" -m pip install -q --user --break-system-packages "aiosmtpd==$AIOSMTPD_VERSION" ||
    fail "could not install aiosmtpd; run: $python -m pip install aiosmtpd==$AIOSMTPD_VERSION"
}

# --- Garage ---------------------------------------------------------------
# Garage: the real S3-compatible server the object-storage tests talk to,
# started per run by scripts/garage.sh. A test tool only (AGPL), never linked
# into Sekisho. Pinned; built from crates.io without the default sqlite,
# metrics and k2v features, which a single-node S3 test server does not use
# (22 fewer crates); garage.sh therefore uses the lmdb engine. About 8 min
# (13 CPU-minutes) to install on a two-core machine, once.
GARAGE_VERSION=2.5.0

GARAGE_INSTALL_PID=

# Installs in the background at the lowest priority: the install takes
# CPU the checks and the first two runs leave idle (the end-to-end suites
# keep about one core busy), so on a fresh machine it costs little wall
# time. The object-storage run waits for it (wait_for_garage).
start_garage_install() {
  local garage
  garage=$(command -v garage || echo "${CARGO_HOME:-$HOME/.cargo}/bin/garage")
  # Prints e.g. "garage cargo:2.5.0 [features: bundled-libs, lmdb]".
  case "$("$garage" --version 2>/dev/null)" in
  "garage "*[:v]"$GARAGE_VERSION ["*lmdb*) return 0 ;; # cargo:2.5.0 or git:v2.5.0
  esac
  log "installing garage $GARAGE_VERSION from crates.io in the background (the S3 server of the object-storage run)"
  # setsid: a process group of its own, so cleanup_work can stop all of it.
  setsid nice -n 19 cargo install --locked garage --version "$GARAGE_VERSION" \
    --no-default-features --features bundled-libs,lmdb >"$WORK/garage-install.log" 2>&1 &
  GARAGE_INSTALL_PID=$!
}

wait_for_garage() {
  [ -n "$GARAGE_INSTALL_PID" ] || return 0
  if ! wait "$GARAGE_INSTALL_PID"; then
    tail -n 40 "$WORK/garage-install.log" >&2
    fail "could not install garage; run: cargo install --locked garage --version $GARAGE_VERSION --no-default-features --features bundled-libs,lmdb"
  fi
  GARAGE_INSTALL_PID=
}

# --- Rust toolchain -------------------------------------------------------
# rust-toolchain.toml pins the exact release. A machine's rustup may know
# that release only as `stable` and cannot download it again (no network):
# then it is registered under the pinned name, offline, by linking the same
# folder. That is what `rustup toolchain link` would do, but rustup refuses
# link names that look like releases.
ensure_toolchain() {
  command -v rustup >/dev/null 2>&1 || return 0 # plain cargo ignores the file
  local channel home dir host version
  channel=$(sed -n 's/^channel *= *"\([^"]*\)".*/\1/p' rust-toolchain.toml)
  [ -n "$channel" ] || fail "rust-toolchain.toml names no channel"
  case $'\n'"$(rustup toolchain list)" in *$'\n'"$channel-"*) return 0 ;; esac
  home=${RUSTUP_HOME:-$HOME/.rustup}
  for dir in "$home"/toolchains/*; do
    [ -x "$dir/bin/rustc" ] || continue
    version=$("$dir/bin/rustc" -vV 2>/dev/null || true)
    if [[ $'\n'"$version"$'\n' == *$'\n'"release: $channel"$'\n'* ]]; then
      host=$(sed -n 's/^host: //p' <<<"$version")
      log "registering the installed Rust $channel ($(basename "$dir")) as $channel-$host"
      ln -s "$dir" "$home/toolchains/$channel-$host"
      return 0
    fi
  done
  log "installing Rust $channel with rustup"
  quietly rustup toolchain install "$channel" --profile minimal -c rustfmt -c clippy ||
    fail "Rust $channel (rust-toolchain.toml) is not installed and could not be fetched; install it, or pin the installed release (rustc +stable --version)"
}

# --- cargo-deny -----------------------------------------------------------
# Pinned: deny.toml's keys change between releases. From crates.io, once per
# machine: about 330 CPU-seconds of compiling (5 minutes on 2 idle
# cores, 20 while other builds share them).
CARGO_DENY_VERSION=0.20.2

ensure_cargo_deny() {
  if [ "$(cargo deny --version 2>/dev/null)" = "cargo-deny $CARGO_DENY_VERSION" ]; then return 0; fi
  log "installing cargo-deny $CARGO_DENY_VERSION from crates.io (once per machine)"
  quietly cargo install --locked --version "$CARGO_DENY_VERSION" cargo-deny ||
    fail "could not install cargo-deny; run: cargo install --locked --version $CARGO_DENY_VERSION cargo-deny"
}

# --- cargo-fuzz -----------------------------------------------------------
# Pinned like cargo-deny. Its flags (sanitizer coverage) need a nightly
# compiler; the pinned stable one accepts them with RUSTC_BOOTSTRAP=1, which
# is set only for the fuzz build below. About 40 CPU-seconds to install.
CARGO_FUZZ_VERSION=0.13.1

ensure_cargo_fuzz() {
  if [ "$(cargo fuzz --version 2>/dev/null)" = "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then return 0; fi
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION from crates.io (once per machine)"
  quietly cargo install --locked --version "$CARGO_FUZZ_VERSION" cargo-fuzz ||
    fail "could not install cargo-fuzz; run: cargo install --locked --version $CARGO_FUZZ_VERSION cargo-fuzz"
}

# --- rage -----------------------------------------------------------------
# 2.(2)⑦(ア): a test opens packages with rage (the age crate's own CLI) as
# well as Debian's Go `age`. Debian has no rage package; the version is the
# age crate's, pinned like the tools above. About 150 CPU-seconds to install.
RAGE_VERSION=0.12.1

ensure_rage() {
  if [ "$(rage --version 2>/dev/null)" = "rage $RAGE_VERSION" ]; then return 0; fi
  log "installing rage $RAGE_VERSION from crates.io (once per machine)"
  quietly cargo install --locked --version "$RAGE_VERSION" rage ||
    fail "could not install rage; run: cargo install --locked --version $RAGE_VERSION rage"
}

# Every target in fuzz/ runs for FUZZ_SECONDS (default 20) from its seed
# corpus in fuzz/corpus/<target>. New inputs go to a scratch folder, so the
# run never changes the repository; a crash fails the run and leaves the
# input in fuzz/artifacts/<target>/ with the command that replays it.
fuzz_targets() {
  local seconds=${FUZZ_SECONDS:-20} target scratch out
  cargo fmt --manifest-path fuzz/Cargo.toml -- --check
  cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings
  quietly env RUSTC_BOOTSTRAP=1 cargo fuzz build --fuzz-dir fuzz ||
    fail "the fuzz targets do not build; run: RUSTC_BOOTSTRAP=1 cargo fuzz build"
  for target in $(cargo fuzz list --fuzz-dir fuzz); do
    scratch="$WORK/fuzz-corpus/$target"
    out="$WORK/fuzz-$target.log"
    mkdir -p "$scratch"
    if ! env TMPDIR="$WORK" RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz "$target" "$scratch" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" >"$out" 2>&1; then
      tail -n 40 "$out" >&2
      fail "fuzz target $target crashed; the input is in fuzz/artifacts/$target/ (replay: RUSTC_BOOTSTRAP=1 cargo fuzz run $target fuzz/artifacts/$target/FILE)"
    fi
    echo "fuzz $target: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$out" | tail -n 1), no crash"
  done
}

# Licences, bans and sources need no network. The advisory database is a
# git clone from GitHub, which this machine and CI cannot reach, so it is
# checked only where a clone already exists (see deny.toml).
supply_chain_checks() {
  # cargo-deny reads the whole lock file, other platforms' crates included
  # (windows-sys and the like), which a Linux build never downloads.
  quietly cargo fetch --locked || fail "cargo fetch --locked failed; is crates.io reachable?"
  cargo deny --offline --locked check licenses bans sources
  local dbs=${CARGO_HOME:-$HOME/.cargo}/advisory-dbs
  if compgen -G "$dbs/*/.git" >/dev/null; then
    cargo deny --offline --locked check advisories
  else
    echo "note: advisories not checked: no RustSec database in $dbs (\`cargo deny fetch\` where GitHub is reachable)"
  fi
}

install_debian_packages
ensure_aiosmtpd
ensure_toolchain
start_garage_install
ensure_cargo_deny
ensure_cargo_fuzz
ensure_rage

log "checks: formatting, lints and the supply chain"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
supply_chain_checks

log "fuzzing: every target in fuzz/ for ${FUZZ_SECONDS:-20} s"
fuzz_targets

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
  cleanup_work
}
trap stop_pg EXIT

start_pg() {
  [ -x "$PG_BIN/initdb" ] || {
    echo "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin)" >&2
    return 1
  }
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

# --- PostgreSQL plus object storage: a throwaway Garage -------------------
GARAGE_DIR=$PG_DIR/garage
stop_all() {
  scripts/garage.sh stop "$GARAGE_DIR" >/dev/null 2>&1 || true
  stop_pg
}
trap stop_all EXIT

# What this run leaves out, and why (each runs in the two runs above):
# - backup: `sekisho-gateway backup` covers the embedded deployment and
#   refuses another [store] (README: "Several gateways, object storage");
# - a full disk: the store is not on a local disk;
# - leftovers removed at start-up and the crash loop: on a shared store
#   (S3 is one) recovery leaves young files to the replica that may be
#   writing them (store.recovery_grace_minutes, at least a minute), so a
#   restart seconds later rightly keeps them.
S3_SKIPS=(
  --skip backup_
  --skip a_full_disk_refuses_writes
  --skip crash_after_upload_keeps_the_database_and_store_in_agreement
  --skip killed_at_random_moments
)

if [ -f "$PG_DIR/data/postmaster.pid" ]; then
  wait_for_garage
  scripts/garage.sh start "$GARAGE_DIR" || fail "Garage could not be started (scripts/garage.sh start DIR shows why)"
  # shellcheck source=/dev/null
  . "$GARAGE_DIR/env"
  log "end-to-end tests against PostgreSQL and S3 object storage (Garage at $SEKISHO_TEST_S3_ENDPOINT)"
  SEKISHO_TEST_STORE=s3 SEKISHO_TEST_DATABASE="postgres://postgres@127.0.0.1:$PG_PORT/postgres" \
    cargo test -p sekisho-e2e --no-fail-fast -- --test-threads "${TEST_THREADS:-4}" "${S3_SKIPS[@]}"
fi
log "all tests passed"
