#!/bin/sh
# cli_curve.sh - `minqing submit`, `import` and `tail` against a broker on
# tcp://127.0.0.1 with CURVE (PROTOCOL.md section 10): with an allowed key
# they work (submit with an intake key, import with an admin key, tail with
# either); without --cert they say what is missing; a key on no allowlist, an
# intake key importing, and a wrong server certificate end at once with a
# clear message and exit 1, not at a timeout and never in a hang; a
# secret key file open to group or others is refused, naming the chmod. Every
# command is killed after 20 s and fails its check.
. "$(dirname "$0")/../lib.sh"
MQ="$BIN/minqing"
K="$T/keys" C="$T/clients"
mkdir -p "$K"
bounded "$MQ" keygen "$K/server" >/dev/null
# the clients keep their keypairs; the broker's lists hold the public halves
client_key intake1 intake && client_key admin1 admin && client_key stranger
set -- $(free_ports 3); pi=$1 pw=$2 pe=$3
write_config "server_cert = $K/server
keys = $K"
cp "$T/minqing.conf" "$T/ipc.conf"
sed -i "s|^intake = .*|intake = tcp://127.0.0.1:$pi|; s|^workers = .*|workers = tcp://127.0.0.1:$pw|; s|^events = .*|events = tcp://127.0.0.1:$pe|" "$T/minqing.conf"
start_broker || exit 1

# mq NAME ARGS...: the CLI on the CURVE config, killed after 20 s; output in
# $T/NAME.out and $T/NAME.log (*.log: scanned for sanitizer reports); sets rc, ms
mq() {
  name=$1; shift
  t0=$(now_ms)
  timeout -s KILL 20 "$MQ" -c "$T/minqing.conf" "$@" > "$T/$name.out" 2> "$T/$name.log"
  rc=$? ms=$(( $(now_ms) - t0 ))
}
case_json() {
  printf '{"service_code": "water.leak", "description": "楼道水管漏水", "external_id": "%s",
   "channel": "hotline", "grid_code": "CG01-XH01-G0001"}\n' "$1"
}
stored() { sql "select count(*) from cases where external_id like '$1%'"; }
said() { grep -q -- "$2" "$T/$1.log"; }

# submit
case_json curve-1 > "$T/case1.json"
mq nocert submit "$T/case1.json"
check "submit without --cert: exit 2, asking for --cert and naming keys/intake/ (exit $rc)" \
  sh -c "[ $rc = 2 ] && grep -q 'is a CURVE endpoint.*give this client.s certificate with --cert FILE.*keys/intake/' '$T/nocert.log'"
mq submit submit --cert "$T/clients/intake1" "$T/case1.json"
check "submit with an intake key: the case id, exit 0 (exit $rc: $(cat "$T/submit.out" "$T/submit.log"))" \
  sh -c "[ $rc = 0 ] && grep -q '^[0-9][0-9]*\$' '$T/submit.out' && [ $(stored curve-1) = 1 ]"
case_json curve-2 > "$T/case2.json"
mq stranger submit --cert "$T/clients/stranger" "$T/case2.json"
check "submit with a key on no allowlist: exit 1 within 5 s, not at the 10 s timeout (exit $rc, $ms ms)" \
  sh -c "[ $rc = 1 ] && [ $ms -lt 5000 ]"
check "... saying the broker refused the key and where it belongs" \
  said stranger "refused this client's CURVE key (ZAP status 400).*Copy $T/clients/stranger into the broker's keys/intake/"
check "... and no case was made" test "$(stored curve-2)" = 0
mq wrongserver submit --cert "$T/clients/intake1" --server-cert "$T/clients/stranger" "$T/case2.json"
check "a server certificate that is not the broker's: exit 1 within 5 s (exit $rc, $ms ms)" \
  sh -c "[ $rc = 1 ] && [ $ms -lt 5000 ]"
check "... asking whether it is the broker's own" said wrongserver "is the server certificate the broker's own"
mq nokey submit --cert "$T/clients/nothing" "$T/case2.json"
check "a --cert that cannot be read: exit 1, naming it (exit $rc)" \
  sh -c "[ $rc = 1 ] && grep -q 'cannot read this client.s certificate $T/clients/nothing' '$T/nokey.log'"
# a secret key file others can read: refused before connecting, even for a listed key
cp "$C/intake1" "$C/exposed" && cp "$C/intake1_secret" "$C/exposed_secret" && chmod 644 "$C/exposed_secret"
case_json curve-4 > "$T/case4.json"
mq exposed submit --cert "$C/exposed" "$T/case4.json"
check "a --cert whose secret key file is mode 644: exit 1, naming it and the chmod (exit $rc)" \
  sh -c "[ $rc = 1 ] && grep -q '$C/exposed_secret: this secret key is open to group or others (mode 644); refusing to use it: chmod 600 $C/exposed_secret' '$T/exposed.log'"
