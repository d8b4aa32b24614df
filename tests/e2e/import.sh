#!/bin/sh
# import.sh - `minqing import` migrates historical cases through the broker:
# closed cases keep their history, open ones are dispatched like new ones, a
# bad line (a history value of the wrong kind too, or one over the protocol's
# 64 KB) is refused by number while the others go in, a second run creates nothing, a file that cannot be read
# fails with the reason; and `minqing backup` copies the live database (mode
# 0600) while the broker runs. import_retry.sh: a broker that does not answer.
. "$(dirname "$0")/../lib.sh"
N=2000
write_config
start_broker || exit 1
bounded "$PY" - "$N" > "$T/hist.jsonl" <<'PY'
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
bounded "$BIN/minqing" -c "$T/minqing.conf" import "$T/hist.jsonl" > "$T/import.out" 2> "$T/import.err"
check "import exits 2 because one line was refused" test $? = 2
check "the refused line is named by its number" grep -q "line $((N + 1)): received_at is required" "$T/import.err"
check "$N cases imported" grep -q "^imported $N cases" "$T/import.out"
check "closed cases keep their history" test "$(sql "select count(*) from cases where state = 'closed' and rating = 'satisfied' and closed_at = received_at + 172800000")" = $((N * 9 / 10))
bounded "$BIN/minqing" -c "$T/minqing.conf" import "$T/hist.jsonl" > "$T/again.out" 2>/dev/null
check "a second run creates nothing" sh -c "grep -q '$N already there' '$T/again.out' && [ \$(sqlite3 '$T/minqing.db' 'select count(*) from cases') = $N ]"
start_worker water water -c 50
check "open imported cases are dispatched and resolved" \
  wait_for 30 sh -c "[ \$(sqlite3 '$T/minqing.db' \"select count(*) from cases where state = 'resolved'\") = $((N / 10)) ]"
bounded "$BIN/minqing" -c "$T/minqing.conf" backup "$T/copy.db" >/dev/null
check "backup copies the live database" test "$(sqlite3 "$T/copy.db" 'select count(*) from cases')" = $N
check "the copy is mode 0600" test "$(stat -c %a "$T/copy.db")" = 600
check "the copy passes an integrity check" test "$(sqlite3 "$T/copy.db" 'pragma integrity_check')" = ok

# import_err ARGS: the import, stderr kept in $T/err.log; sets rc
import_err() { bounded "$BIN/minqing" -c "$T/minqing.conf" import "$@" > "$T/out.log" 2> "$T/err.log"; rc=$?; }
H='"service_code": "water.leak", "description": "历史案件", "channel": "legacy", "grid_code": "CG01-XH01-G0001", "state": "closed", "received_at": 1561939200000, "closed_at": 1562025600000'
cat > "$T/values.jsonl" <<JSON
{$H, "external_id": "v1", "rating": "basically_satisfied", "department": "water"}
{$H, "external_id": "v2", "rating": "very_satisfied"}
{$H, "external_id": "v3", "rating": 3}
{$H, "external_id": "v4", "department": ["water"]}
{$H, "external_id": "v5", "rating": null, "department": null}
JSON
import_err "$T/values.jsonl"
check "a bad rating or department: exit 2, the other lines imported" sh -c "[ $rc = 2 ] && \
  [ \"\$(sqlite3 '$T/minqing.db' \"select group_concat(external_id || ':' || ifnull(rating, '-')) from (select * from cases where channel = 'legacy' order by external_id)\")\" = 'v1:basically_satisfied,v5:-' ]"
check "... each refused line named by its number" sh -c "grep -q 'line 2: rating must be satisfied, basically_satisfied or unsatisfied' '$T/err.log' && \
  grep -q 'line 3: rating must be a string' '$T/err.log' && grep -q 'line 4: department must be a string' '$T/err.log'"
# departments as an export names them: by display name (mapped through the
# config), or unknown and over an id's 32 bytes (refused here, not cut)
cat > "$T/names.jsonl" <<JSON
{$H, "external_id": "n1", "department": "城管局"}
{$H, "external_id": "n2", "department": "某某市某某区人民政府办公室信息公开科"}
JSON
import_err "$T/names.jsonl"
check "a department given by its display name (城管局) is imported as its id (urban)" \
  test "$(sql "select lead_department from cases where external_id = 'n1'")" = urban
