#!/bin/sh
# slow.sh RUNS SECONDS - accepts, works for SECONDS, resolves, then exits 4
# (too late to matter: the assignment is done). Appends "assignment_id run
# attempt" to RUNS when it starts.
cat >/dev/null
echo "$MINQING_ASSIGNMENT_ID $MINQING_RUN $MINQING_ATTEMPT" >> "$1"
echo '{"event":"accepted"}'
sleep "$2"
echo '{"event":"resolved","result":"fixed","summary":"处理完毕"}'
exit 4
