#!/bin/sh
# runaway.sh LINES - a command in a loop: 150 progress lines, 30 garbage lines
# and LINES debugging lines on stderr, then it resolves its case.
cat >/dev/null
echo '{"event":"accepted"}'
yes '{"event":"progress","note":"处理中"}' | head -n 150
yes 'not an event' | head -n 30
yes 'runaway.sh: debug: still looping' | head -n "$1" >&2
echo '{"event":"resolved","result":"fixed","summary":"处理完毕"}'
