#!/bin/sh
# install.sh - `make install` and `make uninstall` into a temp DESTDIR, with
# PREFIX=/usr, from the already built optimised tree (build/, not build/san;
# `make test` builds it first):
#  - every file lands where the units, man(1) and systemd expect it, with its
#    mode; programs that were not built are skipped with a notice;
#  - the units start PREFIX/bin programs;
#  - /etc/minqing/minqing.conf is generated from examples/minqing.conf with
#    the production paths, and the installed minqingd accepts it
#    (--check-config; only the holiday file's path is pointed into DESTDIR);
#  - a second install keeps an edited config;
#  - sysusers.d and tmpfiles.d files are accepted by systemd-sysusers and
#    systemd-tmpfiles on the DESTDIR root (as root only: tmpfiles chowns);
#  - `make uninstall` removes what install laid, and keeps /etc/minqing;
#    with nothing to remove (another PREFIX) it fails and says so.
. "$(dirname "$0")/../lib.sh"
D=$T/root
# a make started by `make test` must not pass its flags on, nor SAN=1; and
# `-o all`: install what `make test` (or `make`) built, compile nothing here
unset MAKEFLAGS MFLAGS MAKELEVEL
mk() { bounded make -C "$ROOT" --no-print-directory -o all SAN= DESTDIR="$D" PREFIX=/usr "$@"; }

mk install > "$T/install.log" 2>&1
rc=$?
check "make install DESTDIR=... PREFIX=/usr succeeds" test "$rc" = 0
[ "$rc" = 0 ] || { sed 's/^/# /' "$T/install.log" | tail -20; finish; exit 1; }

# mode_is MODE[|MODE...] PATH: PATH is a regular file with one of the modes
mode_is() {
  m=$(stat -c %a "$2" 2>&1)
  if [ -f "$2" ] && case "|$1|" in *"|$m|"*) true ;; *) false ;; esac; then return 0; fi
  diag "$2: $m"; return 1
}
check "bin/minqingd 0755" mode_is 755 "$D/usr/bin/minqingd"
for b in minqing minqing-worker; do
  if [ -x "$ROOT/build/$b" ]; then
    check "bin/$b 0755" mode_is 755 "$D/usr/bin/$b"
  else
    check "bin/$b not built: skipped with a notice" \
      sh -c "[ ! -e '$D/usr/bin/$b' ] && grep -q 'build/$b was not built' '$T/install.log'"
  fi
done
for f in lib/systemd/system/minqingd.service lib/systemd/system/minqing-worker@.service \
         lib/sysusers.d/minqing.conf lib/tmpfiles.d/minqing.conf \
         share/man/man1/minqing.1 share/man/man5/minqing.conf.5 \
         share/man/man8/minqingd.8 share/man/man8/minqing-worker.8 \
         lib/libminqing.a include/minqing/minqing.h include/minqing/msg.h; do
  check "$f 0644" mode_is 644 "$D/usr/$f"
done
check "/etc/minqing/minqing.conf 0644 or 0640" mode_is '644|640' "$D/etc/minqing/minqing.conf"
check "/etc/minqing/holidays.txt 0644" mode_is 644 "$D/etc/minqing/holidays.txt"
check "/etc/minqing/workers/example.conf 0644" mode_is 644 "$D/etc/minqing/workers/example.conf"
check "nothing outside DESTDIR/usr and DESTDIR/etc" \
  test "$(ls "$D" | tr '\n' ' ')" = "etc usr "

# an adapter built on the installed header and library alone; the library
# shows it only its API, so the adapter's own utf8_valid or codec_new (names
# of the library's insides) neither clash nor get called by the library
L=$D/usr/lib/libminqing.a
extra=$(nm -g --defined-only "$L" | awk 'NF == 3 && $3 !~ /^(mq|msg)_/ { print $3 }' | tr '\n' ' ')
check "libminqing.a defines no global names but mq_* and msg_* (others:${extra:- none})" \
  test -z "$extra"
