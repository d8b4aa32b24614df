#!/bin/sh
# import.sh - `minqing import` migrates historical cases through the broker:
# closed cases keep their history, open ones are dispatched like new ones, a
# bad line is refused by number, a second run creates nothing; and
# `minqing backup` copies the live database (mode 0600) while the broker runs.
. "$(dirname "$0")/../lib.sh"
N=2000
write_config
start_broker || exit 1
$PY - "$N" > "$T/hist.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"service_code": "water.leak", "description": "历史案件：楼道积水，已处理完毕。",
        "external_id": "old-%d" % i, "channel": "hotline", "grid_code": "CG01-XH01-G%04d" % (i % 500),
        "phone": "1381234%04d" % (i % 10000), "state": "closed" if i % 10 else "received",
        "received_at": 1561939200000 + i * 60000, "contacted_at": 1561939200000 + i * 60000 + 600000,
        "resolved_at": 1561939200000 + i * 60000 + 86400000,
        "closed_at": 1561939200000 + i * 60000 + 172800000, "rating": "satisfied"}, ensure_ascii=False))
print('{"state": "closed", "service_code": "water.leak"}')
PY
"$BIN/minqing" -c "$T/minqing.conf" import "$T/hist.jsonl" > "$T/import.out" 2> "$T/import.err"
check "import exits 2 because one line was refused" test $? = 2
check "the refused line is named by its number" grep -q "line $((N + 1)): received_at is required" "$T/import.err"
check "$N cases imported" grep -q "^imported $N cases" "$T/import.out"
check "closed cases keep their history" test "$(sql "select count(*) from cases where state = 'closed' and rating = 'satisfied' and closed_at = received_at + 172800000")" = $((N * 9 / 10))
"$BIN/minqing" -c "$T/minqing.conf" import "$T/hist.jsonl" > "$T/again.out" 2>/dev/null
check "a second run creates nothing" sh -c "grep -q '$N already there' '$T/again.out' && [ \$(sqlite3 '$T/minqing.db' 'select count(*) from cases') = $N ]"
start_worker water water -c 50
check "open imported cases are dispatched and resolved" \
  wait_for 30 sh -c "[ \$(sqlite3 '$T/minqing.db' \"select count(*) from cases where state = 'resolved'\") = $((N / 10)) ]"
"$BIN/minqing" -c "$T/minqing.conf" backup "$T/copy.db" >/dev/null
check "backup copies the live database" test "$(sqlite3 "$T/copy.db" 'select count(*) from cases')" = $N
check "the copy is mode 0600" test "$(stat -c %a "$T/copy.db")" = 600
check "the copy passes an integrity check" test "$(sqlite3 "$T/copy.db" 'pragma integrity_check')" = ok
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
