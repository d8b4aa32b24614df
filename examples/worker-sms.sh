#!/bin/sh
# worker-sms.sh - an example SMS adapter for minqing-worker: for each case it
# composes the text message that tells the grid worker (网格员) to phone the
# resident before the contact deadline, prints it on stderr instead of
# sending it, and reports the case accepted and contacted (the grid worker
# has it in hand). Resolution comes later, from the grid worker's own report.
#
#   minqing-worker --endpoint ipc:///run/minqing/workers.sock --department urban \
#                  --capacity 100 --exec examples/worker-sms.sh
#
# (--capacity: cases stay open with the department after this script, and
# the broker counts them against the worker's capacity.)
#
# The example prints what it would send, without the resident's address or
# phone number: stderr ends up in the adapter's log (journald), and logs
# carry no personal data. A real gateway would pass the address and the
# number to its API, never print them.
set -eu
PY=/usr/bin/python3

text=$($PY -c '
import json, sys, time
a = json.load(sys.stdin)
c = a["case"]
due = time.strftime("%H:%M", time.localtime(a["contact_due"] / 1000)) if a["contact_due"] else "尽快"
print("【12345】请于%s前联系居民，案件号%d，网格%s" % (due, a["case_id"], c["grid_code"]))
')
echo "sms-example: to the grid worker of ${MINQING_DEPARTMENT}: $text" >&2
echo '{"event":"accepted"}'
echo '{"event":"contacted","note":"已短信通知网格员联系居民"}'