cat > "$T/adapter.c" <<'EOF'
#include <minqing.h>
#include <stdio.h>
int utf8_valid(const char *s);
void *codec_new(void);
int utf8_valid(const char *s) { return s == NULL; }
void *codec_new(void) { return NULL; }
int main(void)
{
    char out[64];
    mq_mask_text("居民电话13812345678", out, sizeof out);
    printf("%s %d\n", out, codec_new() == NULL && !utf8_valid(out));
    return 0;
}
EOF
cc -std=c11 -Wall -Werror -I"$D/usr/include/minqing" -o "$T/adapter" "$T/adapter.c" "$L" \
  $(pkg-config --libs libzmq libczmq) > "$T/adapter.log" 2>&1
check "an adapter with its own utf8_valid and codec_new links with libminqing.a" test $? = 0
sed 's/^/# /' "$T/adapter.log"
check "and the library masks with its own code (13812345678 -> 138****5678)" \
  sh -c "[ \"\$(timeout 60 '$T/adapter' 2>&1)\" = '居民电话138****5678 1' ]"

U=$D/usr/lib/systemd/system
check "minqingd.service starts /usr/bin/minqingd" \
  grep -qx 'ExecStart=/usr/bin/minqingd -c /etc/minqing/minqing.conf' "$U/minqingd.service"
check "and its reload checks the config with /usr/bin/minqingd" \
  grep -qx 'ExecReload=/usr/bin/minqingd --check-config -c /etc/minqing/minqing.conf' "$U/minqingd.service"
check "minqing-worker@.service starts /usr/bin/minqing-worker" \
  grep -qx 'ExecStart=/usr/bin/minqing-worker -c /etc/minqing/workers/%i.conf' "$U/minqing-worker@.service"
# PREFIX is what the units say, whatever it is
bounded make -C "$ROOT" --no-print-directory -o all SAN= DESTDIR="$T/other" PREFIX=/opt/mq install > "$T/install2.log" 2>&1
check "with PREFIX=/opt/mq the unit starts /opt/mq/bin/minqingd, and checks a reload's config with it" sh -c "
  grep -qx 'ExecStart=/opt/mq/bin/minqingd -c /etc/minqing/minqing.conf' '$T/other/opt/mq/lib/systemd/system/minqingd.service' &&
  grep -qx 'ExecReload=/opt/mq/bin/minqingd --check-config -c /etc/minqing/minqing.conf' '$T/other/opt/mq/lib/systemd/system/minqingd.service'"

C=$D/etc/minqing/minqing.conf
check "the installed config has the production paths" sh -c "
  grep -q '^intake *= *ipc:///run/minqing/intake.sock' '$C' &&
  grep -q '^workers *= *ipc:///run/minqing/workers.sock' '$C' &&
  grep -q '^events *= *ipc:///run/minqing/events.sock' '$C' &&
  grep -q '^database *= */var/lib/minqing/minqing.db' '$C' &&
  grep -q '^holidays *= */etc/minqing/holidays.txt' '$C'"
check "and no repository-relative path left" sh -c "! grep -n 'ipc://var/\|= *var/\|= *examples/' '$C'"
check "its header says where it came from" grep -q 'Installed by `make install` from examples/minqing.conf' "$C"
check "every section of the example is there" \
  test "$(grep -c '^\[' "$C")" = "$(grep -c '^\[' "$ROOT/examples/minqing.conf")"
# --check-config reads the holiday file: point it into DESTDIR, nothing else
sed "s|/etc/minqing/holidays.txt|$D/etc/minqing/holidays.txt|" "$C" > "$T/check.conf"
check "the installed minqingd accepts the installed config (--check-config)" \
  sh -c "timeout 60 '$D/usr/bin/minqingd' --check-config -c '$T/check.conf' > '$T/check.out' 2>&1 && grep -q ': ok (' '$T/check.out'"
