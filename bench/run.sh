#!/bin/sh
# run.sh - minqing side by side with beanstalkd and Redis, durable and not.
#
# One producer submits N cases (~600 bytes of UTF-8 each, WINDOW unacknowledged
# at most; a case counts once acknowledged durably); four department workers
# each write three outcomes per case (accepted, contacted, resolved) and
# complete it. For each system and mode, on a fresh server and data directory:
#   - saturation: N cases as fast as they go -> lifecycles/s (first send to the
#     last outcome acknowledged), submit->dispatch latency p50/p99/p99.9, the
#     server's peak RSS (VmHWM) and CPU seconds (utime+stime, with the
#     children it reaped: cutime+cstime) over the run;
#   - paced: PACE_N cases at PACE/s -> the same latencies at equal load, and
#     the producer's largest schedule lag (send - scheduled send).
# Latency: the producer puts CLOCK_MONOTONIC ns into the case's description,
# its send time (paced: its scheduled send time, start + k/PACE, so that a case
# the producer held back counts that wait too); the worker takes it from its
# receipt time (one machine, one clock). A paced run is marked behind when its
# rate fell below 95 % of PACE or its producer sent a case later than a full
# window's worth of cases (LAG_LIMIT = WINDOW / PACE: 64 ms at the defaults).
# Systems: minqing (minqingd, build/loadgen, 4 build/simworker), beanstalkd -f 0
# (fsync every write), Redis appendfsync always; and, labelled non-durable,
# beanstalkd -f 50 and Redis appendfsync everysec. Servers listen on 127.0.0.1
# only (minqing too: tcp:// endpoints, as the peers), are started here and
# stopped by PID. Repeats REPEAT times, the systems in a rotated order each time
# (so that drift over the session is not tied to one system), and reports the
# median of each figure. Each run's data directory goes once its figures are
# read (KEEP=1 keeps them).
#
# Prints one Markdown table (with minqing/peer ratios; saturation latencies are
# not compared, n/c: see the table's notes); its last line is
#   bench: minqing=<lifecycles/s> beanstalkd_f0=<...> redis_always=<...>
# Usage: sh bench/run.sh   (environment: N=100000 WINDOW=64 PACE=1000 PACE_N=30000
#        REPEAT=1 CAP=16 RUN_TIMEOUT=240 B=build KEEP=1 to keep the temp dir)
set -eu
cd "$(dirname "$0")/.."
N=${N:-100000}
WINDOW=${WINDOW:-64}
PACE=${PACE:-1000}
LAG_LIMIT=$(( WINDOW * 1000 / PACE ))   # ms: a full window of cases late
PACE_N=${PACE_N:-30000}
REPEAT=${REPEAT:-1}
CAP=${CAP:-16}
RUN_TIMEOUT=${RUN_TIMEOUT:-240}
B=${B:-build}
for v in N WINDOW PACE PACE_N REPEAT CAP RUN_TIMEOUT; do
  eval "x=\$$v"
  case "$x" in ''|*[!0-9]*) echo "run.sh: $v must be a positive integer" >&2; exit 2 ;; esac
  [ "$x" -gt 0 ] || { echo "run.sh: $v must be a positive integer" >&2; exit 2; }
done

