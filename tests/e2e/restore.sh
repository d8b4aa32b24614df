#!/bin/sh
# restore.sh - `minqing restore` as operations use it after a loss: it
# refuses while the broker runs; it puts a backup in place with the old
# database (and its WAL, which must not be replayed into the copy) kept
# aside; the ids given out after the backup are not given out again (case
# ids went to residents, assignment ids to workers); it refuses a damaged
# backup, one from a newer minqing, and a restore whose given-out ids it
# cannot know (no database, or one minqingd created empty after the loss),
# leaving the database as it was each time; a restore killed halfway keeps
# the broker from starting until a rerun puts back what it had moved; and no
# reader or restore opens a database cut to nothing beside its WAL, which
# SQLite would delete.
. "$(dirname "$0")/../lib.sh"
MQ="$BIN/minqing"
write_config
# mq ARGS: the CLI on this config, bounded; stdout to $T/out, stderr to $T/err
mq() { bounded "$MQ" -c "$T/minqing.conf" "$@" > "$T/out" 2> "$T/err"; }
submit() {  # submit PREFIX FROM TO: cases PREFIX-FROM .. PREFIX-TO
  i=$2
  while [ "$i" -le "$3" ]; do
    printf '{"service_code":"water.leak","description":"楼道积水","external_id":"%s-%d",
      "channel":"hotline","grid_code":"CG01-XH01-G0001","phone":"13800000000"}' "$1" "$i" \
      > "$T/case.json"
    mq submit "$T/case.json" || { diag "submit: $(cat "$T/err")"; return 1; }
    i=$((i + 1))
  done
}
max_id() { sqlite3 "${2:-$T/minqing.db}" "select coalesce(max(id), 0) from $1"; }

start_broker || exit 1
mq backup "$T/b0.db"            # a backup of a new database: no case yet
submit before 1 3
mq backup "$T/b1.db"
check "a backup of 3 cases" test "$(sqlite3 "$T/b1.db" 'select count(*) from cases')" = 3
submit after 4 6
CASES=$(max_id cases) ASGS=$(max_id assignments)
check "3 more cases after the backup (ids to $CASES, assignments to $ASGS)" test "$CASES" -ge 6

mq restore "$T/b1.db"; rc=$?
check "restore while the broker runs: exit 1, says to stop it, the broker serves on" \
  sh -c "[ $rc = 1 ] && grep -q 'another minqingd is already running' '$T/err' && kill -0 $BROKER_PID"
check "and its database is as it was" test "$(sql 'select count(*) from cases')" = 6

# kill -9: the last cases are in the WAL, which must leave with its database
kill9 "$BROKER_PID"
check "the broker killed with its WAL not empty" test -s "$T/minqing.db-wal"
[ "$(id -u)" = 0 ] && chown nobody:nogroup "$T/minqing.db"
rm -f "$T/minqing.db.lock"      # as on a new host: restore creates it
mq restore "$T/b1.db"; rc=$?
diag "restore: exit $rc: $(cat "$T/out" "$T/err")"
check "restore with the broker stopped: exit 0" test "$rc" = 0
check "it says where new ids start" grep -q "new ids start above: case $CASES, assignment $ASGS," "$T/out"
check "and that the replaced database alone holds the 3 cases after it, to be kept" \
  grep -q "it holds 3 cases the backup lacks (ids above 3), now in it alone; keep it" "$T/out"
OLD=$(ls "$T" | grep '^minqing\.db\.replaced-[0-9-]*$')
# read-only, so that no checkpoint folds the WAL into the file
check "the replaced database is kept, with its WAL, and holds all 6 cases" \
  sh -c "[ -n '$OLD' ] && [ -e '$T/$OLD-wal' ] && [ ! -e '$T/minqing.db-wal' ] &&
         [ \$(sqlite3 -readonly '$T/$OLD' 'select count(*) from cases') = 6 ]"
n=$(sqlite3 "file:$T/$OLD?immutable=1" "select count(*) from cases" 2>/dev/null)
check "some of them only in that WAL (the file alone: ${n:-no table})" test "${n:-0}" -lt 6
check "the database now holds the backup's 3 cases, no others" \
  test "$(sqlite3 "$T/minqing.db" "select group_concat(external_id) from cases")" = \
       "before-1,before-2,before-3"
