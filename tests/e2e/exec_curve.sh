#!/bin/sh
# exec_curve.sh - minqing-worker on a tcp:// workers endpoint, where the
# broker is a CURVE server (PROTOCOL.md 10): with --server-cert and --cert (or
# the config file's server-cert and cert) a department adapter resolves its
# cases and a supervision adapter acknowledges escalation notices; one of the
# two options alone, a missing certificate, a missing secret or a secret key
# file open to group or others is a usage error (exit 2); a key the broker does not know or the wrong server key ends
# the adapter at once (exit 1, the reason logged); no key at all gets no
# connection (no registration, no case); a key of another department gets its
# registration refused (exit 1, FORBIDDEN logged). A key revoked by a
# reload while the adapter works (PROTOCOL.md 10) does not stop it: it logs
# the refusal, its running command goes on, the outcome waits, and once the
# key is allowed back it registers again and the outcome is applied.
. "$(dirname "$0")/../lib.sh"
K=$T/keys C=$T/client
mkdir -p "$K"
bounded "$BIN/minqing" keygen "$K/server" >/dev/null
# the broker's lists hold the public keys only
client_key water1 workers/water && client_key sup1 workers/supervision && client_key stranger
client_key gas1 workers/gas
cp "$C/water1" "$C/nosecret"
PORT=$(free_ports)
EP=tcp://127.0.0.1:$PORT
write_config "server_cert = $K/server
keys = $K"
sed -i "s|^workers = .*|workers = $EP|" "$T/minqing.conf"
add_department supervision 督办中心
add_department gas 燃气公司
sed -i 's/^wage.arrears = hrss$/&\ngas.leak = gas/' "$T/minqing.conf"
printf '\n[deadlines]\ncontact = 30m\nwage.arrears.contact = 1s\n\n[ladder.contact]\n1 = 0 community\n' >> "$T/minqing.conf"
printf '\n[targets]\ncommunity = supervision\n' >> "$T/minqing.conf"
export MINQING_APPEND_FILE="$T/cases.txt"

# mw NAME ARGS...: minqing-worker in the foreground, log in $T/mw-NAME.log, exit status in RC
mw() { name=$1; shift; timeout 10 "$BIN/minqing-worker" --name "$name" "$@" >"$T/mw-$name.log" 2>&1; RC=$?; }
# start NAME ARGS...: minqing-worker in the background; sets PID
start() {
  name=$1; shift
  "$BIN/minqing-worker" --name "$name" "$@" >"$T/mw-$name.log" 2>&1 &
  PID=$!
  PIDS="$PIDS $PID"
}
says() { grep -q -- "$2" "$T/mw-$1.log"; }
# kept_out NAME PID: the adapter still runs (and tries to connect), and no case reached it
kept_out() { ! gone "$2" && ! says "$1" 'event=assignment'; }
W="--endpoint $EP --exec true"

# 1. usage and configuration errors, before any connection
mw only-cert $W --department water --cert "$C/water1"
check "--cert without --server-cert: exit 2, the pair named" \
  sh -c "[ $RC = 2 ] && grep -q -- '--server-cert and --cert go together' '$T/mw-only-cert.log'"
printf 'endpoint = %s\ndepartment = water\nexec = true\nserver-cert = %s\n' "$EP" "$K/server" > "$T/half.ini"
mw half -c "$T/half.ini"
check "server-cert in the config file without cert: exit 2" \
  sh -c "[ $RC = 2 ] && grep -q 'go together' '$T/mw-half.log'"
mw missing $W --department water --server-cert "$K/nosuch" --cert "$C/water1"
check "a certificate that cannot be read: exit 2, the file named" \
  sh -c "[ $RC = 2 ] && grep -q 'cannot read the certificate $K/nosuch' '$T/mw-missing.log'"
mw nosecret $W --department water --server-cert "$K/server" --cert "$C/nosecret"
check "a certificate without its _secret file: exit 2, said so" \
  sh -c "[ $RC = 2 ] && grep -q 'nosecret_secret: the client.s secret key is missing' '$T/mw-nosecret.log'"
cp "$C/water1" "$C/exposed" && cp "$C/water1_secret" "$C/exposed_secret" && chmod 640 "$C/exposed_secret"
mw exposed $W --department water --server-cert "$K/server" --cert "$C/exposed"
check "a secret key file open to its group (mode 640): exit 2, naming it and the chmod (exit $RC)" \
  sh -c "[ $RC = 2 ] && grep -q '$C/exposed_secret: this secret key is open to group or others (mode 640); refusing to use it: chmod 600 $C/exposed_secret' '$T/mw-exposed.log'"

# 2. the adapters with their keys: one from a config file, one from options
LOG_LEVEL=info start_broker || exit 1
cat > "$T/water.ini" <<INI
[worker]
endpoint = $EP
department = water
exec = $ROOT/examples/worker-append.sh
server_cert = $K/server
cert = $C/water1
INI
start water -c "$T/water.ini"
WATER=$PID
start sup --endpoint "$EP" --department supervision --exec 'cat >/dev/null' \
  --server-cert "$K/server" --cert "$C/sup1"
