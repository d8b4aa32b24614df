#!/bin/sh
# run.sh - the test runner behind `make test`.
#
# Runs every unit-test binary (cmocka, TAP output), every end-to-end script in
# tests/e2e (TAP output), and the fuzzers (decoder, masking, message handling on an
# in-memory store) for FUZZ_TEST_SECONDS each. Each TAP
# "ok" counts as passed and each "not ok" as failed; a program that exits
# non-zero (a sanitizer report, a crash, a timeout) counts one failure more.
# The last line is "N passed, N failed".
#
#   sh tests/run.sh [PATTERN]          everything (PATTERN: only names containing it)
#   sh tests/run.sh -s SCRIPT...       only these TAP scripts (make test-faults), no
#                                      unit tests, no fuzzing
# TEST_TIMEOUT: seconds each test program may run (300).
# JOBS: how many test programs run at once (1; `make test` gives the number of
# cores). Each prints its output whole when it ends, so blocks come in the
# order the programs end, not the order of the list.
set -u
cd "$(dirname "$0")/.."

SAN=build/san
# fast_unwind_on_malloc=0: an allocation made inside libzmq (no frame
# pointers) still shows who asked for it, as a leak report must; the suite
# takes about 5 % longer
export ASAN_OPTIONS="abort_on_error=1:halt_on_error=1:detect_leaks=1:fast_unwind_on_malloc=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
export CMOCKA_MESSAGE_OUTPUT=TAP
export MQ_BIN="$SAN"          # e2e scripts run the sanitized programs
FUZZ_TEST_SECONDS=${FUZZ_TEST_SECONDS:-20}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
JOBS=${JOBS:-1}
SCRIPTS=""
if [ "${1:-}" = "-s" ]; then
  shift
  [ $# -gt 0 ] || { echo "run.sh: -s needs at least one script" >&2; exit 2; }
  SCRIPTS="$*"
  set --
fi
ONLY=${1:-}

# The slowest programs, started first so that the lanes end together (the
# rest keep their order): 22 to 53 s each on 2 cores, the fuzzers 21 s each.
SLOW="python_worker test_libminqing security exec_adapter python_escalation cli import_retry kill9"

passed=0 failed=0
q=$(mktemp -d)
trap 'rm -rf "$q"' EXIT

# run_one KIND ARG: one test program, its TAP output on stdout (its stdin is
# not the lane's list, which a program reading stdin would eat); its exit
# status is the function's
run_one() {
  case $1 in
    unit) timeout --kill-after=10 "$TEST_TIMEOUT" "$2" 2>&1 </dev/null ;;
    e2e)  timeout --kill-after=10 "$TEST_TIMEOUT" sh "$2" 2>&1 </dev/null ;;
    fuzz) timeout --kill-after=10 $((FUZZ_TEST_SECONDS + 120)) sh -c '
            if sh scripts/fuzz.sh "build/fuzz/fuzz_$1" "fuzz/corpus/$1" "$2"; then
              echo "ok 1 - fuzz_$1: no finding in $2 s"
            else
              echo "not ok 1 - fuzz_$1 found a crash"; exit 1
            fi' fuzz "$2" "$FUZZ_TEST_SECONDS" 2>&1 </dev/null ;;
  esac
}

name_of() {
  case $1 in unit) basename "$2" ;; e2e) basename "$2" .sh ;; fuzz) echo "fuzz_$2" ;; esac
}

# report N NAME SECONDS: print test N's output whole (one lane at a time, so
# blocks do not interleave) and count it
report() {
  f="$q/$1.out"
  rc=$(cat "$q/$1.rc" 2>/dev/null)
  case $rc in ''|*[!0-9]*) rc=255 ;; esac       # no status: count it as a failure
  ok=$(grep -c '^ok ' "$f")
  bad=$(grep -c '^not ok ' "$f")
  {
    echo "== $2"
    cat "$f"
    [ -n "$(tail -c 1 "$f")" ] && echo     # a last line without its newline stays apart
    echo "# $2 took $3 s"
    if [ "$rc" -ne 0 ]; then
      [ "$rc" -eq 124 ] && echo "# $2: timed out"
      echo "# $2 exited with status $rc"
      [ "$bad" -eq 0 ] && bad=1 && echo "not ok - $2 exited with status $rc"
    fi
  } > "$q/$1.block"
  echo "$ok $bad" > "$q/$1.count"
  tries=0
  until mkdir "$q/print.lock" 2>/dev/null; do
    tries=$((tries + 1)); [ $tries -lt 6000 ] || break      # 10 min: a lane died holding it
    sleep 0.1
  done
  cat "$q/$1.block"
  rmdir "$q/print.lock" 2>/dev/null
}

# lane: take the next unclaimed test of the list (mkdir is atomic) and run it,
# until none is left; JOBS lanes share the list
lane() {
  n=0
  while read -r kind arg; do
    n=$((n + 1))
    mkdir "$q/claim.$n" 2>/dev/null || continue
    t0=$(date +%s)
    run_one "$kind" "$arg" > "$q/$n.out"
    echo $? > "$q/$n.rc"
    report "$n" "$(name_of "$kind" "$arg")" $(( $(date +%s) - t0 ))
  done < "$q/list"
}

# the list: "KIND ARG" a line
{
  if [ -n "$SCRIPTS" ]; then
    for t in $SCRIPTS; do [ -f "$t" ] && echo "e2e $t"; done
  else
    for t in "$SAN"/tests/test_*; do [ -x "$t" ] && echo "unit $t"; done
    for t in tests/e2e/*.sh; do [ -f "$t" ] && echo "e2e $t"; done
    if [ "$FUZZ_TEST_SECONDS" -gt 0 ]; then
      for target in decode apply mask; do echo "fuzz $target"; done
    fi
  fi
} | while read -r kind arg; do
  case " $(name_of "$kind" "$arg") " in *"$ONLY"*) ;; *) continue ;; esac
  case " $SLOW " in *" $(name_of "$kind" "$arg") "*) echo "0 $kind $arg" ;; *) echo "1 $kind $arg" ;; esac
done | sort -s -k1,1 | cut -d' ' -f2- > "$q/list"

for t in $SCRIPTS; do
  [ -f "$t" ] || { echo "not ok - $t: no such script"; failed=$((failed + 1)); }
done
j=0
while [ $j -lt "$JOBS" ]; do
  lane &
  j=$((j + 1))
done
wait
for c in "$q"/*.count; do
  [ -f "$c" ] || continue
  read -r ok bad < "$c"
  passed=$((passed + ok))
  failed=$((failed + bad))
done
n=$(grep -c '' "$q/list")
done_n=$(ls "$q" | grep -c '\.count$')
if [ "$done_n" -ne "$n" ]; then
  echo "not ok - only $done_n of $n test programs reported"
  failed=$((failed + 1))
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
