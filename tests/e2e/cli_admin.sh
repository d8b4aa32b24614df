#!/bin/sh
# cli_admin.sh - `minqing reassign`, `cancel`, `close` and `feedback` against a
# real broker on ipc://, checked by what an operator sees: the case's new
# state printed and stored, the lead share moved (the assignments table,
# `minqing show`), refusals with exit 2 that name the case's state, exit 3
# for an unknown case, an unknown department refused before anything is
# sent, a stopped broker exits 1 at once and a killed one at the timeout, a
# comment stored by the broker but never printed or logged, and over CURVE
# the key's role decides (an intake key may not close). Cases:
#   R  wage.arrears  hrss, which has no worker: open (received); reassigned
#                    to urban by its display name, then cancelled
#   O  wage.arrears  the same, left open: CLOSE refused; cancelled over CURVE
#   W  water.leak    water resolves it at once: closed, then rated unsatisfied
#                    (redo, 重办)
. "$(dirname "$0")/../lib.sh"
MQ="$BIN/minqing"
CONF="$T/minqing.conf"
write_config "auto_close = 0"
PHONE=13912345678               # in the comments: must never come back out

# mq NAME ARGS...: the CLI on this config, killed after 20 s; its stdout in
# $T/NAME.out, its stderr in $T/NAME.log (scanned for sanitizer reports);
# sets rc and ms (how long it took)
mq() {
  name=$1; shift
  t0=$(now_ms)
  bounded 20 "$MQ" -c "$CONF" "$@" > "$T/$name.out" 2> "$T/$name.log"
  rc=$? ms=$(( $(now_ms) - t0 ))
}
said() { grep -q -- "$2" "$T/$1.log"; }
# answered NAME TEXT: the run NAME (the last one) exited 0 and printed TEXT
answered() { [ "$rc" = 0 ] && [ "$(cat "$T/$1.out")" = "$2" ]; }
# refused CODE NAME PATTERN...: the run NAME (the last one) exited CODE, and
# its stderr matches each PATTERN
refused() {
  [ "$rc" = "$1" ] || return 1
  n=$2; shift 2
  for p in "$@"; do grep -q -- "$p" "$T/$n.log" || return 1; done
}
q() { sql "$1"; }
state() { q "select state from cases where id = $1"; }
in_state() { [ "$(state "$1")" = "$2" ]; }
case_json() {
  printf '{"service_code": "%s", "grid_code": "CG01-XH01-G0001", "external_id": "%s", "channel": "hotline12345", "description": "居民反映问题"}\n' \
    "$1" "$2" > "$T/$2.json"
}
submit() { case_json "$1" "$2"; mq "submit-$2" submit "$T/$2.json"; cat "$T/submit-$2.out"; }

# 1. bad arguments, refused before any socket is touched (no broker yet)
mq badrating feedback 1 happy
check "feedback with an unknown rating: exit 2, naming the ratings (exit $rc)" \
  refused 2 badrating "'happy' is not a rating: satisfied, basically_satisfied or unsatisfied"
mq noreason cancel 1
check "cancel without --reason: exit 2, asking for it (exit $rc)" \
  refused 2 noreason 'give --reason duplicate, invalid or other'
mq reasonelsewhere close 1 --reason invalid
check "--reason is cancel's alone: close refuses it, exit 2 (exit $rc)" \
  refused 2 reasonelsewhere "unknown option '--reason'"

# 2. the broker, one water worker; hrss has none, so its cases stay open
LOG_LEVEL=info start_broker || exit 1       # every event logged: none may carry a comment
start_worker water water
R=$(submit wage.arrears HL-R) O=$(submit wage.arrears HL-O) W=$(submit water.leak HL-W)
diag "cases: R=$R O=$O W=$W"
check "3 cases submitted, R and O open with hrss" test \
  "$(q "select count(*) from cases where id in ($R, $O) and state = 'received' and lead_department = 'hrss'")" = 2

# 3. reassign: the open lead share moves from hrss to urban (by display name)
mq reassign reassign "$R" 城管局 --comment "居民来电$PHONE要求改派"
check "reassign R 城管局: exit 0, printing R's new state (exit $rc: $(cat "$T/reassign.out"))" \
  answered reassign "case $R: received"
check "... the hrss share withdrawn, a new lead share for urban, urban now R's lead" test \
  "$(q "select group_concat(department || ':' || role || ':' || state, ' ') from
        (select * from assignments where case_id = $R order by id)") $(q "select lead_department from cases where id = $R")" \
  = "hrss:lead:cancelled urban:lead:received urban"
mq show-r show "$R"
check "... and minqing show names urban as the lead" grep -Eq '^  lead +城管局 \(urban\)$' "$T/show-r.out"
check "... the comment reached the broker" \
  test "$(q "select count(*) from outcomes where kind = 'REASSIGN' and case_id = $R and note like '%$PHONE%'")" = 1

# 4. an unknown department: refused here, not by the broker (UNKNOWN_DEPARTMENT);
# section 10 checks that it is refused with no broker at all
mq nodept reassign "$O" 水利局
check "reassign to a department the config lacks: exit 2, naming it, nothing sent (exit $rc)" \
  refused 2 nodept "no department '水利局' in $CONF" 'nothing was sent'
check "... not the broker's refusal" sh -c "! grep -q UNKNOWN_DEPARTMENT '$T/nodept.log'"

# 5. cancel, and a second cancel refused, naming the state
mq cancel cancel "$R" --reason duplicate
check "cancel R --reason duplicate: exit 0, 'case $R: cancelled' (exit $rc)" \
  answered cancel "case $R: cancelled"