T=$(mktemp -d /tmp/minqing-sbs.XXXXXX)
PIDS=""                 # the processes started here and not yet reaped; only these are ever signalled
cleanup() {
  for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done
  if [ -n "${KEEP:-}" ]; then echo "run.sh: kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

say() { echo "bench: $*" >&2; }
die() { echo "run.sh: $*" >&2; exit 1; }
HZ=$(getconf CLK_TCK)

# ---- binaries ----------------------------------------------------------------
for b in minqingd loadgen simworker; do
  [ -x "$B/$b" ] || die "$B/$b is missing: run 'make bench' (or make $B/minqingd $B/loadgen $B/simworker)"
done
"$B/loadgen" -h 2>&1 | grep -q -- 'max_lag_ns' || die "$B/loadgen is too old (no -M lag): rebuild it (make $B/loadgen)"
"$B/simworker" -h 2>&1 | grep -q -- 'distinct cases' || die "$B/simworker is too old (-x, -L count deliveries): rebuild it (make $B/simworker)"
command -v beanstalkd >/dev/null || die "beanstalkd is missing: sh scripts/deps.sh bench"
command -v redis-server >/dev/null || die "redis-server is missing: sh scripts/deps.sh bench"
# the peer clients: built by `make bench`; built here when missing or stale
CFL="-std=c11 -Wall -Wextra -D_GNU_SOURCE -O2 -g"
for p in beanstalk_bench redis_bench; do
  if [ ! -x "$B/$p" ] || [ "bench/$p.c" -nt "$B/$p" ] || [ bench/peers.h -nt "$B/$p" ]; then
    say "building $B/$p"
    if [ $p = redis_bench ]; then
      # shellcheck disable=SC2046
      cc $CFL $(pkg-config --cflags hiredis) -o "$B/$p" "bench/$p.c" $(pkg-config --libs hiredis) -lpthread
    else
      cc $CFL -o "$B/$p" "bench/$p.c" -lpthread
    fi
  fi
done

# ---- process helpers ---------------------------------------------------------
now_ms() { date +%s%3N; }
alive() { kill -0 "$1" 2>/dev/null; }
# drop_pid PID: PID was reaped, so its number may be reused: never signal it again
drop_pid() {
  np=""
  for p in $PIDS; do [ "$p" = "$1" ] || np="$np $p"; done
  PIDS=$np
}
# wait_gone PID SECONDS: 0 once PID has exited (reaped; its status in GONE_RC),
# 1 (and killed) past SECONDS. It looks 5 times a second and counts its looks
# rather than reading a clock: a `date` 20 times a second forks beside the
# processes being measured, and showed up in their latency tails.
wait_gone() {
  looks=$(( $2 * 5 ))
  while alive "$1"; do
    if [ "$looks" -le 0 ]; then
      kill -TERM "$1" 2>/dev/null || true; sleep 1; kill -9 "$1" 2>/dev/null || true
      wait "$1" 2>/dev/null || true
      drop_pid "$1"
      return 1
    fi
    sleep 0.2; looks=$((looks - 1))
  done
  GONE_RC=0; wait "$1" 2>/dev/null || GONE_RC=$?
  drop_pid "$1"
  return 0
}
# reap PID SECONDS WHAT: 0 when the client PID exited within SECONDS with status
# 0; otherwise it says why and returns 1 (the run is then INCOMPLETE)
reap() {
  wait_gone "$1" "$2" || { say "$3 overran its time"; return 1; }
  [ "$GONE_RC" -eq 0 ] || { say "$3 exited with status $GONE_RC"; return 1; }
}
stop_pid() { kill -TERM "$1" 2>/dev/null || true; wait_gone "$1" 10 || true; }
# free_ports N: N distinct TCP ports free on 127.0.0.1 a moment ago, on one line
free_ports() { "$B/beanstalk_bench" -F "$1" | tr '\n' ' '; }
# "peak_rss_kb cpu_ticks" of a live process: its CPU with that of the children
# it has reaped (cutime+cstime), which holds Redis's AOF rewrites
proc_figures() {
  rss=$(awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || true)
  cpu=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13 + $14 + $15}' || true)
  echo "${rss:-0} ${cpu:-0}"
}
# pcts FILE: "p50 p99 p99.9" in ms (nearest rank) of the ns values in FILE
pcts() {
  sort -n "$1" | awk '
    function at(p,  i) { i = int(p * NR); if (i < p * NR) i++; if (i < 1) i = 1; return a[i] / 1e6 }
    { a[NR] = $1 }
    END { if (NR == 0) print "nan nan nan"; else printf "%.3f %.3f %.3f\n", at(0.5), at(0.99), at(0.999) }'
}
# result SYSTEM PHASE REP LIFECYCLES N START_NS DONE_NS LAG_NS CLIENTS_OK LATFILE RSS_KB CPU_TICKS
# appends "rate p50 p99 p999 rss_mib cpu_s complete lag_ms" to $T/res.SYSTEM.PHASE.
# Complete: N lifecycles finished, N latencies in LATFILE, every client exited 0.
result() {
  lines=$(wc -l < "${10}")
  [ "$lines" -eq "$5" ] || say "$1 $2 #$3: $lines latencies, not $5"
  set -- "$@" "$(pcts "${10}")" "$lines"
  # shellcheck disable=SC2086
  echo "$4 $5 $6 $7 ${13} ${11} ${12} $8 $9 ${14}" | awk -v hz="$HZ" '{
      secs = ($4 - $3) / 1e9; rate = secs > 0 ? $1 / secs : 0
      printf "%.0f %s %s %s %.1f %.2f %d %.3f\n", rate, $5, $6, $7, $8 / 1024, $9 / hz,
        ($1 >= $2 && $11 == 1 && $12 == $2), $10 / 1e6 }' >> "$T/res.$1.$2"
  tail -1 "$T/res.$1.$2" | awk -v s="$1" -v p="$2" -v r="$3" -v pace="$PACE" -v lim="$LAG_LIMIT" '{
      lag = ""
      if (p == "paced")
        lag = sprintf(", max lag %s ms%s", $8, ($1 < 0.95 * pace || $8 > lim) ? " (behind)" : "")
      printf "bench:   %s %s #%s: %s lifecycles/s, p50 %s p99 %s p99.9 %s ms%s, RSS %s MiB, CPU %s s%s\n",
        s, p, r, $1, $2, $3, $4, lag, $5, $6, $7 ? "" : " (INCOMPLETE)" }' >&2
}

