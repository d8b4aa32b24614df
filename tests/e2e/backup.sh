#!/bin/sh
# backup.sh - `minqing backup` as operations use it: a copy of a live
# database that the broker keeps writing to (cases arrive all through the
# backup) finishes and is whole; it never overwrites a file (another backup,
# the live database); a destination that names no file is refused, and one
# that cannot be created names its directory; and a backup that fails for
# want of space exits 1 and leaves no file under the destination's name,
# which a restore would otherwise take for a backup (an empty file starts as
# an empty database).
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
check "the copy is whole: integrity ok, schema 6" \
  test "$(sqlite3 "$T/copy.db" 'pragma integrity_check; pragma user_version' | tr '\n' ' ')" = "ok 6 "
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

# a destination that names no file is refused before anything is copied;
# one in a missing directory names that directory, not mkstemp's random name
(cd "$T" && bounded "$MQ" -c "$T/minqing.conf" backup "" > /dev/null 2> "$T/empty.err"); rc=$?
check "an empty destination: exit 2, says so, nothing copied to the current directory" \
  sh -c "[ $rc = 2 ] && grep -q \"'' names no file\" '$T/empty.err' && ! ls -A '$T' | grep -q '^\.partial-'"
mkdir "$T/dir"
bounded "$MQ" -c "$T/minqing.conf" backup "$T/dir/" > /dev/null 2> "$T/dir.err"; rc=$?
check "a destination ending in /: exit 2, says so, nothing copied into it" \
  sh -c "[ $rc = 2 ] && grep -q 'dir/. names no file' '$T/dir.err' && [ -z \"\$(ls -A '$T/dir')\" ]"
bounded "$MQ" -c "$T/minqing.conf" backup "$T/dir" > /dev/null 2> "$T/dir.err"; rc=$?
check "a destination that is a directory: exit 2, as for dir/, saying to give a file name in it" \
  sh -c "[ $rc = 2 ] && grep -q '$T/dir is a directory: give a file name in it' '$T/dir.err' && [ -z \"\$(ls -A '$T/dir')\" ]"
# a backup directory that is a symlink (/var/backups/minqing -> /srv/...) is
# fine; only the copy itself must never be one
mkdir -p "$T/real" && ln -s "$T/real" "$T/linked"
bounded "$MQ" -c "$T/minqing.conf" backup "$T/linked/via-link.db" > /dev/null 2> "$T/link.err"; rc=$?
check "a backup into a directory reached by a symlink: exit 0, the copy there ($(cat "$T/link.err"))" \
  sh -c "[ $rc = 0 ] && [ -s '$T/real/via-link.db' ]"
bounded "$MQ" -c "$T/minqing.conf" backup "$T/nodir/x.db" > /dev/null 2> "$T/nodir.err"; rc=$?
diag "missing directory: $(cat "$T/nodir.err")"
check "a destination in a missing directory: exit 1, names the directory, no random name" \
  sh -c "[ $rc = 1 ] && grep -q 'cannot create a file in $T/nodir/ (for $T/nodir/x.db): No such file' '$T/nodir.err' &&
         ! grep -q partial '$T/nodir.err'"

# a backup ended by a signal (Ctrl-C, systemctl stop, a closed terminal)
# removes its partial copy, which holds every resident's personal data, and
# ends by that signal; each is sent once the copy has begun (a backup that
# finished first is tried again)
bounded 150 env PYTHONPATH="$ROOT/tests/e2e" "$PY" - "$MQ" "$T" > "$T/signals.out" 2>&1 <<'PY'
import os, signal, subprocess, sys, time
mq, t = sys.argv[1], sys.argv[2]
from ending import ENDING, default_signals
for sig in ENDING:
    for attempt in range(5):
        dest = "%s/sig-%s-%d.db" % (t, sig.name, attempt)
        part = os.path.basename(dest) + ".partial-"
        p = subprocess.Popen([mq, "-c", t + "/minqing.conf", "backup", dest],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             preexec_fn=default_signals)
        end = time.monotonic() + 20
        while p.poll() is None and time.monotonic() < end and \
                not any(f.startswith(part) for f in os.listdir(t)):
            time.sleep(0.001)
        p.send_signal(sig)
        rc = p.wait(timeout=30)
        if rc != 0:
            break
        os.unlink(dest)
    left = [f for f in os.listdir(t) if f.startswith("sig-")]
    print(sig.name, rc, ",".join(left) or "none left")
PY
check "a backup ended by SIGINT, SIGTERM or SIGHUP: ended by it, no partial copy left" \
  test "$(cat "$T/signals.out" | tr '\n' ' ')" = "SIGINT -2 none left SIGTERM -15 none left SIGHUP -1 none left "
diag "$(cat "$T/signals.out" | tr '\n' ' ')"
# a copy left by a backup killed with SIGKILL is named; one that a running
# backup is writing (its lock held) is not
: > "$T/old.db.partial-AbC123"
: > "$T/old.db.partial-AbC123-wal"
: > "$T/gone.db.partial-DeF456-shm"
: > "$T/busy.db.partial-XyZ789"
: > "$T/busy.db.partial-XyZ789-wal"
"$PY" -c 'import fcntl, sys, time
f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); print("held", flush=True); time.sleep(60)' \
  "$T/busy.db.partial-XyZ789" > "$T/held.out" 2>&1 &
HOLD=$!
PIDS="$PIDS $HOLD"
wait_for 10 grep -q held "$T/held.out"
bounded "$MQ" -c "$T/minqing.conf" backup "$T/next.db" > /dev/null 2> "$T/stale.err"
rc=$?
check "a backup warns of a partial copy a killed backup left, not of one in use, and goes on" \
  sh -c "[ $rc = 0 ] && [ -s '$T/next.db' ] &&
         grep -q 'warning: $T/old.db.partial-AbC123 is a copy left by a backup that was killed' '$T/stale.err' &&
         ! grep -q busy.db '$T/stale.err'"
