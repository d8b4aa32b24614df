#!/bin/sh
# faults.sh - the quick fault-injection suite:
#  - a full disk: intake answers ERROR 501, the broker stays up, committed
#    cases stay intact, a refusal read in a pass whose commit fails is
#    answered 501 as well, and it serves again once space returns;
#  - a corrupt, a truncated, a future-schema database, a damaged backup,
#    another program's (whatever schema version it claims) and an empty one
#    beside its WAL at start: the broker refuses to start with a clear message
#    and never touches the file;
#  - kill -9 of workers under load: every case still reaches resolved;
#  - a second broker on the same database refuses to start;
#  - while another process holds the write lock, intake is answered at once
#    (ERROR 500, retried), not after 5 s a message.
. "$(dirname "$0")/../lib.sh"

# 1. full disk, on a small filesystem the test makes itself (needs root)
if [ "$(id -u)" = 0 ] && mkdir -p "$T/small" && mount -t tmpfs -o size=3m tmpfs "$T/small" 2>/dev/null; then
  trap 'umount "$T/small" 2>/dev/null; cleanup' EXIT
  write_config
  sed -i "s|^database = .*|database = $T/small/minqing.db|" "$T/minqing.conf"
  start_broker || exit 1
  bounded "$PY" "$ROOT/tests/e2e/full_disk.py" "ipc://$T/intake.sock" full 5000 > "$T/full.txt"
  check "the disk filled up and intake answered ERROR 501" grep -q '^full 501' "$T/full.txt"
  check "the broker stayed up" kill -0 "$BROKER_PID"
  acked=$(grep -c '^acked' "$T/full.txt")
  stored=$(sqlite3 "$T/small/minqing.db" "select count(*) from cases")
  check "all $acked acknowledged cases are intact ($stored stored)" test "$stored" = "$acked"
  check "the database passes an integrity check" test "$(sqlite3 "$T/small/minqing.db" 'pragma quick_check')" = ok
  # a copy of a stored case only reads: answered while the disk is full
  bounded "$PY" "$ROOT/tests/e2e/full_disk.py" "ipc://$T/intake.sock" full 1 > "$T/copy.txt"
  check "a stored case's copy is answered while the disk is full ($(cat "$T/copy.txt"))" \
    grep -q '^acked full-0 ' "$T/copy.txt"
  # a refusal read in the pass whose commit then fails went by state that was
  # rolled back: it is answered 5xx too, not 203 (a worker drops a result on 203)
  case0=$(awk '$2 == "full-0" { print $3 }' "$T/full.txt")
  bounded "$PY" "$ROOT/tests/e2e/refused_in_pass.py" "ipc://$T/intake.sock" "$BROKER_PID" \
    "$case0" pass > "$T/pass.txt"
  diag "$(tr '\n' ' ' < "$T/pass.txt")"
  check "a refusal in a pass whose commit failed is answered 501, as the write is" \
    sh -c "grep -q '^pass-feedback ERROR 501$' '$T/pass.txt' && grep -q '^pass-submit ERROR 501$' '$T/pass.txt'"
  mount -o remount,size=16m "$T/small"     # space returns
  # the case refused with 501 stays refused, also through a crash after
  # space returned and the broker read on (its commit used to be written then)
  bounded "$PY" "$ROOT/tests/e2e/full_disk.py" "ipc://$T/intake.sock" full 1 > /dev/null
  kill9 "$BROKER_PID"
  check "after kill -9, the refused case full-$acked is not stored" \
    test "$(sqlite3 "$T/small/minqing.db" "select count(*) from cases where external_id = 'full-$acked'")" = 0
  check "and the $acked acknowledged ones are" \
    test "$(sqlite3 "$T/small/minqing.db" "select count(*) from cases")" = "$acked"
  start_broker || exit 1
  check "the restart on it says nothing of a new database (store.created once, at the first start)" \
    test "$(grep -c 'event=store.created' "$T/broker.log")" = 1
  bounded "$PY" "$ROOT/tests/e2e/full_disk.py" "ipc://$T/intake.sock" again 20 > "$T/again.txt"
  check "once space returns it serves again" test "$(grep -c '^acked' "$T/again.txt")" = 20
  stop_pid "$BROKER_PID"
  umount "$T/small"
  trap cleanup EXIT
else
  ok "full disk # SKIP needs root to mount a small tmpfs"
fi

