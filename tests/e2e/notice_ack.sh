#!/bin/sh
# notice_ack.sh - an ESCALATE notice waiting for a supervision worker keeps
# the department its rung fired for when the case is reassigned and the
# broker restarted (it read the case's lead of now); an ACK is taken only
# for the exact msg_id the broker sent.
. "$(dirname "$0")/../lib.sh"
supervision_config || { not_ok "config valid"; finish; exit 1; }
start_broker || exit 1
bounded 60 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 1 -t 30 -p na -c water.leak >/dev/null
check "the first rung fires for water, whose worker never comes" wait_for 10 fired community 1
bounded 20 "$BIN/minqing" -c "$T/minqing.conf" reassign 1 urban > /dev/null
check "the case is reassigned to urban" test "$(sql 'select lead_department from cases')" = urban
stop_pid "$BROKER_PID"
start_broker || exit 1
tap_script 60 "$ROOT/tests/e2e/notice_ack.py" "$T" water
