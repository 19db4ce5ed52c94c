#!/usr/bin/env bash
# HTTP benchmarks: each scenario beside its baseline, alternating A/B for
# several rounds in one server process, recording requests/s (wrk) and the
# server's CPU time per request (/proc/<pid>/stat), then medians and ratios.
#
#   bash bench/http.sh            # about 9 minutes on 2 cores
#   ROUNDS=5 DURATION=10 bash bench/http.sh
#   ONLY="1 8" bash bench/http.sh # only these scenarios
#
# Scenario 0 runs one endpoint against itself (A/A): how far its ratio, and
# each round's, is from 1.00 is the noise of this run, the floor under
# every other ratio.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
PORT=${PORT:-18088}
OUT=${OUT:-target/bench-http}
mkdir -p "$OUT"

if ! command -v wrk >/dev/null; then
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
cargo build --release -q -p cached-etag-benches --bin bench-server

target/release/bench-server "$PORT" >"$OUT/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
  curl -sf "$BASE/baseline/hello" >/dev/null && break
  sleep 0.1
done

TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }

# Unique keys per request, offset per run so rounds never repeat a key.
cat >"$OUT/unique.lua" <<'LUA'
local counter = 0
local base = os.time() * 1000000
request = function()
  counter = counter + 1
  -- %.0f: LuaJIT numbers are doubles, and `..` would print 1.7e+15.
  return wrk.format(nil, wrk.path .. "?id=" .. string.format("%.0f", base + counter))
end
LUA
# Uniformly random resident keys below N (set by env var KEYS).
cat >"$OUT/random.lua" <<'LUA'
local n = tonumber(os.getenv("KEYS"))
math.randomseed(os.time())
request = function()
  return wrk.format(nil, wrk.path .. "?id=" .. string.format("%d", math.random(0, n - 1)))
end
LUA

# want N: whether scenario N runs (all of them unless ONLY lists some).
want() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }

RESULTS="$OUT/results.tsv"
: >"$RESULTS"

# run NAME URL [wrk args...]: one wrk run; appends name, req/s, CPU µs/req.
run() {
  local name=$1 url=$2
  shift 2
  local before after out reqs rps
  before=$(cpu_ticks)
  out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "$@" "$url")
  after=$(cpu_ticks)
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  if grep -q "Non-2xx" <<<"$out" && [[ "$name" != *304* ]]; then
    echo "unexpected non-2xx answers in $name" >&2
    grep "Non-2xx" <<<"$out" >&2
  fi
  awk -v n="$name" -v r="$rps" -v t="$((after - before))" -v q="$reqs" -v k="$TCK" \
    'BEGIN { printf "%s\t%s\t%.3f\n", n, r, t * 1e6 / k / q }' >>"$RESULTS"
  printf '  %-28s %10s req/s\n' "$name" "$rps"
}

# pair A_NAME A_URL B_NAME B_URL [wrk args]: alternate A and B for ROUNDS.
pair() {
  local an=$1 au=$2 bn=$3 bu=$4
  shift 4
  for _ in $(seq 1 "$ROUNDS"); do
    run "$an" "$au" "$@"
    run "$bn" "$bu" "$@"
  done
}

# Warm the entries and read their validators.
for path in /cached/work /cached/composite /manual/work /handmade/work \
  /peer/axum-response-cache /peer/tower-http-cache; do
  curl -sf "$BASE$path" >/dev/null
done
ETAG=$(curl -si "$BASE/cached/work" | awk 'tolower($1) == "etag:" {print $2}' | tr -d '\r')
HANDMADE_ETAG=$(curl -si "$BASE/handmade/work" | awk 'tolower($1) == "etag:" {print $2}' | tr -d '\r')
echo "ETag of /cached/work: $ETAG"

if want 0; then
  echo "0. A/A: hello vs hello (the noise of this run)"
  pair "hello/a" "$BASE/baseline/hello" "hello/b" "$BASE/baseline/hello"
fi
if want 1; then
  echo "1. 304 vs hello"
  pair "304/cached_work" "$BASE/cached/work" "hello/baseline" "$BASE/baseline/hello" -H "If-None-Match: $ETAG"
fi
if want 2; then
  echo "2. hit vs static bytes"
  pair "hit/cached_work" "$BASE/cached/work" "static/baseline" "$BASE/baseline/static"
  echo "2b. hit vs static bytes with the hit's headers"
  pair "hit/cached_work#2b" "$BASE/cached/work" "static_headers/baseline" "$BASE/baseline/static-headers"
fi
if want 3; then
  echo "3. hit vs uncached work"
  pair "hit/cached_work#3" "$BASE/cached/work" "work/baseline" "$BASE/baseline/work"
fi
if want 4; then
  echo "4. macro vs hand-written"
  pair "hit/cached_work#4" "$BASE/cached/work" "hit/manual_work" "$BASE/manual/work"
  pair "hit/cached_composite" "$BASE/cached/composite" "hit/manual_work#4b" "$BASE/manual/work"
fi
if want 5; then
  echo "5. miss (unique keys) vs uncached work"
  pair "miss/cached_work" "$BASE/cached/work" "work/baseline#5" "$BASE/baseline/work" -s "$OUT/unique.lua"
fi

