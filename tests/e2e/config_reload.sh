#!/bin/sh
# config_reload.sh - a reload takes only a file the broker can go on serving
# with, and start with again: on a broker serving CURVE on tcp://, a file
# without keys (which would admit no key and cut every client off), a
# server_cert that cannot be loaded, or a tcp:// endpoint without CURVE (the
# next start, after a crash too, would refuse either and stay down) is
# refused with config.invalid, FILE:LINE as at start, and config.kept. Each
# config.invalid is whole, however long: what to do comes at its end. A
# reload that raises heartbeat (500ms to 10s) costs no worker its session:
# the broker goes on beating at the pace the registered workers were told.
. "$(dirname "$0")/../lib.sh"
MQ="$BIN/minqing"
K="$T/keys" C="$T/clients"
mkdir -p "$K"
bounded "$MQ" keygen "$K/server" >/dev/null
client_key intake1 intake
write_config "server_cert = $K/server
keys = $K"
CONF=$T/minqing.conf
sed -i "s|^intake = .*|intake = tcp://127.0.0.1:$(free_ports)|" "$CONF"
cp "$CONF" "$T/curve.conf"
LOG_LEVEL=info start_broker || exit 1
start_worker water w1
check "a worker registers" wait_for 10 grep -q 'event=worker.registered worker=water:w1' "$T/broker.log"

# hup EVENT: SIGHUP the broker and wait until it logs one more EVENT
hup() {
  n=$(count_in "$T/broker.log" "event=$1 ")
  kill -HUP "$BROKER_PID"
  wait_for 10 sh -c "[ \$(grep -c 'event=$1 ' '$T/broker.log') -gt $n ]"
}
# submit ID: a case with external_id ID, with the intake key; sets rc
submit() {
  printf '{"service_code": "water.leak", "description": "水管漏水", "external_id": "%s",
   "channel": "hotline", "grid_code": "CG01-XH01-G0001"}\n' "$1" > "$T/case.json"
  bounded 20 "$MQ" -c "$T/curve.conf" submit --cert "$C/intake1" "$T/case.json" \
    > "$T/submit.log" 2>&1
  rc=$?
}
stored() { [ "$(sql "select count(*) from cases where external_id = '$1'")" = 1 ]; }

# keys dropped, and the endpoints back on ipc:// (a file the next start takes)
sed -i -e '/^keys = /d' -e '/^server_cert = /d' -e "s|^intake = .*|intake = ipc://$T/intake.sock|" "$CONF"
check "a reload without keys while CURVE is served is refused (config.kept)" hup config.kept
check "config.invalid says why, naming the file" \
  grep -q "event=config.invalid msg=\"$CONF: keys is missing, but this broker serves CURVE" "$T/broker.log"
submit after-keys
check "the intake key is still admitted (exit $rc: $(cat "$T/submit.log"))" stored after-keys
cp "$T/curve.conf" "$CONF"

# line_of KEY: the line of KEY's setting in the config
line_of() { grep -n "^$1 = " "$CONF" | cut -d: -f1; }
sed -i "s|^server_cert = .*|server_cert = $T/no-such-cert|" "$CONF"
check "a reload naming a server_cert that cannot be loaded is refused (config.kept)" hup config.kept
check "config.invalid says what the start would say, at server_cert's line" grep -q \
  "event=config.invalid msg=\"$CONF:$(line_of server_cert): $T/no-such-cert_secret: cannot read" \
  "$T/broker.log"
cp "$T/curve.conf" "$CONF"
sed -i '/^server_cert = /d' "$CONF"
check "a reload with a tcp:// endpoint and no CURVE is refused (config.kept)" hup config.kept
check "config.invalid names the endpoint, at its line" grep -q \
  "event=config.invalid msg=\"$CONF:$(line_of intake): tcp://127.0.0.1:[0-9]*: a tcp:// endpoint needs CURVE" \
  "$T/broker.log"
check "no reload was taken" test "$(count_in "$T/broker.log" 'event=config.reloaded')" = 0
cp "$T/curve.conf" "$CONF"

printf '[deadlines]\nresolve = 400d\n' >> "$CONF"
check "a reload with a bad deadline is refused" hup config.kept
check "its config.invalid is whole, to the range at its end" grep -qF "event=config.invalid \
msg=\"$CONF:$(wc -l < "$CONF"): bad duration '400d' for deadline 'resolve' (want e.g. 30m, 4h, \
2d, 5wd for working days or 8wh for working hours; above 0, at most 366d, 366wd or 8784wh)\"" \
  "$T/broker.log"
cp "$T/curve.conf" "$CONF"

sed -i 's/^heartbeat = .*/heartbeat = 10s/' "$CONF"
check "a reload raising heartbeat from 500ms to 10s is taken" hup config.reloaded
sleep 4             # the worker, told 500ms, gives the broker up after 1.5 s of silence
check "the worker keeps its session: no worker.lost, no second registration" sh -c "
  [ $(count_in "$T/broker.log" 'event=worker.lost') = 0 ] &&
  [ $(count_in "$T/broker.log" 'event=worker.registered') = 1 ]"

stop_pid "$WORKER_PID"
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
