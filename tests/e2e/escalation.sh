#!/bin/sh
# escalation.sh - with contact_deadline = 2s and a 3-level ladder of 1 s steps:
# cases that are not contacted escalate L1, L2 and L3 at the right times
# (±200 ms); contacted cases never escalate; each escalation appears exactly
# once in the log, in the database and on the event stream, and reaches the
# supervision worker as an ESCALATE notice naming grid, community and street,
# even when that worker connects only after the escalations fired and the
# broker restarted meanwhile, and not silenced by another department's ACKs;
# an acknowledged notice is not sent again.
. "$(dirname "$0")/../lib.sh"
supervision_config || { not_ok "config valid"; finish; exit 1; }
LOG_LEVEL=info start_broker || exit 1
start_worker hrss hrss -c 50 -s accept,contacted       # contacts at once: never escalates
$PY "$ROOT/tests/e2e/subscribe.py" "ipc://$T/events.sock" escalated 8 > "$T/events.txt" &
SUB=$!
PIDS="$PIDS $SUB"
sleep 0.5
bounded 120 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 10 -t 60 -p esc -c water.leak,wage.arrears >/dev/null   # water has no worker
check "5 water cases wait uncontacted, 5 hrss cases are contacted" \
  wait_for 10 sh -c "[ \$(sqlite3 '$T/minqing.db' \"select count(*) from cases where contacted_at is not null\") = 5 ]"
sleep 4
wait "$SUB"

# the database: exactly L1, L2, L3 for each water case, at due + 0, 1, 2 s (±200 ms)
check "15 escalations recorded (5 cases x 3 levels)" test "$(sql 'select count(*) from escalations')" = 15
bad=$(sql "select count(*) from escalations e join cases c on c.id = e.case_id where c.service_code != 'water.leak'")
check "contacted cases never escalate ($bad did)" test "$bad" = 0
late=$(sql "select count(*) from escalations where abs(fired_at - due_at - (level - 1) * 1000) > 200")
diag "lag of each level (ms): $(sql "select group_concat(fired_at - due_at - (level - 1) * 1000) from escalations")"
check "every level fired within 200 ms of its time ($late did not)" test "$late" = 0
check "levels fired in order L1 < L2 < L3 per case" test "$(sql "select count(*) from escalations a join escalations b
  on a.case_id = b.case_id and a.level < b.level and a.fired_at > b.fired_at")" = 0

# the log: exactly one line per escalation, with its fields, at the level's severity
grep 'event=escalated' "$T/broker.log" > "$T/esc.log"
check "15 escalation lines in the log" test "$(wc -l < "$T/esc.log")" = 15
check "no escalation logged twice" test "$(sed -n 's/.*case_id=\([0-9]*\).*level=\([0-9]\).*/\1 \2/p' "$T/esc.log" | sort | uniq -d | wc -l)" = 0
check "L1 at warning, L2 at err, L3 at crit" sh -c "
  [ \$(grep -c 'severity=warning .*level=1 ' '$T/esc.log') = 5 ] &&
  [ \$(grep -c 'severity=err .*level=2 ' '$T/esc.log') = 5 ] &&
  [ \$(grep -c 'severity=crit .*level=3 ' '$T/esc.log') = 5 ]"
check "lines name case, department, grid, community, street, overdue seconds (1: fired within the first second past the deadline)" \
  grep -q 'case_id=[0-9]* department=water grid=CG01-XH01-G[0-9]* community=西湖社区 street=城关街道 level=1 ladder=contact target=community overdue_s=1' "$T/esc.log"

# the event stream: the same 15, once each
check "15 escalated events on the event stream, none twice" \
  sh -c "[ \$(wc -l < '$T/events.txt') = 15 ] && [ \$(sort '$T/events.txt' | uniq -d | wc -l) = 0 ]"
# the supervision worker, started only now and after a restart of the
# broker: the notices waited for it in the database
stop_pid "$BROKER_PID"
LOG_LEVEL=info start_broker || exit 1
check "the broker restarted with 15 unacknowledged notices" \
  grep -q 'event=broker.loaded .*unacknowledged_notices=15' "$T/broker.log"
# a worker of another department ACKs every notice: none of them counts
bounded "$PY" - "ipc://$T/workers.sock" > "$T/foreign.txt" 2>&1 <<'PY'
import sys, zmq, msgpack
s = zmq.Context().socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 1000)
s.connect(sys.argv[1])
sig = b"MINQING/1"
s.send_multipart([sig, b"REGISTER", msgpack.packb({"msg_id": "f1", "department": "water", "capacity": 1})])
if not s.poll(5000):
    sys.exit("no REGISTER ACK")
print(s.recv_multipart()[1].decode())
for i in range(1, 16):
    s.send_multipart([sig, b"ACK", msgpack.packb({"re": "esc-%d" % i})])
s.send_multipart([sig, b"DISCONNECT", msgpack.packb({"reason": "done"})])
PY
check "another department's ACKs are refused, logged once each" \
  wait_for 5 sh -c "[ \$(grep -c 'event=escalation.ack_refused .*reason=\"the notice is for another department\"' '$T/broker.log') = 15 ]"
check "and none is recorded as notified" \
  test "$(sql 'select count(*) from escalations where notified_at is null')" = 15
start_worker supervision sup -c 50
check "the supervision worker, connected after the fact, got the 15 notices" \
  wait_for 10 sh -c "[ \$(cat '$T/w-sup.log' 2>/dev/null | grep -c escalation) = 15 ]"
check "notices name the street" grep -q 'escalation L2 contact street 城关街道' "$T/w-sup.log"
check "each acknowledgement is recorded" \
  wait_for 5 sh -c "[ \$(sqlite3 '$T/minqing.db' 'select count(*) from escalations where notified_at is null') = 0 ]"
# acknowledged notices are not sent again by the next start
stop_pid "$BROKER_PID"
start_broker || exit 1
sleep 1.5
check "after another restart, none is sent twice" test "$(grep -c escalation "$T/w-sup.log")" = 15
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
