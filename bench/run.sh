#!/usr/bin/env bash
# Load benchmark: how close the API gets to what this machine can do.
#
# Starts its own PostgreSQL (TCP for the pgbench baseline, Unix socket for the API), the
# release server, generates data, measures two baselines in the same run (pgbench -S and the
# server's no-database endpoint) and reports each endpoint as a ratio of the combined limit
#   L = 1 / (1/pgbench_tps + 1/no_db_rps).
# Usage: bench/run.sh [--duration SECONDS] [--connections N] [--scales "1 100 1000"] [--quick] [--profile DIR]
#   Scale 1000 (40,000 needs, 200,000 measures; ~30 s to generate) measures growth of the
#   single read and the list page only.
#   --profile DIR: records a system-wide `perf` profile (cpu-clock, call graphs) during each
#   scale-1 read and writes the split by process and the hottest symbols into DIR.
#   --webhooks: adds the webhook row (10 subscriptions, receivers on 127.0.0.1, 100 committed
#   changes/s for 30 s: commit → receipt p50/p99, lost, duplicated; bench/webhooks.py).
#   --only-webhooks: that row alone (with the baselines).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=10
CONNS=64
SCALES="1 100 1000"
PROFILE_DIR=""
WEBHOOKS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --quick) DURATION=3; SCALES="1"; shift ;;
    --scales) SCALES=$2; shift 2 ;;
    --profile) PROFILE_DIR=$(realpath -m "$2"); shift 2 ;;
    --webhooks) WEBHOOKS=1; shift ;;
    --only-webhooks) WEBHOOKS=1; SCALES=""; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian)…"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || \
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

cargo build --release -q -p portfolio-api
BIN=$PWD/target/release/portfolio-api

WORK=$(mktemp -d /tmp/portfolio-bench.XXXXXX)
chmod 755 "$WORK"
PGDATA=$WORK/pg
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
APIPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
AS=()
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); fi
mkdir -p "$PGDATA"; [ "$(id -u)" = 0 ] && chown postgres "$PGDATA" "$WORK"

SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill -INT "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"${AS[@]}" "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres --no-sync -E UTF8 --locale=C >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/pg.log" -w start -o \
  "-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB -c fsync=off -c synchronous_commit=off" >/dev/null
"$PGBIN/createdb" -h "$WORK" -p "$PGPORT" -U postgres portfolio
"$PGBIN/createdb" -h "$WORK" -p "$PGPORT" -U postgres pgbench

export DATABASE_URL="postgres://postgres@/portfolio?host=$WORK&port=$PGPORT"
export PORTFOLIO_BIND=127.0.0.1:$APIPORT
export RUST_LOG=warn
"$BIN" migrate >/dev/null

TOKEN=$("$BIN" token --scope "portfolio:read portfolio:manage portfolio:sync portfolio:score portfolio:submit portfolio:decide" --org 991324968 --ttl 7200)
SYNC_TOKEN=$("$BIN" token --scope "portfolio:sync portfolio:read" --org 914637651 --ttl 7200)

