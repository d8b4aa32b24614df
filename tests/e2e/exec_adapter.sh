#!/bin/sh
# exec_adapter.sh - minqing-worker, the generic exec adapter, one per department,
# each running a different command for its cases:
#  1. water: examples/worker-append.sh (from a config file): every case resolved,
#     one line per case in the append file;
#  2. hrss: a command that exits 3: run 1 + --retries 2 times with a backoff of
#     1 s then 2 s, then returned (reason other, the failure in the note);
#  3. security: a command that hangs, --timeout 1s: SIGTERM to its process
#     group, retried, returned, no process of the group left; stubborn: one that
#     ignores SIGTERM is SIGKILLed 5 s later;
#  4. traffic: a command that prints only garbage: each line logged with its
#     number and what is wrong, never its text; returned (--on-failure return);
#  5. urban: examples/worker-sms.sh: cases contacted; the SMS text on stderr
#     has no phone number;
#  6. a case with every field of the record reaches the command as JSON (lat and
#     long as numbers) with its MINQING_* variables; its contact deadline passes,
#     and the escalation notice runs a supervision adapter's command, which
#     acknowledges it;
#  7. a redelivery after a broker restart is ignored while the command runs;
#     SIGTERM waits for the running command, flushes its outcome, exits 0; a
#     command that resolved is done whatever its exit status;
#  8. echo: a command that prints the resident's phone on stderr: the line is
#     logged with the number masked (138****NNNN);
#  9. a stop whose flush fails (the broker is gone) exits 1, not 0: the
#     RESOLVED was lost, and the command runs again on the redelivery;
# 10. (checked after 5, while the others run) linger: a command that
#     contacts, exits 0 and leaves a process holding its pipes is done by its
#     exit status 1 s later, not timed out and run again; reached: one that
#     fails after contacted and progress is not run again nor returned;
#     silent: one that prints nothing fails (else its case would hold a slot
#     of --capacity for good); runaway: a flood of progress lines, garbage and
#     stderr is capped (100 outcomes, 20 records per 10 s), and the broker
#     keeps the worker;
# 11. direct: a command that prints resolved alone, no accepted before it, with
#     a summary past the protocol's 2,000 characters: resolved, the summary cut
#     to 2,000; badresult: one that accepts, then prints a resolved line the
#     protocol refuses (a result that is no token): the run fails and the case
#     is returned, naming why, rather than held open for good;
# and before the broker starts: usage errors, and poll failing (worker.failed
# names poll's error); lost: a worker whose endpoint no broker binds says
# worker.unregistered, naming it, after 10 s (checked at the end).
# No phone number in any adapter log, no sanitizer report, all in < 60 s.
. "$(dirname "$0")/../lib.sh"
T0=$(now_ms)
S=$ROOT/tests/e2e/scripts
EP=ipc://$T/workers.sock
PHONE='138[0-9]\{8\}\|13912345678'
export MINQING_APPEND_FILE="$T/cases.txt"

