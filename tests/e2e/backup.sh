#!/bin/sh
# backup.sh - `minqing backup` as operations use it: a copy of a live
# database that the broker keeps writing to (cases arrive all through the
# backup) finishes and is whole; it never overwrites a file (another backup,
# the live database); and a backup that fails for want of space exits 1 and
# leaves no file under the destination's name, which a restore would
# otherwise take for a backup (an empty file starts as an empty database).
. "$(dirname "$0")/../lib.sh"
MQ="$BIN/minqing"
N=20000
write_config
start_broker || exit 1
start_worker water water -c 50
# enough pages that a copy made in steps would be started again by the
# broker's commits between two of them, and never end
bounded "$PY" - "$N" > "$T/hist.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"service_code": "water.leak", "description": "历史案件：楼道积水，已处理完毕。" * 8,
        "external_id": "old-%d" % i, "channel": "hotline", "grid_code": "CG01-XH01-G%04d" % (i % 500),
        "state": "closed", "received_at": 1561939200000 + i * 60000,
        "closed_at": 1562025600000 + i * 60000}, ensure_ascii=False))
PY
bounded "$MQ" -c "$T/minqing.conf" import "$T/hist.jsonl" >/dev/null 2>>"$T/cli.log"
pages=$(sql 'pragma page_count')
check "the database has more than 2048 pages ($pages)" test "$pages" -gt 2048

# cases arrive, are dispatched and resolved all through the backup
"$BIN/loadgen" -e "ipc://$T/intake.sock" -n 30000 -r 300 -t 120 -p live -c water.leak >/dev/null 2>&1 &
LOAD=$!
PIDS="$PIDS $LOAD"
wait_for 10 sh -c "[ \$(sqlite3 '$T/minqing.db' \"select count(*) from cases where external_id like 'live-%'\") -gt 300 ]"
t0=$(date +%s)
bounded "$MQ" -c "$T/minqing.conf" backup "$T/copy.db" > "$T/backup.out" 2> "$T/backup.err"
rc=$?
diag "backup: exit $rc in $(( $(date +%s) - t0 )) s, $(cat "$T/backup.out" "$T/backup.err")"
check "a backup while cases arrive finishes, exit 0" test "$rc" = 0
check "the broker was still taking cases when it ended" kill -0 "$LOAD"
check "the copy is whole: integrity ok, schema 5" \
  test "$(sqlite3 "$T/copy.db" 'pragma integrity_check; pragma user_version' | tr '\n' ' ')" = "ok 5 "
# header bytes 18-19: 1 1 is a rollback-journal file, which a read-only
# reader opens without creating a -wal and -shm beside it
check "the copy is a rollback-journal file at rest, not WAL" \
  test "$(od -A n -t u1 -j 18 -N 2 "$T/copy.db" | tr -s ' ')" = " 1 1"
check "the copy holds every imported case and the live ones of its moment" \
  sh -c "[ \$(sqlite3 '$T/copy.db' \"select count(*) from cases where external_id like 'old-%'\") = $N ] &&
         [ \$(sqlite3 '$T/copy.db' \"select count(*) from cases where external_id like 'live-%'\") -gt 300 ]"
check "the copy is mode 0600" test "$(stat -c %a "$T/copy.db")" = 600
check "nothing but the copy is left beside it" test "$(ls "$T" | grep -c '^copy\.db')" = 1
stop_pid "$LOAD"

# never over an existing file
sum=$(cksum < "$T/copy.db")
bounded "$MQ" -c "$T/minqing.conf" backup "$T/copy.db" > /dev/null 2> "$T/exists.err"
rc=$?
check "a destination that exists: exit 1, named, left as it was" \
  sh -c "[ $rc = 1 ] && grep -q 'copy.db: exists; refusing to overwrite it' '$T/exists.err' && [ \"\$(cksum < '$T/copy.db')\" = '$sum' ]"
bounded "$MQ" -c "$T/minqing.conf" backup "$T/minqing.db" > /dev/null 2> "$T/live.err"
rc=$?
check "the live database as destination: exit 1, and the broker serves on" \
  sh -c "[ $rc = 1 ] && grep -q 'exists' '$T/live.err' && kill -0 $BROKER_PID &&
         [ \"\$(sqlite3 '$T/minqing.db' 'pragma quick_check')\" = ok ]"

# a full disk: no file of that name, nothing partial left
if [ "$(id -u)" = 0 ] && mkdir -p "$T/small" && mount -t tmpfs -o size=1m tmpfs "$T/small" 2>/dev/null; then
  trap 'umount "$T/small" 2>/dev/null; cleanup' EXIT
  bounded "$MQ" -c "$T/minqing.conf" backup "$T/small/full.db" > /dev/null 2> "$T/full.err"
  rc=$?
  check "a backup that runs out of space: exit 1, the reason given" \
    sh -c "[ $rc = 1 ] && grep -q 'full.db: backup failed: database or disk is full' '$T/full.err'"
  check "and no file is left, under its name or beside it" test -z "$(ls -A "$T/small")"
  umount "$T/small"
else
  ok "full disk # SKIP needs root to mount a small tmpfs"
  ok "no file left # SKIP"
fi

stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
