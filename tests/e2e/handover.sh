#!/bin/sh
# handover.sh - accepted work whose worker's session ends waits for a worker
# that registers afterwards, whether the worker took it up by ACCEPT or by a
# PROGRESS take-over, and even when its DISCONNECT came in the ACCEPT's pass
# or a reload rebuilt the queues meanwhile.
. "$(dirname "$0")/../lib.sh"
write_config
start_broker || exit 1
tap_script 120 "$ROOT/tests/e2e/handover.py" "$T" "$BROKER_PID"
