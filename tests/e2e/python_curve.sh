#!/bin/sh
# python_curve.sh - the Python worker (workers/python/minqing_worker.py) over
# tcp://127.0.0.1 with CURVE (PROTOCOL.md 10), against the real broker:
# --server-cert and --cert (as minqing-worker's) take the zcert files that
# `minqing keygen` writes; with the broker's key and a key on its
# keys/workers/water/ list the worker registers and works cases; with an
# unknown key (the broker's ZAP says 400), without CURVE, or with CURVE on
# the broker's ipc:// endpoint, it gets no answer at all, and stops at once
# saying why, as minqing-worker does; the water key cannot register as
# another department (300); a certificate without its secret half, or whose
# secret key file others can read, is refused before connecting; a
# --server-cert whose _secret beside it cannot be read or parsed (the
# broker's own server_secret, another user's) is read from its public file,
# as CZMQ's zcert_load and minqing-worker do.
. "$(dirname "$0")/../lib.sh"
WORKER=$ROOT/workers/python/minqing_worker.py
K="$T/keys" C="$T/certs"
mkdir -p "$K/workers/water" "$C"
bounded "$BIN/minqing" keygen "$K/server" >/dev/null
bounded "$BIN/minqing" keygen "$C/stranger" >/dev/null
bounded "$BIN/minqing" keygen "$K/workers/water/water1" >/dev/null
# the worker's copy of its keypair; the broker's list holds the public key only
mv "$K/workers/water/water1_secret" "$C/"
cp "$K/workers/water/water1" "$C/"
cp "$C/water1" "$C/public-only"                 # a certificate without its _secret
# the broker's public certificate with a server_secret beside it that the
# worker cannot use: unreadable to a user (mode 000), and not ZPL for root
cp "$K/server" "$C/server"
echo "not a certificate" > "$C/server_secret" && chmod 000 "$C/server_secret"
pw=$(free_ports)
EP=tcp://127.0.0.1:$pw
write_config "server_cert = $K/server
keys = $K"
sed -i "s|^workers = .*|workers = $EP|" "$T/minqing.conf"
bounded "$BIN/minqingd" --check-config -c "$T/minqing.conf" >/dev/null || { not_ok "config valid"; finish; exit 1; }

# pyworker NAME DEPARTMENT [options...]: in the background, output in $T/NAME.out
pyworker() {
  name=$1 dept=$2; shift 2
  "$PY" "$WORKER" --endpoint "$EP" --department "$dept" --name "$name" --capacity 8 \
    --log "$T/w-$name.log" -v "$@" >>"$T/$name.out" 2>&1 &
  PY_PID=$!
  PIDS="$PIDS $PY_PID"
}

# refused before connecting: exit 2 (usage), saying why
bounded "$PY" "$WORKER" --endpoint "$EP" --department water --server-cert "$K/server" >"$T/half.out" 2>&1
check "--server-cert without --cert: exit 2" sh -c "[ $? = 2 ] && grep -q 'go together' '$T/half.out'"
bounded "$PY" "$WORKER" --endpoint "$EP" --department water --server-cert "$K/server" \
  --cert "$C/public-only" >"$T/nosecret.out" 2>&1
check "a --cert without its _secret file: exit 2, naming it" \
  sh -c "[ $? = 2 ] && grep -q 'public-only_secret: the client.s secret key is missing' '$T/nosecret.out'"
bounded "$PY" "$WORKER" --endpoint "$EP" --department water --server-cert "$T/nosuch" \
  --cert "$C/water1" >"$T/nofile.out" 2>&1
check "a --server-cert that cannot be read: exit 2, naming it" \
  sh -c "[ $? = 2 ] && grep -q 'cannot read the certificate $T/nosuch' '$T/nofile.out'"
cp "$C/water1" "$C/exposed" && cp "$C/water1_secret" "$C/exposed_secret" && chmod 644 "$C/exposed_secret"
bounded 10 "$PY" "$WORKER" --endpoint "$EP" --department water --server-cert "$K/server" \
  --cert "$C/exposed" >"$T/exposed.out" 2>&1
