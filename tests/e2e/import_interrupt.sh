#!/bin/sh
# import_interrupt.sh - `minqing import` stopped by Ctrl-C (SIGINT) or
# SIGTERM, as an operator stops a long migration: it sends no more lines,
# waits a few seconds at most for the answers to those in flight, says on
# stderr how many lines were stored, sent but not answered, and not sent
# (adding up to the file's lines), and ends by that signal; a second Ctrl-C
# ends it at once; the same import run again imports the rest. The broker's
# intake_rate keeps the import running long enough to be stopped.
. "$(dirname "$0")/../lib.sh"
MQ="$BIN/minqing"
write_config "intake_rate = 1000"
start_broker || exit 1

stored() { sql "select count(*) from cases where external_id like '$1-%'"; }
at_least() { [ "$(stored "$1")" -ge "$2" ]; }
# imp_bg FILE: the import in the background, with SIGINT and SIGTERM at their
# default action (a script's background job has SIGINT ignored); sets IMP
imp_bg() {
  env --default-signal=INT,TERM "$MQ" -c "$T/minqing.conf" import "$T/$1" \
    > "$T/$1.out" 2> "$T/$1.err" &
  IMP=$!
  PIDS="$PIDS $IMP"
}
# ended [SECONDS]: wait (10 s at most) for the import to end; sets rc and ms,
# the time since signalled was set
ended() {
  wait_for "${1:-10}" gone "$IMP" || kill -9 "$IMP"
  wait "$IMP"; rc=$? ms=$(( $(now_ms) - signalled ))
}
# numbers FILE: the summary of a stopped import read into L (lines), S
# (stored), F (in flight), U (not sent) and R (refused); -1 each without one
numbers() {
  set -- $(sed -n 's/^minqing import: stopped by .* after [0-9.]* s, of \([0-9]*\) lines: \([0-9]*\) stored ([0-9]* imported, [0-9]* already there), \([0-9]*\) sent but not answered, \([0-9]*\) not sent, \([0-9]*\) refused$/\1 \2 \3 \4 \5/p' "$T/$1.err") -1 -1 -1 -1 -1
  L=$1 S=$2 F=$3 U=$4 R=$5
}
# catches_int PID: the process has a handler for SIGINT (bit 2 of SigCgt)
catches_int() {
  m=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$1/status")
  [ $(( 0x${m#"${m%?}"} & 2 )) -ne 0 ]
}

# 1. Ctrl-C while lines are being stored: a summary whose numbers add up,
# and a run again that imports the rest
N=8000
legacy_cases int.jsonl int $N
imp_bg int.jsonl
wait_for 30 at_least int 1000 || diag "fewer than 1000 lines stored in 30 s: $(stored int)"
kill -INT "$IMP"; signalled=$(now_ms)
ended
numbers int.jsonl
diag "stopped: exit $rc after $ms ms: $(head -1 "$T/int.jsonl.err")"
check "Ctrl-C: the import ends by SIGINT (status 130) once it has waited 3 s at most (exit $rc, $ms ms)" \
  sh -c "[ $rc = 130 ] && [ $ms -le 6000 ]"
check "... its summary on stderr: stored + in flight + not sent = the $N lines, none refused ($L: $S + $F + $U, $R refused)" \
  sh -c "[ $L = $N ] && [ $S -ge 1000 ] && [ $U -gt 0 ] && [ $R = 0 ] && [ $((S + F + U)) = $N ]"
check "... the lines it counts stored are in the database, and no more than those and the ones in flight ($(stored int))" \
  sh -c "[ $(stored int) -ge $S ] && [ $(stored int) -le $((S + F)) ]"
check "... that the same import run again is safe and goes on, by (channel, external_id)" \
  grep -q "^minqing import: running the same import again on the whole input is safe and goes on: the broker knows a line already stored by its (channel, external_id)" "$T/int.jsonl.err"
check "... and the usual summary on stdout: imported $S cases" \
  grep -q "^imported $S cases (0 already there, 0 lines refused)" "$T/int.jsonl.out"
bounded 60 "$MQ" -c "$T/minqing.conf" import "$T/int.jsonl" > "$T/again.out" 2> "$T/again.err"; rc=$?
A=$(sed -n 's/^imported [0-9]* cases (\([0-9]*\) already there, 0 lines refused).*/\1/p' "$T/again.out")
diag "run again: exit $rc: $(cat "$T/again.out")"
check "run again: exit 0, every line stored, those stored before counted already there ($S <= ${A:-?} <= $((S + F)))" \
  sh -c "[ $rc = 0 ] && [ $(stored int) = $N ] && grep -q '^imported $N cases' '$T/again.out' &&
         [ '${A:-0}' -ge $S ] && [ '${A:-0}' -le $((S + F)) ]"

# 2. SIGTERM while the broker answers nothing (stopped): the answers are
# waited for a few seconds, not for --timeout
M=2000
legacy_cases term.jsonl term $M
imp_bg term.jsonl
wait_for 30 at_least term 200 || diag "fewer than 200 lines stored in 30 s: $(stored term)"
kill -STOP "$BROKER_PID"
held=$(stored term)
kill -TERM "$IMP"; signalled=$(now_ms)
ended 15
numbers term.jsonl
diag "SIGTERM: exit $rc after $ms ms: $(head -1 "$T/term.jsonl.err")"
check "SIGTERM, the broker not answering: ends by SIGTERM (status 143) after waiting 3 s, not the 60 s --timeout (exit $rc, $ms ms)" \
  sh -c "[ $rc = 143 ] && [ $ms -ge 2500 ] && [ $ms -le 8000 ]"
check "... stored + in flight + not sent = the $M lines, the database holding the stored ones and no more than those in flight besides ($held; $L: $S + $F + $U, $R refused)" \
  sh -c "[ $L = $M ] && [ $F -gt 0 ] && [ $((S + F + U + R)) = $M ] && [ $S -le $held ] &&
         [ $held -le $((S + F)) ]"

# 3. a second Ctrl-C while the first waits for the answers: it ends at once
imp_bg term.jsonl
wait_for 10 catches_int "$IMP"
kill -INT "$IMP"; sleep 0.5
alive=no; kill -0 "$IMP" 2>/dev/null && alive=yes
kill -INT "$IMP" 2>/dev/null; signalled=$(now_ms)
ended
check "a second Ctrl-C while the first waits: ends by SIGINT at once (alive after the first: $alive; exit $rc, $ms ms)" \
  sh -c "[ $alive = yes ] && [ $rc = 130 ] && [ $ms -le 1500 ]"
kill -CONT "$BROKER_PID"
bounded 60 "$MQ" -c "$T/minqing.conf" import "$T/term.jsonl" > "$T/again.out" 2> "$T/again.err"; rc=$?
check "run again with the broker answering: exit 0, all $M lines stored (exit $rc, $(stored term))" \
  sh -c "[ $rc = 0 ] && [ $(stored term) = $M ]"

stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
