#!/bin/sh
# holidays_ended.sh - a broker whose holiday file lists no day of this year
# or the next says so at start (calendar.holidays_ended, or in December
# calendar.holidays_next_year) and again on the first pass of each new day,
# without a reload, but not at every pass; one whose file lists this year and
# the next says nothing. The broker runs in a time zone whose
# midnight is a few seconds away, so the day changes under it. (Which warning
# which date calls for, December's calendar.holidays_next_year among them, is
# test_calendar's holiday_file_coverage: the real date cannot be moved here.)
. "$(dirname "$0")/../lib.sh"
AHEAD=8                         # seconds from now to the zone's midnight
now=$(date +%s)
off=$(( ((now + AHEAD) % 86400 + 86400) % 86400 ))   # local = UTC - off: midnight in AHEAD s
TZ=$(printf 'MQT+%d:%02d:%02d' $((off / 3600)) $((off / 60 % 60)) $((off % 60)))
export TZ
year=$(date +%Y)
# tomorrow's year too: the midnight ahead may be New Year's
last=$(( $(date -d "@$((now + AHEAD + 60))" +%Y) - 1 ))
[ "$last" -lt "$year" ] || last=$(( year - 1 ))
write_config "auto_close = 0"
echo "$last-10-01 holiday" > "$T/holidays.txt"
printf '\n[calendar]\nholidays = %s\n' "$T/holidays.txt" >> "$T/minqing.conf"
ended() {
  [ "$(grep -cE 'event=calendar\.holidays_(ended|next_year) ' "$T/broker.log")" = "$1" ]
}
start_broker || exit 1
check "at start: the file lists no day of this year, with its last day named" \
  grep -qE "event=calendar\.holidays_(ended|next_year) last_listed=$last-10-01 " "$T/broker.log"
check "once at start" ended 1
check "past midnight, without a reload, the broker says it again" \
  wait_for $((AHEAD + 10)) ended 2
sleep 2
check "once that day, not at every pass" ended 2
stop_pid "$BROKER_PID"

# a file with this year's days and the next's: nothing to say, December or not
printf '%s-10-01 holiday\n%s-02-10 holiday\n' "$year" $((year + 1)) > "$T/holidays.txt"
: > "$T/broker.log"
start_broker || exit 1
sleep 1
check "a file that lists this year and the next: no holiday warning" \
  sh -c "! grep -q 'event=calendar.holidays_' '$T/broker.log'"
stop_pid "$BROKER_PID"
check "no sanitizer report" no_sanitizer_reports
finish
