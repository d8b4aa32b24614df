#!/bin/sh
# reload_departments.sh - SIGHUP with a changed department list, workers
# connected and holding work:
#  - a department added ahead of water shifts water's place in the list: its
#    worker keeps what it accepted, and new water cases still reach it;
#  - a removed department's worker is told DISCONNECT, and the log names it
#    and counts the open work its department leaves behind;
#    the broker keeps serving, with no sanitizer report.
. "$(dirname "$0")/../lib.sh"
write_config
start_broker || exit 1
start_worker water w1 -s accept
start_worker hrss h1 -s accept
H1=$WORKER_PID
sleep 0.5
bounded 65 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 2 -p leak -c water.leak -t 5 >/dev/null
bounded 65 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 1 -p wage -c wage.arrears -t 5 >/dev/null
accepted() { [ "$(sql "select count(*) from assignments where state = 'accepted'")" = 3 ]; }
check "three cases accepted before the reload" wait_for 10 accepted

# gas goes in before water (every later department moves up one), hrss goes
# (and allow_plain_tcp, which the bound sockets cannot take up)
sed -i -e 's/^water = 水务局$/gas = 燃气公司\nwater = 水务局/' -e '/^hrss = /d' \
  -e '/^wage.arrears = hrss$/d' -e 's/^liveness = 3$/liveness = 3\nallow_plain_tcp = yes/' \
  "$T/minqing.conf"
kill -HUP "$BROKER_PID"
check "the new department list is reloaded" wait_for 5 grep -q 'event=config.reloaded.*departments=6' "$T/broker.log"
check "the removed department's worker is told to go, and the log says so" \
  grep -q 'event=worker.lost worker=hrss:h1#[0-9]* department=hrss reason="department removed' "$T/broker.log"
check "its open case is reported stranded, not dropped silently" \
  grep -q 'event=config.stranded open_assignments=1 ' "$T/broker.log"
check "a CURVE setting changed: logged as needing a restart" \
  grep -q 'event=config.restart_needed key=allow_plain_tcp running=no configured=yes' "$T/broker.log"
kill -HUP "$BROKER_PID"
check "... and again at the next reload of the same file: the broker still runs without it" \
  wait_for 5 sh -c "[ \$(grep -c 'event=config.restart_needed key=allow_plain_tcp running=no configured=yes' '$T/broker.log') = 2 ]"
stop_pid "$H1"

# a second water worker, registered after the reload: the accepted cases
# stay with w1, which is alive, and only new work is shared out
start_worker water w2 -s accept
sleep 0.5
bounded 65 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 4 -p after -c water.leak -t 5 >/dev/null
all_accepted() { [ "$(sql "select count(*) from assignments a join cases c on c.id = a.case_id
  where c.external_id like 'after-%' and a.state = 'accepted' and a.department = 'water'")" = 4 ]; }
check "water cases after the reload are dispatched and accepted" wait_for 10 all_accepted
before=$(sql "select count(*) from assignments a join cases c on c.id = a.case_id
  where c.external_id like 'leak-%' and a.worker like 'water:w1#%' and a.state = 'accepted'")
check "w1 still holds the two it accepted before ($before)" test "$before" = 2
check "w2 was not handed w1's accepted cases" test "$(count_in "$T/w-w2.log" ' received ')" -le 4
check "the broker is still up" kill -0 "$BROKER_PID"
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
