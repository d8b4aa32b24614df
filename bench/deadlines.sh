#!/bin/sh
# deadlines.sh - the timer benchmark of the deadlines issue.
#
# Fills a database with OPEN open cases (default 1,000,000) whose contact
# deadlines are pending (spread over the next hours), BURST of them (default
# 10,000) due in the same second, starts minqingd on it and reports:
#   - the rebuild time of the timers and the bytes of timer state per deadline;
#   - the broker's RSS once serving;
#   - the lag from deadline to escalation line for the burst (p50, p99, max).
# Usage: sh bench/deadlines.sh   (OPEN=... BURST=... to change the sizes)
OPEN=${OPEN:-1000000}
BURST=${BURST:-10000}
. "$(dirname "$0")/common.sh"
bench_config "[deadlines]
contact = 30m
[ladder.contact]
1 = 0 community"

# the schema, from the broker itself
bench_start warning
bench_stop

now=$(date +%s%3N)
burst_due=$(( (now / 1000 + 40) * 1000 ))          # a whole second, 40 s from now
echo "bench: loading $OPEN open cases ($BURST due at once) ..."
sqlite3 "$T/minqing.db" >/dev/null <<SQL
PRAGMA journal_mode = WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $OPEN)
INSERT INTO cases (channel, external_id, service_code, description, grid_code, street,
                   community, priority, lead_department, state, received_at, contact_due)
SELECT 'hotline', 'b-' || i, 'water.leak', '楼道水管漏水，请尽快处理', 'CG01-XH01-G' || (i % 500),
       'CG01', 'CG01-XH01', 'normal', 'water', 'received', $now,
       CASE WHEN i <= $BURST THEN $burst_due + (i % 1000) ELSE $now + 3600000 + i * 7 END
FROM n;
COMMIT;
SQL

start=$(date +%s%3N)
bench_start notice
ready=$(( $(date +%s%3N) - start ))
sleep 1
rss_kb=$(awk '/VmRSS/ { print $2 }' /proc/$PID/status)
timers=$(grep -o 'event=broker.timers.*' "$T/broker.log" || true)
pending=$(echo "$timers" | sed -n 's/.*pending=\([0-9]*\).*/\1/p')
bytes=$(echo "$timers" | sed -n 's/.*bytes=\([0-9]*\).*/\1/p')
rebuild=$(echo "$timers" | sed -n 's/.*rebuild_ms=\([0-9]*\).*/\1/p')

# wait for the burst, then measure each line's lag behind its deadline
while [ "$(date +%s%3N)" -lt $((burst_due + 4000)) ]; do sleep 0.5; done
bench_stop
sqlite3 "$T/minqing.db" "select case_id, due_at from escalations" | tr '|' ' ' | sort > "$T/due.txt"
grep 'event=escalated' "$T/broker.log" | /usr/bin/python3 -c '
import sys, datetime
for line in sys.stdin:
    f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
    ts = datetime.datetime.strptime(f["ts"], "%Y-%m-%dT%H:%M:%S.%f").timestamp()
    print(f["case_id"], int(ts * 1000))' | sort > "$T/logged.txt"
join "$T/due.txt" "$T/logged.txt" | awk '{ print $3 - $2 }' | sort -n > "$T/lag.txt"
n=$(wc -l < "$T/lag.txt")
pct() { sed -n "$(( ($n * $1 + 99) / 100 ))p" "$T/lag.txt"; }
echo
echo "| figure | value |"
echo "|---|---|"
echo "| open cases with a pending deadline | $OPEN |"
echo "| timers rebuilt | $pending in ${rebuild} ms (broker ready after ${ready} ms) |"
echo "| timer state | $bytes bytes = $(( bytes / (pending > 0 ? pending : 1) )) bytes per deadline |"
echo "| broker RSS, serving | $((rss_kb / 1024)) MiB = $(( rss_kb * 1024 / OPEN )) bytes per open case |"
echo "| escalations in the burst | $n of $BURST |"
echo "| lag deadline → log line | p50 $(pct 50) ms, p99 $(pct 99) ms, max $(tail -n1 "$T/lag.txt") ms |"
