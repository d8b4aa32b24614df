#!/bin/sh
# docs_events.sh - every event the broker or minqing-worker can log is
# explained in the tables of docs/operations.md ("What the broker says", "What
# minqing-worker says"), which is what an operator on duty reads when an
# unfamiliar `event=` turns up in the journal. Event names are taken from the
# source: every "word.word" string literal in daemon/*.c and
# workers/adapter/*.c that is not a header's or a config section's name.
. "$(dirname "$0")/../lib.sh"

# undocumented FILE SOURCES...: the event names in SOURCES missing from FILE
undocumented() {
  doc=$1; shift
  grep -ohE '"[a-z_]+\.[a-z_]+"' "$@" | tr -d '"' | sort -u |
    grep -vE '\.h$|^ladder\.' | while read -r e; do
      grep -q "\`$e\`" "$doc" || echo "$e"
    done
}
# explained SOURCES...: checked that every event of SOURCES is in operations.md
explained() {
  what=$1; shift
  missing=$(undocumented "$ROOT/docs/operations.md" "$@")
  n=$(grep -ohE '"[a-z_]+\.[a-z_]+"' "$@" | sort -u | grep -cvE '\.h"$|"ladder\.')
  check "the $n events $what logs are all in operations.md${missing:+ (missing: $(echo $missing))}" \
    test -z "$missing"
}
explained "the broker" "$ROOT"/daemon/*.c
explained "minqing-worker" "$ROOT"/workers/adapter/*.c
finish
