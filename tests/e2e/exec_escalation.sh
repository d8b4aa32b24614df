#!/bin/sh
# exec_escalation.sh - minqing-worker as a supervision adapter whose command
# fails for a while, as when its SMS gateway is down: for each escalation
# notice the command fails its first 3 runs and succeeds on the 4th. With
# --retries 1 the first delivery runs twice and fails; the notice is then
# released unacknowledged, the broker's next copy (within 5 s) runs the
# command again (twice), and the notice ends acknowledged in the database.
# Before the fix the released notice was taken for a copy of one already
# handled: the command never ran again and the notice stayed unacknowledged.
. "$(dirname "$0")/../lib.sh"
write_config
add_department supervision 督办中心
contact_ladder 1s "1 = 0 community"
printf '\n[targets]\ncommunity = supervision\n' >> "$T/minqing.conf"
# flaky.sh RUNS N: fails (exit 3) the first N runs for a notice, then exits 0;
# appends "escalation_id run time_ms" to RUNS
cat > "$T/flaky.sh" <<'EOF'
cat >/dev/null
before=$(grep -c "^$MINQING_ESCALATION_ID " "$1" 2>/dev/null)
echo "$MINQING_ESCALATION_ID $MINQING_RUN $(date +%s%3N)" >> "$1"
[ "${before:-0}" -ge "$2" ] || { echo "flaky.sh: the SMS gateway is down" >&2; exit 3; }
EOF
start_broker || exit 1
"$BIN/minqing-worker" --endpoint "ipc://$T/workers.sock" --department supervision --retries 1 \
  --exec "sh '$T/flaky.sh' '$T/runs.txt' 3" >"$T/mw.log" 2>&1 &
ADAPTER=$!
PIDS="$PIDS $ADAPTER"
bounded 90 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 2 -p flaky -c water.leak -t 30 >/dev/null 2>&1
check "2 water cases submitted (water has no worker: their contact deadline passes)" \
  test "$(sql 'select count(*) from cases')" = 2

acked() { [ "$(sql 'select count(*) from escalations where notified_at is not null')" = "$1" ]; }
check "both notices end acknowledged in the database" wait_for 30 acked 2
check "2 escalations fired, one per case" test "$(sql 'select count(*) from escalations')" = 2
runs=$(awk '{ n[$1]++ } END { for (i in n) printf "%d ", n[i] }' "$T/runs.txt" 2>/dev/null)
check "the command ran 4 times for each notice (runs: $runs)" test "$runs" = "4 4 "
logged() { grep -c -- "$1" "$T/mw.log"; }
check "each notice was received twice: the broker's copy after the release ran again" \
  test "$(logged 'event=escalation.received ')" = 4
check "each delivery failed once for good, saying the command runs again" \
  test "$(logged 'event=escalation.failed .*reason="not acknowledged: the broker resends the notice, and the command runs again for it"')" = 2
check "each notice was acknowledged once" test "$(logged 'event=escalation.acked ')" = 2
gaps=$(sort -k1,1n -k3,3n "$T/runs.txt" | awk '$1 == id { printf "%d ", $3 - t } { id = $1; t = $3 }')
diag "gaps between runs of a notice (ms): $gaps"
check "the copy after the release came within the broker's 5 s resend" \
  sh -c "echo $gaps | awk '{ exit !(NF == 6 && \$2 < 6500 && \$5 < 6500) }'"
sleep 5.5
check "an acknowledged notice does not run again (one resend period later)" \
  test "$(wc -l < "$T/runs.txt")" = 8
kill -TERM "$ADAPTER"
wait_for 15 gone "$ADAPTER" || kill -9 "$ADAPTER"
wait "$ADAPTER"
check "the adapter stops on SIGTERM with exit 0" test $? = 0
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