# done_with DIR: a run's data directory, once its figures are read: a default
# session would otherwise keep over 1 GB on the disk it measures
done_with() { [ -n "${KEEP:-}" ] || rm -rf "$1"; }

# ---- minqing -----------------------------------------------------------------
DEPTS="water urban hrss dispatch"
CODES="water.leak,road.pothole,wage.arrears,info.consult"

# run_minqing PHASE REP COUNT RATE(0 = unpaced)
run_minqing() {
  d="$T/minqing.$1.$2"; mkdir -p "$d"
  read -r pi pw pe <<PORTS
$(free_ports 3)
PORTS
  [ -n "$pe" ] || die "no free TCP ports on 127.0.0.1"
  cat > "$d/minqing.conf" <<CONF
[broker]
intake = tcp://127.0.0.1:$pi
workers = tcp://127.0.0.1:$pw
events = tcp://127.0.0.1:$pe
database = $d/minqing.db
manual_department = dispatch
; plain TCP on 127.0.0.1 like the peers' (no CURVE: they have no encryption either)
allow_plain_tcp = yes

[departments]
water = 水务局
urban = 城管局
hrss = 人社局
dispatch = 12345派单中心

[routes]
water.leak = water
road.pothole = urban
wage.arrears = hrss
info.consult = dispatch
default = dispatch
CONF
  "$B/minqingd" -c "$d/minqing.conf" -l notice 2> "$d/broker.log" & bpid=$!; PIDS="$PIDS $bpid"
  i=0
  while ! grep -q broker.ready "$d/broker.log" 2>/dev/null; do
    alive "$bpid" && [ $i -lt 300 ] || { cat "$d/broker.log" >&2; die "minqingd did not start"; }
    sleep 0.1; i=$((i + 1))
  done
  # loadgen cycles through the 4 codes: department j gets COUNT/4 (+1 for j < COUNT%4)
  wpids=""; j=0
  for dept in $DEPTS; do
    cnt=$(( $3 / 4 + (j < $3 % 4 ? 1 : 0) )); j=$((j + 1))
    [ "$cnt" -gt 0 ] || continue            # (-x 0 would mean "never leave")
    "$B/simworker" -e "tcp://127.0.0.1:$pw" -d "$dept" -n "$dept" -c "$CAP" -x "$cnt" \
      -L "$d/lat.$dept" > "$d/w.$dept.out" 2>&1 & wpids="$wpids $!"; PIDS="$PIDS $!"
  done
  sleep 1                                   # let the workers register
  rate=""; [ "$4" -gt 0 ] && rate="-r $4"
  # shellcheck disable=SC2086
  "$B/loadgen" -e "tcp://127.0.0.1:$pi" -n "$3" -w "$WINDOW" -c "$CODES" -p "mq$2" -M \
    -t "$RUN_TIMEOUT" $rate > "$d/loadgen.out" 2>&1 & lpid=$!; PIDS="$PIDS $lpid"
  ok=1
  reap "$lpid" $((RUN_TIMEOUT + 10)) loadgen || ok=0
  for w in $wpids; do reap "$w" "$RUN_TIMEOUT" "a simworker" || ok=0; done
  fig=$(proc_figures "$bpid")
  stop_pid "$bpid"
  start_ns=$(sed -n 's/.*start_mono_ns=\([0-9]*\).*/\1/p' "$d/loadgen.out")
  lag_ns=$(sed -n 's/.*max_lag_ns=\([0-9]*\).*/\1/p' "$d/loadgen.out")
  done_ns=$(cat "$d"/w.*.out | sed -n 's/.*done_mono_ns=\([0-9]*\).*/\1/p' | sort -n | tail -1)
  # finished lifecycles: taken and every outcome acknowledged
  life=$(cat "$d"/w.*.out | sed -n 's/.*taken=\([0-9]*\) unacked=0 refused=0 .*/\1/p' |
         awk '{ s += $1 } END { print s + 0 }')
  [ -n "$start_ns" ] && [ -n "$done_ns" ] || { cat "$d/loadgen.out" "$d"/w.*.out >&2; start_ns=0; done_ns=0; life=0; }
  cat "$d"/lat.* > "$d/lat.all"
  # shellcheck disable=SC2086
  result minqing "$1" "$2" "$life" "$3" "$start_ns" "$done_ns" "${lag_ns:-0}" "$ok" "$d/lat.all" $fig
  done_with "$d"
}