check "... an unknown one over 32 bytes is refused by line, not cut" sh -c "[ $rc = 2 ] && \
  grep -q \"line 2: department '某某市某某区人民政府办公室信息公开科' is no department of the config\" '$T/err.log' && \
  [ \"\$(sqlite3 '$T/minqing.db' \"select count(*) from cases where external_id = 'n2'\")\" = 0 ]"
# a key given twice is refused with the line's number, as minqing submit
# refuses it (which of the two the old system meant is not guessed); an
# error in the case's fields is import's, not submit's
cat > "$T/keys.jsonl" <<JSON
{$H, "external_id": "k1", "rating": "unsatisfied", "rating": "satisfied"}
{$H, "external_id": "k2", "lon": 103.8}
{$H, "external_id": "k3"}
JSON
import_err "$T/keys.jsonl"
check "a key given twice: that line refused by its number, the others imported" sh -c "[ $rc = 2 ] && \
  grep -q 'line 1: not valid JSON (column [0-9]*: a duplicate key)' '$T/err.log' && \
  [ \"\$(sqlite3 '$T/minqing.db' \"select group_concat(external_id) from cases where external_id like 'k%'\")\" = k3 ]"
check "a field error names minqing import, not submit" sh -c \
  "grep -q \"^minqing import: line 2: unknown field 'lon': Open311 calls it 'long' (see minqing import --help)\" '$T/err.log' && ! grep -q 'minqing submit' '$T/err.log'"
