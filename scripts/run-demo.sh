#!/bin/sh
# run-demo.sh - what `make run` starts: the broker on examples/minqing.conf
# (state in var/), one minqing-worker per department running the example
# scripts, and a trickle of sample cases, so a newcomer can watch cases flow
# through the log. Ctrl-C stops all.
set -eu
cd "$(dirname "$0")/.."
B=${B:-build}
CFG=examples/minqing.conf
mkdir -p var

# the departments and service codes the example config names
section() { awk -v s="[$1]" '/^\[/ { on = ($0 == s) } on && /^[a-z]/ { print $1 }' "$CFG"; }
DEPTS=$(section departments)
CODES=$(section routes | grep -v '^default$' | paste -sd, -)

pids=""
stop() { trap - INT TERM EXIT; kill $pids 2>/dev/null; wait 2>/dev/null; echo; echo "demo stopped"; }
trap stop INT TERM EXIT

"$B/minqingd" -c "$CFG" &
pids="$pids $!"
i=0
while [ ! -S var/workers.sock ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
# one minqing-worker per department: the water bureau texts its grid workers
# (the SMS stub), every other department files cases in a ledger (var/cases.txt)
export MINQING_APPEND_FILE=var/cases.txt
for d in $DEPTS; do
  script=examples/worker-append.sh
  [ "$d" = water ] && script=examples/worker-sms.sh
  "$B/minqing-worker" --endpoint ipc://var/workers.sock --department "$d" \
    --exec "sleep 1; sh $script" --concurrency 2 --capacity 8 --name demo 2>&1 &
  pids="$pids $!"
done
sleep 1
echo "== submitting a sample case every second (Ctrl-C to stop)"
"$B/loadgen" -e ipc://var/intake.sock -n 30 -r 1 -w 1 -p "demo-$(date +%s)" -c "$CODES" >/dev/null &
pids="$pids $!"
wait
