#!/bin/sh
# malformed.sh - every class of malformed or illegal message gets an ERROR
# with a code and a reason, changes nothing, and the broker keeps serving.
. "$(dirname "$0")/../lib.sh"
write_config
start_broker || exit 1
$PY "$ROOT/tests/e2e/malformed.py" "$T"
rc=$?
check "broker still running after the hostile messages" kill -0 "$BROKER_PID"
check "only the two valid cases were stored" test "$(sql 'select count(*) from cases')" = 2
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish && [ $rc -eq 0 ]
