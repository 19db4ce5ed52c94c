#!/usr/bin/env bash
# Old against new: two bench-server binaries side by side, the same
# scenarios alternating between them for several rounds, server CPU per
# request from /proc/<pid>/stat, medians and new/old ratios.
#
#   bash bench/ab.sh OLD_BIN NEW_BIN      # e.g. a worktree's target/release/bench-server
#   ROUNDS=8 DURATION=5 bash bench/ab.sh old/bench-server target/release/bench-server
#   SCENARIOS="miss work" bash bench/ab.sh OLD NEW   # a subset, or others:
#     hit, 304, static, hello (the default); miss (unique keys), work (uncached);
#     the peers' misses on the same unique keys: miss-tower (tower-http-cache,
#     moka, 10,000 entries like ours), miss-arc (axum-response-cache),
#     miss-hand (the hand-written map, unbounded)
set -euo pipefail
OLD=$1 NEW=$2
ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
OUT=${OUT:-target/bench-ab}
mkdir -p "$OUT"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

"$OLD" 18091 >"$OUT/old.log" 2>&1 &
OLD_PID=$!
"$NEW" 18092 >"$OUT/new.log" 2>&1 &
NEW_PID=$!
trap 'kill $OLD_PID $NEW_PID 2>/dev/null || true' EXIT
for port in 18091 18092; do
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/baseline/hello" >/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/cached/work" >/dev/null
done
SCENARIOS=${SCENARIOS:-hit 304 static hello}
# Unique keys per request, offset per run so rounds never repeat a key.
cat >"$OUT/unique.lua" <<'LUA'
local counter = 0
local base = os.time() * 1000000 + math.random(0, 999) * 1000
request = function()
  counter = counter + 1
  return wrk.format(nil, wrk.path .. "?id=" .. string.format("%.0f", base + counter))
end
LUA
TCK=$(getconf CLK_TCK)
RESULTS="$OUT/results.tsv"
: >"$RESULTS"

# run SIDE PID PORT NAME PATH [wrk args]
run() {
  local side=$1 pid=$2 port=$3 name=$4 path=$5
  shift 5
  local before after out reqs rps
  before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "$@" "http://127.0.0.1:$port$path")
  after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  awk -v s="$side" -v n="$name" -v r="$rps" -v t="$((after - before))" -v q="$reqs" -v k="$TCK" \
    'BEGIN { printf "%s\t%s\t%s\t%.3f\n", s, n, r, t * 1e6 / k / q }' >>"$RESULTS"
}

for round in $(seq 1 "$ROUNDS"); do
  echo "round $round"
  for side in old new; do
    if [ $side = old ]; then pid=$OLD_PID port=18091; else pid=$NEW_PID port=18092; fi
    etag=$(curl -si "http://127.0.0.1:$port/cached/work" | awk 'tolower($1) == "etag:" {print $2}' | tr -d '\r')
    for scenario in $SCENARIOS; do
      case $scenario in
        hit) run $side $pid $port hit /cached/work ;;
        304) run $side $pid $port 304 /cached/work -H "If-None-Match: $etag" ;;
        static) run $side $pid $port static /baseline/static ;;
        hello) run $side $pid $port hello /baseline/hello ;;
        miss) run $side $pid $port miss /cached/work -s "$OUT/unique.lua" ;;
        work) run $side $pid $port work /baseline/work ;;
        miss-tower) run $side $pid $port miss-tower /peer/tower-http-cache -s "$OUT/unique.lua" ;;
        miss-arc) run $side $pid $port miss-arc /peer/axum-response-cache -s "$OUT/unique.lua" ;;
        miss-hand) run $side $pid $port miss-hand /handmade/work -s "$OUT/unique.lua" ;;
      esac
    done
  done
done

python3 - "$RESULTS" "$SCENARIOS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    side, name, rps, cpu = line.split("\t")
    rows.setdefault((side, name), []).append((float(rps), float(cpu)))
med = {k: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v)) for k, v in rows.items()}
print("| scenario | old req/s | new req/s | old CPU µs/req | new CPU µs/req | new/old CPU |")
print("|---|---:|---:|---:|---:|---:|")
names = sys.argv[2].split()
for name in names:
    (ro, co), (rn, cn) = med[("old", name)], med[("new", name)]
    print(f"| {name} | {ro:,.0f} | {rn:,.0f} | {co:.2f} | {cn:.2f} | {cn / co:.3f} |")
pairs = [("hit", "static"), ("304", "hello"), ("miss", "work"),
         ("miss-tower", "work"), ("miss-arc", "work"), ("miss-hand", "work"),
         ("miss", "miss-tower"), ("miss", "miss-arc")]
for side in ["old", "new"]:
    ratios = [f"{a}/{b} CPU {med[(side, a)][1] / med[(side, b)][1]:.3f}x"
              for a, b in pairs if a in names and b in names]
    if ratios:
        print(f"\n{side}: " + ", ".join(ratios))
PY
