#!/usr/bin/env bash
# Load benchmark: how close the API gets to what this machine can do.
#
# Starts its own PostgreSQL (TCP for the old pgbench -S baseline, Unix socket for the API and
# the per-endpoint limits), the release server, generates data, and measures in the same run:
#   - the HTTP limit L_http: the server's no-database endpoint at its best concurrency (64, 128);
#   - per endpoint e, the SQL limit L_sql,e: pgbench (-M prepared, the server's Unix socket)
#     running the minimal SQL a hand-written server needs to answer that request
#     (bench/sql/*.sql), at its best concurrency (8, 16, 64);
#   - each endpoint as a ratio of its own limit L_e = 1 / (1/L_sql,e + 1/L_http);
#   - the old global L = 1 / (1/pgbench -S + 1/L_http) for comparison (both best and c=64).
# Usage: bench/run.sh [--duration SECONDS] [--connections N] [--scales "1 100 1000"] [--quick]
#                     [--profile DIR] [--json FILE] [--base-duration SECONDS]
#   Scale 1000 (40,000 needs, 200,000 measures; ~30 s to generate) measures growth of the
#   single read and the list page only.
#   --json FILE: every figure (rows, baselines, batch, peak RSS) as JSON for other tools.
#   --webhooks: adds the webhook row (10 subscriptions, receivers on 127.0.0.1, 100 committed
#   changes/s for 30 s: commit → receipt p50/p99, lost, duplicated; bench/webhooks.py), and
#   the read throughput of GET /needs/{id} alone, under the same 100 changes/s without
#   subscriptions, under them with the ten receivers fed 1,000 req/s by a plain sender (the
#   control: the bench's own cost), and under them with the 10 subscriptions delivering
#   (issue 15: within 10 %); each window's CPU split by process and thread (bench/cpu.py).
#   BENCH_BIN=path measures another build; WH_PERF=DIR records perf profiles of the server.
#   WH_RECEIVERS=python serves the receivers from one asyncio process instead of nginx.
#   --only-webhooks: that row alone (with the baselines).
#   --wh-rounds N: the four read windows are taken in N interleaved rounds (default 3; runs
#   on this VM differ by tens of percent from minute to minute, so each condition's figure
#   is the median of its rounds, and ratios are of medians).
#   --profile DIR: records a system-wide `perf` profile (cpu-clock, call graphs) during each
#   scale-1 read and writes the split by process and the hottest symbols into DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=10
CONNS=64
SCALES="1 100 1000"
PROFILE_DIR=""
JSON_OUT=""
BASE_DURATION=5
WEBHOOKS=0
WH_ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNS=$2; shift 2 ;;
    --quick) DURATION=3; BASE_DURATION=2; SCALES="1"; shift ;;
    --scales) SCALES=$2; shift 2 ;;
    --profile) PROFILE_DIR=$(realpath -m "$2"); shift 2 ;;
    --json) JSON_OUT=$(realpath -m "$2"); shift 2 ;;
    --base-duration) BASE_DURATION=$2; shift 2 ;;
    --webhooks) WEBHOOKS=1; shift ;;
    --only-webhooks) WEBHOOKS=1; SCALES=""; shift ;;
    --wh-rounds) WH_ROUNDS=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

# The webhook row's receivers: nginx (lean, default) or python (bench/receivers.py).
WH_RECEIVERS=${WH_RECEIVERS:-nginx}
if [ "$WEBHOOKS" = 1 ] && [ "$WH_RECEIVERS" = nginx ] && ! command -v nginx >/dev/null; then
  echo "installing nginx-light (Debian) for the webhook receivers…"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null 2>&1 || \
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; }
fi
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian)…"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || \
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

# BENCH_BIN=path measures another build (A/B comparisons keep the old binary aside).
if [ -n "${BENCH_BIN:-}" ]; then
  BIN=$(realpath "$BENCH_BIN")
