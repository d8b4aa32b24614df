#!/bin/sh
# stats_lists.sh - the red and black lists (docs/stats.md 5) never name the
# same department, even when every department scores alike: three
# departments resolve everything at once (score 100 each), water with 3
# assignments, hrss with 2, dispatch with 1. The red list takes the best
# (water: most assignments breaks the tie), the black list the worst of the
# others (hrss), not water again.
. "$(dirname "$0")/../lib.sh"
write_config
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
print(",".join(x["id"] for x in s["red_list"]) + " " + ",".join(x["id"] for x in s["black_list"]))' "$T/stats.json"
}
got=$(lists)
check "three departments tie at 100: red water, black hrss, none on both ($got)" test "$got" = "water hrss"
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