check "... R cancelled, its urban share withdrawn, the reason stored" test \
  "$(state "$R") $(q "select state from assignments where case_id = $R and department = 'urban'") $(q "select reason from outcomes where kind = 'CANCEL' and case_id = $R")" \
  = "cancelled cancelled duplicate"
mq cancel2 cancel "$R" --reason duplicate
check "a second cancel: exit 2, naming R's state and what allows it (exit $rc)" \
  refused 2 cancel2 "ILLEGAL_TRANSITION (203): case $R is cancelled: CANCEL is not allowed" \
    'Only an open case can be cancelled' "minqing show $R"

# 6. close: refused for an open case, done for a resolved one
mq close-open close "$O"
check "close an open case: exit 2, naming its state (exit $rc)" \
  refused 2 close-open "case $O is received: CLOSE is not allowed" 'Only a resolved case can be closed'
check "... and it stays open" test "$(state "$O")" = received
mq toolong close "$O" --comment "$(printf '%1001s' '' | tr ' ' x)"
check "a comment over 1,000 characters: exit 2 with the broker's reason (exit $rc)" \
  refused 2 toolong 'TOO_LONG (105): comment: 1001 characters, at most 1000'
# 1,000 four-byte characters fill the CLI's buffer; the line end after them
# is not "too long"
"$PY" -c 'print("\U00020000" * 1000)' > "$T/full-comment.txt"
mq fullcomment close "$O" --comment - < "$T/full-comment.txt"
check "a comment of 1,000 four-byte characters and a line end from stdin reaches the broker (exit $rc)" \
  refused 2 fullcomment "case $O is received: CLOSE is not allowed"
check "W resolved by the water worker" wait_for 10 in_state "$W" resolved
mq close close "$W" --comment "已核实 $PHONE"
check "close W: exit 0, 'case $W: closed' (exit $rc)" answered close "case $W: closed"
check "... W closed in the database" test "$(state "$W")" = closed

# 7. feedback unsatisfied reopens the closed case (redo, 重办); the comment from stdin
echo "居民$PHONE说没修好" | bounded 20 "$MQ" -c "$CONF" feedback "$W" unsatisfied --comment - \
  > "$T/feedback.out" 2> "$T/feedback.log"; rc=$?
check "feedback W unsatisfied: exit 0, printing its reopened state (exit $rc: $(cat "$T/feedback.out"))" \
  sh -c "[ $rc = 0 ] && grep -Eqx 'case $W: (received|dispatched)' '$T/feedback.out'"
check "... W redone: a second round, no longer closed, rated unsatisfied" test \
  "$(q "select redo_count, state != 'closed', rating from cases where id = $W")" = "1|1|unsatisfied"
check "... the comment from standard input stored whole" \
  test "$(q "select note from outcomes where kind = 'FEEDBACK' and case_id = $W")" = "居民${PHONE}说没修好"

# 8. an unknown case
mq unknown close 999999
check "close an unknown case: exit 3, saying so (exit $rc)" \
  refused 3 unknown 'UNKNOWN_CASE (201): no case 999999'

# 9. a stopped broker removes its socket files (libzmq leaves them): exit 1 at
# once, saying no broker runs; a killed one leaves them behind: exit 1 once
# the timeout has passed, not before, not long after
stop_pid "$BROKER_PID"
check "a stopped broker leaves no socket file behind" \
  sh -c "! ls '$T'/intake.sock '$T'/workers.sock '$T'/events.sock 2>/dev/null"
mq stopped cancel "$O" --reason invalid -t 5
check "cancel with the broker stopped: exit 1 at once, not at the timeout ($ms ms; exit $rc)" \
  sh -c "[ $rc = 1 ] && [ $ms -lt 1000 ]"
check "... saying that the broker is not running" refused 1 stopped 'the broker is not running'
start_broker || exit 1
kill9 "$BROKER_PID"
mq killed cancel "$O" --reason invalid -t 1
check "cancel with the broker killed, -t 1: exit 1 after 1 s, not 5 ($ms ms; exit $rc)" \
  sh -c "[ $rc = 1 ] && [ $ms -ge 1000 ] && [ $ms -lt 5000 ]"
check "... saying there was no answer, what to check, and how to see whether it applied" \
  refused 1 killed "no answer from the broker at ipc://$T/intake.sock within 1 s" \
    'systemctl status minqingd' "minqing show $O"
mq nodept2 reassign "$O" 水利局
check "an unknown department with the broker stopped: still exit 2 (nothing is sent) (exit $rc)" test "$rc" = 2

# 10. over CURVE (tcp://, the same database): the key decides the role; an
# intake key may not CLOSE (ERROR 300), an admin key may CANCEL
K="$T/keys" C="$T/clients"
mkdir -p "$K" && bounded "$MQ" keygen "$K/server" >/dev/null
client_key intake1 intake && client_key admin1 admin
sed -i "s|^intake = .*|intake = tcp://127.0.0.1:$(free_ports)\nserver_cert = $K/server\nkeys = $K|" "$CONF"
start_broker || exit 1
mq curve-intake close "$O" --cert "$C/intake1"
check "close with an intake key: exit 1, saying where the key belongs (exit $rc)" \
  refused 1 curve-intake 'FORBIDDEN (300)' "Give --cert a key on the broker's keys/admin/"
check "... and O is still open" in_state "$O" received
mq curve-admin cancel "$O" --reason invalid --cert "$C/admin1"
check "cancel with an admin key: exit 0, 'case $O: cancelled' (exit $rc)" answered curve-admin "case $O: cancelled"
check "... O cancelled in the database" in_state "$O" cancelled
stop_pid "$BROKER_PID"

check "no comment, nor its phone number, printed or logged" sh -c "! grep -l '$PHONE' '$T'/*.log '$T'/*.out"
check "no sanitizer report (broker, worker, CLI)" no_sanitizer_reports
finish