# the same (channel, external_id) twice in one file: the broker keeps the
# first, and the second line, whose record is not imported, is refused by
# FILE:LINE with the case and the line that has it. A run again finds the
# others already there, says so in one line with their numbers, and refuses
# the repeat again
P='"service_code": "water.leak", "description": "历史案件", "channel": "dupch", "grid_code": "CG01-XH01-G0001", "state": "cancelled", "received_at": 1561939200000'
cat > "$T/dup.jsonl" <<JSON
{$P, "external_id": "d1"}
{$P, "external_id": "d2"}
{$P, "external_id": "d1", "phone": "13800000000"}
JSON
import_err "$T/dup.jsonl"
D1=$(sql "select id from cases where channel = 'dupch' and external_id = 'd1'")
diag "a repeated external_id: exit $rc: $(cat "$T/err.log")"
check "a line repeating an earlier line's (channel, external_id): exit 2, refused by FILE:LINE, naming the case and the first line" \
  sh -c "[ $rc = 2 ] && [ -n '$D1' ] && grep -q '^imported 2 cases (0 already there, 1 lines refused)' '$T/out.log' &&
         grep -q '^minqing import: $T/dup.jsonl:3: external_id d1 (channel dupch) is case $D1, already imported from line 1 in this run; not imported\$' '$T/err.log' &&
         [ \"\$(sqlite3 '$T/minqing.db' \"select ifnull(phone, '-') from cases where id = '$D1'\")\" = - ]"
import_err "$T/dup.jsonl"
diag "run again: exit $rc: $(cat "$T/err.log")"
check "... run again: the two cases already there, named in one line with their numbers; the repeat refused again" \
  sh -c "[ $rc = 2 ] && grep -q '^imported 2 cases (2 already there, 1 lines refused)' '$T/out.log' &&
         grep -q '^minqing import: 2 lines named cases already in the database before this run (lines 1, 2), left as they are' '$T/err.log' &&
         grep -q 'dup.jsonl:3: external_id d1 (channel dupch) is case $D1, as is line 1, which was already there before this run; not imported' '$T/err.log' &&
         [ \$(wc -l < '$T/err.log') = 2 ]"
# encodings of Windows exports: a UTF-8 BOM at the start is skipped; UTF-16
# ("Unicode text", with a BOM or without) is refused once, whole, with the
# iconv that converts it; GBK lines are refused by number, with a hint at
# GBK once, not on every line
E='"service_code": "water.leak", "description": "历史案件", "channel": "enc", "grid_code": "CG01-XH01-G0001", "state": "cancelled", "received_at": 1561939200000'
{ printf '\357\273\277'; printf '{%s, "external_id": "%s"}\n' "$E" bom1 "$E" bom2; } > "$T/bom.jsonl"
import_err "$T/bom.jsonl"
check "a UTF-8 BOM at the start: skipped, both lines imported, exit 0 ($(cat "$T/err.log"))" \
  sh -c "[ $rc = 0 ] && grep -q '^imported 2 cases (0 already there, 0 lines refused)' '$T/out.log'"
printf '{%s, "external_id": "%s"}\n' "$E" u16a "$E" u16b > "$T/u8.jsonl"
iconv -f UTF-8 -t UTF-16 "$T/u8.jsonl" > "$T/u16.jsonl"
import_err "$T/u16.jsonl"
check "a UTF-16 file: refused once, whole, with the iconv that converts it, exit 2" \
  sh -c "[ $rc = 2 ] && [ \$(wc -l < '$T/err.log') = 1 ] &&
         grep -qF 'minqing import: $T/u16.jsonl is UTF-16 (a Windows \"Unicode text\" export): convert it with iconv -f UTF-16 -t UTF-8 $T/u16.jsonl > $T/u16.jsonl.utf8' '$T/err.log' &&
         grep -q '^imported 0 cases (0 already there, 0 lines refused)' '$T/out.log'"
iconv -f UTF-8 -t UTF-16LE "$T/u8.jsonl" > "$T/u16le.jsonl"
import_err - < "$T/u16le.jsonl"
check "... UTF-16LE without a BOM on standard input: the same, naming UTF-16LE" \
  sh -c "[ $rc = 2 ] && grep -q 'standard input is UTF-16LE (a Windows \"Unicode text\" export): convert it with iconv -f UTF-16LE -t UTF-8' '$T/err.log' &&
         [ \$(sqlite3 '$T/minqing.db' \"select count(*) from cases where external_id like 'u16%'\") = 0 ]"
printf '{%s, "external_id": "%s"}\n' "$E" gbk1 "$E" gbk2 "$E" gbk3 | iconv -f UTF-8 -t GBK > "$T/gbk.jsonl"
import_err "$T/gbk.jsonl"
check "GBK lines: each refused by number as invalid UTF-8, the GBK hint given once, exit 2" \
  sh -c "[ $rc = 2 ] && [ \$(grep -c 'line [123]: not valid JSON (column [0-9]*: invalid UTF-8)' '$T/err.log') = 3 ] &&
         [ \$(grep -c 'a GBK export? iconv -f GBK -t UTF-8' '$T/err.log') = 1 ]"
# a case imported as resolved with no contacted_at: its resolution was the
# contact (PROTOCOL.md 7.2), so it is not overdue for one
printf '{"service_code": "water.leak", "description": "历史案件", "external_id": "r1", "channel": "legacy2", "grid_code": "CG01-XH01-G0001", "state": "resolved", "received_at": 1561939200000, "resolved_at": 1562025600000}\n' > "$T/resolved.jsonl"
import_err "$T/resolved.jsonl"
RID=$(sql "select id from cases where channel = 'legacy2'")
bounded "$BIN/minqing" -c "$T/minqing.conf" list --overdue --since 2019-01-01 > "$T/overdue.txt" 2>&1
bounded "$BIN/minqing" -c "$T/minqing.conf" show "$RID" > "$T/show_r1.txt" 2>&1
check "an imported resolved case without contacted_at: not contact-overdue in list or show" \
  sh -c "[ $rc = 0 ] && [ -n '$RID' ] && ! grep -q '^$RID ' '$T/overdue.txt' && ! grep -q OVERDUE '$T/show_r1.txt'"
# stats (docs/stats.md 3) take an imported case's history from before the
# import: one imported as cancelled, with no times, is not a missed contact
# at the import's time; one imported as contacted 10 min after receipt and
# resolved today made its contact in time
X='"service_code": "water.leak", "description": "历史案件", "channel": "legacy3", "grid_code": "CG01-XH01-G0001", "received_at": 1564660800000'
printf '{%s, "external_id": "x1", "state": "cancelled"}\n{%s, "external_id": "x2", "state": "contacted", "contacted_at": 1564661400000}\n' "$X" "$X" > "$T/hist3.jsonl"
import_err "$T/hist3.jsonl"
check "x2 is resolved by the water worker today" wait_for 15 sh -c \
  "[ \"\$(sqlite3 '$T/minqing.db' \"select state from cases where channel = 'legacy3' and external_id = 'x2'\")\" = resolved ]"
bounded "$BIN/minqing" -c "$T/minqing.conf" stats --json --min-assignments 1 --since 1564617600000 --until 1564704000000 > "$T/stats3.json" 2>&1
got=$(bounded "$PY" -c 'import json, sys
d = {x["id"]: x for x in json.load(open(sys.argv[1]))["departments"]}["water"]["response"]
print("%d/%d" % (d["num"], d["den"]))' "$T/stats3.json")
check "stats: water's response over x1 and x2 is 1/1, not 0/2 ($got)" test "$got" = 1/1
# a time string with an offset from UTC is the same instant from any
# machine; one without is read in the importing machine's zone, which the
# summary names
Z='"service_code": "water.leak", "description": "历史案件", "channel": "tz", "grid_code": "CG01-XH01-G0001", "state": "cancelled"'
cat > "$T/tz.jsonl" <<JSON
{$Z, "external_id": "z1", "received_at": "2021-03-01T08:00+08:00"}
{$Z, "external_id": "z2", "received_at": "2021-03-01T00:00:00Z"}
{$Z, "external_id": "z3", "received_at": "2021-02-28 18:30-0530"}
{$Z, "external_id": "z4", "received_at": "2021-03-01T08:00+8"}
{$Z, "external_id": "z5", "received_at": "2021-03-01+08:00"}
JSON
TZ=America/New_York import_err "$T/tz.jsonl"
check "offsets: +08:00, Z and -0530 read as given whatever the machine's zone" \
  test "$(sql "select group_concat(received_at) from (select received_at from cases where channel = 'tz' order by external_id)")" = 1614556800000,1614556800000,1614556800000
check "... a malformed offset, or one after a bare date, refused by line" sh -c "[ $rc = 2 ] && \
  grep -q 'line 4: received_at must be unix ms or' '$T/err.log' && grep -q 'line 5: received_at must be' '$T/err.log'"
check "... with every time zoned, the summary names no zone" sh -c "! grep -q 'time zone' '$T/out.log'"
printf '{%s, "external_id": "z6", "received_at": "2021-03-01T08:00"}\n' "$Z" > "$T/tz_local.jsonl"
TZ=Asia/Shanghai import_err "$T/tz_local.jsonl"
check "a time without an offset: read in the machine's zone, which the summary names" sh -c "[ $rc = 0 ] && \
  [ \"\$(sqlite3 '$T/minqing.db' \"select received_at from cases where external_id = 'z6'\")\" = 1614556800000 ] && \
  grep -q \"^times without an offset were read in this machine's time zone, Asia/Shanghai (CST, UTC+0800 now)\" '$T/out.log'"
# the commonest export forms: fractions of a second, and unix seconds (refused,
# saying so once, where the broker would refuse 1.3 million lines one by one)
F='"service_code": "water.leak", "description": "历史案件", "channel": "tzf", "grid_code": "CG01-XH01-G0001", "state": "cancelled"'
cat > "$T/tzf.jsonl" <<JSON
{$F, "external_id": "f1", "received_at": "2021-03-01T00:00:00.000Z"}
{$F, "external_id": "f2", "received_at": "2021-03-01T08:00:00.25+08:00"}
{$F, "external_id": "f3", "received_at": 1614556800}
{$F, "external_id": "f4", "received_at": "2021-03-01T00:00:00.Z"}
JSON
import_err "$T/tzf.jsonl"
check "fractions of a second (.000Z, .25+08:00) are read to the millisecond" \
  test "$(sql "select group_concat(received_at) from (select received_at from cases where channel = 'tzf' order by external_id)")" = 1614556800000,1614556800250
check "... a time in unix seconds is refused by line, once, saying it looks like seconds" sh -c "[ $rc = 2 ] && \
  grep -q 'line 3: received_at 1614556800 looks like seconds' '$T/err.log' && [ \$(grep -c 'line 3' '$T/err.log') = 1 ] && \
  grep -q 'line 4: received_at must be unix ms or' '$T/err.log'"
# the forms other tools write: pandas writes a column of ms as reals once
# one of its values is null (1561939200000.0; one with a fraction of a ms is
# refused, saying so), PostgreSQL writes the offset as "+08", which list
# --since reads too
G='"service_code": "water.leak", "description": "历史案件", "channel": "forms", "grid_code": "CG01-XH01-G0001", "state": "closed"'
cat > "$T/forms.jsonl" <<JSON
{$G, "external_id": "p1", "received_at": 1561939200000.0, "closed_at": 1.5620256e12}
{$G, "external_id": "p2", "received_at": 1561939200000.5, "closed_at": 1562025600000}
{$G, "external_id": "p3", "received_at": "2019-07-01 08:00:00+08", "closed_at": "2019-07-02 08:00:00+08"}
{$G, "external_id": "p4", "received_at": 1561939200.0, "closed_at": 1562025600000}
{$G, "external_id": "p5", "received_at": "1561939200000", "closed_at": "1562025600000"}
{$G, "external_id": "p6", "received_at": "1561939200", "closed_at": 1562025600000}
{$G, "external_id": "p7", "received_at": "201907010800", "closed_at": 1562025600000}
JSON
import_err "$T/forms.jsonl"
diag "pandas and PostgreSQL forms: exit $rc: $(cat "$T/err.log")"
check "a real with nothing after the point, and a +08 offset, are read as the same ms" \
  test "$(sql "select group_concat(external_id || '=' || received_at || '/' || closed_at) from (select * from cases where channel = 'forms' order by external_id)")" = \
       p1=1561939200000/1562025600000,p3=1561939200000/1562025600000,p5=1561939200000/1562025600000
check "... a real with a fraction refused, saying so; one in seconds as for an integer" sh -c "[ $rc = 2 ] &&
  grep -q 'line 2: received_at 1561939200000.5 has a fraction of a millisecond: times are whole unix ms' '$T/err.log' &&
  grep -q 'line 4: received_at 1561939200 looks like seconds' '$T/err.log'"
check "... ms quoted as a string read as the number, seconds quoted refused as seconds, other digit strings as before" \
  sh -c "grep -q 'line 6: received_at 1561939200 looks like seconds' '$T/err.log' &&
         grep -q 'line 7: received_at must be unix ms or' '$T/err.log'"
P3=$(sql "select id from cases where channel = 'forms' and external_id = 'p3'")
bounded "$BIN/minqing" -c "$T/minqing.conf" list --limit 0 --since "2019-07-01 08:00:00+08" --until "2019-07-01 08:00:01+08" > "$T/list08.txt" 2>&1; rc=$?
check "list --since with PostgreSQL's +08: exit 0, the case received then listed" \
  sh -c "[ $rc = 0 ] && [ -n '$P3' ] && grep -q '^ *$P3 ' '$T/list08.txt'"
# a line whose request would be over the protocol's 64 KB (a transcribed
# letter): the broker's ERROR for it cannot name the line, so it is refused
# before sending, by number, instead of stalling the import
bounded "$PY" - > "$T/big.jsonl" <<'PY'
import json
for i, text in enumerate(("短", "长" * 30000, "短")):
    print(json.dumps({"service_code": "water.leak", "description": text, "external_id": "big-%d" % i,
        "channel": "big", "grid_code": "CG01-XH01-G0001", "state": "received",
        "received_at": "2024-03-01T08:00+08:00"}, ensure_ascii=False))
PY
t0=$(date +%s)
import_err --timeout 5 "$T/big.jsonl"
diag "over 64 KB: exit $rc in $(( $(date +%s) - t0 )) s: $(cat "$T/err.log")"
check "a line over the protocol's 64 KB: exit 2, refused by its number with the size, the others imported" \
  sh -c "[ $rc = 2 ] && grep -q 'line 2 refused: IMPORT: [0-9]* bytes encoded, more than the broker takes (65536)' '$T/err.log' &&
         grep -q '^imported 2 cases (0 already there, 1 lines refused)' '$T/out.log' &&
         [ \"\$(sqlite3 '$T/minqing.db' \"select group_concat(external_id) from cases where channel = 'big'\")\" = big-0,big-2 ]"
import_err "$T/missing.jsonl"
check "a file that cannot be opened: exit 1, with the reason" \
  sh -c "[ $rc = 1 ] && grep -q 'cannot open $T/missing.jsonl: No such file or directory' '$T/err.log'"
mkdir "$T/dir.jsonl"
import_err "$T/dir.jsonl"
check "a directory: exit 1, not an empty import" \
  sh -c "[ $rc = 1 ] && grep -q '$T/dir.jsonl: cannot read line 1: Is a directory' '$T/err.log'"
import_err - < "$T/dir.jsonl"
check "standard input that cannot be read: exit 1" \
  sh -c "[ $rc = 1 ] && grep -q 'standard input: cannot read line 1: Is a directory' '$T/err.log'"
import_err --window 2000 "$T/missing.jsonl"
check "a window past ZeroMQ's send queue (1000) is refused: exit 2" \
  sh -c "[ $rc = 2 ] && grep -q 'window takes 1 to 1000' '$T/err.log'"

stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