# start_adapter NAME ARGS...: minqing-worker, log in $T/mw-NAME.log; sets ADAPTER_PID
start_adapter() {
  name=$1; shift
  "$BIN/minqing-worker" --name "$name" "$@" >>"$T/mw-$name.log" 2>&1 &
  ADAPTER_PID=$!
  PIDS="$PIDS $ADAPTER_PID"
}
# gone PID: the process has exited (a zombie that nobody waited for yet counts)
gone() { ! ps -o stat= -p "$1" 2>/dev/null | grep -qv '^Z'; }
# reap PID: wait up to 15 s for it to exit; its exit status in STOP_RC
reap() {
  wait_for 15 gone "$1" || kill -9 "$1" 2>/dev/null
  wait "$1"
  STOP_RC=$?
}
# stop PID: SIGTERM (once: a second one means "stop now"), then reap
stop() { kill -TERM "$1" 2>/dev/null; reap "$1"; }
submit() { bounded 90 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n "$1" -p "$2" -c "$3" -t 30 >>"$T/loadgen.out" 2>&1; }
assigned() { sql "select count(*) from assignments where department = '$1' and state = '$2'"; }
is() { [ "$(assigned "$1" "$2")" = "$3" ]; }
logged() { grep -c -- "$2" "$T/mw-$1.log"; }
# group_gone PGID: no live (non-zombie) process is left in the process group
group_gone() { ! ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'; }

# 0. usage: --help, bad values, a bad config file
bounded "$BIN/minqing-worker" --help >"$T/help.txt" 2>&1
rc=$?
check "--help exits 0 and documents the exit codes" sh -c "[ $rc = 0 ] && grep -q '^Exit status' '$T/help.txt'"
bounded "$BIN/minqing-worker" --endpoint "$EP" --department water --exec true --concurrency 0 2>/dev/null
check "a bad --concurrency is a usage error (exit 2)" test $? = 2
printf 'endpoint = %s\ndepartment = water\nexec = true\ncolour = blue\n' "$EP" > "$T/bad.ini"
bounded "$BIN/minqing-worker" -c "$T/bad.ini" 2>"$T/bad.out"
rc=$?
check "an unknown key in the config file: exit 2, FILE:LINE named" \
  sh -c "[ $rc = 2 ] && grep -q 'bad.ini:4: unknown key' '$T/bad.out'"
printf 'department = water\nexec = true\nendpoint = 127.0.0.1:7001\n' > "$T/bad-ep.ini"
bounded "$BIN/minqing-worker" -c "$T/bad-ep.ini" 2>"$T/bad-ep.out"
rc=$?
check "an endpoint without ipc:// or tcp:// in the config file: exit 2 at its line" \
  sh -c "[ $rc = 2 ] && grep -q 'bad-ep.ini:3: endpoint: bad value' '$T/bad-ep.out'"
bounded "$BIN/minqing-worker" --endpoint "$EP" --department 'Housing!' --exec true 2>"$T/bad-dept.out"
check "a department that is no protocol token: exit 2" \
  sh -c "[ $? = 2 ] && grep -q 'department: bad value' '$T/bad-dept.out'"

# lost: pointed at a socket no broker binds; looked at once the rest is done
start_adapter lost-ep --endpoint "ipc://$T/nobody.sock" --department water --exec true
LOST_EP=$ADAPTER_PID; LOST_T0=$(now_ms)

# poll itself failing: prlimit lowers the adapter's RLIMIT_NOFILE to 1, below
# the 2 fds it polls at the least, so poll fails with EINVAL. LeakSanitizer
# cannot open /proc under that limit: leaks are not checked for this run.
if command -v prlimit >/dev/null; then
  ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" "$BIN/minqing-worker" --endpoint "$EP" \
    --department water --exec true >"$T/mw-poll.log" 2>&1 &
  POLLER=$!
  PIDS="$PIDS $POLLER"
  wait_for 10 grep -q 'event=worker.started' "$T/mw-poll.log"
  prlimit --pid "$POLLER" --nofile=1:1
  reap "$POLLER"
  check "poll failing: exit 1, poll's own error logged ($STOP_RC)" sh -c "[ $STOP_RC = 1 ] &&
    grep -q 'event=worker.failed reason=\"poll: Invalid argument\"' '$T/mw-poll.log'"
else
  ok "poll failing # SKIP prlimit is not installed"
fi

write_config
sed -i 's/^hrss = 人社局$/hrss = 人社局\necho = 测试回显部门\nlinger = 测试后台部门\nreached = 测试联系后失败部门\nsilent = 测试无输出部门\nrunaway = 测试刷屏部门\nstubborn = 测试挂起部门\ndump = 测试转储部门\nsupervision = 督办中心\ndirect = 测试直接办结部门\nbadresult = 测试结果无效部门/' \
  "$T/minqing.conf"
cat >> "$T/minqing.conf" <<CONF
test.hang = security
test.stubborn = stubborn
test.garbage = traffic
test.sms = urban
test.dump = dump
test.echo = echo
test.linger = linger
test.reached = reached
test.silent = silent
test.runaway = runaway
test.direct = direct
test.badresult = badresult

[deadlines]
contact = 30m
test.dump.contact = 1s
test.dump.resolve = 1h

[ladder.contact]
1 = 0 community

[targets]
community = supervision
CONF
start_broker || exit 1

timeout 10 "$BIN/minqing-worker" --endpoint "$EP" --department nosuch --exec true >"$T/mw-nosuch.log" 2>&1
rc=$?
check "a department the broker does not know: exit 1, the refusal logged" \
  sh -c "[ $rc = 1 ] && grep -q 'event=worker.failed.*UNKNOWN_DEPARTMENT' '$T/mw-nosuch.log'"

cat > "$T/water.ini" <<INI
; the water department files its cases in a ledger
[worker]
endpoint = $EP
department = water
exec = $ROOT/examples/worker-append.sh
concurrency = 4
timeout = 30s
INI
start_adapter water -c "$T/water.ini" --capacity 8
WATER=$ADAPTER_PID
start_adapter hrss --endpoint "$EP" --department hrss --exec "sh '$S/fail.sh' '$T/runs-fail.txt'" \
  --concurrency 2 --retries 2
HRSS=$ADAPTER_PID
start_adapter security --endpoint "$EP" --department security --concurrency 2 --timeout 1s \
  --retries 1 --exec "sh '$S/hang.sh' '$T/runs-hang.txt'"
SECURITY=$ADAPTER_PID
start_adapter stubborn --endpoint "$EP" --department stubborn --timeout 1s --retries 0 \
  --exec "sh '$S/hang.sh' '$T/runs-stubborn.txt' ignore-term"
STUBBORN=$ADAPTER_PID
start_adapter traffic --endpoint "$EP" --department traffic --concurrency 2 --on-failure return \
  --exec "sh '$S/garbage.sh'"
TRAFFIC=$ADAPTER_PID
start_adapter urban --endpoint "$EP" --department urban --concurrency 2 --capacity 10 \
  --exec "$ROOT/examples/worker-sms.sh"
URBAN=$ADAPTER_PID
start_adapter dump --endpoint "$EP" --department dump --exec "sh '$S/dump.sh' '$T'"
DUMP=$ADAPTER_PID
start_adapter echo --endpoint "$EP" --department echo --exec "sh '$S/echo_phone.sh'"
ECHO=$ADAPTER_PID
start_adapter supervision --endpoint "$EP" --department supervision --exec "sh '$S/dump.sh' '$T'"
SUPERVISION=$ADAPTER_PID
start_adapter linger --endpoint "$EP" --department linger --timeout 3s --retries 1 \
  --exec "sh '$S/linger.sh' '$T/runs-linger.txt'"
LINGER=$ADAPTER_PID
start_adapter reached --endpoint "$EP" --department reached --retries 2 \
  --exec "sh '$S/reached.sh' '$T/runs-reached.txt'"
REACHED=$ADAPTER_PID
start_adapter silent --endpoint "$EP" --department silent --on-failure return --exec 'cat >/dev/null'
SILENT=$ADAPTER_PID
start_adapter runaway --endpoint "$EP" --department runaway --exec "sh '$S/runaway.sh' 200000"
RUNAWAY=$ADAPTER_PID
start_adapter direct --endpoint "$EP" --department direct --exec "sh '$S/resolve_only.sh' fixed 2500"
DIRECT=$ADAPTER_PID
start_adapter badresult --endpoint "$EP" --department badresult --retries 0 \
  --exec "sh '$S/resolve_only.sh' 已办结 10 accepted"
BADRESULT=$ADAPTER_PID

submit 20 good water.leak && submit 2 fail wage.arrears && submit 2 hang test.hang &&
  submit 1 stub test.stubborn && submit 2 junk test.garbage && submit 3 sms test.sms &&
  submit 2 echo test.echo && submit 1 linger test.linger && submit 1 reached test.reached &&
  submit 2 silent test.silent && submit 1 runaway test.runaway && submit 1 direct test.direct &&
  submit 1 badresult test.badresult
check "loadgen: all 39 submissions acknowledged" test $? = 0

# 1. the good script
check "water: all 20 cases resolved" wait_for 20 is water resolved 20
sql "select case_id, id from assignments where department = 'water' order by case_id" | tr '|' ' ' > "$T/water.txt"
awk '{ print $1, $2 }' "$T/cases.txt" | sort -n > "$T/filed.txt"
check "the append file has one line per case, naming its case and assignment" cmp -s "$T/water.txt" "$T/filed.txt"
bad=$(sql "select count(*) from (select assignment_id, group_concat(kind) k from
  (select assignment_id, kind from events where department = 'water' order by id) group by assignment_id)
  where k != 'routed,dispatched,accepted,contacted,resolved'")
check "each water assignment went accepted, contacted, resolved ($bad differ)" test "$bad" = 0
bad=$(sql "select count(*) from outcomes where scope = 'water' and kind = 'RESOLVED'
  and (result != 'fixed' or summary != '已登记台账，案件' || case_id)")
check "the resolutions carry the script's result and summary ($bad differ)" test "$bad" = 0

# 2. a failing script: 3 runs, 1 s then 2 s apart, then returned
check "hrss: both assignments returned" wait_for 20 is hrss returned 2
check "each ran 3 times (1 + --retries 2)" test "$(awk '$2 == 3' "$T/runs-fail.txt" | wc -l)" = 2 -a \
  "$(wc -l < "$T/runs-fail.txt")" = 6
gaps=$(sort -k1,1n -k2,2n "$T/runs-fail.txt" | awk '$1 == a { printf "%d ", $3 - t } { a = $1; t = $3 }')
diag "gaps between runs (ms): $gaps"
check "backoff: 1 s before the 2nd run, 2 s before the 3rd" sh -c "echo $gaps | awk '{ exit !(\$1 >= 950 && \$2 >= 1950 && \$3 >= 950 && \$4 >= 1950) }'"
n=$(sql "select count(*) from outcomes where scope = 'hrss' and kind = 'RETURNED' and reason = 'other'
  and note like '%failed 3 times; last: exited with status 3'")
check "RETURNED with reason other and a note naming the failure ($n of 2)" test "$n" = 2
check "the audit trail has the returns" test "$(sql "select count(*) from events where department = 'hrss' and kind = 'returned'")" = 2
check "the returned cases went on to the manual dispatch centre" \
  test "$(sql "select count(distinct case_id) from assignments where department = 'dispatch'")" -ge 2
check "the log names the reason of each failed run" test "$(logged hrss 'event=cmd.failed .*reason="exited with status 3"')" = 6
check "the command's stderr is in the log, prefixed with its ids" \
  test "$(logged hrss 'event=cmd.stderr assignment_id=[0-9]* case_id=[0-9]* department=hrss .*text="fail.sh: the department system is down"')" = 6

# 3. hanging scripts: killed by process group, retried, returned
check "security: both hanging assignments returned" wait_for 20 is security returned 2
check "each was run twice (1 + --retries 1)" test "$(wc -l < "$T/runs-hang.txt")" = 4
check "each run timed out and got SIGTERM" test "$(logged security 'event=cmd.timeout .*SIGTERM to the process group')" = 4
n=$(sql "select count(*) from outcomes where scope = 'security' and kind = 'RETURNED' and note like '%timed out after 1000 ms (killed with SIGTERM)'")
check "the note says it timed out ($n of 2)" test "$n" = 2
left=0
for g in $(awk '{ print $3 }' "$T/runs-hang.txt"); do group_gone "$g" || left=$((left + 1)); done
check "no process of the killed groups is left ($left groups remain)" test "$left" = 0
check "stubborn: a command that ignores SIGTERM is returned" wait_for 20 is stubborn returned 1
check "it got SIGKILL 5 s after SIGTERM" sh -c "[ \$(grep -c 'event=cmd.kill ' '$T/mw-stubborn.log') = 1 ]"
n=$(sql "select count(*) from outcomes where scope = 'stubborn' and note like '%killed with SIGKILL%'")
check "the note says it was killed with SIGKILL" test "$n" = 1
check "its process group is gone" group_gone "$(awk '{ print $3 }' "$T/runs-stubborn.txt")"

# 4. garbage: logged line by line, the case returned, never its text
check "traffic: both garbage assignments returned" wait_for 20 is traffic returned 2
check "--on-failure return: one run each" test "$(logged traffic 'event=cmd.started')" = 2
check "6 garbage lines logged per run" test "$(logged traffic 'event=cmd.garbage')" = 12
check "line 1: not JSON" test "$(logged traffic 'event=cmd.garbage .*line=1 .*reason="not JSON: invalid JSON at column')" = 2
check "line 2: not an object" test "$(logged traffic 'event=cmd.garbage .*line=2 .*reason="not a JSON object"')" = 2
check "line 3: unknown event" test "$(logged traffic 'event=cmd.garbage .*line=3 .*reason="unknown \\"event')" = 2
check "line 4: resolved without a summary" test "$(logged traffic 'event=cmd.garbage .*line=4 .*summary\\" is missing')" = 2
check "line 6: truncated JSON at the end of output" test "$(logged traffic 'event=cmd.garbage .*line=6 .*truncated JSON')" = 2
n=$(sql "select count(*) from outcomes where scope = 'traffic' and kind = 'RETURNED' and note like '%printed only garbage (6 lines)'")
check "returned with a note saying it printed only garbage ($n of 2)" test "$n" = 2

# 5. the SMS stub
check "urban: the 3 SMS cases contacted" wait_for 20 is urban contacted 3
check "each was accepted, then contacted" test "$(sql "select count(*) from outcomes where scope = 'urban' and kind in ('ACCEPT', 'CONTACTED')")" = 6
missing=0
for c in $(sql "select case_id from assignments where department = 'urban'"); do
  grep -q "event=cmd.stderr .*text=\"sms-example: to the grid worker of urban: 【12345】请于[0-2][0-9]:[0-5][0-9]前联系居民，案件号$c，网格" "$T/mw-urban.log" ||
    missing=$((missing + 1))
done
check "the SMS text for each case is on stderr ($missing missing)" test "$missing" = 0
check "and has no phone number" sh -c "! grep 'sms-example' '$T/mw-urban.log' | grep -q '$PHONE'"

# 10. a process left holding the pipes, a failure after contact, silence, a flood
check "linger: exit 0 with a process left on its pipes: done by the exit status" \
  wait_for 10 grep -q 'event=cmd.done .*department=linger .*exited 0' "$T/mw-linger.log"
check "its process group got SIGTERM 1 s after the exit, and its pipes were closed" \
  grep -q 'event=cmd.lingering .*grace_ms=1000 .*SIGTERM to the process group' "$T/mw-linger.log"
check "it ran once, did not time out, and its case stays contacted" sh -c "
  [ \$(wc -l < '$T/runs-linger.txt') = 1 ] && ! grep -q 'event=cmd.timeout' '$T/mw-linger.log'" &&
  is linger contacted 1
check "the one deaf to SIGTERM got SIGKILL 5 s later" \
  grep -q 'event=cmd.kill .*department=linger' "$T/mw-linger.log"
check "no process of its group is left" wait_for 5 group_gone "$(awk '{ print $3 }' "$T/runs-linger.txt")"
check "reached: a failure after contacted and progress keeps the case open, logged" \
  wait_for 10 grep -q 'event=assignment.kept_open .*department=reached' "$T/mw-reached.log"
check "the failure is logged; the command ran once; the case stays contacted, not returned" sh -c "
  grep -q 'event=cmd.failed .*department=reached .*exited with status 1' '$T/mw-reached.log' &&
  [ \$(wc -l < '$T/runs-reached.txt') = 1 ] && ! grep -q 'event=assignment.returned' '$T/mw-reached.log'" &&
  is reached contacted 1
check "silent: a command that prints nothing fails: both cases returned (capacity 1)" \
  wait_for 10 is silent returned 2
n=$(sql "select count(*) from outcomes where scope = 'silent' and kind = 'RETURNED' and note like '%printed no outcome'")
check "the note says it printed no outcome ($n of 2)" test "$n" = 2
check "runaway: a flooding command's case is resolved" wait_for 20 is runaway resolved 1
n=$(sql "select count(*) from outcomes where scope = 'runaway' and kind = 'PROGRESS'")
check "100 outcomes a run: 99 of its 150 progress lines reach the broker ($n)" test "$n" = 99
check "the rest are logged once, and counted at the end (dropped=51)" sh -c "
  [ \$(grep -c 'event=cmd.dropped ' '$T/mw-runaway.log') = 1 ] &&
  grep -q 'event=cmd.done .*department=runaway .*garbage=30 dropped=51' '$T/mw-runaway.log'"
check "its 200000 stderr lines: 20 records, then one saying suppressed=199980" sh -c "
  [ \$(grep -c 'event=cmd.stderr .*department=runaway .*text=' '$T/mw-runaway.log') = 20 ] &&
  grep -q 'event=cmd.stderr .*department=runaway .*suppressed=199980 ' '$T/mw-runaway.log'"
check "its 30 garbage lines: 20 records, then one saying suppressed=10" sh -c "
  grep -q 'event=cmd.done .*department=runaway .*garbage=30' '$T/mw-runaway.log' &&
  [ \$(grep -c 'event=cmd.garbage .*department=runaway .*line=' '$T/mw-runaway.log') = 20 ] &&
  grep -q 'event=cmd.garbage .*department=runaway .*suppressed=10 ' '$T/mw-runaway.log'"
check "the broker never lost the flooded worker" sh -c "! grep -q 'event=worker.lost .*runaway' '$T/broker.log'"

# 6. every field of the record, the variables, an escalation
FULL=$(bounded "$PY" "$S/submit_case.py" "$T" full)
check "a case with every field submitted (case $FULL)" test -n "$FULL"
check "the supervision adapter ran the escalation notice and acknowledged it" \
  wait_for 10 grep -q "event=escalation.acked escalation_id=[0-9]* case_id=$FULL " "$T/mw-supervision.log"
check "the command got the case as JSON, every field, lat/long as numbers, and its variables" \
  bounded "$PY" "$S/check_input.py" "$T" "$FULL"

# 7. a redelivery while the command runs; SIGTERM while it runs
stop "$WATER"
check "water: SIGTERM with nothing running: exit 0" test "$STOP_RC" = 0
start_adapter slow --endpoint "$EP" --department water --capacity 4 --exec "sh '$S/slow.sh' '$T/runs-slow.txt' 6"
SLOW=$ADAPTER_PID
submit 1 slow water.leak
check "slow: the case accepted" wait_for 10 is water accepted 1
kill9 "$BROKER_PID"
start_broker || exit 1
check "after a broker restart, the redelivery is ignored while the command runs" \
  wait_for 10 grep -q 'event=assignment.ignored .*attempt=[0-9]* reason="duplicate: already running' "$T/mw-slow.log"
kill -TERM "$SLOW"
check "SIGTERM: the adapter waits for the running command" wait_for 5 grep -q 'event=worker.stopping running=1' "$T/mw-slow.log"
reap "$SLOW"
check "then exits 0" test "$STOP_RC" = 0
check "its outcome was flushed: the case is resolved" is water resolved 21
check "the command ran once" test "$(wc -l < "$T/runs-slow.txt")" = 1
check "it resolved, then exited 4: done, not failed" sh -c "grep -q 'event=cmd.done .*reported resolved' '$T/mw-slow.log' &&
  ! grep -q 'event=cmd.failed' '$T/mw-slow.log'"

# 8. a phone number on the command's stderr
check "echo: both cases resolved" wait_for 10 is echo resolved 2
check "the stderr lines are logged with the phone masked" \
  test "$(logged echo 'event=cmd.stderr .*text="echo_phone.sh: calling the resident at 138\*\*\*\*[0-9]\{4\}"')" = 2
check "and without the number" sh -c "! grep -q '$PHONE' '$T/mw-echo.log'"
check "the resident's own name and address are masked too" \
  test "$(logged echo 'event=cmd.stderr .*text="echo_phone.sh: resident \*\*, living at \*\{11\}"')" = 2
check "and never logged whole" sh -c "! grep -q -e '张三' -e '幸福小区' '$T/mw-echo.log'"

# 11. resolved alone; a resolved line the protocol refuses
check "direct: a command that prints resolved alone: the case is resolved" wait_for 10 is direct resolved 1
check "accepted for it first, as RESOLVED needs" test "$(sql "select group_concat(kind) from
  (select kind from events where department = 'direct' order by id)")" = routed,dispatched,accepted,resolved
check "its 2,500-character summary cut to the protocol's 2,000" \
  test "$(sql "select length(summary) from outcomes where scope = 'direct' and kind = 'RESOLVED'")" = 2000
check "badresult: accepted, then a resolved line whose result is no token: the case is returned" \
  wait_for 10 is badresult returned 1
check "the run failed, naming the refused line, and the note says so" sh -c "
  grep -q 'event=cmd.failed .*reason=\"its resolved line was refused: refused by libminqing' '$T/mw-badresult.log' &&
  grep -q 'event=assignment.returned .*its resolved line was refused' '$T/mw-badresult.log'"

# 9. the broker gone at the stop: the RESOLVED cannot be flushed
start_adapter lost --endpoint "$EP" --department water --exec "sh '$S/slow.sh' '$T/runs-lost.txt' 3"
LOST=$ADAPTER_PID
submit 1 lost water.leak
check "lost: the case accepted" wait_for 10 is water accepted 1
kill9 "$BROKER_PID"
check "its command resolved with the broker gone" \
  wait_for 10 grep -q 'event=outcome.sent .*outcome=resolved' "$T/mw-lost.log"
stop "$LOST"
check "SIGTERM with the RESOLVED unacknowledged: exit 1, not a clean stop ($STOP_RC)" test "$STOP_RC" = 1
check "the log says the flush failed and the exit status" sh -c "grep -q 'event=worker.flush_failed' '$T/mw-lost.log' &&
  grep -q 'event=worker.stopped exit=1' '$T/mw-lost.log'"
start_broker || exit 1
start_adapter again --endpoint "$EP" --department water --exec "sh '$S/slow.sh' '$T/runs-lost.txt' 0"
AGAIN=$ADAPTER_PID
check "the broker delivers it again, and it is resolved" wait_for 15 is water resolved 22
check "the command ran a second time for it" sh -c "[ \$(wc -l < '$T/runs-lost.txt') = 2 ] &&
  [ \$(awk '{ print \$1 }' '$T/runs-lost.txt' | sort -u | wc -l) = 1 ]"

check "a worker that never registers says worker.unregistered, naming its endpoint, after 10 s" \
  wait_for $(( 13 - ($(now_ms) - LOST_T0) / 1000 )) \
  grep -q "event=worker.unregistered endpoint=ipc://$T/nobody.sock waited_s=10 " "$T/mw-lost-ep.log"
check "... once, not at every pass" sh -c "[ \$(grep -c 'event=worker.unregistered' '$T/mw-lost-ep.log') = 1 ]"
rcs=""
for p in $LOST_EP $HRSS $SECURITY $STUBBORN $TRAFFIC $URBAN $DUMP $SUPERVISION $ECHO $AGAIN $LINGER $REACHED \
  $SILENT $RUNAWAY $DIRECT $BADRESULT; do
  stop "$p"; rcs="$rcs$STOP_RC"; done
check "every adapter stops on SIGTERM with exit 0 ($rcs)" test "$rcs" = 0000000000000000
stop "$BROKER_PID"
check "no phone number in any adapter log" sh -c "! cat '$T'/mw-*.log | grep -q '$PHONE'"
check "no name of a resident in any adapter log" sh -c "! cat '$T'/mw-*.log | grep -q '张'"
check "no sanitizer report" no_sanitizer_reports
elapsed=$(( $(now_ms) - T0 ))
check "the whole test ran in < 60 s ($elapsed ms)" test "$elapsed" -lt 60000
finish