# 2. a database that is not one: refused, never overwritten
# refuses FILE PATTERN: minqingd exits 2 (which systemd does not retry: no
# start mends the file), names the problem, leaves FILE as it was
refuses() {
  sum=$(md5sum < "$1")
  sed -i "s|^database = .*|database = $1|" "$T/minqing.conf"
  bounded "$BIN/minqingd" -c "$T/minqing.conf" > "$T/refuse.log" 2>&1
  rc=$?
  [ $rc -eq 2 ] && grep -q "$2" "$T/refuse.log" && [ "$(md5sum < "$1")" = "$sum" ]
}
write_config
head -c 100000 /dev/urandom > "$T/garbage.db"
check "a corrupt file is refused, untouched" refuses "$T/garbage.db" "not a SQLite database"
write_config
start_broker || exit 1
bounded 120 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 2000 -t 60 -p t >/dev/null
stop_pid "$BROKER_PID"
bounded "$BIN/minqing" -c "$T/minqing.conf" backup "$T/damaged.db" >/dev/null
cp "$T/minqing.db" "$T/truncated.db"
truncate -s $(( $(stat -c %s "$T/minqing.db") / 2 )) "$T/truncated.db"
check "a truncated database is refused, untouched" refuses "$T/truncated.db" "malformed\|integrity\|corrupt"
cp "$T/minqing.db" "$T/future.db"
sqlite3 "$T/future.db" "pragma user_version = 99"
check "a database from a future schema is refused, untouched" refuses "$T/future.db" "newer than this minqingd"
# a damaged backup (rollback-journal mode, as minqing backup writes it): not
# even switched to WAL before it is refused
root=$(sqlite3 "$T/damaged.db" "select rootpage from sqlite_master where name = 'events'")
page=$(sqlite3 "$T/damaged.db" "pragma page_size")
printf '\177' | dd of="$T/damaged.db" bs=1 seek=$(( (root - 1) * page )) conv=notrunc 2>/dev/null
check "a damaged backup is refused, untouched" refuses "$T/damaged.db" "integrity check failed"
sqlite3 "$T/foreign.db" "create table foo (x); pragma user_version = 4"
check "another program's database that claims schema 4 is refused, untouched" \
  refuses "$T/foreign.db" "not minqing's"
# a database cut to 0 bytes beside its WAL: SQLite would delete the WAL and
# start an empty database
: > "$T/cut.db"
head -c 40000 /dev/urandom > "$T/cut.db-wal"
wal_sum=$(md5sum < "$T/cut.db-wal")
check "an empty database beside its -wal is refused, untouched" refuses "$T/cut.db" "not a new one"
check "... and its -wal too" test "$(md5sum < "$T/cut.db-wal")" = "$wal_sum"
diag "$(cat "$T/refuse.log")"

# 3. kill -9 of workers under load
rm -f "$T"/minqing.db*
write_config
: > "$T/broker.log"
start_broker || exit 1
check "a database made from nothing is said at start (store.created)" \
  grep -q "severity=warning event=store.created database=$T/minqing.db " "$T/broker.log"
bounded "$BIN/minqingd" -c "$T/minqing.conf" > "$T/second.log" 2>&1
# exit 1, which systemd retries: the other one may be a broker run by hand
check "a second broker on the same database refuses to start (exit 1)" \
  sh -c "[ $? -eq 1 ] && grep -q 'another minqingd is already running' '$T/second.log'"
for d in urban traffic security hrss dispatch; do start_worker $d $d -c 16; done
start_worker water water1 -c 4 -D 20
W1=$WORKER_PID
"$BIN/loadgen" -e "ipc://$T/intake.sock" -n 600 -t 60 -r 300 -p k -c water.leak,road.pothole,wage.arrears >/dev/null &
LG=$!
sleep 0.7
kill9 "$W1"
start_worker water water2 -c 4 -D 20
W2=$WORKER_PID
sleep 0.7
kill9 "$W2"
start_worker water water3 -c 16
wait "$LG"
check "every case resolved although its workers were killed" wait_for 60 all_resolved 600

# 4. another process holds the write lock (an sqlite3 shell in a transaction):
# each BEGIN waited 5 s, for every message, while the loop served nothing
bounded "$PY" "$ROOT/tests/e2e/locked.py" "ipc://$T/intake.sock" "$T/minqing.db" lk 6 \
  > "$T/locked.txt"
diag "$(tr '\n' ' ' < "$T/locked.txt")"
check "while another process holds the write lock, 6 submissions get ERROR 500 within 2 s" \
  awk '$1 == "locked" && $2 == 6 && $3 == "500,500,500,500,500,500" && $4 < 2 { ok = 1 }
       END { exit !ok }' "$T/locked.txt"
check "once it lets go, the same submissions are stored" grep -q '^after 6 ' "$T/locked.txt"
check "the broker stayed up" kill -0 "$BROKER_PID"
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
