#!/bin/sh
# import_history.sh - the broker checks the history an IMPORT brings
# (PROTOCOL.md 5.6a) and treats the imported case as it would a live one: a
# case imported as contacted, resolved or closed without that time, or with
# its times out of the loop's order, is refused and `minqing import` names
# the line and the field; one imported as contacted does not climb the
# contact ladder; one imported as returned goes to the manual dispatch
# centre as a live RETURNED does; and auto_close closes one imported as
# resolved as of resolved_at + auto_close, not at the time of the import.
. "$(dirname "$0")/../lib.sh"
supervision_config || exit 1
sed -i 's/^auto_close = 0$/auto_close = 3d/' "$T/minqing.conf"
start_broker || exit 1
R=1561939200000         # 2019-07-01 08:00 +08:00
H="\"service_code\": \"water.leak\", \"description\": \"历史案件\", \"channel\": \"legacy\", \"grid_code\": \"CG01-XH01-G0001\", \"received_at\": $R"
cat > "$T/h.jsonl" <<JSON
{$H, "external_id": "c1", "state": "contacted"}
{$H, "external_id": "c2", "state": "contacted", "contacted_at": $((R + 300000))}
{$H, "external_id": "c3", "state": "returned"}
{$H, "external_id": "t1", "state": "closed", "contacted_at": 1500000000000, "resolved_at": $((R + 1)), "closed_at": $((R + 2))}
{$H, "external_id": "t2", "state": "closed", "resolved_at": $((R + 1))}
{$H, "external_id": "t3", "state": "resolved", "resolved_at": $((R + 86400000))}
{$H, "external_id": "t4", "state": "closed", "resolved_at": $((R + 86400000)), "closed_at": $((R + 3600000))}
{$H, "external_id": "t5", "state": "resolved", "contacted_at": $((R + 7200000)), "resolved_at": $((R + 3600000))}
JSON
bounded "$BIN/minqing" -c "$T/minqing.conf" import "$T/h.jsonl" > "$T/out.log" 2> "$T/err.log"
rc=$?
check "import exits 2: lines refused, the others imported" \
  sh -c "[ $rc = 2 ] && grep -q '^imported 3 cases (0 already there, 5 lines refused)' '$T/out.log'"
check "contacted without contacted_at: refused by line, naming the field" \
  grep -q "line 1 refused: contacted_at is required for a case imported as contacted" "$T/err.log"
check "closed without closed_at: refused by line, naming the field" \
  grep -q "line 5 refused: closed_at is required for a case imported as closed" "$T/err.log"
check "contacted before received: refused, naming both fields" \
  grep -q "line 4 refused: contacted_at (1500000000000) is before received_at ($R)" "$T/err.log"
check "closed before resolved, resolved before contacted: refused" sh -c \
  "grep -q 'line 7 refused: closed_at ([0-9]*) is before resolved_at' '$T/err.log' && \
   grep -q 'line 8 refused: resolved_at ([0-9]*) is before contacted_at' '$T/err.log'"
check "nothing of a refused line is stored" \
  test "$(sql "select group_concat(external_id) from (select external_id from cases order by external_id)")" = c2,c3,t3

# the returned case has made no contact: its contact ladder climbs at once
# (received in 2019), which shows the timers ran
check "the returned case escalates up the contact ladder" wait_for 15 sh -c \
  "[ \$(sqlite3 '$T/minqing.db' \"select count(*) from escalations e join cases c on c.id = e.case_id where c.external_id = 'c3' and e.ladder = 'contact'\") = 3 ]"
check "the case imported as contacted does not" \
  test "$(sql "select count(*) from escalations e join cases c on c.id = e.case_id where c.external_id = 'c2' and e.ladder = 'contact'")" = 0
check "the returned case goes to the manual dispatch centre, as a live return does" \
  test "$(sql "select c.state || ',' || c.lead_department || ':' || group_concat(a.department || '=' || a.state) from cases c join (select * from assignments order by id) a on a.case_id = c.id where c.external_id = 'c3'")" \
  = "returned,dispatch:water=returned,dispatch=received"