if want 7; then
  echo "7. peers: hits of other caches, and a cache written by hand with its 304"
  pair "hit/cached_work#7a" "$BASE/cached/work" "hit/axum_response_cache" "$BASE/peer/axum-response-cache"
  pair "hit/cached_work#7b" "$BASE/cached/work" "hit/tower_http_cache" "$BASE/peer/tower-http-cache"
  pair "hit/cached_work#7c" "$BASE/cached/work" "hit/handmade" "$BASE/handmade/work"
  # Each side's 304 with its own validator, alternating.
  for _ in $(seq 1 "$ROUNDS"); do
    run "304/cached_work#7d" "$BASE/cached/work" -H "If-None-Match: $ETAG"
    run "304/handmade" "$BASE/handmade/work" -H "If-None-Match: $HANDMADE_ETAG"
  done
fi

if want 8; then
  echo "8. stale hit vs fresh hit"
  # After its 1 s ttl every request finds the entry stale, beside the one
  # refresh that never finishes: each is a stale hit.
  curl -sf "$BASE/cached/stale" >/dev/null
  sleep 1.2
  pair "hit/cached_stale" "$BASE/cached/stale" "hit/cached_work#8" "$BASE/cached/work"
fi

if want 6; then
  echo "6. scale: 10k vs 1M resident entries"
  curl -sf "$BASE/admin/fill?n=0" >/dev/null
  RSS0=$(rss_kb)
  E0=$(curl -sf --max-time 600 "$BASE/admin/fill?n=10000")
  for _ in $(seq 1 "$ROUNDS"); do KEYS=10000 run "scale/10k" "$BASE/small" -s "$OUT/random.lua"; done
  RSS1=$(rss_kb)
  E1=$(curl -sf --max-time 600 "$BASE/admin/fill?n=1000000")
  RSS2=$(rss_kb)
  for _ in $(seq 1 "$ROUNDS"); do KEYS=1000000 run "scale/1M" "$BASE/small" -s "$OUT/random.lua"; done
  # A small entry's body is at most 7 bytes of JSON; its key is 60-70 bytes.
  KEY_BYTES=$(printf 'bench::small%s%s%s' GET "127.0.0.1:$PORT" "/small?id=500000" | wc -c)
  echo -e "rss\t$RSS0\t$E0\t$RSS1\t$E1\t$RSS2\t$KEY_BYTES" >>"$RESULTS"
fi

python3 - "$RESULTS" <<'PY'
import statistics, sys
rows, rss = {}, None
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[0] == "rss":
        rss = [float(x) for x in f[1:]]
        continue
    name = f[0].split("#")[0]
    rows.setdefault(name, []).append((float(f[1]), float(f[2])))
med = {k: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v)) for k, v in rows.items()}
print("\n| scenario | req/s (median) | server CPU µs/req (median) |\n|---|---:|---:|")
for k, (r, c) in med.items():
    print(f"| {k} | {r:,.0f} | {c:.2f} |")
def ratio(a, b, label, rps_target=None, cpu_target=None):
    if a not in med or b not in med:
        return
    (ra, ca), (rb, cb) = med[a], med[b]
    t = []
    if rps_target: t.append(f"target ≥ {rps_target}")
    if cpu_target: t.append(f"target ≤ {cpu_target}x")
    print(f"| {label} | {ra / rb:.2f} | {ca / cb:.2f}x | {', '.join(t)} |")
print("\n| ratio | req/s | CPU/req | target |\n|---|---:|---:|---|")
ratio("hello/a", "hello/b", "0. A/A: hello vs hello (noise)")
ratio("304/cached_work", "hello/baseline", "1. 304 vs hello", 0.95, 1.10)
ratio("hit/cached_work", "static/baseline", "2. hit vs static bytes", 0.95, 1.05)
ratio("hit/cached_work", "static_headers/baseline", "2b. hit vs static bytes with its headers", 0.96, 1.04)
ratio("hit/cached_work", "work/baseline", "3. hit vs uncached work")
ratio("hit/cached_work", "hit/manual_work", "4. macro vs hand-written", 0.98)
ratio("hit/cached_composite", "hit/manual_work", "4b. composite macro vs hand-written", 0.98)
ratio("miss/cached_work", "work/baseline", "5. miss vs uncached work", 0.95)
ratio("scale/1M", "scale/10k", "6. 1M vs 10k resident entries", None, 1.1)
ratio("hit/cached_work", "hit/axum_response_cache", "7a. hit vs axum-response-cache's hit", None, 1.0)
ratio("hit/cached_work", "hit/tower_http_cache", "7b. hit vs tower-http-cache's hit", None, 1.0)
ratio("hit/cached_work", "hit/handmade", "7c. hit vs a hand-written cache's hit")
ratio("304/cached_work", "304/handmade", "7d. 304 vs a hand-written cache's 304", None, 1.0)
ratio("304/handmade", "hello/baseline", "7e. the hand-written 304 vs hello")
ratio("hit/cached_stale", "hit/cached_work", "8. stale hit vs fresh hit", None, 1.0)
if rss:
    rss0, e0, rss1, e1, rss2, key = rss
    per = (rss2 - rss1) * 1024 / (e1 - e0)
    print(f"\nResident memory per entry (RSS growth over {int(e1 - e0):,} entries): {per:.0f} bytes, "
          f"of which key ≈ {key:.0f} and body ≤ 7: {per - key - 7:.0f} bytes beyond body and key (target ≤ 200).")
PY
