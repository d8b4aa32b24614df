#!/bin/sh
# docs_events.sh - every event the broker can log is explained in the table
# of docs/operations.md ("Log events"), which is what an operator on duty
# reads when an unfamiliar `event=` turns up in the journal. Event names are
# taken from the source: every "word.word" string literal in daemon/*.c that
# is not a header's or a config section's name.
. "$(dirname "$0")/../lib.sh"

# undocumented FILE SOURCES...: the event names in SOURCES missing from FILE
undocumented() {
  doc=$1; shift
  grep -ohE '"[a-z_]+\.[a-z_]+"' "$@" | tr -d '"' | sort -u |
    grep -vE '\.h$|^ladder\.' | while read -r e; do
      grep -q "\`$e\`" "$doc" || echo "$e"
    done
}
missing=$(undocumented "$ROOT/docs/operations.md" "$ROOT"/daemon/*.c)
n=$(grep -ohE '"[a-z_]+\.[a-z_]+"' "$ROOT"/daemon/*.c | sort -u | grep -cvE '\.h"$|"ladder\.')
check "the $n events the broker logs are all in operations.md${missing:+ (missing: $(echo $missing))}" \
  test -z "$missing"
finish
