#!/usr/bin/env bash
# The project's test command (README and CI): installs the real programs the
# tests drive when they are missing (curl, Chromium, Redis, PostgreSQL),
# starts a throwaway Redis and a throwaway PostgreSQL cluster, then runs every test of every crate with every feature.
# Tests that need one of these programs fail, never skip, without it.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- system packages ----------------------------------------------------------
missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "installing: ${missing[*]}"
  "${sudo[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "${missing[@]}"
fi

# What to stop on exit, in order.
cleanup=()
trap 'for step in "${cleanup[@]}"; do eval "$step"; done' EXIT

# --- Redis, for the Redis store's tests ------------------------------------
# A server of our own on port 6390, without persistence, stopped on exit.
# Set CACHED_ETAG_REDIS_URL beforehand to use another server instead.
if [ -z "${CACHED_ETAG_REDIS_URL:-}" ]; then
  redis_port=6390
  if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes
    cleanup+=('redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true')
    for _ in $(seq 50); do
      redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
    redis-cli -p "$redis_port" ping >/dev/null
  fi
  export CACHED_ETAG_REDIS_URL="redis://127.0.0.1:$redis_port"
fi

# --- PostgreSQL, for the LISTEN/NOTIFY source's tests -------------------------
# A throwaway cluster in a temp dir, on the first free port from 6391, trust
# auth on 127.0.0.1 only, no fsync, stopped and removed on exit. initdb and
# postgres refuse to run as root: as root they run as the `postgres` user
# the Debian package creates, owning the data directory.
# Set CACHED_ETAG_POSTGRES_URL beforehand to use another server instead.
if [ -z "${CACHED_ETAG_POSTGRES_URL:-}" ]; then
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  pg_dir="$(mktemp -d /tmp/cached-etag-pg.XXXXXX)"
  as_pg=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$pg_dir"
    as_pg=(runuser -u postgres --)
  fi
  "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=trust \
    --encoding=UTF8 --no-sync >"$pg_dir/initdb.log" 2>&1 \
    || { cat "$pg_dir/initdb.log"; exit 1; }
  pg_port=6391
  # pg_isready exits 2 when nothing answers on the port.
  while "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; [ $? -ne 2 ]; do pg_port=$((pg_port + 1)); done
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -s \
    -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start \
    || { cat "$pg_dir/server.log"; exit 1; }
  cleanup+=('"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -s stop || true; rm -rf "$pg_dir"')
  export CACHED_ETAG_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
fi

# --- tests -------------------------------------------------------------------
# --no-fail-fast: one failing test binary does not hide the others.
cargo test --workspace --all-features --no-fail-fast

# --- model checks ---------------------------------------------------------------
# The invalidation fence and single flight over their interleavings (loom), in
# a target dir of its own: the cfg flag would otherwise rebuild everything
# above. Schedules with at most LOOM_MAX_PREEMPTIONS forced thread switches
# (4: about 15 s); a longer bound by hand, see README's contributing section.
RUSTFLAGS="--cfg cached_etag_loom" CARGO_TARGET_DIR=target/loom \
  LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-4}" \
  cargo test -p cached-etag-runtime --lib loom

# --- fuzz smoke -------------------------------------------------------------------
# Every fuzz target for a few seconds (FUZZ_SECS each): a parser that panics on
# some input fails here. Longer runs by hand, see README's contributing section.
# cargo-fuzz wants nightly flags, which RUSTC_BOOTSTRAP lets the stable
# toolchain take.
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
(
  cd fuzz
  for target in header_parsers request_key store_codec macro_args; do
    RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" -- -max_total_time="${FUZZ_SECS:-15}"
  done
)
