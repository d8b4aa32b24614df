#!/bin/sh
# resolve_only.sh RESULT CHARS [accepted] - a department command that prints
# resolved with RESULT and a summary of CHARS characters (办 repeated): alone,
# as when the problem is fixed on the spot, or after an accepted line.
cat >/dev/null
[ "${3:-}" = accepted ] && echo '{"event":"accepted"}'
awk -v r="$1" -v n="$2" 'BEGIN { s = ""; for (i = 0; i < n; i++) s = s "办"
  printf "{\"event\":\"resolved\",\"result\":\"%s\",\"summary\":\"%s\"}\n", r, s }'