check "... and no case was made, though the key is on keys/intake/" test "$(stored curve-4)" = 0
timeout -s KILL 20 "$MQ" -c "$T/ipc.conf" submit --cert "$T/clients/intake1" "$T/case2.json" \
  > /dev/null 2> "$T/ipc.log"; rc=$?
check "--cert on an ipc:// endpoint: a usage error, exit 2 (exit $rc)" \
  sh -c "[ $rc = 2 ] && grep -q 'not a tcp:// endpoint' '$T/ipc.log'"

# import
bounded "$PY" - > "$T/hist.jsonl" <<'PY'
import json
for i in range(50):
    print(json.dumps({"service_code": "water.leak", "description": "历史案件：楼道积水。",
        "channel": "legacy", "external_id": "hist-%d" % i, "grid_code": "CG01-XH01-G0001",
        "state": "closed", "received_at": 1561939200000 + i,
        "closed_at": 1562025600000 + i}, ensure_ascii=False))
PY
mq imp_admin import --cert "$T/clients/admin1" "$T/hist.jsonl"
check "import with an admin key: all 50 imported, exit 0 (exit $rc: $(cat "$T/imp_admin.out"))" \
  sh -c "[ $rc = 0 ] && grep -q '^imported 50 cases (0 already there, 0 lines refused)' '$T/imp_admin.out' && [ $(stored hist-) = 50 ]"
sed 's/hist-/hist2-/' "$T/hist.jsonl" > "$T/hist2.jsonl"
mq imp_intake import --cert "$T/clients/intake1" "$T/hist2.jsonl"
check "import with an intake key: exit 1 at the first answer, naming keys/admin/, nothing imported (exit $rc, $ms ms)" \
  sh -c "[ $rc = 1 ] && [ $ms -lt 5000 ] && grep -q 'refuses IMPORT from this client.s key.*keys/admin/' '$T/imp_intake.log' && [ $(stored hist2-) = 0 ]"
mq imp_stranger import --cert "$T/clients/stranger" "$T/hist2.jsonl"
check "import with a key on no allowlist: exit 1 within 5 s, not at the 60 s timeout (exit $rc, $ms ms)" \
  sh -c "[ $rc = 1 ] && [ $ms -lt 5000 ]"
check "... saying the broker refused the key and that it belongs in keys/admin/" \
  said imp_stranger "refused this client's CURVE key.*keys/admin/"

# tail: the events endpoint is CURVE too
"$MQ" -c "$T/minqing.conf" tail --cert "$T/clients/intake1" --kind received --count 1 \
  > "$T/tail.out" 2> "$T/tail.log" &
TAIL=$!
PIDS="$PIDS $TAIL"
wait_for 10 grep -q following "$T/tail.log"
# the subscription reaches the broker after the handshake, at no moment tail
# can show: submit a case a second until tail has seen one (10 at most)
for i in 1 2 3 4 5 6 7 8 9 10; do
  case_json "curve-3-$i" > "$T/case3.json"
  mq submit3 submit --cert "$T/clients/intake1" "$T/case3.json"
  wait_for 1 gone "$TAIL" && break
done
wait_for 5 gone "$TAIL" || kill -9 "$TAIL"
wait "$TAIL"; rc=$?
check "tail with an intake key follows the events (exit $rc: $(head -c 80 "$T/tail.out"))" \
  sh -c "[ $rc = 0 ] && grep -q ' received  *case ' '$T/tail.out'"
mq tail_stranger tail --cert "$T/clients/stranger"
check "tail with a key on no allowlist: exit 1 within 5 s instead of waiting forever (exit $rc, $ms ms)" \
  sh -c "[ $rc = 1 ] && [ $ms -lt 5000 ] && grep -q 'refused this client.s CURVE key' '$T/tail_stranger.log'"
mq tail_nocert tail
check "tail without --cert: exit 2, asking for it (exit $rc)" \
  sh -c "[ $rc = 2 ] && grep -q 'give this client.s certificate with --cert' '$T/tail_nocert.log'"
# a key taken off its list at a reload is cut off the event stream as well:
# the broker binds it again, and the follower's reconnection is refused
"$MQ" -c "$T/minqing.conf" tail --cert "$T/clients/admin1" \
  > "$T/follow.out" 2> "$T/follow.log" &
FOL=$!
PIDS="$PIDS $FOL"
wait_for 10 grep -q following "$T/follow.log"
sleep 0.5                       # its handshake is done
rm "$K/admin/admin1"
kill -HUP "$BROKER_PID"
check "a key taken off its list at a reload loses the event stream: tail ends, saying the key was refused" \
  wait_for 10 sh -c "grep -q 'refused this client.s CURVE key' '$T/follow.log' && ! kill -0 $FOL 2>/dev/null"

stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
