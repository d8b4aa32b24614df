#!/bin/sh
# reached.sh RUNS - reaches the resident (contacted, progress), then fails
# (exit 1), as when the department's own system is down after the SMS went
# out. Appends "assignment_id run" to RUNS.
cat >/dev/null
echo "$MINQING_ASSIGNMENT_ID $MINQING_RUN" >> "$1"
echo '{"event":"accepted"}'
echo '{"event":"contacted","note":"已短信联系居民"}'
echo '{"event":"progress","note":"已派维修组"}'
echo "reached.sh: the department system is down" >&2
exit 1
