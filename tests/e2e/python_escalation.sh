#!/bin/sh
# python_escalation.sh - the Python worker (workers/python/minqing_worker.py)
# as a supervision worker against the real broker: an ESCALATE is ACKed only
# after on_escalate has returned (PROTOCOL.md 5.16: the broker records the
# ACK as "notified" and never sends the notice again), so a notice survives
# a worker that dies inside on_escalate and a callback that raises.
#
# With a 2 s contact deadline and a 3-rung ladder (fast_ladder), 2 water cases
# that nobody contacts fire 6 escalations for the supervision department.
# sup-a dies (os._exit) inside its first on_escalate; sup-b, started after
# that, raises in the first on_escalate of each escalation_id and succeeds in
# the next. Every notice, the one sup-a died on included, must reach sup-b's
# on_escalate twice (the broker's 5 s resend after the failure) and end
# acknowledged in the broker's database, acknowledged only after the
# successful call.
#
# Then sup-c, alone, acts asynchronously: its on_escalate returns HOLD and a
# thread (an SMS gateway, say) answers 0.5 s later: release_escalation the
# first time for each escalation_id, ack_escalation the second. A third case's
# 3 notices must each reach on_escalate twice (held, released, the broker's
# resend) and end acknowledged in the database no earlier than the
# ack_escalation call.
. "$(dirname "$0")/../lib.sh"
WORKER=$ROOT/workers/python/minqing_worker.py
supervision_config || { not_ok "config valid"; finish; exit 1; }

# sup.py WORKER ENDPOINT NAME MODE RECORD: a supervision worker whose
# on_escalate writes "escalation_id call unix_ms die|fail|ok|hold" to RECORD.
# MODE die: exits at once (os._exit 3) in its first call, after 0.3 s (long
# enough for anything it sent before to reach the broker). MODE flaky: raises
# in the first call for each escalation_id, returns in later ones. MODE
# async: returns HOLD, and a thread 0.5 s later writes "... release" and
# releases the notice after the first call for an escalation_id, writes
# "... ack" and acknowledges it after later ones.
cat > "$T/sup.py" <<'PY'
import logging, os, signal, sys, threading, time
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import minqing_worker as mq
endpoint, name, mode, record = sys.argv[2:6]
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
calls = {}
out = open(record, "a")
out_lock = threading.Lock()

def write(eid, call, verdict):
    with out_lock:
        out.write("%d %d %d %s\n" % (eid, call, int(time.time() * 1000), verdict))
        out.flush()

def gateway(w, eid, call):
    """The SMS gateway's answer, in a thread of its own."""
    write(eid, call, "release" if call == 1 else "ack")
    (w.release_escalation if call == 1 else w.ack_escalation)(eid)

def on_escalate(w, e):
    eid = e["escalation_id"]
    calls[eid] = calls.get(eid, 0) + 1
    verdict = {"die": "die", "async": "hold"}.get(mode, "fail" if calls[eid] == 1 else "ok")
    write(eid, calls[eid], verdict)
    if verdict == "hold":
        threading.Timer(0.5, gateway, (w, eid, calls[eid])).start()
        return mq.HOLD
    if verdict == "die":
        time.sleep(0.3)
        os._exit(3)
    if verdict == "fail":
        raise RuntimeError("the supervision desk is unreachable")

w = mq.Worker(endpoint, "supervision", capacity=4, name=name, on_escalate=on_escalate)
signal.signal(signal.SIGTERM, lambda *_: setattr(w, "stopping", True))
try:
    w.run()
finally:
    w.close()
PY
start_sup() {
  "$PY" "$T/sup.py" "$WORKER" "ipc://$T/workers.sock" "$1" "$2" "$T/calls-$1.txt" >>"$T/$1.out" 2>&1 &
  SUP_PID=$!
  PIDS="$PIDS $SUP_PID"
}