SUP=$PID
check "both adapters register over CURVE" wait_for 10 sh -c "
  grep -q 'event=worker.registered worker=water:' '$T/broker.log' &&
  grep -q 'event=worker.registered worker=supervision:' '$T/broker.log'"
check "and say so when they start (curve=yes)" sh -c "
  grep -q 'event=worker.started .*curve=yes' '$T/mw-water.log' &&
  grep -q 'event=worker.started .*curve=yes' '$T/mw-sup.log'"
bounded 90 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 3 -p tcp -c water.leak -t 30 >/dev/null 2>&1 &&
  bounded 90 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 2 -p esc -c wage.arrears -t 30 >/dev/null 2>&1
check "3 water and 2 hrss cases submitted (hrss has no worker)" test $? = 0
resolved() { [ "$(sql "select count(*) from assignments where department = 'water' and state = 'resolved'")" = 3 ]; }
check "water: the 3 cases resolved through minqing-worker over CURVE" wait_for 15 resolved
check "each is in the adapter's ledger" test "$(wc -l < "$T/cases.txt")" = 3
acked() { [ "$(sql 'select count(*) from escalations where notified_at is not null')" = 2 ]; }
check "supervision: both escalation notices acknowledged over CURVE" wait_for 15 acked
check "the adapter ran its command for each and acknowledged it" \
  test "$(grep -c 'event=escalation.acked ' "$T/mw-sup.log")" = 2

# 2b. the gas adapter's key revoked by a reload while its command runs (the
# command waits for $GO), then allowed back
export GO="$T/go"
cat > "$T/slow.sh" <<'SH'
cat >/dev/null
echo '{"event":"accepted"}'
i=0
while [ ! -e "$GO" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
echo '{"event":"resolved","result":"fixed","summary":"done"}'
SH
start gas --endpoint "$EP" --department gas --exec "sh $T/slow.sh" \
  --server-cert "$K/server" --cert "$C/gas1"
GAS=$PID
gas_state() { [ "$(sql "select state from assignments where department = 'gas'")" = "$1" ]; }
# the refusal logged, with the command still running, and no failure
gas_refused() {
  says gas 'event=worker.refused reason="[^"]*FORBIDDEN.* running=1 ' && ! says gas 'event=worker.failed'
}
gas_waits() { says gas 'event=cmd.done' && ! gone "$GAS" && ! says gas 'event=outcome.refused' && ! gas_state resolved; }
gas_back() { gas_state resolved && says gas 'event=worker.readmitted'; }
bounded 90 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 1 -p gas -c gas.leak -t 30 >/dev/null 2>&1
check "gas: its case accepted, the command still running" wait_for 15 gas_state accepted
mv "$K/workers/gas/gas1" "$T/gas1.revoked" && kill -HUP "$BROKER_PID"
check "its key revoked by a reload: the refusal logged, the adapter and its command go on" \
  wait_for 10 gas_refused
touch "$GO"
check "the command ends meanwhile: its RESOLVED waits, neither dropped nor refused" wait_for 10 gas_waits
mv "$T/gas1.revoked" "$K/workers/gas/gas1" && kill -HUP "$BROKER_PID"
check "the key allowed back: registered again, the RESOLVED applied" wait_for 15 gas_back

# 3. keys the broker refuses, all trying at once for the 2 waiting hrss cases
H="--endpoint $EP --department hrss --exec true"
start plain $H
PLAIN=$PID
mw otherdept $H --server-cert "$K/server" --cert "$C/water1"
check "a key of another department: registration refused, exit 1, FORBIDDEN logged" \
  sh -c "[ $RC = 1 ] && grep -q 'event=worker.failed .*registration refused: FORBIDDEN' '$T/mw-otherdept.log'"
# a refused key or a wrong server key: exit 1 at once, saying which, not
# retrying in silence (ZeroMQ never retries a refused handshake)
mw stranger $H --server-cert "$K/server" --cert "$C/stranger"
check "an unknown key: exit 1, the broker's refusal logged (exit $RC)" \
  sh -c "[ $RC = 1 ] && grep -q \"event=worker.failed .*refused this client's CURVE key\" '$T/mw-stranger.log'"
mw wrongserver $H --server-cert "$C/stranger" --cert "$C/water1"
check "the wrong server key: exit 1, the failed handshakes logged (exit $RC)" \
  sh -c "[ $RC = 1 ] && grep -q 'event=worker.failed .*handshake .*failed 5 times in a row' '$T/mw-wrongserver.log'"
sleep 2
check "no key at all gets no connection: no registration, no case" kept_out plain "$PLAIN"
check "and a warning at its start says why" says plain 'event=worker.plain_tcp .*never registers'
check "the broker registered no hrss worker" sh -c "! grep -q 'event=worker.registered worker=hrss:' '$T/broker.log'"
rcs=""
for p in $PLAIN $WATER $SUP $GAS; do
  kill -TERM "$p"; wait_for 15 gone "$p" || kill -9 "$p"; wait "$p"; rcs="$rcs$?"
done
check "every adapter stops on SIGTERM with exit 0 ($rcs)" test "$rcs" = 0000
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
