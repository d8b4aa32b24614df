#!/bin/sh
# import.sh - `minqing import` of N historical cases (default 1,300,000:
# Lanzhou's five-year volume), ~600 bytes each, through a release broker.
# Usage: sh bench/import.sh   (N=... to change)
N=${N:-1300000}
. "$(dirname "$0")/common.sh"
bench_config
/usr/bin/python3 - "$N" > "$T/hist.jsonl" <<'PY'
import json, sys
desc = "居民反映小区楼道水管漏水，积水严重，影响出行，已由水务局派人维修并回访，居民表示满意。" * 3
for i in range(int(sys.argv[1])):
    t = 1561939200000 + i * 120000
    print(json.dumps({"service_code": "water.leak", "description": desc, "external_id": "h-%d" % i,
        "channel": "hotline", "grid_code": "CG01-XH01-G%04d" % (i % 997), "phone": "138%08d" % i,
        "address_string": "城关区西湖街道幸福小区%d号楼" % (i % 300), "state": "closed",
        "received_at": t, "contacted_at": t + 600000, "resolved_at": t + 86400000,
        "closed_at": t + 172800000, "rating": "satisfied"}, ensure_ascii=False))
PY
echo "bench: $N lines, $(du -h "$T/hist.jsonl" | cut -f1)"
bench_start warning
"$B/minqing" -c "$T/minqing.conf" import "$T/hist.jsonl"
echo "bench: $(sqlite3 "$T/minqing.db" 'select count(*) from cases') cases in the database"
# a restart on that database: what systemd's TimeoutStartSec (90 s) must cover
bench_stop
echo "bench: database $(du -m "$T/minqing.db" | cut -f1) MB"
t0=$(date +%s%N)
bench_start notice
t1=$(date +%s%N)
grep -q broker.ready "$T/broker.log" || { echo "bench: the broker did not start" >&2; exit 1; }
echo "bench: restart on it to broker.ready: $(( (t1 - t0) / 1000000 )) ms"
# the monthly report on that volume: one month (June 2022), then all five years
t0=$(date +%s%N)
"$B/minqing" -c "$T/minqing.conf" stats --since 2022-06-01 --until 2022-07-01 > "$T/stats.txt" ||
  { echo "bench: stats failed" >&2; exit 1; }
t1=$(date +%s%N)
"$B/minqing" -c "$T/minqing.conf" stats > "$T/stats-all.txt" || { echo "bench: stats failed" >&2; exit 1; }
t2=$(date +%s%N)
echo "bench: minqing stats, one month: $(( (t1 - t0) / 1000000 )) ms; all $N cases: $(( (t2 - t1) / 1000000 )) ms"
