#!/bin/sh
# import.sh - `minqing import` of N historical cases (default 1,300,000:
# Lanzhou's five-year volume), ~600 bytes each, through a release broker.
# Usage: sh bench/import.sh   (N=... to change)
set -eu
cd "$(dirname "$0")/.."
N=${N:-1300000}
B=${B:-build}
T=$(mktemp -d /tmp/minqing-bench.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$T"' EXIT
cat > "$T/minqing.conf" <<CONF
[broker]
intake = ipc://$T/intake.sock
workers = ipc://$T/workers.sock
events = ipc://$T/events.sock
database = $T/minqing.db
manual_department = dispatch
[departments]
dispatch = 12345派单中心
water = 水务局
[routes]
water.leak = water
default = dispatch
CONF
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
"$B/minqingd" -c "$T/minqing.conf" -l warning 2> "$T/broker.log" & PID=$!
i=0; while [ ! -S "$T/intake.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
"$B/minqing" -c "$T/minqing.conf" import "$T/hist.jsonl"
echo "bench: $(sqlite3 "$T/minqing.db" 'select count(*) from cases') cases in the database"