else
  cargo build --release -q -p portfolio-api
  BIN=$PWD/target/release/portfolio-api
fi

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
# WH_STATEMENTS=1: pg_stat_statements, to list the statements of the delivering window.
PRELOAD=""
[ -n "${WH_STATEMENTS:-}" ] && PRELOAD="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track_planning=on"
"${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/pg.log" -w start -o \
  "-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB -c fsync=off -c synchronous_commit=off $PRELOAD" >/dev/null
"$PGBIN/createdb" -h "$WORK" -p "$PGPORT" -U postgres portfolio
"$PGBIN/createdb" -h "$WORK" -p "$PGPORT" -U postgres pgbench

export DATABASE_URL="postgres://postgres@/portfolio?host=$WORK&port=$PGPORT"
export PORTFOLIO_BIND=127.0.0.1:$APIPORT
export RUST_LOG=warn
# The bench's throwaway cluster has only its superuser; the server refuses that by default.
export PORTFOLIO_ALLOW_SUPERUSER=1
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
  local script=()
  [ -n "${WRK_SCRIPT:-}" ] && script=(-s "$WRK_SCRIPT")
  # WRK_CPU=FILE: wrk's own CPU (user system seconds), which /proc loses when it exits.
  local timed=()
  [ -n "${WRK_CPU:-}" ] && timed=(/usr/bin/time -o "$WRK_CPU" -f "%U %S")
  "${timed[@]}" wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency "${script[@]}" -H "Authorization: Bearer $TOKEN" "$url" 2>/dev/null | python3 -c '
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

SQL=$PWD/bench/sql
LUA=$PWD/bench/lua
PGSOCK=(-h "$WORK" -p "$PGPORT" -U postgres)
# Every measured figure, one per line, turned into the table and the JSON at the end:
#   baseline <name> <concurrency> <per-second>
#   row <name> <scale> <concurrency> <req/s> <p50 ms> <p99 ms> <L_e> <non-2xx>
FIGURES=$WORK/figures.tsv
: >"$FIGURES"

# pgbench at one concurrency → transactions per second.
pgbench_tps() {
  local c=$1; shift
  "$PGBIN/pgbench" -M prepared -c "$c" -j 2 -T "$BASE_DURATION" -n "$@" 2>/dev/null \
    | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1
}

# The best of several concurrencies, each recorded: best_over NAME "8 16 64" pgbench-args…
best_over() {
  local name=$1 concs=$2 best=0 tps; shift 2
  for c in $concs; do
    tps=$(pgbench_tps "$c" "$@"); tps=${tps:-0}
    printf 'baseline\t%s\t%s\t%.0f\n' "$name" "$c" "$tps" >>"$FIGURES"
    best=$(python3 -c "print(max($best, $tps))")
  done
  printf '%.0f\n' "$best"
}

# The SQL limit of an endpoint: its script over the server's socket, best of c ∈ {8, 16, 64}.
sql_limit() {
  local name=$1 script=$2; shift 2
  best_over "sql:$name" "8 16 64" "${PGSOCK[@]}" -f "$SQL/$script" "$@" portfolio
}

combine() { python3 -c "print(round(1/(1/$1 + 1/$2)))"; }

echo "== baselines (same run) =="
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s 10 -q pgbench >/dev/null 2>&1
PGB_BEST=$(best_over "pgbench -S (TCP)" "8 16 64" -h 127.0.0.1 -p "$PGPORT" -U postgres -S pgbench)
PGB64=$(awk -F'\t' '$2=="pgbench -S (TCP)" && $3==64 {print $4}' "$FIGURES")
PGB_SOCK=$(best_over "pgbench -S (Unix socket)" "8 16 64" "${PGSOCK[@]}" -S pgbench)
start_server
NODB=0
for c in 64 128; do
  read -r R _ _ _ < <(CONNS=$c SCALE=1 profiled no-db-c$c "http://127.0.0.1:$APIPORT/health/live")
  printf 'baseline\t%s\t%s\t%s\n' "no-DB endpoint /health/live" "$c" "$R" >>"$FIGURES"
  NODB=$(python3 -c "print(max($NODB, $R))")
