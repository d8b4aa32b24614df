#!/bin/sh
# worker-append.sh - the smallest useful department for minqing-worker: it
# files each case as one line of a text file (a 台账, the department's ledger)
# and reports the case accepted, contacted and resolved.
#
#   minqing-worker --endpoint ipc:///run/minqing/workers.sock --department water \
#                  --concurrency 4 --exec examples/worker-append.sh
#
# The case arrives as one JSON object on stdin (see minqing-worker --help).
# The file is $MINQING_APPEND_FILE (default cases.txt in the working directory:
# under minqing-worker@.service that is /var/lib/minqing-worker/INSTANCE, kept
# across restarts, where /tmp is private to the unit and emptied at each stop);
# a line is
#   case_id assignment_id attempt service_code grid_code priority
# with no personal data: the ledger is read by more people than the case.
# A retried run (after a failure) does not append the same assignment twice.
# Each line printed on stdout is one outcome for minqing-worker to report.
set -eu
PY=/usr/bin/python3
FILE=${MINQING_APPEND_FILE:-cases.txt}

line=$($PY -c '
import json, sys
a = json.load(sys.stdin)
c = a["case"]
print(a["case_id"], a["assignment_id"], a["attempt"], c["service_code"], c["grid_code"],
      c.get("priority", "normal"))
')
echo '{"event":"accepted"}'
grep -qs "^$MINQING_CASE_ID $MINQING_ASSIGNMENT_ID " "$FILE" || printf '%s\n' "$line" >> "$FILE"
echo '{"event":"contacted","note":"已登记台账"}'
printf '{"event":"resolved","result":"fixed","summary":"已登记台账，案件%s"}\n' "$MINQING_CASE_ID"
