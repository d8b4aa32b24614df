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
set -u
cd "$(dirname "$0")/.."

SAN=build/san
export ASAN_OPTIONS="abort_on_error=1:halt_on_error=1:detect_leaks=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
export CMOCKA_MESSAGE_OUTPUT=TAP
export MQ_BIN="$SAN"          # e2e scripts run the sanitized programs
FUZZ_TEST_SECONDS=${FUZZ_TEST_SECONDS:-20}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}
SCRIPTS=""
if [ "${1:-}" = "-s" ]; then
  shift
  [ $# -gt 0 ] || { echo "run.sh: -s needs at least one script" >&2; exit 2; }
  SCRIPTS="$*"
  set --
fi
ONLY=${1:-}

passed=0 failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# run NAME LIMIT_SECONDS CMD...
run() {
  name=$1 limit=$2
  shift 2
  case "$name" in *"$ONLY"*) ;; *) return ;; esac
  echo "== $name"
  t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >"$out" 2>&1
  rc=$?
  cat "$out"
  echo "# $name took $(( $(date +%s) - t0 )) s"
  ok=$(grep -c '^ok ' "$out")
  bad=$(grep -c '^not ok ' "$out")
  if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
    bad=1
    [ "$rc" -eq 124 ] && echo "# $name: timed out after ${limit}s"
    echo "not ok - $name exited with status $rc"
  fi
  passed=$((passed + ok))
  failed=$((failed + bad))
}

if [ -n "$SCRIPTS" ]; then
  for t in $SCRIPTS; do
    if [ -f "$t" ]; then
      run "$(basename "$t" .sh)" "$TEST_TIMEOUT" sh "$t"
    else
      echo "not ok - $t: no such script"
      failed=$((failed + 1))
    fi
  done
  FUZZ_TEST_SECONDS=0
else
  for t in "$SAN"/tests/test_*; do
    [ -x "$t" ] && run "$(basename "$t")" "$TEST_TIMEOUT" "$t"
  done
  for t in tests/e2e/*.sh; do
    [ -f "$t" ] && run "$(basename "$t" .sh)" "$TEST_TIMEOUT" sh "$t"
  done
fi
if [ "$FUZZ_TEST_SECONDS" -gt 0 ]; then
  for target in decode apply mask; do
    run "fuzz_$target" $((FUZZ_TEST_SECONDS + 120)) sh -c '
      if sh scripts/fuzz.sh "build/fuzz/fuzz_$1" "fuzz/corpus/$1" "$2"; then
        echo "ok 1 - fuzz_$1: no finding in $2 s"
      else
        echo "not ok 1 - fuzz_$1 found a crash"; exit 1
      fi' fuzz "$target" "$FUZZ_TEST_SECONDS"
  done
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