check "mode 0600, the replaced database's owner; its lock file too" \
  test "$(stat -c '%a %U' "$T/minqing.db") $(stat -c %U "$T/minqing.db.lock")" = \
       "600 $(stat -c %U "$T/$OLD") $(stat -c %U "$T/$OLD")"
check "no file left beside the backup" test "$(ls "$T" | grep -c '^b1\.db')" = 1
# a database with its -wal (the replaced one, to be restored back) on a
# read-only medium: SQLite cannot make the -shm it reads a WAL with, and
# says only "unable to open database file"; restore says what to do
if [ "$(id -u)" = 0 ] && mkdir "$T/ro" && mount -t tmpfs -o size=64m tmpfs "$T/ro" 2>/dev/null; then
  trap 'umount "$T/ro" 2>/dev/null; cleanup' EXIT
  cp "$T/$OLD" "$T/ro/old.db" && cp "$T/$OLD-wal" "$T/ro/old.db-wal" && mount -o remount,ro "$T/ro"
  mq restore "$T/ro/old.db"; rc=$?
  diag "a -wal in a read-only directory: exit $rc: $(cat "$T/err")"
  check "a backup with its -wal in a read-only directory: exit 1, says to copy both files to a writable one" \
    sh -c "[ $rc = 1 ] && grep -q 'old.db: it has a -wal and its directory is read-only: copy both files to a writable directory first. Nothing was changed.' '$T/err' &&
           [ \"\$(sqlite3 '$T/minqing.db' 'select group_concat(external_id) from cases')\" = before-1,before-2,before-3 ]"
  umount "$T/ro"
  trap cleanup EXIT
else
  ok "a -wal in a read-only directory # SKIP needs root to mount a tmpfs"
fi

start_broker || exit 1
check "the broker logs where ids start" grep -q "event=broker.ids_after_restore cases=$CASES assignments=$ASGS" "$T/broker.log"
mq backup "$T/b2.db"            # a backup of the restored database, before any new case
submit again 7 7
check "a new case takes an id above every one given out before ($(max_id cases) > $CASES)" \
  test "$(sql "select id from cases where external_id = 'again-7'")" -gt "$CASES"
check "and its assignment one above theirs" \
  test "$(sql "select min(a.id) from assignments a join cases c on c.id = a.case_id
               where c.external_id = 'again-7'")" -gt "$ASGS"
stop_pid "$BROKER_PID"

# the replaced database is gone (a lost disk): the ids are unknown
mkdir "$T/lost" && mv "$T/minqing.db" "$T/minqing.db-wal" "$T/lost/" 2>/dev/null
mq restore "$T/b2.db"; rc=$?
check "no database to read ids from: exit 1, asks for --skip-ids, writes nothing" \
  sh -c "[ $rc = 1 ] && grep -q 'there is no database at $T/minqing.db. If .* give --skip-ids N' '$T/err' &&
         [ ! -e '$T/minqing.db' ]"
mq restore --skip-ids 100 "$T/b2.db"; rc=$?
NEXT=$((CASES + 100))           # b2's own floor, not its last id (3), plus 100
check "--skip-ids 100: exit 0, case ids start 100 above the backup's floor ($NEXT)" \
  sh -c "[ $rc = 0 ] && grep -q 'new ids start above: case $NEXT,' '$T/out'"
rm -f "$T/minqing.db"
mq restore --skip-ids 0 "$T/b2.db"; rc=$?
check "--skip-ids 0 (the backup's own ids again): exit 2, says why, writes nothing" \
  sh -c "[ $rc = 2 ] && grep -q 'skip-ids: .0. is not a count from 1' '$T/err' &&
         [ ! -e '$T/minqing.db' ]"
mq restore --skip-ids 1 "$T/b2.db"; rc=$?
check "--skip-ids 1: case ids start above the backup's floor ($CASES) plus 1, not its last id" \
  sh -c "[ $rc = 0 ] && grep -q 'new ids start above: case $((CASES + 1)),' '$T/out'"
start_broker || exit 1
submit again 8 8
AGAIN8=$((CASES + 2))
check "and the broker gives the next case id $AGAIN8" \
  test "$(sql "select id from cases where external_id = 'again-8'")" = $AGAIN8
stop_pid "$BROKER_PID"

# restores killed while they moved files, as they leave them: the mark
# names where the database went and the copy (by inode) taking its place
ident() { $PY -c 'import os, sys; s = os.stat(sys.argv[1])
print(s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns)' "$1"; }
mark() {  # mark COPY [FILE [DBID]]: a restore's mark, moving minqing.db to .replaced-20260101-000000,
          # its copy COPY as FILE is now (COPY by default); the database as DBID says
  printf 'replaced %s\ncopy %s\ncopy_id %s\ndb_id %s\n' "$T/minqing.db.replaced-20260101-000000" \
    "$1" "$(ident "${2:-$1}")" "${3:-0 0 0 0}" > "$T/minqing.db.restoring"
}
# 1. the database moved aside, its copy not yet in place
cp "$T/b1.db" "$T/minqing.db.restore-SIM001"
mv "$T/minqing.db" "$T/minqing.db.replaced-20260101-000000"
mark "$T/minqing.db.restore-SIM001"
bounded 30 "$BIN/minqingd" -c "$T/minqing.conf" > "$T/refused.log" 2>&1; rc=$?
check "the broker refuses to start beside an unfinished restore, creating no database" \
  sh -c "[ $rc != 0 ] && grep -q 'a minqing restore of this database did not finish' '$T/refused.log' &&
         [ ! -e '$T/minqing.db' ]"
mq list; rc=$?
check "and so do the CLI's readers (list, backup): exit 1, run the restore again" \
  sh -c "[ $rc = 1 ] && grep -q 'restoring exists: a minqing restore of this database did not finish' '$T/err' &&
         [ ! -e '$T/minqing.db' ]"
# 2. meanwhile someone opened a new, empty minqing.db: nothing may move
: > "$T/minqing.db"
mq restore "$T/b1.db"; rc=$?
check "a rerun that finds a part under both names: exit 1, moves nothing, keeps the mark" \
  sh -c "[ $rc = 1 ] && grep -q 'cannot be put back: both $T/minqing.db and' '$T/err' &&
         [ ! -s '$T/minqing.db' ] && [ -e '$T/minqing.db.restoring' ] &&
         [ -e '$T/minqing.db.replaced-20260101-000000' ] && [ -e '$T/minqing.db.restore-SIM001' ]"
rm "$T/minqing.db"
# 3. a mark that cannot be read: nothing is guessed
mv "$T/minqing.db.restoring" "$T/mark.saved" && mkdir "$T/minqing.db.restoring"
mq restore "$T/b1.db"; rc=$?
check "a mark that cannot be read: exit 1, says so, the copy it names is kept" \
  sh -c "[ $rc = 1 ] && grep -q 'restoring: cannot read it' '$T/err' &&
         [ -e '$T/minqing.db.restore-SIM001' ]"
rmdir "$T/minqing.db.restoring" && mv "$T/mark.saved" "$T/minqing.db.restoring"
# a backup whose name looks like a copy's is a backup
cp "$T/b1.db" "$T/minqing.db.restore-point.db"
mq restore "$T/minqing.db.restore-point.db"; rc=$?
diag "rerun: exit $rc: $(cat "$T/err")"
check "the rerun puts the database back first: exit 0, ids above its case $AGAIN8" \
  sh -c "[ $rc = 0 ] && grep -q 'an earlier restore was interrupted: put back' '$T/err' &&
         grep -q 'new ids start above: case $AGAIN8,' '$T/out'"
check "and leaves no mark, no copy, nothing under the interrupted one's names; the backup kept" \
  sh -c "[ -z \"\$(ls '$T' | grep -e '\.restoring' -e 'restore-SIM' -e 'replaced-20260101-000000')\" ] &&
         [ -e '$T/minqing.db.restore-point.db' ]"
# 4. killed after the copy was in place, before the mark went
mark "$T/minqing.db.restore-Fin001" "$T/minqing.db"    # the copy, renamed in place
cp "$T/b1.db" "$T/minqing.db.restore-Left01"     # and a copy killed before its mark
echo wal > "$T/minqing.db.restore-Left02-wal"    # and a WAL-mode copy's -wal alone
mq restore "$T/b1.db"; rc=$?
check "a rerun after a finished one: says it had finished, moves nothing back" \
  sh -c "[ $rc = 0 ] && grep -q 'an earlier restore had finished' '$T/err' &&
         ! grep -q 'put back' '$T/err'"
check "and warns of the copy left beside the database, without deleting it" \
  sh -c "grep -q 'restore-Left01 is a copy left by a restore that was killed' '$T/err' &&
         [ -e '$T/minqing.db.restore-Left01' ]"
check "... and of a copy's -wal left alone (it holds residents' data too)" \
  sh -c "grep -q 'restore-Left02-wal is a copy left by a restore that was killed' '$T/err' &&
         [ -e '$T/minqing.db.restore-Left02-wal' ]"
rm -f "$T/minqing.db.restore-Left01" "$T/minqing.db.restore-Left02-wal"
# 4a. killed while it wrote its mark (beside, to be renamed into place):
# nothing had moved. The next restore removes such a mark, whole or empty,
# and names a file of that name that is no mark, leaving it
mark "$T/minqing.db.restore-Mrk001"
mv "$T/minqing.db.restoring" "$T/minqing.db.restoring.new-Kil001"
: > "$T/minqing.db.restoring.new-Kil002"
echo "notes" > "$T/minqing.db.restoring.new-Notes1"
mq restore "$T/b1.db"; rc=$?
diag "beside unplaced marks: exit $rc: $(tr '\n' ' ' < "$T/err")"
check "a mark a killed restore began to write, whole or empty: removed, and said" \
  sh -c "[ $rc = 0 ] && grep -q 'removed $T/minqing.db.restoring.new-Kil001, a mark a killed restore began to write' '$T/err' &&
         grep -q 'removed $T/minqing.db.restoring.new-Kil002, a mark' '$T/err' &&
         [ ! -e '$T/minqing.db.restoring.new-Kil001' ] && [ ! -e '$T/minqing.db.restoring.new-Kil002' ]"
check "... a file of that name that is no mark: named, left as it is" \
  sh -c "grep -q 'warning: $T/minqing.db.restoring.new-Notes1 has the name of a mark .* but is not one: left as it is' '$T/err' &&
         [ \"\$(cat '$T/minqing.db.restoring.new-Notes1')\" = notes ]"
rm -f "$T/minqing.db.restoring.new-Notes1"
# 4b. killed after the WAL went aside, before the database: then someone
# wrote to the database. Its old WAL no longer fits it: nothing moves back
DBID=$(ident "$T/minqing.db")
cp "$T/b1.db" "$T/minqing.db.restore-Wal001"
echo "frames" > "$T/minqing.db.replaced-20260101-000000-wal"
mark "$T/minqing.db.restore-Wal001" "$T/minqing.db.restore-Wal001" "$DBID"
sleep 0.01; sqlite3 "$T/minqing.db" "create table scribble (x)"
mq restore "$T/b1.db"; rc=$?
check "a database written to while its WAL was aside: exit 1, nothing moved back, the mark kept" \
  sh -c "[ $rc = 1 ] && grep -q 'minqing.db was changed while its WAL was aside' '$T/err' &&
         [ -e '$T/minqing.db.replaced-20260101-000000-wal' ] && [ ! -e '$T/minqing.db-wal' ] &&
         [ -e '$T/minqing.db.restoring' ]"
rm -f "$T/minqing.db.restoring" "$T/minqing.db.replaced-20260101-000000-wal" \
  "$T/minqing.db.restore-Wal001"
sqlite3 "$T/minqing.db" "drop table scribble"
# 5. on NFS (a hard link, then an unlink): killed between the two, the
# database under both names; a rerun drops the replaced name
cp "$T/b1.db" "$T/minqing.db.restore-Nfs001"
ln "$T/minqing.db" "$T/minqing.db.replaced-20260101-000000"
mark "$T/minqing.db.restore-Nfs001"
mq restore "$T/b1.db"; rc=$?
check "a rerun after a link whose unlink did not happen: exit 0, puts back, restores" \
  sh -c "[ $rc = 0 ] && grep -q 'an earlier restore was interrupted: put back' '$T/err' &&
         [ ! -e '$T/minqing.db.replaced-20260101-000000' ] && [ ! -e '$T/minqing.db.restoring' ]"
# 6. a mark naming files that are not the database's: nothing is touched
echo keep > "$T/elsewhere"
printf 'replaced %s\ncopy %s\ninode %s\n' "$T/minqing.db.replaced-20260101-000000" \
  "$T/elsewhere" "$(stat -c '%d %i' "$T/elsewhere")" > "$T/minqing.db.restoring"
mq restore "$T/b1.db"; rc=$?
check "a mark naming another file: exit 1, refused, that file untouched" \
  sh -c "[ $rc = 1 ] && grep -q 'not a restore.s' '$T/err' && [ \"\$(cat '$T/elsewhere')\" = keep ]"
rm -f "$T/minqing.db.restoring" "$T/elsewhere"
if [ "$(id -u)" = 0 ]; then
  # a lock file that is a symbolic link (the service account could plant
  # one): never followed, so a root restore changes nothing it points to
  echo keep > "$T/victim" && mv "$T/minqing.db.lock" "$T/lock.saved"
  ln -s "$T/victim" "$T/minqing.db.lock"
  mq restore "$T/b1.db"; rc=$?
  check "a lock file that is a symlink: exit 1, its target untouched and root's" \
    sh -c "[ $rc = 1 ] && [ \"\$(stat -c %U '$T/victim')\" = root ] &&
           [ \"\$(cat '$T/victim')\" = keep ]"
  rm -f "$T/minqing.db.lock" "$T/victim" && mv "$T/lock.saved" "$T/minqing.db.lock"
else
  ok "lock symlink # SKIP needs root"
fi

# the replaced database of the kill -9 above, restored back: with its WAL
mq restore "$T/$OLD"; rc=$?
check "that database restored back, its WAL read: all 6 cases" \
  sh -c "[ $rc = 0 ] && [ \$(sqlite3 '$T/minqing.db' 'select count(*) from cases') = 6 ]"

# bad backups leave the database as it was
sum=$(cksum < "$T/minqing.db")
head -c 30000 "$T/b2.db" > "$T/cut.db"
mq restore "$T/cut.db"; rc=$?
diag "truncated: $(cat "$T/err")"
check "a truncated backup: exit 1, named, the database unchanged" \
  sh -c "[ $rc = 1 ] && grep -q 'cut.db: ' '$T/err' && grep -q 'Nothing was changed' '$T/err' &&
         [ \"\$(cksum < '$T/minqing.db')\" = '$sum' ]"
cp "$T/b2.db" "$T/future.db" && sqlite3 "$T/future.db" 'pragma user_version = 99'
mq restore "$T/future.db"; rc=$?
check "a backup from a newer minqing: exit 1, says so, the database unchanged" \
  sh -c "[ $rc = 1 ] && grep -q 'made by a newer minqing (schema 99' '$T/err' &&
         [ \"\$(cksum < '$T/minqing.db')\" = '$sum' ]"
# another program's file that claims our schema version: refused before the
# good database is moved aside (the broker would refuse it only at its start)
cp "$T/b2.db" "$T/notours.db" && sqlite3 "$T/notours.db" 'drop table rounds'
mq restore "$T/notours.db"; rc=$?
check "a backup at schema 6 without the rounds table: exit 1, says so, the database unchanged" \
  sh -c "[ $rc = 1 ] && grep -q 'not a minqing database (schema version 6, but no table rounds)' '$T/err' &&
         [ \"\$(cksum < '$T/minqing.db')\" = '$sum' ]"
mq restore "$T/minqing.db"; rc=$?
check "the database itself as backup: exit 2" test "$rc" = 2
sed "s#^database = .*#database = minqing.db#" "$T/minqing.conf" > "$T/relative.conf"
(cd "$T" && bounded "$MQ" -c relative.conf restore b1.db > out 2> err); rc=$?
check "a relative database path: exit 1, asks for the absolute one" \
  sh -c "[ $rc = 1 ] && grep -q 'is a relative path (minqing.db)' '$T/err'"
check "no copy or mark left behind by the refused restores" \
  test -z "$(ls "$T" | grep -E -e 'restore-[A-Za-z0-9]{6}$' -e '\.restoring')"

# what to send again: since the backup's last change, never a time to come
# (an imported case may be received up to a day ahead, PROTOCOL.md 5.6a)
start_broker || exit 1
t0=$(date +%s)
H='"service_code":"water.leak","description":"楼道积水","channel":"legacy","grid_code":"CG01-XH01-G0001"'
printf '{%s,"external_id":"ahead-1","state":"received","received_at":%s}\n' "$H" \
  $(( (t0 + 20 * 3600) * 1000 )) > "$T/ahead.jsonl"
mq import "$T/ahead.jsonl" || diag "import: $(cat "$T/out" "$T/err")"
mq backup "$T/b3.db"
t1=$(date +%s)
stop_pid "$BROKER_PID"
mq restore "$T/b3.db"; rc=$?
since=$(sed -n 's/.* received since \([0-9-]* [0-9:]*\).*/\1/p' "$T/out")
s=$([ -n "$since" ] && date -d "$since" +%s 2>/dev/null)
diag "restore: exit $rc, resend since '$since' ($s; backup made in $t0..$t1)"
check "restore says to resend since an hour before the backup's time, not an imported case's time to come" \
  sh -c "[ $rc = 0 ] && [ -n '$s' ] && [ '$s' -ge $((t0 - 3600)) ] && [ '$s' -le $((t1 - 3600)) ]"
mq restore "$T/b0.db"; rc=$?
check "a backup with no case: resend every case, in a sentence without a time" \
  sh -c "[ $rc = 0 ] && grep -q 'restored .*: 0 cases$' '$T/out' &&
         grep -q 'the backup holds no case: have the intake channels send again every case' '$T/out' &&
         ! grep -q 'since -' '$T/out'"

# the database cut to nothing with its WAL beside it: minqingd refuses to
# start, and no reader may open it, as SQLite deletes such a WAL, the only
# copy of its last commits, at the first read (read-only too)
mkdir "$T/held" && mv "$T/minqing.db" "$T/held/"
: > "$T/minqing.db"
head -c 4152 /dev/urandom > "$T/minqing.db-wal"
walsum=$(cksum < "$T/minqing.db-wal")
wal_kept() { [ "$(cksum < "$T/minqing.db-wal" 2>/dev/null)" = "$walsum" ] && [ ! -s "$T/minqing.db" ]; }
for cmd in list "show 1" stats "backup $T/b-cut.db"; do
  mq $cmd; rc=$?
  check "minqing $cmd beside an empty database's WAL: exit 1, says why, the WAL kept" \
    sh -c "[ $rc = 1 ] && grep -q 'empty, but its -wal holds 4152 bytes: a truncated database' '$T/err' &&
           grep -q 'as SQLite would delete that -wal' '$T/err' && [ ! -e '$T/b-cut.db' ]" && wal_kept
done
for skip in "" "--skip-ids 1000"; do
  mq restore $skip "$T/b1.db"; rc=$?
  check "restore ${skip:+$skip }onto it: exit 1, says to move the WAL aside and give --skip-ids, the WAL kept" \
    sh -c "[ $rc = 1 ] && grep -q 'empty, but its -wal holds 4152 bytes' '$T/err' &&
           grep -q 'Move $T/minqing.db-wal to a safe place first.*--skip-ids N' '$T/err'" && wal_kept
done
mv "$T/minqing.db-wal" "$T/held/cut-wal" && rm "$T/minqing.db"

# a new host, or the disk lost: minqingd created an empty database before
# the restore (systemctl enable --now). Its ids say nothing of those the lost
# one gave out after the backup
start_broker || exit 1
stop_pid "$BROKER_PID"
grep -q 'event=store.created' "$T/broker.log" || diag "no store.created in the broker log"
B1=$(max_id cases "$T/b1.db")
replaced=$(ls "$T" | grep -c replaced-)
mq restore "$T/b1.db"; rc=$?
diag "onto a new database: exit $rc: $(cat "$T/err")"
check "restore onto a database minqingd just created: exit 1, says it is behind the backup, asks for --skip-ids" \
  sh -c "[ $rc = 1 ] && grep -q 'is behind the backup: its last ids are case 0,' '$T/err' &&
         grep -q 'Give --skip-ids N' '$T/err'"
check "and changes nothing: no case in the database, nothing replaced" \
  test "$(sqlite3 "$T/minqing.db" 'select count(*) from cases') $(ls "$T" | grep -c replaced-)" = "0 $replaced"
mq restore --skip-ids 1000 "$T/b1.db"; rc=$?
check "with --skip-ids 1000: exit 0, case ids start 1000 above the backup's last ($B1)" \
  sh -c "[ $rc = 0 ] && grep -q 'new ids start above: case $((B1 + 1000)),' '$T/out'"

# a restore ended by a signal (Ctrl-C, systemctl stop, a closed terminal)
# while it copies the backup beside the database removes its copy, which
# holds every resident's personal data, and ends by that signal with the
# database as it was; one killed (SIGKILL) leaves it, and the next restore
# names it. Each signal is sent once the copy has begun (a restore that
# finished first is tried again), on a database of its own: one that
# finished changes nothing the rest of this test reads
mkdir "$T/sig"
sed "s#^database = .*#database = $T/sig/minqing.db#" "$T/minqing.conf" > "$T/sig.conf"
cp "$T/b1.db" "$T/sig/minqing.db"
cp "$T/b1.db" "$T/big.db"
sqlite3 "$T/big.db" "create table ballast (b blob);
  with recursive n(i) as (select 1 union all select i + 1 from n where i < 80)
  insert into ballast select randomblob(1000000) from n"
bounded 150 env PYTHONPATH="$ROOT/tests/e2e" "$PY" - "$MQ" "$T" > "$T/signals.out" 2>&1 <<'PY'
import os, signal, subprocess, sys, zlib
import time
mq, t = sys.argv[1], sys.argv[2]
from ending import ENDING, default_signals
def left():
    return sorted(f for f in os.listdir(t + "/sig") if ".restore-" in f or ".restoring" in f)
def crc():
    with open(t + "/sig/minqing.db", "rb") as f:
        return zlib.crc32(f.read())
for sig in ENDING + (signal.SIGKILL,):
    for attempt in range(5):
        before = crc()
        p = subprocess.Popen([mq, "-c", t + "/sig.conf", "restore", t + "/big.db"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             preexec_fn=default_signals)
        end = time.monotonic() + 20
        while p.poll() is None and time.monotonic() < end and not left():
            time.sleep(0.001)
        p.send_signal(sig)
        rc = p.wait(timeout=30)
        if rc != 0:
            break
    print(sig.name, rc, "unchanged" if crc() == before else "changed", ",".join(left()) or "none left")
PY
diag "$(tr '\n' ' ' < "$T/signals.out")"
check "a restore ended by SIGINT, SIGTERM or SIGHUP while it copies: ended by it, the database unchanged, no copy left" \
  test "$(head -3 "$T/signals.out" | tr '\n' ' ')" = "SIGINT -2 unchanged none left SIGTERM -15 unchanged none left SIGHUP -1 unchanged none left "
KILLED=$(sed -n 's/^SIGKILL -9 unchanged \(minqing\.db\.restore-[A-Za-z0-9]\{6\}\)\(,.*\)*$/\1/p' "$T/signals.out")
check "one killed with SIGKILL while it copies: the database unchanged, its copy left ($(tail -1 "$T/signals.out"))" \
  test -n "$KILLED"
bounded "$MQ" -c "$T/sig.conf" restore "$T/b1.db" > "$T/out" 2> "$T/err"; rc=$?
check "... which the next restore names, as a copy a killed restore left, holding residents' data" \
  sh -c "[ $rc = 0 ] && grep -q 'warning: $T/sig/$KILLED is a copy left by a restore that was killed; it holds residents' '$T/err'"
rm -f "$T/sig/$KILLED"*

check "no sanitizer report" no_sanitizer_reports
finish
