#!/bin/sh
# escalation_kill9.sh - kill -9 the broker during escalation bursts, restart
# it: every level that fell due fires exactly once in total - once in the
# escalations table, never twice in the log - including the ones that fell
# due while the broker was down.
. "$(dirname "$0")/../lib.sh"
N=${N:-3000}
SEED=${SEED:-$(date +%s)}
diag "seed $SEED"
write_config
fast_ladder
start_broker || exit 1
t0=$(now_ms)
bounded 120 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n "$N" -t 60 -p burst -c water.leak >/dev/null   # no water worker
set -- $(awk -v s="$SEED" 'BEGIN { srand(s); printf "%d %d", 2100 + rand() * 600, 3100 + rand() * 600 }')
for at in "$@"; do               # one kill in the L1 burst, one in the L2 burst
  while [ $(( $(now_ms) - t0 )) -lt "$at" ]; do sleep 0.02; done
  before=$(sql "select count(*) from escalations")
  kill9 "$BROKER_PID"
  diag "kill -9 at +${at} ms with $before escalations recorded"
  start_broker || { not_ok "restart"; finish; exit 1; }
done
all_fired() { [ "$(sql 'select count(*) from escalations')" = $((N * 3)) ]; }
check "all $((N * 3)) levels fell due and fired" wait_for 20 all_fired
sleep 0.5
check "each (case, level) is in the table once" \
  test "$(sql 'select count(*) from (select distinct case_id, level from escalations)')" = $((N * 3))
grep -h 'event=escalated' "$T/broker.log" | sed -n 's/.*case_id=\([0-9]*\).*level=\([0-9]\) .*/\1 \2/p' | sort > "$T/logged.txt"
check "no escalation logged twice" test "$(uniq -d "$T/logged.txt" | wc -l)" = 0
# A line is written right after the commit that records it; a kill -9 that
# lands between that commit's WAL write and the log write loses the lines of
# that one pass (the database keeps them, and the restart does not fire them
# again). So: every line is there, except at most one pass's per kill, each
# pass's all of one instant.
sql "select case_id || ' ' || level from escalations" | sort > "$T/recorded.txt"
missing=$(comm -23 "$T/recorded.txt" "$T/logged.txt" | wc -l)
instants=$(comm -23 "$T/recorded.txt" "$T/logged.txt" | while read -r c l; do
  sql "select fired_at from escalations where case_id = $c and level = $l"; done | sort -u | wc -l)
diag "$((N * 3 - missing)) of $((N * 3)) escalations logged; $missing lost with the pass a kill cut"
check "every recorded escalation is logged but those of at most one cut pass per kill" \
  test "$instants" -le $#
check "3 broker starts" test "$(ready_count)" = 3
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
