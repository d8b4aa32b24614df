#!/bin/sh
# units.sh - the systemd units, checked offline (no running systemd needed):
#  - `systemd-analyze verify` accepts minqingd.service and
#    minqing-worker@.service as `make install` writes them (ExecStart
#    rewritten to PREFIX/bin, here a temp dir holding the built programs, and
#    the man pages of Documentation= on a temp MANPATH), with no warning;
#  - `systemd-analyze security --offline=true` rates each unit's exposure at
#    2.0 or less (the "Overall exposure level" line; 0 is the safest, 10 the
#    least safe).
# Skipped only when systemd-analyze is not installed.
. "$(dirname "$0")/../lib.sh"
MAX_EXPOSURE=2.0

if ! command -v systemd-analyze >/dev/null 2>&1; then
  ok "systemd units # SKIP systemd-analyze is not installed"
  finish
  exit
fi
diag "$(systemd-analyze --version | head -1)"

# The programs the units start, where a `make install PREFIX=$T` would put
# them: the optimised tree if built, else the tree under test, else a stub
# (verify only needs an executable at the path).
mkdir -p "$T/bin" "$T/units" "$T/man/man1" "$T/man/man5" "$T/man/man8"
for b in minqingd minqing-worker; do
  if [ -x "$ROOT/build/$b" ]; then ln -s "$ROOT/build/$b" "$T/bin/$b"
  elif [ -x "$BIN/$b" ]; then ln -s "$BIN/$b" "$T/bin/$b"
  else diag "$b is not built: a stub stands in for it"; printf '#!/bin/sh\nexit 0\n' > "$T/bin/$b"; chmod 755 "$T/bin/$b"
  fi
done
for m in "$ROOT"/man/*.[158]; do cp "$m" "$T/man/man${m##*.}/"; done
# the substitution of the Makefile's install recipe, PREFIX=$T
for u in minqingd.service minqing-worker@.service; do
  sed "s|/usr/bin/|$T/bin/|g" "$ROOT/systemd/$u" > "$T/units/$u"
done

# verify UNIT: exit 0 and nothing said
verify() {
  MANPATH="$T/man" systemd-analyze verify "$T/units/$1" > "$T/verify-$1.out" 2>&1
  rc=$?
  if [ "$rc" -eq 0 ] && [ ! -s "$T/verify-$1.out" ]; then return 0; fi
  sed 's/^/# /' "$T/verify-$1.out"
  return 1
}
check "systemd-analyze verify minqingd.service: no error, no warning" verify minqingd.service
check "systemd-analyze verify minqing-worker@.service: no error, no warning" verify minqing-worker@.service
check "the units start the installed programs" \
  grep -q "^ExecStart=$T/bin/minqing-worker -c /etc/minqing/workers/%i.conf\$" "$T/units/minqing-worker@.service"
check "the reload checks the config with the installed minqingd" \
  grep -q "^ExecReload=$T/bin/minqingd --check-config -c /etc/minqing/minqing.conf\$" "$T/units/minqingd.service"

# exposure UNIT_FILE: the overall exposure level, e.g. 1.2
exposure() {
  systemd-analyze --no-pager security --offline=true "$1" 2>/dev/null |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9.]*\).*/\1/p'
}
for u in minqingd.service minqing-worker@.service; do
  e=$(exposure "$ROOT/systemd/$u")
  check "systemd-analyze security: $u exposure ${e:-unknown} <= $MAX_EXPOSURE" \
    awk -v e="${e:-99}" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e + 0 <= m + 0) }'
done

# the settings the broker relies on, so a well-meant edit cannot drop them
# has UNIT LINE_REGEX...: every regex matches a whole line of systemd/UNIT
has() {
  f=$ROOT/systemd/$1; shift
  for re in "$@"; do grep -q "^$re\$" "$f" || { diag "$f has no line $re"; return 1; }; done
}
check "minqingd.service: Type=notify, NotifyAccess=main" \
  has minqingd.service 'Type=notify' 'NotifyAccess=main'
check "minqingd.service: 65,536 open files (a descriptor per connection)" \
  has minqingd.service 'LimitNOFILE=65536'
check "minqingd.service: a watchdog, reload by SIGHUP, 90 s for the stop's checkpoint" \
  has minqingd.service 'WatchdogSec=30s' 'ExecReload=/bin/kill -HUP \$MAINPID' 'TimeoutStopSec=90s'
# a broken file fails `systemctl reload` (the check runs before the SIGHUP),
# rather than being refused in the journal alone
check "minqingd.service: reload checks the config, then sends SIGHUP" \
  awk '/^ExecReload=/ { r[++n] = $0 } END {
         exit !(n == 2 && r[1] == "ExecReload=/usr/bin/minqingd --check-config -c /etc/minqing/minqing.conf" &&
                r[2] == "ExecReload=/bin/kill -HUP $MAINPID") }' "$ROOT/systemd/minqingd.service"
# a start that fails after a long integrity check must still reach the limit
check "minqingd.service: gives up after 5 starts in 15 minutes" \
  has minqingd.service 'StartLimitIntervalSec=15min' 'StartLimitBurst=5'
check "minqingd.service: journald's rate limit raised, so escalations reach the journal" \
  has minqingd.service 'LogRateLimitIntervalSec=30s' 'LogRateLimitBurst=50000'
check "minqingd.service: runs as minqing with owner-only files" \
  has minqingd.service 'User=minqing' 'Group=minqing' 'UMask=0077' 'StateDirectory=minqing' 'RuntimeDirectory=minqing'
check "minqingd.service: no IPAddressDeny= (tcp:// endpoints serve the county LAN)" \
  sh -c "! grep -q '^IPAddressDeny=' '$ROOT/systemd/minqingd.service'"
# libzmq 4.3 aborts without these: getifaddrs (a netlink socket) to bind a
# tcp:// address other than *, sched_setscheduler in each I/O thread it starts
check "minqingd.service: AF_NETLINK and sched_setscheduler stay allowed" \
  has minqingd.service 'RestrictAddressFamilies=.*AF_NETLINK.*' 'SystemCallFilter=sched_setscheduler'
check "minqing-worker@.service: sched_setscheduler allowed, the broker's database hidden" \
  has minqing-worker@.service 'SystemCallFilter=sched_setscheduler' 'InaccessiblePaths=-/var/lib/minqing'
check "minqingd.service: PrivateUsers=yes (what keeps a worker from the database by /proc/PID/root)" \
  has minqingd.service 'PrivateUsers=yes'
# on an adapter host for a remote broker, a worker must not start a local one
check "minqing-worker@.service: ordered after minqingd, never pulls it in; gives up on a refusal loop" \
  sh -c "! grep -q '^Wants=minqingd' '$ROOT/systemd/minqing-worker@.service' &&
         grep -q '^After=minqingd.service' '$ROOT/systemd/minqing-worker@.service' &&
         grep -q '^StartLimitBurst=5\$' '$ROOT/systemd/minqing-worker@.service'"
finish