done
NODB64=$(awk -F'\t' '$2=="no-DB endpoint /health/live" && $3==64 {print $4}' "$FIGURES")
L=$(combine "$PGB_BEST" "$NODB")
L_OLD=$(combine "$PGB64" "$NODB64")
printf 'baseline\t%s\t%s\t%s\n' "L (best pgbench -S, best no-DB)" best "$L" >>"$FIGURES"
printf 'baseline\t%s\t%s\t%s\n' "L old (pgbench -S c=64, no-DB c=64)" 64 "$L_OLD" >>"$FIGURES"
printf "pgbench -S -M prepared: TCP best %s tps (c=64: %s), Unix socket best %s tps\n" "$PGB_BEST" "$PGB64" "$PGB_SOCK"
printf "no-DB endpoint /health/live: best %s req/s (c=64: %s) = L_http\n" "$NODB" "$NODB64"
printf "global L: %s req/s (old yardstick, both at c=64: %s req/s)\n\n" "$L" "$L_OLD"

declare -A SINGLE_P50 LIST_P50 PAGE25_P50
# row NAME SCALE CONCURRENCY L_E URL → measures and records one endpoint.
row() {
  local name=$1 scale=$2 c=$3 le=$4 url=$5 r p50 p99 bad
  read -r r p50 p99 bad < <(CONNS=$c profiled "$(echo "$name" | tr -c 'a-z0-9\n' '-')" "$url")
  printf 'row\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$scale" "$c" "$r" "$p50" "$p99" "$le" "$bad" >>"$FIGURES"
  echo "$p50"
}

