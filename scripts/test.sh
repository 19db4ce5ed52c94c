#!/usr/bin/env bash
# The project's test command (README and CI): installs the real programs the
# tests drive when they are missing (curl, Chromium, Redis), starts a
# throwaway Redis, then runs every test of every crate with every feature.
# Tests that need one of these programs fail, never skip, without it.
set -euo pipefail
cd "$(dirname "$0")/.."

# --- system packages ----------------------------------------------------------
missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "installing: ${missing[*]}"
  "${sudo[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y "${missing[@]}"
fi

# --- Redis, for the Redis store's tests ------------------------------------
# A server of our own on port 6390, without persistence, stopped on exit.
# Set CACHED_ETAG_REDIS_URL beforehand to use another server instead.
if [ -z "${CACHED_ETAG_REDIS_URL:-}" ]; then
  redis_port=6390
  if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes
    trap 'redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true' EXIT
    for _ in $(seq 50); do
      redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
      sleep 0.1
    done
    redis-cli -p "$redis_port" ping >/dev/null
  fi
  export CACHED_ETAG_REDIS_URL="redis://127.0.0.1:$redis_port"
fi

# --- tests -------------------------------------------------------------------
# --no-fail-fast: one failing test binary does not hide the others.
cargo test --workspace --all-features --no-fail-fast

# --- model checks ---------------------------------------------------------------
# The invalidation fence over every interleaving (loom), in a target dir of its
# own: the cfg flag would otherwise rebuild everything above.
RUSTFLAGS="--cfg cached_etag_loom" CARGO_TARGET_DIR=target/loom \
  cargo test -p cached-etag-runtime --lib loom
