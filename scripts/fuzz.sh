#!/bin/sh
# fuzz.sh BINARY CORPUS SECONDS - run a libFuzzer target for a bounded time on a
# copy of the seed corpus (the repo's seeds stay as committed) and print its exec count.
set -eu
bin=$1 seeds=$2 secs=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$seeds"/. "$work"/
log="$work/fuzz.log"
mkdir -p build/fuzz/findings
if "$bin" -max_total_time="$secs" -max_len=70000 -timeout=10 -rss_limit_mb=2048 \
     -artifact_prefix=build/fuzz/findings/ -print_final_stats=1 "$work" >"$log" 2>&1; then
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "fuzz: $(basename "$bin") ran $execs inputs in ${secs}s with no finding"
else
  tail -n 60 "$log" >&2
  echo "fuzz: $(basename "$bin") FOUND A CRASH; reproducer in build/fuzz/findings/" >&2
  exit 1
fi
