#!/bin/sh
# routing.sh - 1,000 cases across 5 departments, two workers for one of them.
# Every case reaches exactly the departments its route names; the outcomes in
# the database are the ones the workers sent; each case's audit trail lists
# every transition in order.
. "$(dirname "$0")/../lib.sh"
N=1000
write_config
LOG_LEVEL=info start_broker || exit 1       # every event logged: none may carry a phone
start_worker water water-a -c 8
start_worker water water-b -c 8
for d in urban traffic security hrss dispatch; do start_worker $d $d -c 16; done
bounded 180 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n $N -o "$T/acks.txt" -t 120 \
  -c water.leak,road.pothole,noise.night,wage.arrears,water.outage,streetlight.out >"$T/loadgen.out" 2>&1
check "loadgen: all $N submissions acknowledged" test $? = 0
diag "$(cat "$T/loadgen.out")"
check "all $N cases resolved" wait_for 120 all_resolved $N

# 1. routes: the sorted departments of each case equal its route's
sql "create table expected (service_code text, department text);
     insert into expected values ('water.leak','water'), ('water.outage','water'),
       ('road.pothole','urban'), ('road.pothole','traffic'), ('noise.night','security'),
       ('noise.night','urban'), ('wage.arrears','hrss'), ('streetlight.out','dispatch');"
wrong=$(sql "select count(*) from cases c where
  (select group_concat(department) from (select department from assignments where case_id = c.id order by department))
  is not (select group_concat(department) from (select department from expected where service_code = c.service_code order by department))")
check "every case reached exactly the departments its route names ($wrong wrong)" test "$wrong" = 0
check "both water workers shared the load" sh -c "[ -s '$T/w-water-a.log' ] && [ -s '$T/w-water-b.log' ]"

# 2. outcomes: what the database holds is what the workers sent
cat "$T"/w-*.log | awk '$3 != "received" { print $1, toupper($3) }' | sort > "$T/sent.txt"
sql "select assignment_id, kind from outcomes where scope != 'intake' and scope != 'admin'" \
  | tr '|' ' ' | sort > "$T/stored.txt"
check "outcomes stored = outcomes sent ($(wc -l < "$T/sent.txt") of them)" cmp -s "$T/sent.txt" "$T/stored.txt"
bad=$(sql "select count(*) from outcomes where kind = 'RESOLVED' and (result != 'fixed' or summary != '已处理完毕：案件' || case_id)")
check "every resolution carries the worker's result and summary ($bad differ)" test "$bad" = 0

# 3. audit trail: per assignment and per case, every transition, in order
bad=$(sql "select count(*) from (select assignment_id, group_concat(kind) k from
  (select assignment_id, kind from events where assignment_id is not null order by id) group by assignment_id)
  where k != 'routed,dispatched,accepted,contacted,resolved'")
check "each assignment's trail is routed, dispatched, accepted, contacted, resolved ($bad differ)" test "$bad" = 0
bad=$(sql "select count(*) from (select case_id, group_concat(kind) k from
  (select case_id, kind from events where assignment_id is null order by id) group by case_id)
  where k != 'received,dispatched,accepted,contacted,resolved'")
check "each case's trail is received, dispatched, accepted, contacted, resolved ($bad differ)" test "$bad" = 0
bad=$(sql "select count(*) from (select from_state, lag(to_state) over (partition by case_id order by id) prev
  from events where assignment_id is null) where prev is not null and from_state is not prev")
check "each case transition starts where the previous one ended ($bad breaks)" test "$bad" = 0
bad=$(sql "select count(*) from events e join cases c on c.id = e.case_id where e.at < c.received_at")
check "no event is older than its case" test "$bad" = 0

stop_pid "$BROKER_PID"
# loadgen gives case i the phone 138 + i (8 digits), the name 张三 and an address
check "the broker logged every event ($(grep -c 'event=' "$T/broker.log") lines)" \
  test "$(grep -c 'event=dispatched' "$T/broker.log")" -ge "$N"
check "no log line carries a resident's phone, name or address" \
  sh -c "! grep -h -E '138[0-9]{8}|张三|幸福小区' '$T'/*.log '$T'/*.out 2>/dev/null"
check "no sanitizer report" no_sanitizer_reports
finish
