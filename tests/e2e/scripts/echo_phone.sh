#!/bin/sh
# echo_phone.sh - a careless command: it prints the resident's phone number on
# stderr, as a debugging line would, then resolves the case. minqing-worker
# must mask the number before the line reaches its log.
phone=$(/usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["case"]["phone"])')
echo "echo_phone.sh: calling the resident at $phone" >&2
echo '{"event":"accepted"}'
echo '{"event":"resolved","result":"fixed","summary":"已电话联系居民"}'