# ---- peers -------------------------------------------------------------------
# run_peer SYSTEM PHASE REP COUNT RATE: SYSTEM is beanstalkd_f0, beanstalkd_f50,
# redis_always or redis_everysec
run_peer() {
  d="$T/$1.$2.$3"; mkdir -p "$d/data"
  port=$(free_ports 1); port=${port% }
  [ -n "$port" ] || die "no free TCP port on 127.0.0.1"
  case "$1" in
    beanstalkd_f*)
      beanstalkd -l 127.0.0.1 -p "$port" -b "$d/data" -f "${1#beanstalkd_f}" 2> "$d/server.log" &
      spid=$!; client=beanstalk_bench ;;
    redis_*)
      redis-server --bind 127.0.0.1 --port "$port" --dir "$d/data" --appendonly yes \
        --appendfsync "${1#redis_}" --save '' --daemonize no --logfile "$d/server.log" &
      spid=$!; client=redis_bench ;;
  esac
  PIDS="$PIDS $spid"
  "$B/$client" -p "$port" -P || die "$1 did not start (log: $(tail -3 "$d/server.log" 2>/dev/null))"
  alive "$spid" || die "$1 exited at start"
  rate=""; [ "$5" -gt 0 ] && rate="-r $5"
  # shellcheck disable=SC2086
  "$B/$client" -p "$port" -n "$4" -w "$WINDOW" -c "$CAP" -W 4 -t "$RUN_TIMEOUT" $rate \
    -L "$d/lat" > "$d/client.out" 2>&1 & cpid=$!; PIDS="$PIDS $cpid"
  ok=1
  reap "$cpid" $((RUN_TIMEOUT + 10)) "$client" || ok=0
  fig=$(proc_figures "$spid")
  stop_pid "$spid"
  line=$(grep RESULT "$d/client.out" || true)
  [ -n "$line" ] || { cat "$d/client.out" >&2; line="lifecycles=0 start_mono_ns=0 done_mono_ns=0"; }
  life=$(echo "$line" | sed -n 's/.* lifecycles=\([0-9]*\).*/\1/p')
  start_ns=$(echo "$line" | sed -n 's/.*start_mono_ns=\([0-9]*\).*/\1/p')
  done_ns=$(echo "$line" | sed -n 's/.*done_mono_ns=\([0-9]*\).*/\1/p')
  lag_ns=$(echo "$line" | sed -n 's/.*max_lag_ns=\([0-9]*\).*/\1/p')
  touch "$d/lat"
  # shellcheck disable=SC2086
  result "$1" "$2" "$3" "${life:-0}" "$4" "${start_ns:-0}" "${done_ns:-0}" "${lag_ns:-0}" "$ok" "$d/lat" $fig
  case "$1.$2" in    # for the table's notes
    redis_*.sat) grep -c "Background append only file rewriting started" "$d/server.log" \
                   >> "$T/rewrites" 2>/dev/null || true ;;
  esac
  done_with "$d"
}