start_worker dispatch d1
check "... where a worker takes it up" wait_for 15 sh -c \
  "[ \"\$(sqlite3 '$T/minqing.db' \"select a.state from assignments a join cases c on c.id = a.case_id where c.external_id = 'c3' and a.department = 'dispatch'\")\" = resolved ]"
check "auto_close closes the imported resolved case as of resolved_at + 3d, not now" wait_for 15 sh -c \
  "[ \"\$(sqlite3 '$T/minqing.db' \"select state || ',' || (closed_at - resolved_at) from cases where external_id = 't3'\")\" = closed,259200000 ]"

stop_pid "$BROKER_PID"

# Working-day deadlines and a holiday file of this year alone: history of
# 2019 gets its deadlines over 2019's 春节 and 国庆 counted as working days.
# The import says so at the first such case, while it can still be stopped,
# and counts them in its summary; with 2019 listed too, it says nothing.
year=$(date +%Y)
printf '%s-10-01 holiday\n' "$year" > "$T/holidays.txt"
printf '\n[calendar]\nholidays = %s\n' "$T/holidays.txt" >> "$T/minqing.conf"
sed -i 's/^\[deadlines\]$/[deadlines]\nresolve = 5wd\npet.lost.resolve = 3d/' "$T/minqing.conf"
start_broker || exit 1
Y="\"service_code\": \"water.leak\", \"description\": \"历史案件\", \"channel\": \"legacy\", \"grid_code\": \"CG01-XH01-G0001\", \"state\": \"closed\""
{
  echo "{$Y, \"external_id\": \"y1\", \"received_at\": $R, \"resolved_at\": $((R + 1)), \"closed_at\": $((R + 2))}"
  echo "{$Y, \"external_id\": \"y2\", \"received_at\": \"$year-03-02T08:00+08:00\", \"resolved_at\": \"$year-03-02T09:00+08:00\", \"closed_at\": \"$year-03-02T10:00+08:00\"}"
  echo "{$Y, \"external_id\": \"y3\", \"received_at\": $((R + 1000)), \"resolved_at\": $((R + 1001)), \"closed_at\": $((R + 1002))}"
  # wall-clock deadlines alone (contact 2 s, pet.lost's resolve 3 d): no holiday matters
  echo "{$Y, \"external_id\": \"y4\", \"received_at\": $((R + 2000)), \"resolved_at\": $((R + 2001)), \"closed_at\": $((R + 2002))}" |
    sed 's/"water.leak"/"pet.lost"/'
} > "$T/years.jsonl"
bounded "$BIN/minqing" -c "$T/minqing.conf" import "$T/years.jsonl" > "$T/years.out" 2> "$T/years.err"
check "a case of a year the holiday file leaves out is named at once, by line and year" \
  sh -c "[ \$(grep -c 'a year the holiday file' '$T/years.err') = 1 ] && grep -q '^minqing import: line 1: received in 2019, ' '$T/years.err'"
check "and the summary counts the two of 2019 whose deadlines count working days" \
  grep -q '^2 lines were of cases received in 2019..2019, in years the holiday file does not list' "$T/years.out"
printf '2019-10-01 holiday\n' >> "$T/holidays.txt"
sed -i 's/"external_id": "y/"external_id": "z/' "$T/years.jsonl"
bounded "$BIN/minqing" -c "$T/minqing.conf" import "$T/years.jsonl" > "$T/years.out" 2> "$T/years.err"
check "with 2019 listed, nothing is said" \
  sh -c "grep -q '^imported 4 cases' '$T/years.out' && ! grep -q 'holiday file' '$T/years.out' '$T/years.err'"
# a shell whose TZ is not the system's: times without an offset, and the
# year a case falls in, are read in it, not in the broker's zone
sed -i 's/"external_id": "z/"external_id": "t/' "$T/years.jsonl"
TZ=MQT-5:45 bounded "$BIN/minqing" -c "$T/minqing.conf" import "$T/years.jsonl" > "$T/years.out" 2> "$T/years.err"
check "an import in a TZ other than the system's says so" \
  grep -q '^minqing import: TZ=MQT-5:45 is set: ' "$T/years.err"
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
