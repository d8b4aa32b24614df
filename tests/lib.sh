# lib.sh - shared helpers for the end-to-end tests (sourced, POSIX sh).
#
# Each test gets its own temp directory with ipc:// endpoints inside it, starts
# real processes, remembers their PIDs, and kills exactly those on exit. Every
# wait is bounded in time, and so is each run of a minqing program, loadgen,
# a Python script or sql in the foreground (bounded). Output is TAP:
# "ok N - what" / "not ok N - what".

set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${MQ_BIN:-$ROOT/build/san}
case "$BIN" in /*) ;; *) BIN=$ROOT/$BIN ;; esac
PY=/usr/bin/python3
T=$(mktemp -d /tmp/minqing-e2e.XXXXXX)
PIDS=""
TAPN=0
FAILS=0

cleanup() {
  for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -s "$T/timed-out.txt" ] && sed 's/^/# /' "$T/timed-out.txt"
  if [ "$FAILS" -eq 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok()     { TAPN=$((TAPN + 1)); echo "ok $TAPN - $*"; }
not_ok() { TAPN=$((TAPN + 1)); FAILS=$((FAILS + 1)); echo "not ok $TAPN - $*"; }
# check "what" COMMAND...: ok when the command succeeds
check()  { what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
diag()   { echo "# $*"; }
finish() { echo "1..$TAPN"; [ "$FAILS" -eq 0 ]; }

now_ms() { date +%s%3N; }

# bounded [SECONDS] PROGRAM ARG...: PROGRAM (a program: timeout cannot run a
# shell function) in the foreground for at most SECONDS (60), SIGKILLed 10 s
# after its SIGTERM if need be. Its own exit status, or 124 when it timed out
# (137 when it had to be killed); then the end of the test says so.
bounded() {
  bound_s=60
  case $1 in [0-9]*) bound_s=$1; shift ;; esac
  timeout -k 10 "$bound_s" "$@"
  bound_rc=$?
  case $bound_rc in
    124|137) echo "timed out after $bound_s s (status $bound_rc): $*" >> "$T/timed-out.txt" ;;
  esac
  return $bound_rc
}

# wait_for SECONDS COMMAND...: poll every 0.1 s until COMMAND succeeds; 1 on timeout
wait_for() {
  limit=$(( $(now_ms) + $1 * 1000 )); shift
  while ! "$@" 2>/dev/null; do
    [ "$(now_ms)" -ge "$limit" ] && return 1
    sleep 0.1
  done
}

sql() { bounded sqlite3 -cmd ".timeout 5000" "$T/minqing.db" "$@"; }

# write_config [EXTRA_BROKER_LINES]: a config with 6 departments and routes,
# endpoints in $T. Routes: water.* -> water; road.pothole -> urban + traffic;
# noise.night -> security + urban; wage.arrears -> hrss; else -> dispatch.
write_config() {
  cat > "$T/minqing.conf" <<CONF
[broker]
intake = ipc://$T/intake.sock
workers = ipc://$T/workers.sock
events = ipc://$T/events.sock
database = $T/minqing.db
heartbeat = ${HEARTBEAT:-500ms}
liveness = 3
manual_department = dispatch
${1:-}

[departments]
dispatch = 12345派单中心
water = 水务局
urban = 城管局
traffic = 交警大队
security = 公安局
hrss = 人社局

[routes]
water.leak = water
water.outage = water
road.pothole = urban, traffic
noise.night = security, urban
wage.arrears = hrss
default = dispatch
CONF
}

# contact_ladder DEADLINE RUNGS: append a contact deadline and the contact
# ladder's RUNGS ("N = OFFSET TARGET" lines) to the config
contact_ladder() {
  printf '\n[deadlines]\ncontact = %s\n\n[ladder.contact]\n%s\n' "$1" "$2" >> "$T/minqing.conf"
}

# ladder LINES: the config's contact ladder (its last section) replaced by LINES
ladder() {
  sed -i '/^\[ladder.contact\]/,$d' "$T/minqing.conf"
  printf '[ladder.contact]\n%s\n' "$1" >> "$T/minqing.conf"
}
# fired TARGET N: N escalations to TARGET are stored
fired() { [ "$(sql "select count(*) from escalations where target = '$1'")" = "$2" ]; }

# fast_ladder: a 2 s contact deadline and a 3-level contact ladder
# (community at once, street at +1 s, county at +2 s)
fast_ladder() {
  contact_ladder 2s "1 = 0 community
2 = 1s street
3 = 2s county"
}

# add_department ID NAME: one more department in write_config's [departments]
add_department() { sed -i "s/^hrss = 人社局\$/hrss = 人社局\n$1 = $2/" "$T/minqing.conf"; }

# supervision_config: write_config with fast_ladder, every rung's notice to a
# supervision department, and the names of a street and a community; fails
# when the broker finds the config invalid
supervision_config() {
  write_config "auto_close = 0"
  fast_ladder
  supervision_targets
  bounded "$BIN/minqingd" --check-config -c "$T/minqing.conf" >/dev/null
}

# supervision_targets: every rung's notice to a supervision department (added),
# and the names of a street and a community
supervision_targets() {
  cat >> "$T/minqing.conf" <<CONF

[targets]
community = supervision
street = supervision
county = supervision

[streets]
CG01 = 城关街道
[communities]
CG01-XH01 = 西湖社区
CONF
  add_department supervision 督办中心
}

# old_db_config: the config tests/fixtures/make_old_db.sh runs an older
# broker with, and upgrade.sh the current one on its database: water.leak's
# contact deadline 1 s, a two-rung contact ladder
old_db_config() {
  write_config "auto_close = 0"
  contact_ladder 30m "1 = 0 community
2 = 1s street"
  sed -i 's/^contact = 30m$/contact = 30m\nwater.leak.contact = 1s/' "$T/minqing.conf"
  supervision_targets
}

# free_ports [N]: N (1) distinct TCP ports on 127.0.0.1 that nothing listens
# on now, on one line; found together, so that no two are the same
free_ports() {
  bounded "$PY" -c 'import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "${1:-1}"
}

# client_key NAME [LIST]: a CURVE keypair $C/NAME and NAME_secret (minqing
# keygen); with LIST ("intake", "workers/water") its public half goes on the
# broker's allowlist $K/LIST/. K and C are the caller's directories.
client_key() {
  mkdir -p "$C" && bounded "$BIN/minqing" keygen "$C/$1" >/dev/null || return 1
  [ -z "${2:-}" ] || { mkdir -p "$K/$2" && cp "$C/$1" "$K/$2/"; }
}

# start_broker: start minqingd on $T/minqing.conf; sets BROKER_PID
ready_count() { cat "$T/broker.log" 2>/dev/null | grep -c 'event=broker.ready'; }
start_broker() {
  before=$(ready_count)
  "$BIN/minqingd" -c "$T/minqing.conf" -l "${LOG_LEVEL:-notice}" >>"$T/broker.log" 2>&1 &
  BROKER_PID=$!
  PIDS="$PIDS $BROKER_PID"
  wait_for 30 sh -c "[ \$(grep -c 'event=broker.ready' '$T/broker.log') -gt $before ]" ||
    { diag "broker did not start"; tail -5 "$T/broker.log"; return 1; }
}

# gone PID: the process has exited (a zombie not yet reaped counts as gone)
gone() { [ ! -d "/proc/$1" ] || grep -q ') Z' "/proc/$1/stat" 2>/dev/null; }
stop_pid() { kill -TERM "$1" 2>/dev/null; wait_for 10 gone "$1" || kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null; }
kill9()    { kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# sanitizer reports in the broker log fail the test
no_sanitizer_reports() { ! grep -q -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/*.log; }

# start_worker DEPT NAME [simworker options...]: sets WORKER_PID; log in $T/w-NAME.log
start_worker() {
  dept=$1 name=$2; shift 2
  "$BIN/simworker" -e "ipc://$T/workers.sock" -d "$dept" -n "$name" -o "$T/w-$name.log" "$@" \
    >>"$T/worker-$name.out" 2>&1 &
  WORKER_PID=$!
  PIDS="$PIDS $WORKER_PID"
}

# count of cases in STATE
cases_in() { sql "select count(*) from cases where state = '$1'"; }
all_resolved() { [ "$(sql "select count(*) from cases where state != 'resolved'")" = 0 ] && [ "$(sql 'select count(*) from cases')" = "$1" ]; }

# tap_script BOUND SCRIPT ARGS...: a Python TAP script run against the
# broker start_broker started (BOUND seconds at most); then the broker must
# still be up, is stopped, and left no sanitizer report. The test's status:
# the script's and finish's.
tap_script() {
  tap_bound=$1; shift
  bounded "$tap_bound" "$PY" "$@"
  tap_rc=$?
  check "broker still running" kill -0 "$BROKER_PID"
  stop_pid "$BROKER_PID"
  check "no sanitizer report" no_sanitizer_reports
  finish && [ $tap_rc -eq 0 ]
}

# legacy_cases FILE PREFIX N: $T/FILE, N closed historical cases to import
# (channel legacy), external ids PREFIX-0 ...
legacy_cases() {
  bounded "$PY" - "$2" "$3" > "$T/$1" <<'PY'
import json, sys
for i in range(int(sys.argv[2])):
    print(json.dumps({"service_code": "water.leak", "description": "历史案件：楼道积水。",
        "channel": "legacy", "external_id": "%s-%d" % (sys.argv[1], i),
        "grid_code": "CG01-XH01-G0001", "state": "closed", "received_at": 1561939200000 + i,
        "closed_at": 1562025600000 + i}, ensure_ascii=False))
PY
}

# count_in FILE PATTERN: lines of FILE matching PATTERN (0 when FILE is missing)
count_in() { cat "$1" 2>/dev/null | grep -c -- "$2"; }

# --- helpers of the fault-injection suite (make test-faults) ---

# log_ms LINE: the unix ms of a broker log line's ts= (local time, as the broker writes it)
log_ms() { date -d "$(echo "$1" | sed -n 's/^ts=\([^ ]*\).*/\1/p')" +%s%3N; }

# logged_escalations LOGFILE: "case_id ladder level" of every event=escalated line, sorted
logged_escalations() {
  grep -h 'event=escalated' "$1" |
    sed -n 's/.* case_id=\([0-9]*\) .* level=\([0-9]*\) ladder=\([a-z]*\) .*/\1 \3 \2/p' | sort
}

# rss_kb PID: the resident set (VmRSS) of a live process in kB, empty when it is gone
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# min_med_max FILE: "min median max" of the numbers in FILE, one a line ("- - -" when empty)
min_med_max() {
  sort -n "$1" | awk '{ v[NR] = $1 } END {
    if (NR == 0) print "- - -"; else print v[1], v[int((NR + 1) / 2)], v[NR] }'
}
