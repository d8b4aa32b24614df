#!/bin/sh
# kill9.sh - kill -9 the broker at random moments, ROUNDS times, while N
# cases are submitted, worked and escalated. After each restart, every case
# whose SUBMIT_OK reached the client is in the database; in the end no case
# is duplicated, every case is dispatched to the departments that have a
# worker, the worked ones are all resolved, and each escalation happened
# exactly once: once in the table, never twice in the log, and every level
# that fell due (the contact deadline is 2 s) is recorded.
#
# Departments: water, urban, traffic, security resolve everything; hrss
# accepts and holds its cases without contacting anyone; dispatch (the
# default route, streetlight.out) has no worker. So a third of the cases climb
# the whole contact ladder while the broker is being killed.
#
# make test runs ROUNDS=20 (N = 100 per round at RATE/s); make test-faults
# LONG=1 runs ROUNDS=50. Figures are printed as "# " lines.
. "$(dirname "$0")/../lib.sh"
ROUNDS=${ROUNDS:-20}
N=${N:-$((ROUNDS * 100))}
RATE=${RATE:-133}
SEED=${SEED:-$(date +%s)}
diag "seed $SEED (SEED=$SEED ROUNDS=$ROUNDS N=$N RATE=$RATE sh $0 reproduces the pauses)"
write_config
fast_ladder
# the ladder above as "level offset_ms", for the checks
RUNGS="1 0
2 1000
3 2000"
WORKED="water urban traffic security"       # resolve everything
HELD=hrss                                   # accepts, never contacts
start_broker || exit 1
for d in $WORKED; do start_worker "$d" "$d" -c 16; done
start_worker "$HELD" "$HELD" -c 10000 -s accept
"$BIN/loadgen" -e "ipc://$T/intake.sock" -n "$N" -r "$RATE" -o "$T/acks.txt" -t $((N / RATE + 300)) \
  -c water.leak,road.pothole,noise.night,wage.arrears,water.outage,streetlight.out \
  >"$T/loadgen.out" 2>&1 &
LOADGEN=$!
PIDS="$PIDS $LOADGEN"

# acked_are_stored: every "external_id case_id" the client was told is in the database
acked_are_stored() {
  sort -u "$T/acks.txt" | awk '{ print $1, $2 }' > "$T/acked.txt"
  sql "select external_id, id from cases" | tr '|' ' ' | sort > "$T/stored.txt"
  [ -z "$(comm -23 "$T/acked.txt" "$T/stored.txt")" ]
}

lost=0 kills=0
: > "$T/restart_ms.txt"
pauses=$(awk -v s="$SEED" -v n="$ROUNDS" 'BEGIN { srand(s); for (i = 0; i < n; i++) printf "%.2f ", 0.1 + rand() * 0.7 }')
for p in $pauses; do
  sleep "$p"
  killed_at=$(now_ms)
  kill9 "$BROKER_PID"
  kills=$((kills + 1))
  start_broker || { not_ok "broker restarts after kill -9"; break; }
  echo $(( $(log_ms "$(grep 'event=broker.ready' "$T/broker.log" | tail -1)") - killed_at )) >> "$T/restart_ms.txt"
  acked_are_stored || lost=$((lost + 1))
done
check "$ROUNDS rounds of kill -9: every acknowledged case was in the database after each restart" test $lost = 0
wait "$LOADGEN"
check "loadgen: all $N submissions acknowledged across the kills" test $? = 0
diag "$(cat "$T/loadgen.out")"
worked_resolved() {   # every case routed only to departments that resolve is resolved
  [ "$(sql "select count(*) from cases where service_code not in ('wage.arrears', 'streetlight.out')
    and state != 'resolved'")" = 0 ]
}
check "every case of the worked departments resolved in the end" wait_for 120 worked_resolved
check "every acknowledged case is stored under the id the client was told" acked_are_stored
check "no case is duplicated: $N submissions, $N cases" test "$(sql 'select count(*) from cases')" = "$N"
bad=$(sql "select count(*) from (select channel, external_id from cases group by 1, 2 having count(*) > 1)")
check "no (channel, external_id) twice ($bad)" test "$bad" = 0
bad=$(sql "select count(*) from (select case_id from events where kind = 'received' group by case_id having count(*) > 1)")
check "each case was received once ($bad twice)" test "$bad" = 0
bad=$(sql "select count(*) from cases c where not exists (select 1 from assignments a where a.case_id = c.id)")
check "every case has its assignments ($bad without)" test "$bad" = 0
# dispatched: its state left 'received', or a 'dispatched' event (a resent ACCEPT may
# take an assignment whose delivery the kill left unrecorded straight from 'received')
undelivered() {
  sql "select count(*) from assignments a where department in ('water', 'urban', 'traffic', 'security', 'hrss')
    and state = 'received' and not exists (select 1 from events e where e.assignment_id = a.id and e.kind = 'dispatched')"
}
all_delivered() { [ "$(undelivered)" = 0 ]; }
check "every assignment of a department with a worker was dispatched" wait_for 30 all_delivered
all_delivered || diag "$(undelivered) were not"
unheld() { sql "select count(*) from cases where service_code = 'wage.arrears' and state != 'accepted'"; }
all_held() { [ "$(unheld)" = 0 ]; }
check "the held hrss cases are all accepted, none contacted" wait_for 30 all_held
all_held || diag "$(unheld) are not"
waiting=$(sql "select count(*) from assignments where department = 'dispatch' and state != 'received'")
check "the cases of dispatch, which has no worker, wait undelivered ($waiting do not)" test "$waiting" = 0

