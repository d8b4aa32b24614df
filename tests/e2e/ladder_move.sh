#!/bin/sh
# ladder_move.sh - a rung moved later by a reload (the same target, a new
# offset: `2 = 1s street` becomes `2 = 4s street`) while open cases are past
# it. They told the street office already: it is not told again (no second
# escalation, no second ESCALATE), and the rung after it still fires once.
# Then a rung not yet told moved before the last one fired: it fires late.
. "$(dirname "$0")/../lib.sh"
write_config "auto_close = 0"
contact_ladder 1s "1 = 0 community
2 = 1s street
3 = 6s county"

LOG_LEVEL=info start_broker || exit 1
bounded 60 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 2 -t 30 -p mv -c water.leak >/dev/null   # no water worker
check "2 uncontacted cases escalate to community, then street" wait_for 10 fired street 2
ladder "1 = 0 community
2 = 4s street
3 = 6s county"
kill -HUP "$BROKER_PID"
# their count stays: the street rung they fired is level 2 still, now at 4s
check "the reload leaves both open cases past street" wait_for 5 grep -q \
  'event=config.ladder_changed ladder=contact rungs_before=3 rungs_after=3 open_cases_moved=0 ' "$T/broker.log"
check "the county rung still fires for both, after the reload" wait_for 10 fired county 2
sleep 0.5
check "the street office escalated once per case, not again at its new offset" \
  test "$(sql "select count(*) from escalations where target = 'street'")" = 2
check "6 escalations: each case once to community, street and county" sh -c "
  [ \$(sqlite3 '$T/minqing.db' 'select count(*) from escalations') = 6 ] &&
  [ \$(sqlite3 '$T/minqing.db' 'select count(distinct case_id || target) from escalations') = 6 ]"
check "6 escalation lines in the log" test "$(grep -c 'event=escalated' "$T/broker.log")" = 6
stop_pid "$BROKER_PID"

# 2. a rung not yet told moved ahead of the last one fired (street from after
# county to before it, county keeping its offset): street is told late, not
# never, and county is not told again
rm -f "$T"/minqing.db*
write_config "auto_close = 0"
contact_ladder 1s "1 = 0 community
2 = 2s county
3 = 8s street"
: > "$T/broker.log"
LOG_LEVEL=info start_broker || exit 1
bounded 60 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 2 -t 30 -p ah -c water.leak >/dev/null
check "2 uncontacted cases escalate to community, then county" wait_for 10 fired county 2
ladder "1 = 0 community
2 = 1s street
3 = 2s county"
kill -HUP "$BROKER_PID"
check "after the reload street, passed over by its new place, is told for both" \
  wait_for 5 fired street 2
sleep 0.5
check "6 escalations: each case once to community, county and street" sh -c "
  [ \$(sqlite3 '$T/minqing.db' 'select count(*) from escalations') = 6 ] &&
  [ \$(sqlite3 '$T/minqing.db' 'select count(distinct case_id || target) from escalations') = 6 ]"
check "6 escalation lines in the log" test "$(grep -c 'event=escalated' "$T/broker.log")" = 6
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
