#!/bin/sh
# soak.sh - the broker at RATE (1,000) cases/s for DURATION (600) seconds with
# a worker per department resolving everything, the broker built with
# LeakSanitizer alone (build/lsan: `make LSAN=1 build/lsan/minqingd`):
#  - its RSS (VmRSS) is sampled every SAMPLE (10) s into $T/rss.txt; after the
#    warm-up (WARMUP, 60 s, at most half the run) the RSS it holds, in two
#    samples in a row, and the final one exceed the last warm-up sample by no
#    more than RSS_LIMIT_PCT (5) %. Growth is what stays: a leak holds every
#    byte it takes, while one sample's spike that is gone by the next (a host
#    stall, then one pass with a few hundred messages and their buffers) is
#    reported, not counted;
#  - every case is acknowledged, at the rate asked, and resolved;
#  - on SIGTERM it exits with status 0, logs broker.stopped clean, and
#    LeakSanitizer reports nothing.
# Long variant only (make test-faults LONG=1), not part of make test. The load
# tools are the optimised ones in build/ (LOAD_BIN), so they keep the pace.
#
# The contact deadline is CONTACT (30s), not the default 30 minutes: every case
# keeps a 16-byte timer hint until its contact deadline, contacted or not, so
# with 30 minutes the heap would grow by RATE x 16 B/s for the first half hour
# by design (1,000/s: 9.6 MB in 10 minutes) and hide a leak of that size.
# With 30 s it is at its steady size long before the warm-up ends.
. "$(dirname "$0")/../lib.sh"
DURATION=${DURATION:-600}
RATE=${RATE:-1000}
SAMPLE=${SAMPLE:-10}
WARMUP=${WARMUP:-60}
RSS_LIMIT_PCT=${RSS_LIMIT_PCT:-5}
CONTACT=${CONTACT:-30s}
LSAN_BIN=${LSAN_BIN:-$ROOT/build/lsan}
LOAD_BIN=${LOAD_BIN:-$ROOT/build}
case "$LSAN_BIN" in /*) ;; *) LSAN_BIN=$ROOT/$LSAN_BIN ;; esac
case "$LOAD_BIN" in /*) ;; *) LOAD_BIN=$ROOT/$LOAD_BIN ;; esac
for v in DURATION RATE SAMPLE WARMUP; do
  eval "x=\$$v"
  case "$x" in ''|*[!0-9]*|0) not_ok "$v must be a positive integer (is '$x')"; finish; exit 1 ;; esac
done
case "$RSS_LIMIT_PCT" in ''|*[!0-9-]*) not_ok "RSS_LIMIT_PCT must be an integer"; finish; exit 1 ;; esac
[ "$WARMUP" -gt $((DURATION / 2)) ] && WARMUP=$((DURATION / 2))
N=$((RATE * DURATION))
DEPTS="water urban traffic security hrss dispatch"
diag "soak: $RATE cases/s for $DURATION s ($N cases), RSS every $SAMPLE s, warm-up $WARMUP s," \
  "limit +$RSS_LIMIT_PCT %, contact deadline $CONTACT"

for b in "$LSAN_BIN/minqingd" "$LOAD_BIN/loadgen" "$LOAD_BIN/simworker"; do
  [ -x "$b" ] || { not_ok "$b is built (make all; make LSAN=1 build/lsan/minqingd)"; finish; exit 1; }
done
check "the broker under test is built with LeakSanitizer" grep -q __lsan "$LSAN_BIN/minqingd"
export LSAN_OPTIONS="detect_leaks=1:exitcode=23:${LSAN_OPTIONS:-}"

write_config
cat >> "$T/minqing.conf" <<CONF

[deadlines]
contact = $CONTACT
CONF
BIN=$LSAN_BIN           # start_broker runs $BIN/minqingd
start_broker || { finish; exit 1; }
for d in $DEPTS; do
  "$LOAD_BIN/simworker" -e "ipc://$T/workers.sock" -d "$d" -n "$d" -c 64 >"$T/w-$d.out" 2>&1 &
  PIDS="$PIDS $!"
  WPIDS="${WPIDS:-} $!"
done
sleep 1                 # let the workers register
"$LOAD_BIN/loadgen" -e "ipc://$T/intake.sock" -n "$N" -r "$RATE" -p soak -t $((DURATION + 120)) \
  >"$T/loadgen.out" 2>&1 &
LOADGEN=$!
PIDS="$PIDS $LOADGEN"

# sample "elapsed_s rss_kb" every SAMPLE s while the load runs (at most DURATION + 120 s)
t0=$(now_ms)
i=0
: > "$T/rss.txt"
while :; do
  el=$(( ($(now_ms) - t0) / 1000 ))
  r=$(rss_kb "$BROKER_PID")
  [ -n "$r" ] || break
  echo "$el $r" >> "$T/rss.txt"
  gone "$LOADGEN" && break
  [ "$el" -ge $((DURATION + 120)) ] && break
  i=$((i + 1))
  d=$(( t0 + i * SAMPLE * 1000 - $(now_ms) ))
  [ "$d" -gt 0 ] && sleep "$(awk -v d="$d" 'BEGIN { printf "%.3f", d / 1000 }')"
done
wait "$LOADGEN"
check "loadgen: all $N submissions acknowledged" test $? = 0
diag "$(cat "$T/loadgen.out")"
rate=$(sed -n 's/.* = \([0-9]*\) cases\/s.*/\1/p' "$T/loadgen.out")
check "the broker kept the pace: ${rate:-?} cases/s of $RATE asked (at least 95 %)" \
  test "${rate:-0}" -ge $((RATE * 95 / 100))
