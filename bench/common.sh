# common.sh - what the benchmark scripts share (sourced): a temp directory, a
# minimal config with ipc:// endpoints in it, and a release broker started on
# it and stopped on exit.
set -eu
cd "$(dirname "$0")/.."
B=${B:-build}
T=$(mktemp -d /tmp/minqing-bench.XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$T"' EXIT

# bench_config [LINES]: two departments, water.leak routed to water, LINES appended
bench_config() {
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
${1:-}
CONF
}

# bench_start LEVEL: start minqingd (log in $T/broker.log), wait until it serves; sets PID
bench_start() {
  "$B/minqingd" -c "$T/minqing.conf" -l "$1" 2> "$T/broker.log" & PID=$!
  i=0
  while ! grep -q broker.ready "$T/broker.log" 2>/dev/null && [ $i -lt 600 ]; do
    sleep 0.05; i=$((i + 1))
  done
}

# bench_stop: SIGTERM and wait
bench_stop() { kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
