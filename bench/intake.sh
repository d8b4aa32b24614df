#!/bin/sh
# intake.sh - durable submission throughput: one loadgen, WINDOW submissions
# in flight, each acknowledged only after its group commit (WAL, synchronous=FULL).
# Prints cases/s and the group-commit batch sizes the broker saw.
# Usage: sh bench/intake.sh   (N=..., WINDOW=... to change)
N=${N:-50000}
WINDOW=${WINDOW:-64}
. "$(dirname "$0")/common.sh"
bench_config
bench_start notice
"$B/loadgen" -e "ipc://$T/intake.sock" -n "$N" -w "$WINDOW" -c water.leak
bench_stop
stats=$(grep -o 'event=broker.stopping.*' "$T/broker.log")
commits=$(echo "$stats" | sed -n 's/.*commits=\([0-9]*\).*/\1/p')
largest=$(echo "$stats" | sed -n 's/.*largest_batch=\([0-9]*\).*/\1/p')
echo "intake: $N cases in $commits commits: $((N / (commits > 0 ? commits : 1))) cases per commit on average, largest batch $largest replies"
