#!/bin/sh
# stalled.sh - a worker that heartbeats but does not take up its cases is
# reported to the operator (worker.stalled), once, and again when it resumes;
# a worker that accepts what it gets is not (stall.h).
. "$(dirname "$0")/../lib.sh"
write_config "stalled_after = 2s"
start_broker || exit 1
bounded 60 "$PY" "$ROOT/tests/e2e/stalled.py" "$T"
rc=$?
check "broker still running" kill -0 "$BROKER_PID"
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish && [ $rc -eq 0 ]