run_one() {   # SYSTEM PHASE REP COUNT RATE
  pace=""; [ "$5" -gt 0 ] && pace=" at $5/s"
  say "$1 $2 run $3 of $REPEAT: $4 cases$pace"
  if [ "$1" = minqing ]; then run_minqing "$2" "$3" "$4" "$5"; else run_peer "$@"; fi
}

ALL="minqing beanstalkd_f0 redis_always beanstalkd_f50 redis_everysec"
SYSTEMS=${SYSTEMS:-$ALL}
for s in $SYSTEMS; do
  case " $ALL " in *" $s "*) ;; *) die "SYSTEMS: unknown system '$s' (known: $ALL)" ;; esac
done
ran() { case " $SYSTEMS " in *" $1 "*) return 0 ;; esac; return 1; }
# rotate K WORD...: the words, the first K (modulo their number) moved to the end
rotate() {
  k=$(( $1 % ($# - 1) )); shift
  while [ "$k" -gt 0 ]; do first=$1; shift; set -- "$@" "$first"; k=$((k - 1)); done
  echo "$@"
}
say "N=$N WINDOW=$WINDOW CAP=$CAP, paced: PACE_N=$PACE_N at $PACE/s, REPEAT=$REPEAT ($(nproc) cores)"
t0=$(now_ms)
rep=1
while [ $rep -le "$REPEAT" ]; do
  # shellcheck disable=SC2086
  for s in $(rotate $((rep - 1)) $SYSTEMS); do
    run_one "$s" sat "$rep" "$N" 0
    run_one "$s" paced "$rep" "$PACE_N" "$PACE"
  done
  rep=$((rep + 1))
done
say "all runs took $(( ($(now_ms) - t0) / 1000 )) s"

# ---- the table ---------------------------------------------------------------
# med SYSTEM PHASE COLUMN: the median of that column over the repeats
med() {
  [ -f "$T/res.$1.$2" ] || { echo 0; return; }     # a system SYSTEMS left out
  awk -v c="$3" '{ print $c }' "$T/res.$1.$2" | sort -g | awk '
    { v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# most SYSTEM PHASE COLUMN: the largest value of that column over the repeats
most() {
  [ -f "$T/res.$1.$2" ] || { echo 0; return; }
  awk -v c="$3" 'NR == 1 || $c > m { m = $c } END { printf "%.3f\n", m }' "$T/res.$1.$2"
}
# complete SYSTEM PHASE: 1 when every repeat finished all its cases
complete() { awk '{ s += $7 } END { print (s == NR) ? 1 : 0 }' "$T/res.$1.$2"; }
# figures SYSTEM: the 10 table figures, space-separated
figures() {
  echo "$(med "$1" sat 1) $(med "$1" sat 2) $(med "$1" sat 3) $(med "$1" sat 4)" \
       "$(med "$1" paced 2) $(med "$1" paced 3) $(med "$1" paced 4) $(most "$1" paced 8)" \
       "$(med "$1" sat 5) $(med "$1" sat 6)"
}
label() {
  case "$1" in
    minqing) echo "minqing (SQLite WAL, synchronous=FULL) | yes" ;;
    beanstalkd_f0) echo "beanstalkd -f 0 (fsync every write) | yes" ;;
    redis_always) echo "Redis appendfsync always | yes" ;;
    beanstalkd_f50) echo "beanstalkd -f 50 (NON-DURABLE: fsync at most every 50 ms) | **no**" ;;
    redis_everysec) echo "Redis appendfsync everysec (NON-DURABLE) | **no**" ;;
  esac
}
# a paced run that fell behind its pace is marked: its rate (median) below 95 %,
# or its producer later than LAG_LIMIT for a send (the largest lag of the repeats)
pace_note() {
  awk -v r="$(med "$1" paced 1)" -v l="$(most "$1" paced 8)" -v p="$PACE" -v lim="$LAG_LIMIT" 'BEGIN {
    why = r < 0.95 * p ? sprintf("%.0f/s", r) : ""
    if (l > lim) why = why (why == "" ? "" : ", ") sprintf("lag %.0f ms", l)
    if (why != "") printf " (behind: %s)", why }'
}

