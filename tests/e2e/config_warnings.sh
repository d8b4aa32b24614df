#!/bin/sh
# config_warnings.sh - what a config may say but likely did not mean: a ladder
# target that [targets] does not list, a [targets] key on no ladder (a typo:
# `2 = 30m steet`, `countty = ...`). --check-config accepts the file but says
# so with FILE:LINE; the broker says it as config.warning at start and reload,
# each whole, however long the path. And `--check-config FILE`, without -c,
# is a usage error rather than a check of the installed file.
. "$(dirname "$0")/../lib.sh"
write_config
n=$(wc -l < "$T/minqing.conf")
cat >> "$T/minqing.conf" <<'CONF'
[ladder.contact]
1 = 0 community
2 = 30m steet
[ladder.resolve]
1 = 1d street
[targets]
community = dispatch
street = dispatch
countty = dispatch
CONF
C=$T/minqing.conf
# a file named without -c is not checked, and the installed one must not be checked instead
bounded 30 "$BIN/minqingd" --check-config "$C" > "$T/operand.out" 2> "$T/operand.err"
check "--check-config FILE without -c: exit 2, saying the config is given with -c" sh -c "
  [ $? = 2 ] && [ ! -s '$T/operand.out' ] &&
  grep -qx \"minqingd: unexpected argument '$C' (the config is given with -c FILE)\" '$T/operand.err'"
bounded 30 "$BIN/minqingd" --check-config -c "$C" > "$T/check.out" 2> "$T/check.err"
check "--check-config accepts it (exit 0, ok)" sh -c "[ $? = 0 ] && grep -q ': ok (' '$T/check.out'"
check "and names the rung with the unlisted target, at its line" \
  grep -qx "$C:$((n + 3)): contact ladder level 2: target 'steet' is not in \[targets\]: .*" "$T/check.err"
check "and the [targets] key on no ladder, at its line" \
  grep -qx "$C:$((n + 9)): target 'countty' is on no ladder: it sends nothing (a typo?)" "$T/check.err"
check "nothing else" test "$(wc -l < "$T/check.err")" = 2
start_broker || exit 1
check "the start says both as config.warning" \
  test "$(count_in "$T/broker.log" 'severity=warning event=config.warning msg=')" = 2
check "each whole, to the end of what it says" grep -qF \
  "event=config.warning msg=\"$C:$((n + 3)): contact ladder level 2: target 'steet' is not in \
[targets]: its escalations are logged and stored, but no department gets ESCALATE (a typo?)\"" \
  "$T/broker.log"
sed -i -e 's/^2 = 30m steet$/2 = 30m street/' -e '/^countty = /d' "$C"
kill -HUP "$BROKER_PID"
check "a reload of the corrected file" wait_for 5 grep -q 'event=config.reloaded' "$T/broker.log"
check "says nothing more" test "$(count_in "$T/broker.log" 'event=config.warning')" = 2
sed -i 's/^2 = 30m street$/2 = 30m stret/' "$C"
kill -HUP "$BROKER_PID"
check "a reload with a new typo says it" wait_for 5 grep -q \
  "event=config.warning msg=\"$C:$((n + 3)): contact ladder level 2: target 'stret' is not" "$T/broker.log"
# a key saved in GBK (中心): refused, and its bytes escaped in the log line
printf '\326\320\320\304 = dispatch\n' >> "$C"
kill -HUP "$BROKER_PID"
check "a reload of a file with GBK bytes is refused" wait_for 5 grep -q 'event=config.kept' "$T/broker.log"
check "and config.invalid shows them as \\xNN, not raw" sh -c "
  grep 'event=config.invalid' '$T/broker.log' | grep -qF \"'\\xd6\\xd0\\xd0\\xc4'\" &&
  ! grep -q \"\$(printf '\\326')\" '$T/broker.log'"
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
