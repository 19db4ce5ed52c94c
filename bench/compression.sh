#!/usr/bin/env bash
# Compressed hits: a 2 KB and a 50 KB JSON hit served from the stored gzip
# and br variants, against the same hit of an uncompressed entry through
# tower-http's CompressionLayer (which compresses every response anew).
# One server process; each pair alternates for ROUNDS short runs; reports
# requests/s (wrk) and server CPU per request (/proc/<pid>/stat), medians
# and ratios.
#
#   bash bench/compression.sh            # about 4 minutes on 2 cores
#   ROUNDS=7 DURATION=5 bash bench/compression.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-4}
CONNS=${CONNS:-64}
PORT=${PORT:-18089}
OUT=${OUT:-target/bench-compression}
mkdir -p "$OUT"

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release -q -p cached-etag-benches --features compression --bin bench-server
BIN=${CARGO_TARGET_DIR:-target}/release/bench-server

"$BIN" "$PORT" >"$OUT/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
  curl -sf "$BASE/baseline/hello" >/dev/null && break
  sleep 0.1
done

TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
RESULTS="$OUT/results.tsv"
: >"$RESULTS"

# run NAME URL CODING: one wrk run asking for CODING; appends name, req/s,
# CPU µs/req.
run() {
  local name=$1 url=$2 coding=$3 before after out reqs rps
  before=$(cpu_ticks)
  out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" -H "Accept-Encoding: $coding" "$url")
  after=$(cpu_ticks)
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  if grep -q "Non-2xx" <<<"$out"; then
    echo "unexpected non-2xx answers in $name" >&2
  fi
  awk -v n="$name" -v r="$rps" -v t="$((after - before))" -v q="$reqs" -v k="$TCK" \
    'BEGIN { printf "%s\t%s\t%.3f\n", n, r, t * 1e6 / k / q }' >>"$RESULTS"
  printf '  %-22s %10s req/s\n' "$name" "$rps"
}

# Warm every entry and variant, and check each answer is what it claims.
for size in 2k 50k; do
  for coding in gzip br; do
    for side in stored layer; do
      headers=$(curl -s -o /dev/null -D - -H "Accept-Encoding: $coding" "$BASE/compress/$side/$size")
      grep -qi "^content-encoding: $coding" <<<"$headers" || {
        echo "$side/$size did not answer $coding" >&2
        exit 1
      }
    done
  done
  for side in stored layer; do
    echo "  $side/$size: $(curl -s -H 'Accept-Encoding: identity' "$BASE/compress/$side/$size" | wc -c) bytes," \
      "gzip $(curl -s -H 'Accept-Encoding: gzip' "$BASE/compress/$side/$size" | wc -c)," \
      "br $(curl -s -H 'Accept-Encoding: br' "$BASE/compress/$side/$size" | wc -c)"
  done
done

for _ in $(seq 1 "$ROUNDS"); do
  for size in 2k 50k; do
    for coding in gzip br; do
      run "stored/$coding/$size" "$BASE/compress/stored/$size" "$coding"
      run "layer/$coding/$size" "$BASE/compress/layer/$size" "$coding"
    done
  done
done

python3 - "$RESULTS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, rps, cpu = line.rstrip("\n").split("\t")
    rows.setdefault(name, []).append((float(rps), float(cpu)))
med = {k: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v)) for k, v in rows.items()}
print("\n| scenario | req/s (median) | server CPU µs/req (median) |\n|---|---:|---:|")
for k, (r, c) in med.items():
    print(f"| {k} | {r:,.0f} | {c:.1f} |")
print("\n| stored variant vs CompressionLayer | req/s | CPU/req |\n|---|---:|---:|")
for size in ("2k", "50k"):
    for coding in ("gzip", "br"):
        (rs, cs), (rl, cl) = med[f"stored/{coding}/{size}"], med[f"layer/{coding}/{size}"]
        print(f"| {size} {coding} | {rs / rl:.2f}x | {cs / cl:.3f}x |")
PY
