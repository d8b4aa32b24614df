#!/bin/sh
# linger.sh RUNS - contacts the resident, then exits 0 at once leaving two
# processes in the background (as `notify &` or an ssh master would) that hold
# its stdout and stderr for 30 s, one of them deaf to SIGTERM. Appends
# "assignment_id run pgid" to RUNS.
cat >/dev/null
echo "$MINQING_ASSIGNMENT_ID $MINQING_RUN $(ps -o pgid= -p $$ | tr -d ' ')" >> "$1"
echo '{"event":"accepted"}'
echo '{"event":"contacted","note":"已通知网格员"}'
sleep 30 &
( trap '' TERM; exec sleep 30 ) &
exit 0
