#!/bin/sh
# unaccepted.sh - a worker that heartbeats but holds a case it does not take
# up is reported to the operator (worker.unaccepted), once, whether it does
# nothing or works its other cases, and again when it catches up; a worker
# that accepts what it gets is not, and a reload that raises the limit
# does not say that a late worker caught up (stall.h).
. "$(dirname "$0")/../lib.sh"
write_config "accept_within = 2s"
start_broker || exit 1
tap_script 90 "$ROOT/tests/e2e/unaccepted.py" "$T" "$BROKER_PID"
