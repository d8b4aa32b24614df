#!/bin/sh
# upgrade.sh - the current broker on each database an older minqingd wrote
# (tests/fixtures/schema-N.sql, made by tests/fixtures/make_old_db.sh from
# that version's own binary): it migrates to the schema a new database gets,
# keeps every row and every value, counts the ratings and the redo as before, sends no
# escalation or notice again, and serves the work left open to the workers
# that come back.
. "$(dirname "$0")/../lib.sh"
FIX="$ROOT/tests/fixtures"
CUR=$(sed -n 's/^#define STORE_SCHEMA_VERSION \([0-9]*\).*/\1/p' "$ROOT/daemon/store.h")
check "the schema version is read from daemon/store.h ($CUR)" test "${CUR:-0}" -ge 2 || CUR=1

old_db_config                   # the config make_old_db.sh ran the older broker with

# schema FILE: the database's tables, indexes and triggers, one a line, sorted
schema() {
  sqlite3 "$1" .schema | sed 's/IF NOT EXISTS //; s/"//g' | tr -s ' \n' ' ' | sed 's/; /;\n/g' | sort
}
# changed OLD NEW: the rows of OLD's tables, in OLD's columns, that NEW does
# not hold as they were ("table:count" for each table with any)
changed() {
  for t in $(sqlite3 "$1" "select name from sqlite_master where type = 'table' and name not like 'sqlite_%'"); do
    cols=$(sqlite3 "$1" "select group_concat('\"' || name || '\"', ',') from pragma_table_info('$t')")
    n=$(sqlite3 "$2" "attach '$1' as o; select count(*) from (select $cols from o.\"$t\" except select $cols from main.\"$t\")")
    [ "$n" = 0 ] || printf '%s:%s ' "$t" "$n"
  done
}
counts() {   # counts FILE: rows of the tables every version has
  sqlite3 "$1" "select (select count(*) from cases), (select count(*) from assignments),
    (select count(*) from events), (select count(*) from outcomes), (select count(*) from escalations)"
}
start_broker || exit 1
stop_pid "$BROKER_PID"
schema "$T/minqing.db" > "$T/fresh.schema"
cp "$T/minqing.conf" "$T/fresh.conf"

for v in $(seq 1 $((CUR - 1))); do
  [ -f "$FIX/schema-$v.sql" ] || { not_ok "tests/fixtures/schema-$v.sql is missing"; continue; }
  rm -f "$T"/minqing.db* "$T"/old.db "$T"/w-*.log "$T"/worker-*.out
  sqlite3 "$T/old.db" < "$FIX/schema-$v.sql"
  cp "$T/old.db" "$T/minqing.db"
  sqlite3 "$T/minqing.db" "pragma journal_mode = wal" > /dev/null   # as a broker leaves it
  rows=$(counts "$T/old.db")        # (start_broker has a $before of its own)
  : > "$T/broker.log"
  start_broker || { not_ok "schema $v: the broker starts on it"; continue; }
  check "schema $v: migrated to $CUR at start (store.migrated)" \
    grep -q "event=store.migrated from=$v to=$CUR " "$T/broker.log"
  schema "$T/minqing.db" > "$T/migrated.schema"
  check "schema $v: the tables, indexes and triggers are a new database's" \
    cmp -s "$T/migrated.schema" "$T/fresh.schema"
  check "schema $v: every case, assignment, event, outcome and escalation kept ($rows)" \
    test "$(counts "$T/minqing.db")" = "$rows"
  lost=$(changed "$T/old.db" "$T/minqing.db")
  check "schema $v: every value of every old column kept (${lost:-none changed})" test -z "$lost"
  # the resident's two ratings and the redo count as the older broker left them
  bounded "$BIN/minqing" -c "$T/minqing.conf" stats > "$T/stats.out" 2>&1
  check "schema $v: stats counts hrss's two ratings and its redo" \
    grep -qE '\(hrss\) +3 +4 .* 100\.0% 2/2 .* 33\.3% 1/3 ' "$T/stats.out"
  start_worker supervision sup -s -
  sleep 2                       # past every rung of the old water cases
  check "schema $v: no escalation fired again" test "$(sql 'select count(*) from escalations')" = 6
  check "schema $v: no notice sent again" test "$(count_in "$T/w-sup.log" escalation)" = 0
  start_worker water water
  start_worker security security
  check "schema $v: the work left open is served: every open case resolved" \
    wait_for 20 sh -c "[ \"\$(sqlite3 '$T/minqing.db' \"select count(*) from cases where state not in ('resolved', 'closed', 'cancelled')\")\" = 0 ]"
  for p in $PIDS; do stop_pid "$p"; done
  PIDS=""
done
check "no sanitizer report" no_sanitizer_reports
finish