start_server() {
  "$BIN" serve >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$APIPORT/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server did not start:"; cat "$WORK/server.log"; exit 1
}
stop_server() { kill -INT "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }

# Runs a load with a perf recording around it when profiling is on.
# profiled NAME URL → like load
profiled() {
  local name=$1 url=$2
  if [ -z "$PROFILE_DIR" ] || [ "$SCALE" != 1 ]; then load "$url"; return; fi
  mkdir -p "$PROFILE_DIR"
  perf record -q -a -g -e cpu-clock -F 499 -o "$PROFILE_DIR/$name.perf" -- sleep "$DURATION" >/dev/null 2>&1 &
  local perf_pid=$!
  load "$url"
  wait "$perf_pid" || true
  {
    echo "# $name: CPU samples by process"
    perf report -i "$PROFILE_DIR/$name.perf" --no-children --sort comm --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12
    echo
    echo "# $name: hottest symbols (self time, whole machine)"
    perf report -i "$PROFILE_DIR/$name.perf" --no-children --sort comm,dso,sym --stdio -g none 2>/dev/null \
      | grep -v '^#' | grep -v '^$' | head -60
  } >"$PROFILE_DIR/$name.txt"
}

# wrk → "rps p50_ms p99_ms"
load() {
  local url=$1
  wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "$url" 2>/dev/null | python3 -c '
import re, sys
t = sys.stdin.read()
def ms(key):
    m = re.search(key + r"\s+([\d.]+)(us|ms|s|m)\b", t)
    if not m:
        return float("nan")
    x = float(m.group(1))
    return {"us": x / 1000, "ms": x, "s": x * 1000, "m": x * 60000}[m.group(2)]
r = re.search(r"Requests/sec:\s*([\d.]+)", t)
if not r:
    sys.stderr.write(t)
rps = float(r.group(1)) if r else 0.0
p50 = ms("50%"); p99 = ms("99%")
non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", t)
print(f"{rps:.0f} {p50:.2f} {p99:.2f} {non2xx.group(1) if non2xx else 0}")'
}

echo "== baselines (same run) =="
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s 10 -q pgbench >/dev/null 2>&1
PGB=$("$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -S -M prepared -c "$CONNS" -j 2 -T "$DURATION" pgbench 2>/dev/null \
  | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1)
start_server
read -r NODB NODB50 NODB99 _ < <(SCALE=1 profiled no-db "http://127.0.0.1:$APIPORT/health/live")
L=$(python3 -c "print(round(1/(1/$PGB + 1/$NODB)))")
printf "pgbench -S -M prepared (TCP, c=%s): %.0f tps\nno-DB endpoint /health/live: %s req/s\ncombined limit L: %s req/s\n\n" "$CONNS" "$PGB" "$NODB" "$L"

ROWS=()
declare -A SINGLE_P50 LIST_P50 PAGE25_P50
row() { ROWS+=("$(printf '| %-44s | %9s | %8s | %8s | %5s | %s |' "$1" "$2" "$3" "$4" "$5" "$6")"); }
ratio() { python3 -c "print(f'{$1/$L:.2f}')"; }

for SCALE in $SCALES; do
  stop_server
  # Each scale adds its own year to the same database, so later rows sit among earlier ones.
  GEN_YEAR=$(( 2021 + ${#SCALE} ))  # 1 → 2022, 100 → 2024, 1000 → 2025
  MEASURES=$(( SCALE == 1 ? 10000 : 200 * SCALE ))
  "$BIN" generate --scale "$SCALE" --seed "$SCALE" --year "$GEN_YEAR" --measures "$MEASURES" >"$WORK/generate-$SCALE.json"
  cp "$WORK/generate-$SCALE.json" "$WORK/generate.json"
  [ "$SCALE" = 1 ] && cp "$WORK/generate-1.json" "$WORK/generate-batch.json"
  start_server
  NEED_ID=$(python3 -c "import json;print(json.load(open('$WORK/generate.json'))['sample_need_id'])")
  YEAR=$(python3 -c "import json;print(json.load(open('$WORK/generate.json'))['year'])")
  read -r R P50 P99 BAD < <(profiled single-read "http://127.0.0.1:$APIPORT/api/v1/needs/$NEED_ID")
  row "GET /api/v1/needs/{id} (scale $SCALE)" "$R" "$P50" "$P99" "$(ratio "$R")" "non-2xx $BAD"
  SINGLE_P50[$SCALE]=$P50
  read -r R P50 P99 BAD < <(profiled list-page "http://127.0.0.1:$APIPORT/api/v1/needs?year=$YEAR&status=accepted&limit=50")
  row "GET /api/v1/needs?year&status&limit=50 (scale $SCALE)" "$R" "$P50" "$P99" "$(ratio "$R")" "non-2xx $BAD"
  LIST_P50[$SCALE]=$P50
  # Growth compares pages of the same size: scale 1 has only 27 accepted needs, so the
  # limit=50 page holds 27 items there and 50 elsewhere.
  read -r R P50 P99 BAD < <(load "http://127.0.0.1:$APIPORT/api/v1/needs?year=$YEAR&status=accepted&limit=25")
  row "GET /api/v1/needs?year&status&limit=25 (scale $SCALE)" "$R" "$P50" "$P99" "$(ratio "$R")" "non-2xx $BAD"
  PAGE25_P50[$SCALE]=$P50
  # Growth is about reads by key and by page; ranking and overview are measured at 1 and 100.
  [ "$SCALE" -ge 1000 ] && continue
  read -r R P50 P99 BAD < <(CONNS=8 load "http://127.0.0.1:$APIPORT/api/v1/cycles/$YEAR/ranking")
  row "GET /api/v1/cycles/{year}/ranking (scale $SCALE, c=8)" "$R" "$P50" "$P99" "$(ratio "$R")" "non-2xx $BAD"
  read -r R P50 P99 BAD < <(load "http://127.0.0.1:$APIPORT/api/v1/portfolio/overview?year=2023")
  row "GET /api/v1/portfolio/overview (scale $SCALE)" "$R" "$P50" "$P99" "$(ratio "$R")" "non-2xx $BAD"
done

# A 10,000-item delivery-status batch, timed end to end (request + one transaction).
if [ -n "$SCALES" ]; then
python3 - "$WORK/generate-batch.json" "$WORK/batch.json" <<'PY'
import json, sys, datetime
g = json.load(open(sys.argv[1]))
refs = g["measure_refs"]
ts = datetime.datetime.now(datetime.timezone.utc).isoformat()
items = []
for i in range(10000):
    items.append({"reference": refs[i],
                  "progress": (i * 7) % 101, "rag": ["green", "yellow", "red"][i % 3],
                  "forecast_date": "2024-06-30", "comment": f"status {i}", "reported_by": "Sykehuspartner HF",
                  "source_timestamp": ts, "milestones": []})
json.dump({"items": items}, open(sys.argv[2], "w"))
PY
BATCH=$(curl -s -o "$WORK/batch.out" -w "%{http_code} %{time_total}" -X POST \
  -H "Authorization: Bearer $SYNC_TOKEN" -H "Content-Type: application/json" \
  --data-binary @"$WORK/batch.json" "http://127.0.0.1:$APIPORT/api/v1/delivery-status/batches")
read -r BCODE BSECS <<<"$BATCH"
row "POST delivery-status batch, 10,000 items" "$(python3 -c "print(round(10000/$BSECS))") items/s" "${BSECS}s" "" "" "HTTP $BCODE"
fi

if [ "$WEBHOOKS" = 1 ]; then
  # Receivers are on 127.0.0.1, which only PORTFOLIO_WEBHOOK_ALLOW_LOCAL permits.
  stop_server
  export PORTFOLIO_WEBHOOK_ALLOW_LOCAL=1
  start_server
  WH=$(python3 bench/webhooks.py "http://127.0.0.1:$APIPORT" "$TOKEN" --subscriptions 10 --rate 100 --duration 30)
  read -r WRATE WP50 WP99 WLOST WDUP < <(python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(d['achieved_rate'], d['p50_ms'], d['p99_ms'], d['lost'], d['duplicated'])" "$WH")
  row "webhooks: 10 subs × ${WRATE} changes/s, 30 s" "" "$WP50" "$WP99" "" "commit→receipt; lost $WLOST, duplicated $WDUP"
fi

RSS=$(awk '/VmHWM/ {print $2/1024 " MB"}' "/proc/$SERVER_PID/status")

echo "| endpoint | req/s | p50 ms | p99 ms | × L | notes |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "peak server RSS: $RSS"
for S in $SCALES; do
  [ "$S" = 1 ] || [ -z "${SINGLE_P50[1]:-}" ] && continue
  python3 -c "print(f'growth scale 1 → $S (p50): single read {${SINGLE_P50[$S]}/${SINGLE_P50[1]}:.2f}×, list page of 25 {${PAGE25_P50[$S]}/${PAGE25_P50[1]}:.2f}× (limit=50 page: {${LIST_P50[$S]}/${LIST_P50[1]}:.2f}×, 27 → 50 items)')"
done
echo "(2 cores shared by load generator, server and PostgreSQL; wrk -t2 -c$CONNS -d${DURATION}s)"
