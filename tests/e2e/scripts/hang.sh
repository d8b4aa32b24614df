#!/bin/sh
# hang.sh RUNS [ignore-term] - a department command that hangs: one sleep in
# the background and one in the foreground, in the process group that
# minqing-worker made for it. Appends "assignment_id run pgid" to RUNS. With
# ignore-term, SIGTERM is ignored (by the sleeps too), so only SIGKILL ends it.
cat >/dev/null
[ "${2:-}" = ignore-term ] && trap '' TERM
echo "$MINQING_ASSIGNMENT_ID $MINQING_RUN $(ps -o pgid= -p $$ | tr -d ' ')" >> "$1"
sleep 60 &
sleep 60
