#!/usr/bin/env bash
# The 10,000-item delivery-status sync alone, timed several times back to back.
#
# Starts its own PostgreSQL and the release server (as bench/run.sh does), generates scale 1
# with 10,000 measures, then posts REPEAT batches of 10,000 statuses, each newer than the
# last (so every item is applied), and prints each time, the median and the spread.
# Usage: bench/batch.sh [--repeat 5] [--sql FILE] [--statements] [--bin PATH] [--profile DIR]
#                       [--others N]
#   --sql FILE: run FILE against the database before timing (to try a schema candidate).
#   --statements: log every statement's duration (log_min_duration_statement = 0) and print
#                 the batch's statements with their times (the split inside the transaction).
#   --bin PATH: time that server binary instead of building this checkout's.
#   --others N: N more measures in the table besides the batch's 10,000 (another year), as
#               in the full run, where scales 100 and 1000 add 220,000 (--others 220000).
#   --profile DIR: record a perf profile of the server process around each batch
#                  (DIR/batch-N.data) and print its hottest symbols (DIR/batch-N.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=5
SQL_FILE=""
STATEMENTS=0
BIN=""
PROFILE_DIR=""
OTHERS=0
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) REPEAT=$2; shift 2 ;;
    --sql) SQL_FILE=$(realpath "$2"); shift 2 ;;
    --statements) STATEMENTS=1; shift ;;
    --bin) BIN=$(realpath "$2"); shift 2 ;;
    --others) OTHERS=$2; shift 2 ;;
    --profile) mkdir -p "$2"; PROFILE_DIR=$(realpath "$2"); shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
if [ -z "$BIN" ]; then
  cargo build --release -q -p portfolio-api
  BIN=$PWD/target/release/portfolio-api
fi

WORK=$(mktemp -d /tmp/portfolio-batch.XXXXXX)
chmod 755 "$WORK"
PGDATA=$WORK/pg
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
APIPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
AS=()
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); fi
mkdir -p "$PGDATA"; [ "$(id -u)" = 0 ] && chown postgres "$PGDATA" "$WORK"

SERVER_PID=""
# utime + stime (clock ticks) summed over the given processes, all their threads included.
cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    total=$(( total + $(awk '{print $14 + $15}' "/proc/$pid/stat") ))
  done
  echo "$total"
}
# The postmaster and every PostgreSQL process it started (backends, writer, WAL writer…).
pg_pids() {
  local pm
  pm=$(head -1 "$PGDATA/postmaster.pid")
  echo "$pm"; pgrep -P "$pm"
}
cleanup() {
  [ -n "$SERVER_PID" ] && kill -INT "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

LOGOPT=""
[ "$STATEMENTS" = 1 ] && LOGOPT="-c log_min_duration_statement=0 -c log_line_prefix=%m:"
"${AS[@]}" "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres --no-sync -E UTF8 --locale=C >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/pg.log" -w start -o \
  "-p $PGPORT -k $WORK -c listen_addresses='' -c shared_buffers=256MB -c fsync=off -c synchronous_commit=off $LOGOPT" >/dev/null
"$PGBIN/createdb" -h "$WORK" -p "$PGPORT" -U postgres portfolio

export DATABASE_URL="postgres://postgres@/portfolio?host=$WORK&port=$PGPORT"
export PORTFOLIO_BIND=127.0.0.1:$APIPORT
export RUST_LOG=warn
export PORTFOLIO_ALLOW_SUPERUSER=1
"$BIN" migrate >/dev/null
"$BIN" generate --scale 1 --seed 1 --year 2022 --measures 10000 >"$WORK/generate.json"
[ "$OTHERS" -gt 0 ] && "$BIN" generate --scale 1 --seed 2 --year 2025 --measures "$OTHERS" >/dev/null
[ -n "$SQL_FILE" ] && "$PGBIN/psql" -q -h "$WORK" -p "$PGPORT" -U postgres -d portfolio -f "$SQL_FILE" >/dev/null
SYNC_TOKEN=$("$BIN" token --scope "portfolio:sync portfolio:read" --org 914637651 --ttl 7200)

"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$APIPORT/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done

TIMES=()
for i in $(seq 1 "$REPEAT"); do
  python3 - "$WORK/generate.json" "$WORK/batch.json" "$i" <<'PY'
import json, sys, datetime
g = json.load(open(sys.argv[1]))
n = int(sys.argv[3])
# Each repetition is newer than the last, so every item is applied (none unchanged or stale).
ts = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=60 - n)).isoformat()
items = [{"reference": ref, "progress": (i * 7 + n) % 101, "rag": ["green", "yellow", "red"][(i + n) % 3],
          "forecast_date": "2024-06-30", "comment": f"status {i} run {n}", "reported_by": "Sykehuspartner HF",
          "source_timestamp": ts, "milestones": []} for i, ref in enumerate(g["measure_refs"][:10000])]
