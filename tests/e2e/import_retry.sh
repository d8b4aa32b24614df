#!/bin/sh
# import_retry.sh - `minqing import` against a broker that leaves requests
# unanswered: over its intake_rate (ERROR 301, which names no request),
# stopped (SIGSTOP), killed and restarted with requests in its queue, and
# slower than the import's resend. The import never waits forever, no line is
# lost, and a line sent twice counts once, as imported. Every wait is bounded: an
# import that hangs is killed after 20 s and fails its check.
. "$(dirname "$0")/../lib.sh"
MQ="$BIN/minqing"
write_config "intake_rate = 100"
start_broker || exit 1

stored() { sql "select count(*) from cases where external_id like '$1-%'"; }
# imp FILE [OPTIONS]: the import, killed after 20 s; sets rc and secs
imp() {
  f=$1; shift
  t0=$(now_ms)
  timeout -s KILL 20 "$MQ" -c "$T/minqing.conf" import "$@" "$T/$f" > "$T/$f.out" 2> "$T/$f.err"
  rc=$? secs=$(( ($(now_ms) - t0) / 1000 ))
}

# 1. 400 lines at 100 a second, 150 in flight: most are refused with a 301
legacy_cases rate.jsonl rate 400
imp rate.jsonl --window 150
check "over intake_rate: every line imported after the 301s, exit 0 (exit $rc, $secs s)" \
  sh -c "[ $rc = 0 ] && [ $(stored rate) = 400 ]"

# 2. a stopped broker: the import gives up after --timeout, and a second run
# once the broker goes on finds every line
legacy_cases stop.jsonl stop 300
kill -STOP "$BROKER_PID"
imp stop.jsonl --timeout 2
check "a stopped broker: exit 1 after --timeout 2 (exit $rc, $secs s)" sh -c "[ $rc = 1 ] && [ $secs -le 6 ]"
check "... saying that no line was answered, naming the first waiting, and that a rerun is safe" \
  grep -q "no line answered for 2 s, 300 waiting (lines [0-9]*, [0-9]*, [0-9]*, [0-9]*, [0-9]*, \.\.\.).*Running the import again is safe" "$T/stop.jsonl.err"
kill -CONT "$BROKER_PID"
imp stop.jsonl
check "run again: every line there, exit 0 (exit $rc)" sh -c "[ $rc = 0 ] && [ $(stored stop) = 300 ]"
imp stop.jsonl
check "once more: exit 0, every line already there (exit $rc): $(head -c 60 "$T/stop.jsonl.out")" \
  sh -c "[ $rc = 0 ] && grep -q '^imported 300 cases (300 already there, 0 lines refused)' '$T/stop.jsonl.out'"
check "... said in one line on stderr, with the first line numbers: $(head -c 160 "$T/stop.jsonl.err")" \
  sh -c "[ \$(wc -l < '$T/stop.jsonl.err') = 1 ] &&
         grep -q '^minqing import: 300 lines named cases already in the database before this run (lines 1, 2, 3, 4, 5, \.\.\.), left as they are' '$T/stop.jsonl.err'"

# 3. the broker killed with requests in its socket and started again: they are
# lost, and the import sends them again. The lines come through a fifo so that
# the connection is up (line 1 answered) before the broker stops.
legacy_cases restart.jsonl restart 200
mkfifo "$T/fifo"
"$MQ" -c "$T/minqing.conf" import - < "$T/fifo" > "$T/restart.out" 2> "$T/restart.err" &
IMP=$!
PIDS="$PIDS $IMP"
exec 3> "$T/fifo"
head -1 "$T/restart.jsonl" >&3
wait_for 10 sh -c "[ \$(sqlite3 '$T/minqing.db' \"select count(*) from cases where external_id like 'restart-%'\") = 1 ]"
kill -STOP "$BROKER_PID"
tail -n +2 "$T/restart.jsonl" >&3
sleep 1                             # sent, into the stopped broker's socket
kill9 "$BROKER_PID"
exec 3>&-                           # before the new broker can inherit it
start_broker || exit 1
wait_for 20 gone "$IMP" || kill -9 "$IMP"
wait "$IMP"; rc=$?
check "a broker restarted under the import: the lost lines sent again, exit 0 (exit $rc)" \
  sh -c "[ $rc = 0 ] && [ $(stored restart) = 200 ]"

# 4. a broker slower than the import's 5 s resend (stopped for 7 s with the
# lines in its socket, as a commit that takes that long would hold them):
# every line goes twice. The copy keeps the line's msg_id, so the broker
# answers it as it answered the first, and each line counts as imported,
# not as already there (40 lines, 80 copies: within intake_rate's burst).
legacy_cases slow.jsonl slow 40
kill -STOP "$BROKER_PID"
t0=$(now_ms)
"$MQ" -c "$T/minqing.conf" import "$T/slow.jsonl" > "$T/slow.out" 2> "$T/slow.err" &
IMP=$!
PIDS="$PIDS $IMP"
sleep 7
kill -CONT "$BROKER_PID"
wait_for 20 gone "$IMP" || kill -9 "$IMP"
wait "$IMP"; rc=$? secs=$(( ($(now_ms) - t0) / 1000 ))
check "a broker slower than the resend: exit 0 after every line went twice (exit $rc, $secs s)" \
  sh -c "[ $rc = 0 ] && [ $secs -ge 5 ]"
check "... the summary counts the 40 lines imported, none already there: $(head -c 60 "$T/slow.out")" \
  grep -q "^imported 40 cases (0 already there, 0 lines refused)" "$T/slow.out"
dups=$(sql "select count(*) - count(distinct external_id) from cases where external_id like 'slow-%'")
check "... and each case exists once ($(stored slow) cases, $dups twice)" \
  sh -c "[ $(stored slow) = 40 ] && [ $dups = 0 ]"

stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
