#!/bin/sh
# service.sh - minqingd as a systemd service, with the test playing systemd:
#  - Type=notify: READY=1 only once the sockets are bound, WATCHDOG=1 at the
#    configured interval, STOPPING=1 on SIGTERM;
#  - a holiday file whose last day has passed is reported at start;
#  - SIGHUP reloads a good config (new routes apply at once) and refuses a
#    broken one (errors logged with file and line, the old config stays),
#    which --check-config, the unit's check before the SIGHUP, fails on too;
#  - SIGTERM under load: exit 0 within 5 s, nothing acknowledged is lost;
#  - SIGTERM while a reader holds the database: exit 0 within 3 s, after
#    EXTEND_TIMEOUT_USEC, store.checkpoint_incomplete logged, the WAL left
#    and replayed by the next start.
. "$(dirname "$0")/../lib.sh"
write_config
# a holiday file that has run out (2020's): the broker warns at start
printf '2020-10-01 holiday\n2020-09-27 workday\n' > "$T/holidays.txt"
printf '\n[calendar]\nholidays = %s\n' "$T/holidays.txt" >> "$T/minqing.conf"
$PY "$ROOT/tests/e2e/notify.py" "$T/notify.sock" 60 > "$T/notify.txt" &
NPID=$!
PIDS="$PIDS $NPID"
wait_for 5 grep -q listening "$T/notify.txt"
NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=600000 start_broker || exit 1
sleep 2
check "READY=1 was sent" grep -q ' READY=1' "$T/notify.txt"
check "a holiday file that has run out is reported at start" \
  grep -qE 'event=calendar\.holidays_(ended|next_year) last_listed=2020-10-01 ' "$T/broker.log"
# when READY=1 arrived, the intake socket took a connection: a SUBMIT made right away is answered
bounded 65 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 1 -p ready -t 5 >/dev/null
check "the intake socket answers once READY=1 is out" test $? = 0
check "READY=1 carries a STATUS line with open and overdue counts" grep -q 'STATUS=open [0-9]*, overdue [0-9]*' "$T/notify.txt"
kicks=$(grep -c ' WATCHDOG=1' "$T/notify.txt")
check "WATCHDOG=1 about every 300 ms (half of WatchdogSec=600ms): $kicks in ~2 s" test "$kicks" -ge 4 -a "$kicks" -le 10

# reload: a good config adds a route at once
sed -i 's/^wage.arrears = hrss$/wage.arrears = hrss\nschool.fee = water/' "$T/minqing.conf"
kill -HUP "$BROKER_PID"
check "a good config is reloaded" wait_for 5 grep -q 'event=config.reloaded' "$T/broker.log"
bounded 65 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 1 -p fee -c school.fee -t 5 >/dev/null
check "the new route applies to the next case" test "$(sql "select lead_department from cases where external_id = 'fee-0'")" = water
# reload: a broken config is refused with file and line, and the old one stays
cp "$T/minqing.conf" "$T/good.conf"
printf '\n[routes]\nbogus.code = nosuchdept\n' >> "$T/minqing.conf"
kill -HUP "$BROKER_PID"
check "a broken config is refused, naming file and line" \
  wait_for 5 grep -q "event=config.invalid msg=\"$T/minqing.conf:[0-9]*: .*nosuchdept" "$T/broker.log"
check "and the running config stays" grep -q 'event=config.kept' "$T/broker.log"
# the unit's first ExecReload= runs this check: `systemctl reload` fails on
# the file rather than signalling a broker that will refuse it
bounded "$BIN/minqingd" --check-config -c "$T/minqing.conf" >/dev/null 2>&1
rc=$?
check "--check-config (ExecReload's first command) fails on that file: exit 2 (was $rc)" test "$rc" = 2
bounded 65 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 1 -p keep -c noise.night -t 5 >/dev/null
check "cases still route by the old config" test "$(sql "select lead_department from cases where external_id = 'keep-0'")" = security
cp "$T/good.conf" "$T/minqing.conf"

