#!/bin/sh
# fail.sh RUNS - a department command that always fails (exit 3), as when the
# department's own system is down. Appends "assignment_id run time_ms" to RUNS.
cat >/dev/null
echo "$MINQING_ASSIGNMENT_ID $MINQING_RUN $(date +%s%3N)" >> "$1"
echo "fail.sh: the department system is down" >&2
exit 3