check "a --cert whose secret key file is mode 644: exit 2, naming it and the chmod, as libminqing says it" \
  sh -c "[ $? = 2 ] && grep -q '$C/exposed_secret: this secret key is open to group or others (mode 644); refusing to use it: chmod 600 $C/exposed_secret' '$T/exposed.out'"

start_broker || exit 1
check "the broker admits 1 key" grep -q 'event=broker.ready keys=1 ' "$T/broker.log"

pyworker water1 water --server-cert "$C/server" --cert "$C/water1"
GOOD=$PY_PID
check "with the broker's certificate (its unusable _secret beside it ignored) and a key on workers/water/, the worker registers over CURVE" \
  wait_for 10 grep -q ' registered department=water' "$T/water1.out"

bounded 120 "$BIN/loadgen" -e "ipc://$T/intake.sock" -n 5 -t 60 -p curve -c water.leak >/dev/null
check "it works the 5 water cases to resolved" wait_for 15 all_resolved 5
n=$(sql "select count(*) from outcomes where scope = 'water'")
check "15 outcomes stored (accept, contacted, resolved x 5), as it logged them ($n)" \
  sh -c "[ $n = 15 ] && [ \$(grep -vc ' received ' '$T/w-water1.log') = 15 ]"

bounded "$PY" "$WORKER" --endpoint "$EP" --department hrss --server-cert "$K/server" \
  --cert "$C/water1" -v >"$T/as-hrss.out" 2>&1
check "the water key registering as hrss: REGISTER refused with 300, exit 1" \
  sh -c "[ $? = 1 ] && grep -q 'REGISTER refused: 300' '$T/as-hrss.out'"

# The broker answers a refused handshake with silence (10): the worker
# watches its handshakes and stops at once (exit 1), in libminqing's words,
# instead of reconnecting for ever without a word at the default log level.
# refused NAME WHAT TEXT ARG...: the CLI with ARG... exits 1 within 5 s, TEXT in its output
refused() {
  name=$1 what=$2 text=$3; shift 3
  t0=$(now_ms)
  bounded 20 "$PY" "$WORKER" --endpoint "$EP" --department water --name "$name" "$@" >"$T/$name.out" 2>&1
  rc=$? took=$(( $(now_ms) - t0 ))
  said=no
  grep -qF -- "$text" "$T/$name.out" && ! grep -q ' registered ' "$T/$name.out" && said=yes
  check "$what: exit 1 within 5 s, saying so (exit $rc after $took ms)" \
    sh -c "[ $rc = 1 ] && [ $took -lt 5000 ] && [ $said = yes ]"
  grep -v ' registered ' "$T/$name.out" | tail -2 | diag_lines
}
diag_lines() { sed 's/^/# /'; }
refused stranger "a key on no list" \
  "ERROR the broker at $EP refused this client's CURVE key (ZAP status 400): its certificate is on none of the broker's allowlists" \
  --server-cert "$K/server" --cert "$C/stranger"
refused plain "without CURVE on tcp://" \
  "ERROR the ZeroMQ handshake with $EP failed (ZeroMQ protocol error 0x11000002): the broker uses CURVE on this endpoint"
grep -q "WARNING $EP without CURVE" "$T/plain.out" || not_ok "without CURVE on tcp://: warned at start"
# (a mechanism mismatch, or, when the broker hangs up first, 5 failures in a row)
EP="ipc://$T/intake.sock" refused ipc "CURVE on the broker's ipc:// endpoint" \
  "ERROR the CURVE handshake with ipc://$T/intake.sock failed " \
  --server-cert "$K/server" --cert "$C/water1"
check "the CURVE worker kept its session all along" \
  sh -c "[ \$(grep -c ' registered ' '$T/water1.out') = 1 ] && ! grep -q reconnecting '$T/water1.out'"
check "no spec drift seen by the worker" sh -c "! grep -q 'spec-drift:' '$T/water1.out'"
stop_pid "$GOOD"
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