json.dump({"items": items}, open(sys.argv[2], "w"))
PY
  [ "$STATEMENTS" = 1 ] && : >"$WORK/pg.log"
  PERF_PID=""; PG_PERF_PID=""
  if [ -n "$PROFILE_DIR" ]; then
    perf record -q -F 999 --call-graph dwarf,32768 -p "$SERVER_PID" -o "$PROFILE_DIR/batch-$i.data" 2>/dev/null &
    PERF_PID=$!
    perf record -q -F 1999 -p "$(pg_pids | paste -sd,)" -o "$PROFILE_DIR/batch-$i-pg.data" 2>/dev/null &
    PG_PERF_PID=$!
    sleep 0.5
    CPU_BEFORE="$(cpu_ticks "$SERVER_PID") $(cpu_ticks $(pg_pids))"
  fi
  read -r CODE SECS < <(curl -s -o "$WORK/batch.out" -w "%{http_code} %{time_total}\n" -X POST \
    -H "Authorization: Bearer $SYNC_TOKEN" -H "Content-Type: application/json" \
    --data-binary @"$WORK/batch.json" "http://127.0.0.1:$APIPORT/api/v1/delivery-status/batches")
  applied=$(python3 -c "import json;print(json.load(open('$WORK/batch.out')).get('applied'))" 2>/dev/null || echo "?")
  echo "batch $i: ${SECS} s, HTTP $CODE, applied $applied"
  if [ -n "$PERF_PID" ]; then
    read -r S0 P0 <<<"$CPU_BEFORE"
    read -r S1 P1 <<<"$(cpu_ticks "$SERVER_PID") $(cpu_ticks $(pg_pids))"
    TICK=$(getconf CLK_TCK)
    echo "    CPU during the batch: server $(( (S1 - S0) * 1000 / TICK )) ms, PostgreSQL $(( (P1 - P0) * 1000 / TICK )) ms"
    kill -INT "$PERF_PID" "$PG_PERF_PID"; wait "$PERF_PID" "$PG_PERF_PID" 2>/dev/null || true
    perf report -i "$PROFILE_DIR/batch-$i-pg.data" --no-children --sort symbol --percent-limit 1 --stdio 2>/dev/null \
      | grep -v '^#' | grep -v '^$' | head -40 >"$PROFILE_DIR/batch-$i-pg.txt"
    # Self time per symbol, then per thread (async workers vs. the pool's database threads).
    { perf report -i "$PROFILE_DIR/batch-$i.data" --no-children --sort symbol --percent-limit 0.7 --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40
      echo; perf report -i "$PROFILE_DIR/batch-$i.data" --no-children --sort comm --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12
    } >"$PROFILE_DIR/batch-$i.txt"
    sed 's/^/    /' "$PROFILE_DIR/batch-$i.txt" | head -25
  fi
  TIMES+=("$SECS")
  if [ "$STATEMENTS" = 1 ]; then
    sleep 0.3
    # The statements of the batch, longest first (text cut to 110 characters).
    grep -o 'duration: [0-9.]* ms  [a-z]*[^:]*: .*' "$WORK/pg.log" \
      | sed -E 's/duration: ([0-9.]+) ms  [^:]*: (.{0,110}).*/\1 ms  \2/' | sort -rn | sed 's/^/    /' | head -8 || true
  fi
done
python3 -c "
import statistics, sys
t = sorted(float(x) for x in sys.argv[1:])
print(f'median {statistics.median(t):.3f} s, min {t[0]:.3f} s, max {t[-1]:.3f} s over {len(t)} batches of 10,000 items')
" "${TIMES[@]}"
