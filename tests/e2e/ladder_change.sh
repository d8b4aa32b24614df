#!/bin/sh
# ladder_change.sh - the contact ladder changed while uncontacted cases climb
# it, once by a reload (SIGHUP) and once by a restart with the edited file.
# Each case goes on after the last rung it fired: a rung inserted before that
# is passed over, one inserted after it fires once, and removing rungs before
# it neither fires the rest again nor skips them. In the end every case has
# escalated to community, street, district and county, each exactly once.
# A reload that changes no ladder writes nothing to the database.
. "$(dirname "$0")/../lib.sh"
write_config "auto_close = 0"
contact_ladder 1s "1 = 0 community
2 = 2s street
3 = 6s county"

LOG_LEVEL=info start_broker || exit 1
bounded 120 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 4 -t 60 -p lad -c water.leak >/dev/null   # no water worker
check "4 uncontacted cases escalate to community, then street" wait_for 10 fired street 4
# a reminder before the deadline (before every fired rung) and a district
# rung between the fired street and the county still to come
ladder "1 = -500ms reminder
2 = 0 community
3 = 2s street
4 = 4s district
5 = 6s county"
kill -HUP "$BROKER_PID"
check "the reload says how far the open cases moved" wait_for 5 grep -q \
  'event=config.ladder_changed ladder=contact rungs_before=3 rungs_after=5 open_cases_moved=4 ' "$T/broker.log"
check "the inserted district rung fires, after the reload" wait_for 10 fired district 4
check "neither the reminder before the fired rungs nor those fired again" \
  sh -c "[ \$(sqlite3 '$T/minqing.db' \"select count(*) from escalations where target in ('reminder', 'community', 'street')\") = 8 ]"
# reminder and community gone, by a restart with the edited file
stop_pid "$BROKER_PID"
ladder "1 = 2s street
2 = 4s district
3 = 6s county"
LOG_LEVEL=info start_broker || exit 1
check "the restart says how far the open cases moved" grep -q \
  'event=config.ladder_changed ladder=contact rungs_before=5 rungs_after=3 open_cases_moved=4 ' "$T/broker.log"
check "the county rung still fires, at its level on the new ladder" wait_for 10 sh -c \
  "[ \$(sqlite3 '$T/minqing.db' \"select count(*) from escalations where target = 'county' and level = 3\") = 4 ]"
sleep 0.5
check "16 escalations: each case once to each of community, street, district, county" sh -c "
  [ \$(sqlite3 '$T/minqing.db' 'select count(*) from escalations') = 16 ] &&
  [ \$(sqlite3 '$T/minqing.db' 'select count(distinct case_id || target) from escalations') = 16 ] &&
  [ \$(sqlite3 '$T/minqing.db' \"select count(*) from escalations where target = 'reminder'\") = 0 ]"
check "16 escalation lines in the log" test "$(grep -c 'event=escalated' "$T/broker.log")" = 16
# a reload that changes no ladder writes nothing, so it goes through while
# another connection holds the database's write lock
(echo 'BEGIN IMMEDIATE;'; sleep 4; echo 'COMMIT;') | sqlite3 "$T/minqing.db" &
LOCK=$!
PIDS="$PIDS $LOCK"
sleep 0.5
sed -i 's/^heartbeat = .*/heartbeat = 600ms/' "$T/minqing.conf"
n=$(grep -c 'event=config.reloaded' "$T/broker.log")
kill -HUP "$BROKER_PID"
check "a reload that changes no ladder does not wait for the database's write lock" \
  wait_for 2 sh -c "[ \$(grep -c 'event=config.reloaded' '$T/broker.log') -gt $n ]"
wait "$LOCK"
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
