#!/usr/bin/env bash
# Compile cost to a user: a clean debug build of an axum hello-world, with
# and without cached-etag (default features, one annotated handler),
# alternating, ROUNDS times each (default 3), each from an empty target
# dir. Prints every build's seconds, the medians and their difference.
#
#   bash bench/compile.sh
#   ROUNDS=5 bash bench/compile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
ROUNDS=${ROUNDS:-3}
work=$(mktemp -d /tmp/cached-etag-compile.XXXXXX)
trap 'rm -rf "$work"' EXIT

project() {
  local name=$1 with=$2
  mkdir -p "$work/$name/src"
  {
    cat <<TOML
[package]
name = "$name"
version = "0.0.0"
edition = "2024"
publish = false

[workspace]

[dependencies]
axum = "0.8"
tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
TOML
    [ "$with" = yes ] && echo "cached-etag = { path = \"$repo\" }"
  } >"$work/$name/Cargo.toml"
  if [ "$with" = yes ]; then
    cat >"$work/$name/src/main.rs" <<'RS'
use axum::{Extension, Router, routing::get};
use cached_etag::cached_etag;

#[cached_etag(ttl = 60)]
async fn hello() -> &'static str {
    "Hello, world!"
}

#[tokio::main]
async fn main() {
    let app = Router::new()
        .route("/", get(hello))
        .layer(Extension(cached_etag::Cache::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    axum::serve(listener, app).await.unwrap();
}
RS
  else
    cat >"$work/$name/src/main.rs" <<'RS'
use axum::{Router, routing::get};

async fn hello() -> &'static str {
    "Hello, world!"
}

#[tokio::main]
async fn main() {
    let app = Router::new().route("/", get(hello));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    axum::serve(listener, app).await.unwrap();
}
RS
  fi
  # Resolve and download once, outside the timed builds.
  (cd "$work/$name" && cargo fetch -q)
}

project plain no
project cached yes

build() {
  local name=$1 start end
  rm -rf "$work/$name/target"
  start=$(date +%s.%N)
  (cd "$work/$name" && cargo build -q)
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'
}

plain=() cached=()
for round in $(seq 1 "$ROUNDS"); do
  p=$(build plain)
  c=$(build cached)
  plain+=("$p") cached+=("$c")
  printf 'round %d: plain %.1f s, with cached-etag %.1f s\n' "$round" "$p" "$c"
done

python3 - "${plain[*]}" "${cached[*]}" <<'PY'
import statistics, sys
plain = [float(x) for x in sys.argv[1].split()]
cached = [float(x) for x in sys.argv[2].split()]
p, c = statistics.median(plain), statistics.median(cached)
print(f"median: plain {p:.1f} s, with cached-etag {c:.1f} s: +{c - p:.1f} s (aim: at most about +5 s)")
PY