LOG_LEVEL=info start_broker || exit 1
start_sup sup-a die
A_PID=$SUP_PID
check "sup-a registered" wait_for 10 grep -q ' registered ' "$T/sup-a.out"
bounded 120 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 2 -t 60 -p pyesc -c water.leak >/dev/null    # water has no worker
check "sup-a died inside on_escalate" wait_for 10 gone "$A_PID"
kill -9 "$A_PID" 2>/dev/null; wait "$A_PID" 2>/dev/null
died=$(awk '$4 == "die" { print $1 }' "$T/calls-sup-a.txt" 2>/dev/null)
diag "sup-a died in on_escalate for escalation ${died:-none}"
start_sup sup-b flaky
B_PID=$SUP_PID
check "6 escalations fired (2 cases x 3 rungs)" wait_for 10 sh -c "[ \$(sqlite3 '$T/minqing.db' 'select count(*) from escalations') = 6 ]"
all_acked() { [ "$(sql 'select count(*) from escalations where notified_at is null')" = 0 ]; }
# calls_by_eid SUP KEY: SUP's record as "escalation_id verdict verdict ...", the
# verdicts of each escalation in the order of field KEY (2: call, 3: time)
calls_by_eid() {
  sort -n -k1,1 -k"$2,$2" "$T/calls-$1.txt" 2>/dev/null |
    awk '{ v[$1] = v[$1] (v[$1] == "" ? "" : " ") $4 } END { for (e in v) print e, v[e] }' | sort -n
}
# answered SUP COL ANSWERS N WHAT: check that each of N escalations went to
# SUP's on_escalate with exactly ANSWERS, in that order (per_eid: what it saw)
answered() {
  per_eid=$(calls_by_eid "$1" "$2")
  diag "$1's calls: $(echo "$per_eid" | tr '\n' ';')"
  n_ok=$(echo "$per_eid" | grep -c " $3\$")
  check "$5 ($n_ok)" sh -c "[ $n_ok = $4 ] && [ \$(echo '$per_eid' | wc -l) = $4 ]"
}
# notified_times: "escalation_id notified_at" of each escalation, into $T/notified.txt
notified_times() { sql "select id, notified_at from escalations order by id" | tr '|' ' ' > "$T/notified.txt"; }
check "every escalation ends acknowledged in the broker's database" wait_for 40 all_acked
sleep 0.5

# what sup-b's on_escalate saw: per escalation "fail ok", in that order
answered sup-b 2 'fail ok' 6 \
  "each of the 6 went to sup-b's on_escalate twice: it raised, then the broker's resend came and it returned"
check "the notice sup-a died on (${died:-none}) was not lost: sup-b handled it" \
  sh -c "[ -n '$died' ] && echo '$per_eid' | grep -q '^$died fail ok$'"
# the broker recorded each ACK after the successful call began, and not at the failed one
notified_times
late=$(awk 'NR == FNR { if ($4 == "fail") fail[$1] = $3; else if ($4 == "ok") ok[$1] = $3; next }
  { if (!($1 in ok) || $2 < ok[$1] - 100 || $2 < fail[$1] + 1000) bad++ } END { print bad + 0 }' \
  "$T/calls-sup-b.txt" "$T/notified.txt")
check "each ACK reached the broker after on_escalate returned, none at the call that raised ($late early)" test "$late" = 0
check "sup-b logged each of the 6 failures" test "$(count_in "$T/sup-b.out" 'on_escalate failed for escalation')" = 6
check "sup-b kept running" sh -c "! grep -q ') Z' /proc/$B_PID/stat 2>/dev/null && [ -d /proc/$B_PID ]"
stop_pid "$B_PID"

# sup-c acts asynchronously (HOLD, then release or ack from another thread)
start_sup sup-c async
C_PID=$SUP_PID
check "sup-c registered" wait_for 10 grep -q ' registered ' "$T/sup-c.out"
bounded 120 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 1 -t 60 -p pyasync -c water.leak >/dev/null
check "3 more escalations fired (a third case)" wait_for 10 sh -c "[ \$(sqlite3 '$T/minqing.db' 'select count(*) from escalations') = 9 ]"
check "sup-c's 3 end acknowledged in the broker's database too" wait_for 40 all_acked
sleep 0.5
answered sup-c 3 'hold release hold ack' 3 \
  "each of the 3 went to sup-c's on_escalate, was released, came again with the broker's resend, and was acknowledged"
notified_times
late=$(awk 'NR == FNR { if ($4 == "ack") ack[$1] = $3; else if ($4 == "release") rel[$1] = $3; next }
  ($1 in ack) { n++; if ($2 < ack[$1] - 100 || $2 < rel[$1] + 1000) bad++ } END { print (n == 3 ? bad + 0 : "missing") }' \
  "$T/calls-sup-c.txt" "$T/notified.txt")
check "each ACK reached the broker after ack_escalation, none at the release ($late early)" test "$late" = 0
check "no spec drift seen by the workers" sh -c "! grep -q 'spec-drift:' '$T'/sup-*.out"
check "sup-c logged no failure" sh -c "! grep -q -E 'failed|Traceback' '$T/sup-c.out'"
stop_pid "$C_PID"
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