for SCALE in $SCALES; do
  stop_server
  # Each scale adds its own year to the same database, so later rows sit among earlier ones.
  GEN_YEAR=$(( 2021 + ${#SCALE} ))  # 1 → 2022, 100 → 2024, 1000 → 2025
  MEASURES=$(( SCALE == 1 ? 10000 : 200 * SCALE ))
  "$BIN" generate --scale "$SCALE" --seed "$SCALE" --year "$GEN_YEAR" --measures "$MEASURES" >"$WORK/generate-$SCALE.json"
  cp "$WORK/generate-$SCALE.json" "$WORK/generate.json"
  [ "$SCALE" = 1 ] && cp "$WORK/generate-1.json" "$WORK/generate-batch.json"
  NEED_ID=$(python3 -c "import json;print(json.load(open('$WORK/generate.json'))['sample_need_id'])")
  YEAR=$(python3 -c "import json;print(json.load(open('$WORK/generate.json'))['year'])")
  # The SQL limits are measured with the server stopped, so it does not compete for the CPU.
  LE_SINGLE=$(combine "$(sql_limit "need by id s$SCALE" need_by_id.sql -D id="$NEED_ID")" "$NODB")
  LE_PAGE=$(combine "$(sql_limit "needs page s$SCALE" needs_page.sql -D year="$YEAR")" "$NODB")
  LE_READ_MODEL=$(combine "$(sql_limit "read model freshness s$SCALE" read_model_fresh.sql -D year="$YEAR")" "$NODB")
  start_server
  base=http://127.0.0.1:$APIPORT/api/v1
  SINGLE_P50[$SCALE]=$(row "GET /api/v1/needs/{id}" "$SCALE" "$CONNS" "$LE_SINGLE" "$base/needs/$NEED_ID")
  row "GET /api/v1/needs/{id}" "$SCALE" 16 "$LE_SINGLE" "$base/needs/$NEED_ID" >/dev/null
  LIST_P50[$SCALE]=$(row "GET /api/v1/needs?year&status&limit=50" "$SCALE" "$CONNS" "$LE_PAGE" "$base/needs?year=$YEAR&status=accepted&limit=50")
  # Growth compares pages of the same size: scale 1 has only 27 accepted needs, so the
  # limit=50 page holds 27 items there and 50 elsewhere. L_e is that of a page of 25.
  PAGE25_P50[$SCALE]=$(row "GET /api/v1/needs?year&status&limit=25" "$SCALE" "$CONNS" "$LE_PAGE" "$base/needs?year=$YEAR&status=accepted&limit=25")
  # Growth is about reads by key and by page; ranking and overview are measured at 1 and 100.
  [ "$SCALE" -ge 1000 ] && continue
  row "GET /api/v1/cycles/{year}/ranking" "$SCALE" 8 "$LE_READ_MODEL" "$base/cycles/$YEAR/ranking" >/dev/null
  row "GET /api/v1/cycles/{year}/ranking?limit=25" "$SCALE" 8 "$LE_READ_MODEL" "$base/cycles/$YEAR/ranking?limit=25" >/dev/null
  row "GET /api/v1/portfolio/overview" "$SCALE" "$CONNS" "$LE_READ_MODEL" "$base/portfolio/overview?year=2023" >/dev/null
done

# Writes at scale 1 (year 2022 is in prioritisation with every trust's sheet): score-sheet
# replacement by the 11 trusts and need reporting, each at c=16, against the limits of their
# minimal statements (bench/sql/score_sheet_put.sql, need_create.sql) on copies of the tables.
if [[ " $SCALES " == *" 1 "* ]]; then
  stop_server
  "$PGBIN/psql" -q "${PGSOCK[@]}" -d portfolio -f "$SQL/write_setup.sql" >/dev/null
  SHEETS=$("$PGBIN/psql" -At "${PGSOCK[@]}" -d portfolio -c "SELECT count(*) FROM bench_scores")
  LE_PUT=$(combine "$(sql_limit "score sheet put" score_sheet_put.sql -D year=2022 -D sheets="$SHEETS")" "$NODB")
  LE_POST=$(combine "$(sql_limit "need create" need_create.sql)" "$NODB")
  start_server
  : >"$WORK/sheets.txt"
  declare -A TRUST_TOKEN
  while IFS='|' read -r need org version; do
    [ -n "${TRUST_TOKEN[$org]:-}" ] || TRUST_TOKEN[$org]=$("$BIN" token --scope "portfolio:score portfolio:read" --org "$org" --ttl 7200)
    echo "$need $org $version ${TRUST_TOKEN[$org]}" >>"$WORK/sheets.txt"
  done < <("$PGBIN/psql" -At "${PGSOCK[@]}" -d portfolio -c \
    "SELECT need_id, org_number, version FROM need_scores WHERE cycle_year = 2022 ORDER BY need_id, org_number")
  curl -fs -o /dev/null -X POST -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
    --data '{"year": 2031}' "http://127.0.0.1:$APIPORT/api/v1/cycles" || echo "could not open cycle 2031" >&2
  for spec in "PUT /api/v1/needs/{id}/scores/{org} (11 trusts)|$LE_PUT|score_sheet_put.lua" \
              "POST /api/v1/needs|$LE_POST|need_post.lua"; do
    IFS='|' read -r name le lua <<<"$spec"
    read -r r p50 p99 bad < <(SHEETS_FILE=$WORK/sheets.txt NEED_YEAR=2031 \
      NEED_TOKEN=$("$BIN" token --scope "portfolio:submit portfolio:read" --org 993467049 --ttl 7200) \
      WRK_SCRIPT=$LUA/$lua CONNS=16 load "http://127.0.0.1:$APIPORT/")
    printf 'row\t%s\t1\t16\t%s\t%s\t%s\t%s\t%s\n' "$name" "$r" "$p50" "$p99" "$le" "$bad" >>"$FIGURES"
  done
fi

# A 10,000-item delivery-status batch, timed end to end (request + one transaction).
BCODE=0 BSECS=0
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
fi

if [ "$WEBHOOKS" = 1 ]; then
  # Receivers are on 127.0.0.1, which only PORTFOLIO_WEBHOOK_ALLOW_LOCAL permits.
  stop_server
  export PORTFOLIO_WEBHOOK_ALLOW_LOCAL=1
  # The worker's own counts (claims, attempts, their durations) come from /metrics; the
  # per-request metrics middleware this installs runs in every window alike.
  METRICSPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  export PORTFOLIO_METRICS_BIND=127.0.0.1:$METRICSPORT
  start_server
  if [ -z "${NEED_ID:-}" ]; then
    "$BIN" generate --scale 1 --seed 1 --year 2022 >"$WORK/generate-wh.json"
    NEED_ID=$(python3 -c "import json;print(json.load(open('$WORK/generate-wh.json'))['sample_need_id'])")
  fi
  read_url="http://127.0.0.1:$APIPORT/api/v1/needs/$NEED_ID"
  POSTMASTER=$(head -1 "$PGDATA/postmaster.pid")
  # The same read, 20 s inside each 30 s window: alone, under 100 changes/s with nothing to
  # deliver, under them with ten receivers fed 1,000 requests/s by a plain sender instead of
  # the server (the control: what the receivers cost the reads), and under 100 changes/s
  # delivered to 10 subscriptions. bench/cpu.py splits each window's CPU by process and thread.
  WH_OK=1
  for round in $(seq 1 "$WH_ROUNDS"); do
  for spec in "alone||" "100 changes/s, no subscriptions|0|" \
              "100 changes/s, no subscriptions, receivers fed 1,000 req/s by a plain sender|0|10" \
              "100 changes/s, 10 subscriptions delivering|10|"; do
    IFS='|' read -r label subs control <<<"$spec"
    WH_PID=""
    rm -f "$WORK/wh-pids"
    if [ -n "$subs" ]; then
      python3 bench/webhooks.py "http://127.0.0.1:$APIPORT" "$TOKEN" --subscriptions "$subs" \
        --control-receivers "${control:-0}" --pids "$WORK/wh-pids" --receivers "$WH_RECEIVERS" \
        --rate 100 --duration 30 >"$WORK/wh-$subs-$round.json" &
      WH_PID=$!
      sleep 5
    fi
    cpu_snap() { python3 bench/cpu.py snap "$1" --server "$SERVER_PID" --postmaster "$POSTMASTER" \
      --pids-file "$WORK/wh-pids" --psql "$PGBIN/psql -h $WORK -p $PGPORT -U postgres -d portfolio"; }
    PSQL=("$PGBIN/psql" -h "$WORK" -p "$PGPORT" -U postgres -d portfolio -qAt)
    if [ -n "${WH_STATEMENTS:-}" ]; then
      "${PSQL[@]}" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" -c "SELECT pg_stat_statements_reset()" >/dev/null 2>&1 || true
    fi
    cpu_snap "$WORK/cpu-a.json"
    curl -fs "http://127.0.0.1:$METRICSPORT/metrics" >"$WORK/metrics-a.txt" || true
    # WH_PERF=DIR: a perf profile of the server's threads (by thread name) in each window.
    PERF_PID=""
    if [ -n "${WH_PERF:-}" ]; then
      mkdir -p "$WH_PERF"
      perf record -q -g -F 499 -p "$SERVER_PID" -o "$WH_PERF/wh-${subs:-none}${control:+-control}.perf" -- sleep 20 >/dev/null 2>&1 &
      PERF_PID=$!
    fi
    read -r r p50 p99 bad < <(CONNS=64 DURATION=20 WRK_CPU="$WORK/wrk-cpu" load "$read_url")
    cpu_snap "$WORK/cpu-b.json"
    curl -fs "http://127.0.0.1:$METRICSPORT/metrics" >"$WORK/metrics-b.txt" || true
    if [ -n "$subs" ] && [ "$subs" != 0 ]; then
      python3 bench/worker_metrics.py "$WORK/metrics-a.txt" "$WORK/metrics-b.txt" >>"$WORK/worker.txt"
      [ -n "${WH_STATEMENTS:-}" ] && "${PSQL[@]}" -F ' | ' -c "SELECT calls, round(total_exec_time)::int AS exec_ms, round(total_plan_time)::int AS plan_ms,
          round(((total_exec_time + total_plan_time) / greatest(calls, 1) * 1000)::numeric, 1) AS us_per_call, rows,
          left(regexp_replace(query, '\s+', ' ', 'g'), 110)
        FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 15" >>"$WORK/worker.txt" || true
    fi
    [ -n "$PERF_PID" ] && { wait "$PERF_PID" || true; }
    printf 'wh_read\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$r" "$p50" "$p99" \
      "$(python3 bench/cpu.py diff "$WORK/cpu-a.json" "$WORK/cpu-b.json" "$WORK/wrk-cpu")" "$round" >>"$FIGURES"
    if [ -n "$WH_PID" ]; then wait "$WH_PID" || WH_OK=0; fi
  done
  done
  # A failed webhook row must not cost the figures measured before it.
  if [ "$WH_OK" = 1 ] && WH=$(cat "$WORK"/wh-10-*.json) && [ -n "$WH" ]; then
    # Every delivering round: the median of their p50s, the worst p99, all lost and duplicated.
    python3 -c "
import json, statistics, sys
runs = [json.loads(l) for l in sys.argv[1].splitlines() if l.strip()]
print('webhooks', statistics.median(d['achieved_rate'] for d in runs), statistics.median(d['p50_ms'] for d in runs),
      max(d['p99_ms'] for d in runs), sum(d['lost'] for d in runs), sum(d['duplicated'] for d in runs), len(runs), sep='\t')" "$WH" >>"$FIGURES"
  else
    echo "webhook row failed (see above); the other figures stand" >&2
  fi
fi
[ -s "$WORK/worker.txt" ] && cat "$WORK/worker.txt"
RSS_MB=$(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$SERVER_PID/status")

python3 - "$FIGURES" "$L" "$L_OLD" "$BCODE" "$BSECS" "$RSS_MB" "$CONNS" "$DURATION" "${JSON_OUT:-}" <<'PY'
import json, sys
figures, L, L_old, bcode, bsecs, rss, conns, duration, json_out = sys.argv[1:10]
L, L_old = float(L), float(L_old)
baselines, rows, webhooks, wh_reads = [], [], None, []
for line in open(figures):
    f = line.rstrip("\n").split("\t")
    if f[0] == "baseline":
        baselines.append({"name": f[1], "concurrency": f[2], "per_second": float(f[3])})
    elif f[0] == "wh_read":
        wh_reads.append({"name": "GET /api/v1/needs/{id} (c=64) " + f[1], "rps": float(f[2]),
                         "p50_ms": float(f[3]), "p99_ms": float(f[4]), "cpu_s": json.loads(f[5]),
                         "round": int(f[6])})
    elif f[0] == "webhooks":
        webhooks = {"subscriptions": 10, "changes_per_second": float(f[1]), "p50_ms": float(f[2]),
                    "p99_ms": float(f[3]), "lost": int(f[4]), "duplicated": int(f[5]),
                    "rounds": int(f[6])}
    else:
        name, scale, c, rps, p50, p99, le, bad = f[1:9]
        rps, le = float(rps), float(le)
        rows.append({"name": name, "scale": int(scale), "concurrency": int(c), "rps": rps,
                     "p50_ms": float(p50), "p99_ms": float(p99), "limit_e": le,
                     "ratio": round(rps / le, 3), "ratio_global_L": round(rps / L, 3),
                     "non_2xx": int(bad)})
print("| baseline | c | per second |\n|---|---|---|")
for b in baselines:
    print(f"| {b['name']} | {b['concurrency']} | {b['per_second']:,.0f} |")
print()
print("| endpoint | scale | c | req/s | p50 ms | p99 ms | L_e | × L_e | × L | non-2xx |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['name']} | {r['scale']} | {r['concurrency']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | "
          f"{r['p99_ms']:.2f} | {r['limit_e']:,.0f} | {r['ratio']:.2f} | {r['ratio_global_L']:.2f} | {r['non_2xx']} |")
batch = None
if float(bsecs) > 0:
    batch = {"items": 10000, "http_status": int(bcode), "seconds": float(bsecs),
             "items_per_second": round(10000 / float(bsecs))}
    print(f"\nPOST delivery-status batch, 10,000 items: {batch['seconds']:.2f} s "
          f"({batch['items_per_second']:,} items/s), HTTP {bcode}")
if webhooks:
    print(f"webhooks: 10 subscriptions × {webhooks['changes_per_second']:.0f} changes/s for 30 s, "
          f"{webhooks['rounds']} runs: commit → receipt p50 {webhooks['p50_ms']:.1f} ms (median), "
          f"p99 {webhooks['p99_ms']:.1f} ms (worst), lost {webhooks['lost']}, duplicated {webhooks['duplicated']}")
for r in wh_reads:
    print(f"read during webhooks, round {r['round']}: {r['name']}: {r['rps']:,.0f} req/s, "
          f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms")
    print("    CPU s: " + ", ".join(f"{k} {v}" for k, v in sorted(r["cpu_s"].items(), key=lambda kv: -kv[1]) if v))
wh_summary = []
if wh_reads:
    import statistics
    names = list(dict.fromkeys(r["name"] for r in wh_reads))
    median = {n: statistics.median(r["rps"] for r in wh_reads if r["name"] == n) for n in names}
    print("read during webhooks, median of the rounds:")
    for i, n in enumerate(names):
        row = {"name": n, "median_rps": median[n], "vs_alone": round(median[n] / median[names[0]], 3),
               "rounds": [r["rps"] for r in wh_reads if r["name"] == n]}
        if i == 3:
            row["vs_changes_only"] = round(median[n] / median[names[1]], 3)
            row["vs_control"] = round(median[n] / median[names[2]], 3)
        wh_summary.append(row)
        extra = "".join(f", × {row[k]:.2f} of {k[3:].replace('_', ' ')}" for k in ("vs_changes_only", "vs_control") if k in row)
        print(f"  {n}: {median[n]:,.0f} req/s (× {row['vs_alone']:.2f} of alone{extra}); rounds "
              + ", ".join(f"{v:,.0f}" for v in row["rounds"]))
print(f"peak server RSS: {rss} MB")
if json_out:
    json.dump({"L": L, "L_old": L_old, "baselines": baselines, "rows": rows, "batch": batch,
               "webhooks": webhooks, "reads_during_webhooks": wh_reads,
               "reads_during_webhooks_median": wh_summary,
               "peak_rss_mb": float(rss), "wrk": {"threads": 2, "duration_s": int(duration)}},
              open(json_out, "w"), indent=2)
    print(f"figures written to {json_out}")
PY

for S in $SCALES; do
  [ "$S" = 1 ] || [ -z "${SINGLE_P50[1]:-}" ] && continue
  python3 -c "print(f'growth scale 1 → $S (p50): single read {${SINGLE_P50[$S]}/${SINGLE_P50[1]}:.2f}×, list page of 25 {${PAGE25_P50[$S]}/${PAGE25_P50[1]}:.2f}× (limit=50 page: {${LIST_P50[$S]}/${LIST_P50[1]}:.2f}×, 27 → 50 items)')"
done
echo "(2 cores shared by load generator, server and PostgreSQL; wrk -t2 -d${DURATION}s; baselines ${BASE_DURATION}s each)"
