#!/bin/sh
# garbage.sh - a department command that prints nothing minqing-worker can
# use, then exits 0: text, a JSON array, an unknown event, an event without
# its fields, a line with the resident's phone number (which must not reach
# the adapter's log), and truncated JSON without a final newline.
phone=$(/usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["case"].get("phone", ""))')
echo "hello from the department"
echo '[1,2,3]'
echo '{"event":"finished"}'
echo '{"event":"resolved","result":"fixed"}'
echo "resident $phone called back"
printf '{"event":"contacted","note":"cut short'