check "... and of a -wal or -shm left beside a partial copy, or alone, not of one beside a copy in use" \
  sh -c "grep -q 'warning: $T/old.db.partial-AbC123-wal is a copy left by a backup that was killed' '$T/stale.err' &&
         grep -q 'warning: $T/gone.db.partial-DeF456-shm is a copy left by a backup that was killed' '$T/stale.err'"
stop_pid "$HOLD"
rm -f "$T/old.db.partial-AbC123" "$T/old.db.partial-AbC123-wal" "$T/gone.db.partial-DeF456-shm" \
  "$T/busy.db.partial-XyZ789" "$T/busy.db.partial-XyZ789-wal"

# a full disk: no file of that name, nothing partial left
if [ "$(id -u)" = 0 ] && mkdir -p "$T/small" && mount -t tmpfs -o size=1m tmpfs "$T/small" 2>/dev/null; then
  trap 'umount "$T/small" 2>/dev/null; cleanup' EXIT
  bounded "$MQ" -c "$T/minqing.conf" backup "$T/small/full.db" > /dev/null 2> "$T/full.err"
  rc=$?
  check "a backup that runs out of space: exit 1, saying the file system is full" \
    sh -c "[ $rc = 1 ] && grep -q 'full.db: backup failed: no space left on its file system (database or disk is full)' '$T/full.err'"
  check "and no file is left, under its name or beside it" test -z "$(ls -A "$T/small")"
  umount "$T/small"
else
  ok "full disk # SKIP needs root to mount a small tmpfs"
  ok "no file left # SKIP"
fi

stop_pid "$BROKER_PID"

# a disk with room for the copy and not a byte more (the broker stopped, so
# that the database keeps its size; its file is still in WAL mode): the copy
# is turned from WAL to a rollback-journal file with no -shm or journal
# beside it, and fits. With no inode left for the -wal SQLite opens
# meanwhile, the backup fails, says the file system is full, leaves nothing.
bytes=$(( $(sql 'pragma page_count') * $(sql 'pragma page_size') ))
if [ "$(id -u)" = 0 ] && mkdir -p "$T/exact" && mount -t tmpfs -o size=$bytes tmpfs "$T/exact" 2>/dev/null; then
  trap 'umount "$T/exact" 2>/dev/null; cleanup' EXIT
  bounded "$MQ" -c "$T/minqing.conf" backup "$T/exact/b.db" > /dev/null 2> "$T/exact.err"; rc=$?
  diag "exactly $bytes bytes free: exit $rc, left $(ls -A "$T/exact" | tr '\n' ' ')$(cat "$T/exact.err")"
  check "a disk with room for the copy and no more: exit 0, the copy whole, nothing beside it" \
    sh -c "[ $rc = 0 ] && [ \"\$(ls -A '$T/exact')\" = b.db ] &&
           [ \"\$(sqlite3 -readonly '$T/exact/b.db' 'pragma integrity_check')\" = ok ]"
  umount "$T/exact"
  mount -t tmpfs -o size=$((bytes * 2)),nr_inodes=2 tmpfs "$T/exact"
  bounded "$MQ" -c "$T/minqing.conf" backup "$T/exact/b.db" > /dev/null 2> "$T/inodes.err"; rc=$?
  check "no inode left for the -wal: exit 1, the file system said to be full, nothing left ($(cat "$T/inodes.err"))" \
    sh -c "[ $rc = 1 ] && grep -q 'b.db: backup failed: no space left on its file system' '$T/inodes.err' &&
           [ -z \"\$(ls -A '$T/exact')\" ]"
  umount "$T/exact"
  trap cleanup EXIT
else
  ok "a disk with room for the copy and no more # SKIP needs root to mount a small tmpfs"
  ok "no inode left # SKIP"
fi
# a restore that replaces the database while a backup reads it (which may
# have moved its WAL aside before SQLite opened it) fails the backup, which
# leaves nothing under its name. The backup is held at its first read by a
# connection in exclusive locking mode while the file under the database's
# name changes, as a restore changes it.
"$PY" -c 'import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA locking_mode = EXCLUSIVE"); db.execute("BEGIN EXCLUSIVE")
print("held", flush=True)
for _ in range(2000):
    if os.path.exists(sys.argv[2]): break
    time.sleep(0.01)
db.execute("COMMIT"); db.close()' "$T/minqing.db" "$T/go" > "$T/excl.out" 2>&1 &
HOLD=$!
PIDS="$PIDS $HOLD"
wait_for 10 grep -q held "$T/excl.out"
"$MQ" -c "$T/minqing.conf" backup "$T/during.db" > /dev/null 2> "$T/during.err" &
BK=$!
PIDS="$PIDS $BK"
wait_for 10 sh -c "ls -l /proc/$BK/fd 2>/dev/null | grep -q '$T/minqing.db\$'"
mv "$T/minqing.db" "$T/minqing.db.before" && ln "$T/next.db" "$T/minqing.db"
: > "$T/go"
wait_for 15 sh -c "! kill -0 $BK 2>/dev/null"
wait "$BK"; rc=$?
diag "a backup across a replacement: exit $rc, $(cat "$T/during.err")"
check "a backup during which the database is replaced: exit 1, says so, leaves no file" \
  sh -c "[ $rc = 1 ] && grep -q 'minqing.db was replaced while it was copied (a minqing restore ran)' '$T/during.err' &&
         ! ls '$T' | grep -q '^during\.db'"
stop_pid "$HOLD"
check "no sanitizer report" no_sanitizer_reports
finish
