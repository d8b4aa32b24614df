#!/bin/sh
# failover.sh - what happens to a department's work when its workers come and go.
#  - a worker killed before ACCEPT: its assignments reach the other live worker
#    of its department within the liveness window (heartbeat x liveness);
#  - a worker killed after ACCEPT: its accepted assignments wait for the next
#    worker of the department that registers, not for a busy colleague;
#  - a department with no live worker: its cases wait, and go out when one registers;
#  - a DISPATCH that cannot leave (its worker died unnoticed) is not recorded.
. "$(dirname "$0")/../lib.sh"
HEARTBEAT=500ms     # liveness 3: a silent worker is dead after 1.5 s
write_config
LOG_LEVEL=info start_broker || exit 1     # worker.registered, for the waits below
submit() { bounded 120 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n "$1" -p "$2" -c "$3" -t 60 >>"$T/loadgen.out" 2>&1; }
held_by() { awk '$3 == "received" { print $1 }' "$T/w-$1.log" | sort -u; }

# 1. killed before ACCEPT: a holder that never answers, and a colleague
start_worker water holder -c 10 -s -
HOLDER=$WORKER_PID
wait_for 10 grep -q 'worker.registered' "$T/broker.log" 2>/dev/null || true
submit 10 a water.leak
check "the holder received all 10 water cases" wait_for 10 sh -c "[ \$(grep -c received '$T/w-holder.log') -ge 10 ]"
start_worker water colleague -c 20
kill9 "$HOLDER"
t0=$(now_ms)
held_by holder > "$T/held.txt"
all_moved() { held_by colleague | comm -23 "$T/held.txt" - | grep -q . && return 1; return 0; }
check "the colleague got the dead holder's 10 unaccepted assignments" wait_for 10 all_moved
moved_ms=$(( $(now_ms) - t0 ))
diag "hand-over took $moved_ms ms (liveness window 1500 ms)"
check "within the liveness window plus 1.5 s ($moved_ms ms)" test "$moved_ms" -le 3000
check "and resolved them" wait_for 20 sh -c "[ \$(sqlite3 '$T/minqing.db' \"select count(*) from cases where state = 'resolved'\") = 10 ]"

# 2. killed after ACCEPT: accepted work waits for a newly registered worker
start_worker hrss acceptor -c 10 -s accept
ACCEPTOR=$WORKER_PID
submit 5 b wage.arrears
check "the acceptor accepted 5 hrss cases" wait_for 10 sh -c "[ \$(grep -c ' accept ' '$T/w-acceptor.log') = 5 ]"
start_worker hrss bystander -c 10
wait_for 10 grep -q 'event=worker.registered worker=hrss:bystander' "$T/broker.log"
# the acceptor heard from after the bystander registered: the broker dates a
# death by the holder's last word, and the bystander must come before it
sleep 1
kill9 "$ACCEPTOR"
sleep 2.5   # past the liveness window
check "a colleague already connected does not get accepted work" test "$(count_in "$T/w-bystander.log" received)" = 0
start_worker hrss restarted -c 10
check "the next worker to register gets the 5 accepted assignments" wait_for 10 sh -c "[ \$(grep -c ' resolved ' '$T/w-restarted.log' 2>/dev/null) = 5 ]"
check "delivered again with attempt 2" test "$(awk '$3 == "received" && $4 == 2' "$T/w-restarted.log" | wc -l)" = 5

# 3. no live worker: cases wait, deadlines recorded, delivered on registration
submit 3 c noise.night
sleep 1
check "security's assignments wait while no security worker is connected" \
  test "$(sql "select count(*) from assignments where department = 'security' and state = 'received'")" = 3
start_worker security late -c 10
start_worker urban urban -c 10
check "delivered once a worker registers, and resolved" wait_for 20 sh -c "[ \$(grep -c ' resolved ' '$T/w-late.log' 2>/dev/null) = 3 ]"

# 4. a worker dies, and the broker learns it from a DISPATCH that cannot
# leave (before the liveness window ends): nothing is recorded for it
start_worker traffic ghost -c 10 -s -
GHOST=$WORKER_PID
wait_for 10 grep -q 'event=worker.registered worker=traffic:ghost' "$T/broker.log"
kill9 "$GHOST"
sleep 0.3
bounded 70 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 1 -p d -c road.pothole -t 10 >>"$T/loadgen.out" 2>&1
check "the dead worker is dropped when its DISPATCH finds no peer" \
  wait_for 5 grep -q 'event=worker.lost worker=traffic:ghost#[0-9]* department=traffic reason=unreachable' "$T/broker.log"
start_worker traffic next -c 10
check "the next traffic worker resolves it" wait_for 10 sh -c "grep -q ' resolved ' '$T/w-next.log'"
q="from assignments a join cases c on c.id = a.case_id where c.external_id = 'd-0' and a.department = 'traffic'"
check "its first delivery is attempt 1: the failed one was not counted" \
  test "$(sql "select attempt $q")" = 1
check "and the audit trail shows one dispatch, not two" \
  test "$(sql "select count(*) from events where kind = 'dispatched' and assignment_id = (select a.id $q)")" = 1

stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
