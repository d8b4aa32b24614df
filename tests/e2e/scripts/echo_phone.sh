#!/bin/sh
# echo_phone.sh - a careless command: it prints the resident's phone number,
# name and address on stderr, as a debugging line would, then resolves the
# case. minqing-worker must mask them before the line reaches its log.
who=$(/usr/bin/python3 -c 'import json, sys; c = json.load(sys.stdin)["case"]
print(c["phone"], c["first_name"] + c["last_name"], c["address_string"])')
set -- $who
echo "echo_phone.sh: calling the resident at $1" >&2
echo "echo_phone.sh: resident $2, living at $3" >&2
echo '{"event":"accepted"}'
echo '{"event":"resolved","result":"fixed","summary":"已电话联系居民"}'
