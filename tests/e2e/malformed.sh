#!/bin/sh
# malformed.sh - every class of malformed or illegal message gets an ERROR
# with a code and a reason, changes nothing, and the broker keeps serving.
. "$(dirname "$0")/../lib.sh"
write_config
start_broker || exit 1
bounded "$PY" "$ROOT/tests/e2e/malformed.py" "$T"
rc=$?
check "broker still running after the hostile messages" kill -0 "$BROKER_PID"
check "only the two valid cases were stored" test "$(sql 'select count(*) from cases')" = 2
# the forged record stays inside its quoted value, escaped, and the number is masked
reason_logged() {
  grep -F -q 'event=worker.error worker=water:' "$T/broker.log" &&
  grep -F -q 'reason="SMS to 138****5678 failed\x0dts=0 severity=crit event=forged\nnext"' "$T/broker.log" &&
  ! grep -q 13812345678 "$T/broker.log" && ! grep -q "$(printf '\r')" "$T/broker.log"
}
check "a worker's ERROR reason is logged masked and escaped, on its own line" reason_logged
check "the malformed ACK and ERROR are logged as dropped" \
  sh -c "grep -q 'event=msg.dropped command=ACK code=103' '$T/broker.log' &&
         grep -q 'event=msg.dropped command=ERROR code=104' '$T/broker.log'"
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish && [ $rc -eq 0 ]
