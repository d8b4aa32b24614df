#!/bin/sh
# notices_reload.sh - ESCALATE notices waiting for a supervision department
# that a reload removes: with nowhere to go they are counted in the log
# (config.notices_stranded) and kept; once [targets] names a department for
# their rung again, its workers get them and their ACKs are recorded.
. "$(dirname "$0")/../lib.sh"
supervision_config || { not_ok "config valid"; finish; exit 1; }
LOG_LEVEL=info start_broker || exit 1
bounded 120 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 2 -t 60 -p nr -c water.leak >/dev/null   # water has no worker
check "6 escalations fire (2 cases x 3 rungs), their notices wait: no supervision worker" \
  wait_for 15 sh -c "[ \$(sqlite3 '$T/minqing.db' 'select count(*) from escalations where notified_at is null') = 6 ]"

# reload CHECK: SIGHUP, and wait for the broker to say it took the new file
reloads=0
reload() {
  reloads=$((reloads + 1))
  kill -HUP "$BROKER_PID"
  wait_for 5 sh -c "[ \$(grep -c 'event=config.reloaded' '$T/broker.log') -ge $reloads ]"
}
# 1. the department and its [targets] lines gone: nowhere to send them
cp "$T/minqing.conf" "$T/with-supervision.conf"
sed -i '/^supervision = /d; /^\(community\|street\|county\) = supervision$/d' "$T/minqing.conf"
bounded "$BIN/minqingd" --check-config -c "$T/minqing.conf" > /dev/null
check "a config without the supervision department is valid" test $? = 0
check "it is reloaded" reload
check "the 6 notices with nowhere to go are counted in the log" \
  grep -q 'event=config.notices_stranded notices=6 ' "$T/broker.log"
# 2. the rungs' targets to another department, 督办科 (duban)
sed -e 's/^supervision = .*/duban = 督办科/; s/^\(community\|street\|county\) = supervision$/\1 = duban/' \
  "$T/with-supervision.conf" > "$T/minqing.conf"
check "the targets moved to duban: reloaded" reload
check "no notice is stranded now" test "$(grep -c 'event=config.notices_stranded' "$T/broker.log")" = 1
check "the database says where they go now (a restart sends them there too)" \
  test "$(sql "select count(*) from escalations where notify = 'duban'")" = 6
start_worker duban duban -c 50
check "duban's worker gets the 6 notices" \
  wait_for 10 sh -c "[ \$(grep -c escalation '$T/w-duban.log' 2>/dev/null) = 6 ]"
check "and its ACKs are recorded" \
  wait_for 5 sh -c "[ \$(sqlite3 '$T/minqing.db' 'select count(*) from escalations where notified_at is null') = 0 ]"
check "no ACK was refused" sh -c "! grep -q 'event=escalation.ack_refused' '$T/broker.log'"
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