# SIGTERM under load
"$BIN/loadgen" -e "ipc://$T/intake.sock" -n 20000 -w 64 -p term -o "$T/acks.txt" -t 10 >/dev/null 2>&1 &
LG=$!
sleep 0.5
t0=$(now_ms)
kill -TERM "$BROKER_PID"
wait_for 30 gone "$BROKER_PID" || kill -9 "$BROKER_PID"     # a hang fails, not blocks
wait "$BROKER_PID"
rc=$?
took=$(( $(now_ms) - t0 ))
kill "$LG" 2>/dev/null; wait "$LG" 2>/dev/null
check "SIGTERM: exit status 0 (was $rc)" test "$rc" = 0
check "SIGTERM: stopped within 5 s ($took ms)" test "$took" -le 5000
check "STOPPING=1 was sent" grep -q ' STOPPING=1' "$T/notify.txt"
acked=$(grep -c . "$T/acks.txt")
missing=$(awk '{ print $2 }' "$T/acks.txt" | while read -r id; do echo "select count(*) = 0 from cases where id = $id;"; done | sql | grep -c '^1$')
diag "$acked cases acknowledged before the stop"
check "every acknowledged case is in the database ($missing missing)" test "$missing" = 0 -a "$acked" -gt 0
check "the WAL was checkpointed at stop" test ! -s "$T/minqing.db-wal"

# a start on a database tells systemd it is still starting (EXTEND_TIMEOUT_USEC)
# before it checks the file, so a long check is not killed
$PY "$ROOT/tests/e2e/notify.py" "$T/notify2.sock" 60 > "$T/notify2.txt" &
NPID=$!
PIDS="$PIDS $NPID"
wait_for 5 grep -q listening "$T/notify2.txt"
diag "restart on $(sql 'select count(*) from cases') cases, $(sql 'pragma page_count') pages"
NOTIFY_SOCKET="$T/notify2.sock" start_broker || exit 1
check "EXTEND_TIMEOUT_USEC of 30 s or more before the database is checked, before READY=1" \
  wait_for 5 awk -F'[ =]' '$2 == "EXTEND_TIMEOUT_USEC" && $3 >= 30000000 && !e { e = NR }
                          / READY=1$/ { r = NR } END { exit !(e && r && e < r) }' "$T/notify2.txt"

# SIGTERM while a reader holds a read transaction (a minqing backup, an
# sqlite3 shell), with commits after its snapshot: the last checkpoint waits
# for it about a second, not STORE_OPEN_BUSY_MS (5 s), says it could not
# finish, and the WAL it leaves is replayed by the next start
bounded 65 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 20 -p early -t 5 >/dev/null
$PY -c 'import sqlite3, sys, time
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, isolation_level=None)
db.execute("BEGIN")
print(db.execute("SELECT count(*) FROM cases").fetchone()[0], flush=True)
time.sleep(float(sys.argv[2]))' "$T/minqing.db" 60 > "$T/reader.txt" 2>&1 &
RPID=$!
PIDS="$PIDS $RPID"
wait_for 10 grep -q '^[0-9]' "$T/reader.txt" || diag "the reader did not start: $(cat "$T/reader.txt")"
bounded 65 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 20 -p held -o "$T/acks2.txt" -t 5 >/dev/null
t0=$(now_ms)
kill -TERM "$BROKER_PID"
wait_for 30 gone "$BROKER_PID" || kill -9 "$BROKER_PID"
wait "$BROKER_PID"
rc=$?
took=$(( $(now_ms) - t0 ))
check "SIGTERM with a reader: exit status 0 (was $rc)" test "$rc" = 0
check "SIGTERM with a reader: stopped within 3 s, not after a 5 s wait for it ($took ms)" \
  test "$took" -le 3000
check "the unfinished checkpoint is logged, with the WAL's size and why" \
  grep -q 'event=store.checkpoint_incomplete wal_bytes=[1-9][0-9]* msg="a reader (minqing backup?) holds' \
  "$T/broker.log"
check "broker.stopped still says clean (the transaction was committed)" \
  sh -c "grep 'event=broker.stopped' '$T/broker.log' | tail -1 | grep -q 'msg=clean'"
check "after STOPPING=1, EXTEND_TIMEOUT_USEC of 10 s or more for the checkpoint" \
  awk -F'[ =]' '/ STOPPING=1$/ { s = 1 } s && $2 == "EXTEND_TIMEOUT_USEC" && $3 >= 10000000 { e = 1 }
                END { exit !e }' "$T/notify2.txt"
check "the WAL is left for the next start" test -s "$T/minqing.db-wal"
kill "$RPID" 2>/dev/null; wait "$RPID" 2>/dev/null
start_broker || exit 1
held=$(grep -c . "$T/acks2.txt")
missing=$(awk '{ print $2 }' "$T/acks2.txt" | while read -r id; do echo "select count(*) = 0 from cases where id = $id;"; done | sql | grep -c '^1$')
check "after the restart, every case acknowledged after the reader began is there ($held acked, $missing missing)" \
  test "$held" = 20 -a "$missing" = 0
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
