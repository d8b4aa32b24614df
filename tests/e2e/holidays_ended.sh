#!/bin/sh
# holidays_ended.sh - a broker that runs past the holiday file's last day
# says calendar.holidays_ended on the first pass of the new day, without a
# reload, and once that day, not at every pass. The broker runs in a time
# zone whose midnight is a few seconds away, so the day changes under it.
. "$(dirname "$0")/../lib.sh"
AHEAD=8                         # seconds from now to the zone's midnight
now=$(date +%s)
off=$(( ((now + AHEAD) % 86400 + 86400) % 86400 ))   # local = UTC - off: midnight in AHEAD s
TZ=$(printf 'MQT+%d:%02d:%02d' $((off / 3600)) $((off / 60 % 60)) $((off % 60)))
export TZ
today=$(date +%F)
write_config "auto_close = 0"
echo "$today holiday" > "$T/holidays.txt"
printf '\n[calendar]\nholidays = %s\n' "$T/holidays.txt" >> "$T/minqing.conf"
ended() { [ "$(count_in "$T/broker.log" 'event=calendar.holidays_ended')" = "$1" ]; }
start_broker || exit 1
check "at start the file still lists today ($today): no warning" ended 0
check "past midnight, without a reload, the broker says the file has ended" \
  wait_for $((AHEAD + 10)) ended 1
check "with the listed day named" grep -q "event=calendar.holidays_ended last_listed=$today " \
  "$T/broker.log"
sleep 2
check "once that day, not at every pass" ended 1
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