echo
echo "minqing side by side: N=$N cases, window $WINDOW, 4 department workers (capacity $CAP);" \
     "paced: $PACE_N cases at $PACE/s; median of $REPEAT run(s); latency = submit->dispatch, ms"
echo
echo "| system | durable | lifecycles/s | p50 ms | p99 ms | p99.9 ms | paced p50 ms | paced p99 ms | paced p99.9 ms | paced max lag ms | peak RSS MiB | CPU s |"
echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
for s in $SYSTEMS; do
  # shellcheck disable=SC2046
  set -- $(figures "$s")
  inc=""; [ "$(complete "$s" sat)$(complete "$s" paced)" = 11 ] || inc=" (INCOMPLETE)"
  echo "| $(label "$s" | sed "s/ | /$inc | /") | $1 | $2 | $3 | $4 | $5 | $6 | $7$(pace_note "$s") | $8 | $9 | ${10} |"
done
mq=$(figures minqing)
for s in beanstalkd_f0 redis_always beanstalkd_f50 redis_everysec; do
  ran minqing && ran "$s" || continue
  name=$(label "$s" | sed 's/ [(|].*//')
  case "$s" in *f50|*everysec) name="$name (non-durable)" ;; esac
  echo "$mq $(figures "$s")" | awk -v n="$name" '
    function r(a, b) { return (b > 0) ? sprintf("%.2f×", a / b) : "-" }
    { printf "| minqing / %s | | %s | n/c | n/c | n/c | %s | %s | %s | | %s | %s |\n", n,
        r($1, $11), r($5, $15), r($6, $16), r($7, $17), r($9, $19), r($10, $20) }'
done
echo
echo "lifecycles/s: N / (first submit sent -> last outcome acknowledged). Paced latency runs from" \
     "each case's scheduled send (start + k/$PACE); paced max lag: the producer's largest send -" \
     "scheduled send, over the repeats; a paced run is marked behind below 95 % of $PACE/s or" \
     "over $LAG_LIMIT ms of lag (a window's worth of cases). Ratio rows: minqing's" \
     "figure / the peer's (above 1 is better for lifecycles/s, below 1 for latency, RSS, CPU)." \
     "n/c: saturation latencies are not compared, for they measure where each design keeps its" \
     "backlog: minqing's producer holds it in its window, before the stamp and outside the" \
     "measured interval (a slot frees only at SUBMIT_OK, after the commit that also applies the" \
     "workers' outcomes), while Redis and beanstalkd acknowledge a submission whatever their" \
     "queue holds, so theirs waits in the queue, inside it." \
     "RSS and CPU: the server process over the saturation run (CPU = utime+stime+cutime+cstime:" \
     "with the children it reaped)."
rw=$(awk '{ s += $1 } END { print s + 0 }' "$T/rewrites" 2>/dev/null || true)
[ "${rw:-0}" -gt 0 ] && echo "Redis rewrote its AOF $rw time(s) in the saturation runs, in forked children; their" \
  "CPU is in the figure once Redis reaped them (not that of a rewrite still running at the end)."
# summary SYSTEM: its median saturation lifecycles/s for the last line, or 0 (and a
# warning) when a repeat it covers was INCOMPLETE: a cut-short run's rate looks
# plausible, only lower
summary() {
  [ -f "$T/res.$1.sat" ] || { echo 0; return; }
  if [ "$(complete "$1" sat)" = 1 ]; then med "$1" sat 1; return; fi
  echo "run.sh: $1: a saturation run was INCOMPLETE; its figure in the bench: line is 0" >&2
  echo 0
}
echo "bench: minqing=$(summary minqing) beanstalkd_f0=$(summary beanstalkd_f0) redis_always=$(summary redis_always)"