grep -q ': ok (' "$T/check.out" || sed 's/^/# /' "$T/check.out"
if [ -x "$D/usr/bin/minqing-worker" ]; then
  # no broker at that endpoint: the worker starts, waits, and stops on SIGTERM
  # (its department is commented out: an example started as it is must not serve one)
  bounded "$D/usr/bin/minqing-worker" -c "$D/etc/minqing/workers/example.conf" > "$T/asis.out" 2>&1
  check "the example worker config, started as it is, stops with a config error (exit 2)" \
    sh -c "[ $? = 2 ] && grep -q 'department' '$T/asis.out'"
  "$D/usr/bin/minqing-worker" -c "$D/etc/minqing/workers/example.conf" --department housing \
    --endpoint "ipc://$T/none.sock" > "$T/worker.out" 2>&1 &
  WPID=$!
  PIDS="$PIDS $WPID"
  check "the installed minqing-worker reads the example worker config" \
    wait_for 5 grep -q 'event=worker.started department=housing' "$T/worker.out"
  stop_pid "$WPID"
  grep -q 'event=worker.started' "$T/worker.out" || sed 's/^/# /' "$T/worker.out"
fi

# a second install keeps what an operator edited
echo "; edited by the operator" >> "$C"
cp "$C" "$T/edited.conf"
mk install > "$T/install3.log" 2>&1
check "a second make install keeps the edited config, and says so" sh -c "
  cmp -s '$C' '$T/edited.conf' && grep -q 'keeping $C' '$T/install3.log'"

# sysusers.d and tmpfiles.d, applied to the DESTDIR root
if command -v systemd-sysusers >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  systemd-sysusers --root="$D" "$D/usr/lib/sysusers.d/minqing.conf" > "$T/sysusers.out" 2>&1
  check "systemd-sysusers creates the minqing user, no login" \
    sh -c "grep -q '^minqing:x:[0-9]*:[0-9]*:.*:/var/lib/minqing:/usr/sbin/nologin\$' '$D/etc/passwd'"
  systemd-tmpfiles --root="$D" --create "$D/usr/lib/tmpfiles.d/minqing.conf" > "$T/tmpfiles.out" 2>&1
  check "systemd-tmpfiles --create succeeds" test $? = 0
  uid=$(sed -n 's/^minqing:x:\([0-9]*\):.*/\1/p' "$D/etc/passwd")
  check "/var/lib/minqing is 0700 and the minqing user's" \
    sh -c "[ \"\$(stat -c '%a %u' '$D/var/lib/minqing')\" = '700 $uid' ]"
  check "/etc/minqing/workers exists for the worker configs" test -d "$D/etc/minqing/workers"
else
  ok "systemd-sysusers and systemd-tmpfiles on the DESTDIR root # SKIP not root, or no systemd-sysusers"
fi

mk uninstall > "$T/uninstall.log" 2>&1
check "make uninstall succeeds" test $? = 0
left=""
for f in bin/minqingd bin/minqing bin/minqing-worker \
         lib/systemd/system/minqingd.service lib/systemd/system/minqing-worker@.service \
         lib/sysusers.d/minqing.conf lib/tmpfiles.d/minqing.conf \
         share/man/man1/minqing.1 share/man/man5/minqing.conf.5 \
         share/man/man8/minqingd.8 share/man/man8/minqing-worker.8 \
         lib/libminqing.a include/minqing/minqing.h include/minqing/msg.h include/minqing; do
  [ -e "$D/usr/$f" ] && left="$left $f"
done
check "it removes the programs, units, man pages, library and headers (left:${left:- none})" test -z "$left"
check "it keeps /etc/minqing (the operator's config), and says so" \
  sh -c "cmp -s '$C' '$T/edited.conf' && [ -f '$D/etc/minqing/holidays.txt' ] && grep -q 'kept' '$T/uninstall.log'"
# with nothing there (another PREFIX, or done already) it says so and fails,
# not "uninstalled" while the programs stay under the other prefix
mk uninstall > "$T/uninstall2.log" 2>&1
check "make uninstall where nothing is installed fails" test $? != 0
check "and asks whether another PREFIX was used" \
  grep -q "no minqing under $D/usr: was it installed with another PREFIX" "$T/uninstall2.log"
finish
