#!/bin/sh
# mask_adapter.sh - minqing-worker logs a command's stderr with none of the
# resident's personal data, however the command printed it (the review of
# personal data in logs): the case as json.dumps prints it (\uXXXX), as
# Python bytes, URL-encoded in an SMS gateway's URL under set -x, the
# coordinates of a geocoder's error, the phone in a table row, and two lines
# over the reader's 64 KiB cut inside an e-mail address (the resident's, and
# another). Each logged text is decoded, as anyone reading the journal could
# decode it, before it is searched; an ordinary line stays as it was.
. "$(dirname "$0")/../lib.sh"
S=$ROOT/tests/e2e/scripts

write_config
add_department leaky 测试泄露部门
echo "test.leaky = leaky" >> "$T/minqing.conf"
start_broker || exit 1
"$BIN/minqing-worker" --name leaky --endpoint "ipc://$T/workers.sock" --department leaky \
  --exec "$PY '$S/leaky.py'" >>"$T/mw-leaky.log" 2>&1 &
PIDS="$PIDS $!"
ADAPTER=$!
wait_for 10 grep -q 'event=worker.registered\|event=worker.started' "$T/mw-leaky.log"

CASE=$(bounded "$PY" "$S/submit_case.py" "$T" resident test.leaky)
check "the resident's case submitted (case $CASE)" test -n "$CASE"
check "the command ran and resolved it" \
  wait_for 15 grep -q 'event=outcome.sent .*outcome=resolved' "$T/mw-leaky.log"
check "its 9 stderr lines are logged" \
  test "$(grep -c 'event=cmd.stderr .*department=leaky' "$T/mw-leaky.log")" = 9
bounded "$PY" "$S/decoded_log.py" "$T/mw-leaky.log" > "$T/decoded.txt"
rc=$?
[ "$rc" = 0 ] || sed 's/^/# /' "$T/decoded.txt" | cut -c1-300
check "decoded, none shows the resident's name, address, e-mail, phone or coordinates" test "$rc" = 0
check "the coordinates keep their whole part" \
  grep -q 'text="geocode 36\.\*\{6\},103\.\*\{6\} -> no grid; (36\.\*\{6\}, 103\.\*\{6\})"' "$T/mw-leaky.log"
check "the URL-encoded phone is masked as a number is" grep -q 'text="+ phone=%2B86%20138%20\*\*\*\*%208000"' "$T/mw-leaky.log"
check "an ordinary line is logged as it was" \
  grep -q 'text="took 1.234 s, ratio 0.123456, v1.2.3 on 10.0.12.34, 2024-05-01 10:30"' "$T/mw-leaky.log"
check "the cut lines end before the address the cut split" sh -c "
  grep -q 'text=\"dump: a\*\*\*@x.cn \"' '$T/mw-leaky.log' && grep -q 'text=\"dump: b\*\*\*@x.cn \"' '$T/mw-leaky.log'"
stop_pid "$ADAPTER"
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
