#!/bin/sh
# dump.sh DIR - keeps what minqing-worker gives a command: stdin as
# DIR/in-TYPE-ID.json and the MINQING_* environment as DIR/in-TYPE-ID.env.
# An assignment is only accepted, never contacted, so its deadline passes.
id=${MINQING_ASSIGNMENT_ID:-${MINQING_ESCALATION_ID:-}}
cat > "$1/in-$MINQING_TYPE-$id.json"
env | grep '^MINQING_' | sort > "$1/in-$MINQING_TYPE-$id.env"
if [ "$MINQING_TYPE" = assignment ]; then echo '{"event":"accepted"}'; fi
