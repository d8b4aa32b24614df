#!/bin/sh
# stats_lists.sh - the red and yellow lists (docs/stats.md 5) never name the
# same department, even when every department scores alike: three
# departments resolve everything at once (score 100 each), water with 3
# assignments, hrss with 2, dispatch with 1. The red list takes the best
# (water: most assignments breaks the tie), the yellow list the worst of the
# others (hrss), not water again.
# Then shares that ended in an old system (docs/stats.md 3): water's imported
# cases returned or cancelled there after contact, with no time for their end,
# are not counted as missed resolution deadlines, nor the dispatch centre's
# shares made for them at the import. Last, a redo handed on: the rating is
# credited to the department whose work was rated (docs/stats.md 2).
. "$(dirname "$0")/../lib.sh"
write_config
printf '\n[deadlines]\nresolve = 5d\n' >> "$T/minqing.conf"
start_broker || exit 1
for d in water hrss dispatch; do start_worker "$d" "$d"; done
EP="ipc://$T/intake.sock"
bounded 90 "$BIN/loadgen" -e "$EP" -n 3 -p w -c water.leak -t 30 >/dev/null 2>&1 &&
  bounded 90 "$BIN/loadgen" -e "$EP" -n 2 -p h -c wage.arrears -t 30 >/dev/null 2>&1 &&
  bounded 90 "$BIN/loadgen" -e "$EP" -n 1 -p d -c pet.lost -t 30 >/dev/null 2>&1
check "6 cases submitted" test $? = 0
check "all 6 resolved" wait_for 20 all_resolved 6
bounded "$BIN/minqing" -c "$T/minqing.conf" stats --json --min-assignments 1 > "$T/stats.json" 2>"$T/stats.err"
check "stats --json exits 0" test $? = 0
lists() {
  bounded "$PY" -c 'import json, sys
s = json.load(open(sys.argv[1]))
print(",".join(x["id"] for x in s["red_list"]) + " " + ",".join(x["id"] for x in s["yellow_list"]))' "$T/stats.json"
}
got=$(lists)
check "three departments tie at 100: red water, yellow hrss, none on both ($got)" test "$got" = "water hrss"

# November's history from the old system: returned after contact, cancelled
# after contact, returned with no time at all (received 2 November, 08:00
# Beijing time; the resolution deadline, 5 days on, long past)
H='"service_code": "water.leak", "description": "历史案件", "channel": "legacy", "grid_code": "CG01-XH01-G0001", "department": "water", "received_at": "2026-11-02T08:00+08:00"'
cat > "$T/old.jsonl" <<JSON
{$H, "external_id": "r1", "state": "returned", "contacted_at": "2026-11-02T08:10+08:00"}
{$H, "external_id": "c1", "state": "cancelled", "contacted_at": "2026-11-02T08:10+08:00"}
{$H, "external_id": "r2", "state": "returned"}
JSON
bounded "$BIN/minqing" -c "$T/minqing.conf" import "$T/old.jsonl" > "$T/import.out" 2>&1
check "3 old cases imported" grep -q '^imported 3 cases' "$T/import.out"
bounded "$BIN/minqing" -c "$T/minqing.conf" stats --since 2026-11-01 --until 2026-12-01 --json \
  --min-assignments 1 > "$T/nov.json" 2>"$T/stats.err"
figures=$(bounded "$PY" -c 'import json, sys
w = [d for d in json.load(open(sys.argv[1]))["departments"] if d["id"] == "water"][0]
print(" ".join("%s=%d/%d" % (k, w[k]["num"], w[k]["den"]) for k in ("response", "on_time_resolution", "return")))' "$T/nov.json")
check "shares ended in the old system at an unknown time miss no deadline ($figures)" \
  test "$figures" = "response=2/2 on_time_resolution=0/0 return=2/3"
# the dispatch centre's shares, made at the import for r1 and r2, came after
# r1's resident was reached and after both deadlines had passed: not its misses
dispatch=$(bounded "$PY" -c 'import json, sys
w = [d for d in json.load(open(sys.argv[1]))["departments"] if d["id"] == "dispatch"][0]
print(" ".join("%s=%d/%d" % (k, w[k]["num"], w[k]["den"]) for k in ("response", "on_time_resolution")))' "$T/nov.json")
check "shares made after the contact and the deadlines are not the dispatch centre's misses ($dispatch)" \
  test "$dispatch" = "response=0/0 on_time_resolution=0/0"

# October: traffic resolved o1 in the old system; the resident is unsatisfied,
# so traffic gets the redo, which the dispatch centre reassigns to hrss, which
# resolves it. The unsatisfied rating and the redo are traffic's work, not
# hrss's, which leads the case now (docs/stats.md 2)
O='"service_code": "road.pothole", "description": "历史案件", "channel": "legacy", "grid_code": "CG01-XH01-G0001", "department": "traffic", "received_at": "2026-10-10T08:00+08:00"'
echo "{$O, \"external_id\": \"o1\", \"state\": \"resolved\", \"contacted_at\": \"2026-10-10T08:05+08:00\", \"resolved_at\": \"2026-10-11T08:00+08:00\"}" > "$T/oct.jsonl"
bounded "$BIN/minqing" -c "$T/minqing.conf" import "$T/oct.jsonl" > "$T/import.out" 2>&1
o1=$(sql "select id from cases where external_id = 'o1'")
bounded "$BIN/minqing" -c "$T/minqing.conf" feedback "$o1" unsatisfied >> "$T/import.out" 2>&1 &&
  bounded "$BIN/minqing" -c "$T/minqing.conf" reassign "$o1" hrss >> "$T/import.out" 2>&1
check "o1 rated unsatisfied, its redo reassigned to hrss" test $? = 0
o1_resolved() { [ "$(sql "select state from cases where id = $o1")" = resolved ]; }
check "hrss resolves the redo" wait_for 10 o1_resolved
bounded "$BIN/minqing" -c "$T/minqing.conf" stats --since 2026-10-01 --until 2026-11-01 --json \
  --min-assignments 1 > "$T/oct.json" 2>"$T/stats.err"
credit=$(bounded "$PY" -c 'import json, sys
for d in json.load(open(sys.argv[1]))["departments"]:
    print(d["id"], " ".join("%s=%d/%d" % (k, d[k]["num"], d[k]["den"]) for k in ("satisfaction", "redo")))' "$T/oct.json" | tr '\n' ';')
check "the rating and the redo are traffic's, whose work was rated ($credit)" \
  test "$credit" = "traffic satisfaction=0/1 redo=1/1;hrss satisfaction=0/0 redo=0/1;"
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
