#!/bin/sh
# intake.sh - durable submission throughput: one loadgen, WINDOW submissions
# in flight, each acknowledged only after its group commit (WAL, synchronous=FULL).
# Prints cases/s and the group-commit batch sizes the broker saw.
# Usage: sh bench/intake.sh   (N=..., WINDOW=... to change)
set -eu
cd "$(dirname "$0")/.."
N=${N:-50000}
WINDOW=${WINDOW:-64}
B=${B:-build}
T=$(mktemp -d /tmp/minqing-bench.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$T"' EXIT
cat > "$T/minqing.conf" <<CONF
[broker]
intake = ipc://$T/intake.sock
workers = ipc://$T/workers.sock
events = ipc://$T/events.sock
database = $T/minqing.db
manual_department = dispatch
[departments]
dispatch = 12345派单中心
water = 水务局
[routes]
water.leak = water
default = dispatch
CONF
"$B/minqingd" -c "$T/minqing.conf" -l notice 2> "$T/broker.log" & PID=$!
i=0; while ! grep -q broker.ready "$T/broker.log" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
"$B/loadgen" -e "ipc://$T/intake.sock" -n "$N" -w "$WINDOW" -c water.leak
kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""
stats=$(grep -o 'event=broker.stopping.*' "$T/broker.log")
commits=$(echo "$stats" | sed -n 's/.*commits=\([0-9]*\).*/\1/p')
largest=$(echo "$stats" | sed -n 's/.*largest_batch=\([0-9]*\).*/\1/p')
echo "intake: $N cases in $commits commits: $((N / (commits > 0 ? commits : 1))) cases per commit on average, largest batch $largest replies"