# --- escalations: once in the table, never twice in the log, every due level recorded
# longest outage (kill -9 to ready) + 1 s: a level due that long before the
# contact was made must have fired; one due closer to it may have been
# overtaken by the contact (applied before timers within a pass, or waiting
# for the restart), and then rightly never fires.
slack=$(( $(sort -n "$T/restart_ms.txt" | tail -1) + 1000 ))
last_due=$(sql "select max(contact_due) + 2000 from cases")
checkdb() {   # checkdb SQL: on a scratch database holding the rungs and the logged escalations
  bounded sqlite3 -cmd ".timeout 5000" -cmd "attach '$T/minqing.db' as m" "$T/check.db" "$@"
}
echo "$RUNGS" | awk 'BEGIN { print "create table rungs (level integer, off integer);" }
  { printf "insert into rungs values (%d, %d);\n", $1, $2 }' | sqlite3 "$T/check.db"
levels_complete() {   # every level is due by now, and every level that fell due is recorded
  now=$(now_ms)
  [ "$now" -gt $((last_due + 500)) ] && [ "$(checkdb "select count(*) from m.cases c, rungs r
    where c.contact_due + r.off <= $now - 500
      and (c.contacted_at is null or c.contact_due + r.off + $slack < c.contacted_at)
      and not exists (select 1 from m.escalations e
                      where e.case_id = c.id and e.ladder = 'contact' and e.level = r.level)")" = 0 ]
}
check "every level that fell due is recorded (due more than ${slack} ms before the contact, or never contacted)" \
  wait_for 30 levels_complete
check "$((kills + 1)) broker starts" test "$(ready_count)" = $((kills + 1))
stop_pid "$BROKER_PID"
check "the broker stopped clean" grep -q 'event=broker.stopped msg=clean' "$T/broker.log"

logged_escalations "$T/broker.log" |
  awk 'BEGIN { print "begin; create table logged (case_id integer, ladder text, level integer);" }
    { printf "insert into logged values (%d, '\''%s'\'', %d);\n", $1, $2, $3 } END { print "commit;" }' |
  sqlite3 "$T/check.db"
recorded=$(sql "select count(*) from escalations")
logged=$(checkdb "select count(*) from logged")
dup=$(checkdb "select count(*) from (select 1 from logged group by case_id, ladder, level having count(*) > 1)")
check "no escalation logged twice across $((kills + 1)) broker runs ($dup were)" test "$dup" = 0
dup=$(sql "select count(*) from (select 1 from escalations group by case_id, ladder, level having count(*) > 1)")
check "each (case, ladder, level) is in the escalations table once ($dup are not)" test "$dup" = 0
stray=$(checkdb "select count(*) from logged l where not exists (select 1 from m.escalations e
  where e.case_id = l.case_id and e.ladder = l.ladder and e.level = l.level)")
check "every logged escalation is recorded ($stray are not)" test "$stray" = 0
early=$(checkdb "select count(*) from m.escalations e join m.cases c on c.id = e.case_id
  left join rungs r on r.level = e.level
  where r.level is null or e.ladder != 'contact' or e.round != 0 or e.due_at != c.contact_due
     or e.fired_at < c.contact_due + r.off or (c.contacted_at is not null and e.fired_at > c.contacted_at)")
check "every recorded escalation was due, and fired before any contact ($early were not)" test "$early" = 0
# A line is written right after the commit that records it: a kill -9 between
# the two loses the lines of that one pass (the table keeps them, and the
# restart rightly does not fire them again). So every recorded escalation is
# logged but those of at most one pass (one fired_at instant) per kill.
unlogged="from m.escalations e where not exists
  (select 1 from logged l where l.case_id = e.case_id and l.ladder = e.ladder and l.level = e.level)"
instants=$(checkdb "select count(distinct e.fired_at) $unlogged")
nolog=$(checkdb "select count(*) $unlogged")
check "every recorded escalation is logged but those of at most one cut pass per kill ($instants passes, $kills kills)" \
  test "$instants" -le "$kills"
check "no sanitizer report" no_sanitizer_reports

# the figures, for the note
uncontacted=$(sql "select count(*) from cases where contacted_at is null")
late=$(sql "select count(distinct e.case_id) from escalations e join cases c on c.id = e.case_id where c.contacted_at is not null")
overtaken=$(checkdb "select count(*) from m.cases c, rungs r where c.contacted_at is not null
  and c.contact_due + r.off <= c.contacted_at and not exists (select 1 from m.escalations e
  where e.case_id = c.id and e.ladder = 'contact' and e.level = r.level)")
runs=$(awk '/event=broker.ready/ { r++ } /event=escalated/ && !(r in seen) { seen[r] = 1; n++ } END { print n + 0 }' "$T/broker.log")
# shellcheck disable=SC2046
set -- $(min_med_max "$T/restart_ms.txt")
diag "figures: seed $SEED, $kills kills -9, $N cases ($(sql "select count(*) from cases where state = 'resolved'") resolved, $uncontacted never contacted)"
diag "figures: escalations $recorded recorded, $logged logged, $nolog lost from the log in $instants cut passes;" \
  "$late contacted cases escalated before their contact, $overtaken due levels overtaken by a contact within ${slack} ms"
diag "figures: escalations fired in $runs of $((kills + 1)) broker runs"
diag "figures: restart (kill -9 to broker.ready) min $1 ms, median $2 ms, max $3 ms"
finish