check "the broker was up through the whole run" kill -0 "$BROKER_PID"
check "all $N cases resolved" wait_for 120 all_resolved "$N"

# RSS: the last warm-up sample against what is held after it (the higher of
# each two samples in a row counts only as far as the lower) and the final one
warm=$(awk -v w="$WARMUP" '$1 <= w { r = $2 } END { print r + 0 }' "$T/rss.txt")
# shellcheck disable=SC2046
set -- $(awk -v w="$WARMUP" '$1 >= w {
    if ($2 > m) m = $2
    if (n && (h2 = ($2 < p ? $2 : p)) > h) h = h2
    p = $2; f = $2; n++
  } END { print m + 0, h + 0, f + 0, n + 0 }' "$T/rss.txt")
max=$1 held=$2 final=$3 after=$4
pct() { awk -v w="$warm" -v m="$1" 'BEGIN { printf "%+.2f", (w > 0) ? (m - w) * 100 / w : 0 }'; }
growth=$(pct "$held")
diag "rss (s:kB): $(awk '{ printf "%s:%s ", $1, $2 }' "$T/rss.txt")"
diag "figures: RSS warm-up ($WARMUP s) $warm kB; after it held $held kB ($growth %)," \
  "final $final kB ($(pct "$final") %), one sample's max $max kB ($(pct "$max") %);" \
  "limit $RSS_LIMIT_PCT %, $after samples after the warm-up"
check "RSS sampled through the run ($(wc -l < "$T/rss.txt") samples, $after after the warm-up)" \
  test "$after" -ge $(( (DURATION - WARMUP) / SAMPLE ))
check "RSS held after the warm-up, and the final one, within +$RSS_LIMIT_PCT % of $warm kB (held $held kB, $growth %; final $final kB)" \
  test $((held * 100)) -le $((warm * (100 + RSS_LIMIT_PCT))) -a $((final * 100)) -le $((warm * (100 + RSS_LIMIT_PCT)))
cpu=$(sed 's/^.*) //' "/proc/$BROKER_PID/stat" 2>/dev/null | awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($12 + $13) / hz }')
diag "figures: broker CPU ${cpu:-?} s over the run; database $(du -m "$T/minqing.db" | cut -f1) MB"

# a clean shutdown, leak-checked
kill -TERM "$BROKER_PID"
t1=$(now_ms)
wait_for 120 gone "$BROKER_PID" || { diag "no exit within 120 s of SIGTERM: kill -9"; kill -9 "$BROKER_PID"; }
wait "$BROKER_PID"
rc=$?
diag "figures: shutdown took $(( $(now_ms) - t1 )) ms, exit status $rc"
check "SIGTERM: the broker exits with status 0 ($rc)" test "$rc" = 0
check "it logged broker.stopped clean" grep -q 'event=broker.stopped msg=clean' "$T/broker.log"
check "LeakSanitizer reported nothing" sh -c "! grep -q 'LeakSanitizer' '$T/broker.log'"
grep -A 12 'LeakSanitizer' "$T/broker.log" | head -30 | sed 's/^/# /'
for w in $WPIDS; do stop_pid "$w"; done
finish
