#!/bin/sh
# security.sh - only known clients and workers get in (CURVE + ZAP on TCP),
# the key decides the role, hostile input is refused while legitimate
# clients are served, and the wire carries no plaintext case.
. "$(dirname "$0")/../lib.sh"
FLOOD=${FLOOD:-20}
K="$T/keys"
mkdir -p "$K/intake" "$K/admin" "$K/workers/water" "$K/workers/hrss"
for k in server stranger; do bounded "$BIN/minqing" keygen "$K/$k" >/dev/null; done
bounded "$BIN/minqing" keygen "$K/intake/intake1" >/dev/null
bounded "$BIN/minqing" keygen "$K/intake/intake2" >/dev/null     # the flooder's
bounded "$BIN/minqing" keygen "$K/admin/admin1" >/dev/null
bounded "$BIN/minqing" keygen "$K/workers/water/water1" >/dev/null
bounded "$BIN/minqing" keygen "$K/workers/hrss/hrss1" >/dev/null
# the clients' copies: the test reads each keypair where it was made
for k in intake1:intake intake2:intake admin1:admin water1:workers/water hrss1:workers/hrss; do
  cp "$K/${k#*:}/${k%%:*}" "$K/${k%%:*}"; cp "$K/${k#*:}/${k%%:*}_secret" "$K/${k%%:*}_secret"
  rm "$K/${k#*:}/${k%%:*}_secret"          # the broker's lists hold public keys only
done
set -- $(free_ports 3); pi=$1 pw=$2 pe=$3
printf 'intake %s\nworkers %s\nevents %s\n' "$pi" "$pw" "$pe" > "$T/ports"
write_config "server_cert = $K/server
keys = $K
intake_rate = 2000"
sed -i "s|^intake = .*|intake = tcp://127.0.0.1:$pi|; s|^workers = .*|workers = tcp://127.0.0.1:$pw|; s|^events = .*|events = tcp://127.0.0.1:$pe|" "$T/minqing.conf"

# refusals at start, each at the line of the key at fault
line_of() { grep -n "^$1 = " "$2" | cut -d: -f1; }
chmod 644 "$K/server_secret"
bounded "$BIN/minqingd" -c "$T/minqing.conf" > "$T/start.log" 2>&1
check "a secret key open to others: the broker refuses to start (exit 2, at server_cert's line)" \
  sh -c "[ $? -eq 2 ] && grep -q 'minqing.conf:$(line_of server_cert "$T/minqing.conf"): $K/server_secret: this secret key is open to group or others (mode 644); refusing to use it: chmod 600 $K/server_secret' '$T/start.log'"
bounded "$BIN/minqingd" --check-config -c "$T/minqing.conf" > "$T/check.log" 2>&1
check "and --check-config says so, rather than ok" \
  sh -c "[ $? -eq 2 ] && grep -q 'open to group or others' '$T/check.log'"
chmod 600 "$K/server_secret"
cp "$T/minqing.conf" "$T/plain.conf"
sed -i '/^server_cert = /d' "$T/plain.conf"
bounded "$BIN/minqingd" --check-config -c "$T/plain.conf" > "$T/plain.log" 2>&1
check "plain TCP is refused unless the config allows it (--check-config, exit 2, at intake's line)" \
  sh -c "[ $? -eq 2 ] && grep -q 'plain.conf:$(line_of intake "$T/plain.conf"): tcp://127.0.0.1:$pi: .*needs CURVE' '$T/plain.log'"

mv "$K/admin" "$K/admin.d" && : > "$K/admin"          # a key list that cannot be read
bounded "$BIN/minqingd" -c "$T/minqing.conf" > "$T/list.log" 2>&1
check "a key list that cannot be read: the broker refuses to start, naming it and the keys line" \
  sh -c "[ $? -eq 2 ] && grep -q 'minqing.conf:$(line_of keys "$T/minqing.conf"): $K/admin: cannot read this key list' '$T/list.log'"
rm "$K/admin" && mv "$K/admin.d" "$K/admin"

# key lists others may write, where anyone on the host could add a key: refused
# at --check-config and at start, naming the path and the chmod
writable() { echo "$1: group or others may write here (mode $2) and add a key: chmod go-w it"; }
chmod 777 "$K/admin"
bounded "$BIN/minqingd" --check-config -c "$T/minqing.conf" > "$T/wdir.log" 2>&1
check "a key list directory writable by others (0777): --check-config refuses it (exit 2, at keys's line)" \
  sh -c "[ $? -eq 2 ] && grep -qF 'minqing.conf:$(line_of keys "$T/minqing.conf"): $(writable "$K/admin" 777)' '$T/wdir.log'"
chmod 755 "$K/admin" && chmod 666 "$K/workers/water/water1"
bounded 10 "$BIN/minqingd" -c "$T/minqing.conf" > "$T/wfile.log" 2>&1
check "a key file writable by others (0666): the broker refuses to start (exit 2), naming the file" \
  sh -c "[ $? -eq 2 ] && grep -qF '$(writable "$K/workers/water/water1" 666)' '$T/wfile.log'"
chmod 644 "$K/workers/water/water1" && chmod 775 "$K"
bounded "$BIN/minqingd" --check-config -c "$T/minqing.conf" > "$T/wroot.log" 2>&1
check "the keys directory writable by its group (0775): refused too (exit 2)" \
  sh -c "[ $? -eq 2 ] && grep -qF '$(writable "$K" 775)' '$T/wroot.log'"
chmod 755 "$K"
# a mistyped keys directory would admit nobody: refused, naming it
sed "s|^keys = .*|keys = $T/kyes|" "$T/minqing.conf" > "$T/kyes.conf"
bounded "$BIN/minqingd" --check-config -c "$T/kyes.conf" > "$T/kyes.log" 2>&1
check "a keys directory that does not exist: --check-config refuses it (exit 2, at keys's line)" \
  sh -c "[ $? -eq 2 ] && grep -qF 'kyes.conf:$(line_of keys "$T/kyes.conf"): $T/kyes: No such file or directory: keys must name the directory of the key lists' '$T/kyes.log'"
bounded 10 "$BIN/minqingd" -c "$T/kyes.conf" > "$T/kyes-start.log" 2>&1
check "and the broker refuses to start on it (exit 2), rather than start admitting nobody" \
  sh -c "[ $? -eq 2 ] && grep -qF '$T/kyes: No such file or directory' '$T/kyes-start.log'"

start_broker || exit 1
check "the broker says how many keys it admits (5: 2 intake, admin, water, hrss)" grep -q 'event=broker.ready keys=5 ' "$T/broker.log"
bounded $((FLOOD + 120)) "$PY" "$ROOT/tests/e2e/security.py" "$T" "$BROKER_PID" "$FLOOD" | tee "$T/security.out"
rc=$(tail -n 1 "$T/security.out" | grep -q '^1\.\.' && ! grep -q '^not ok' "$T/security.out" && echo 0 || echo 1)
check "the broker logged each refusal as a security event" grep -q 'event=security.refused' "$T/broker.log"
actors=$(sql "select group_concat(distinct e.actor) from events e join cases c on c.id = e.case_id
  where c.external_id = 'sec-cancel' and e.kind = 'cancelled'")
check "the audit trail names the key that cancelled a case ($actors)" test "$actors" = "admin:admin1"
cases=$(sql "select count(*) from cases where external_id not like 'legit-%'")
check "hostile messages changed no state: only the 4 legitimate test cases exist ($cases)" test "$cases" = 4
check "the revoked worker's session ended at the reload, and the log says why" \
  grep -q 'event=worker.lost worker=hrss:worker#[0-9]* department=hrss reason="its key is no longer allowed"' "$T/broker.log"
# refused_reload WHAT TEXT: a SIGHUP is refused whole, config.invalid saying
# TEXT, then config.kept; nothing of it applies (no config.reloaded)
refused_reload() {
  kept=$(grep -c 'event=config.kept' "$T/broker.log")
  reloads=$(grep -c 'event=config.reloaded' "$T/broker.log")
  kill -HUP "$BROKER_PID"
  check "$1" wait_for 5 sh -c "[ \$(grep -c 'event=config.kept .*key lists' '$T/broker.log') -gt $kept ] &&
                               grep 'event=config.invalid ' '$T/broker.log' | grep -qF '$2'"
  check "... and nothing of it applied: no reload logged" \
    test "$(grep -c 'event=config.reloaded' "$T/broker.log")" = "$reloads"
}
# a reload whose key list cannot be read is refused whole: its new department too
mv "$K/admin" "$K/admin.d" && : > "$K/admin"
add_department housing 住建局
refused_reload "a reload with a key list that cannot be read is refused (config.kept), naming the list" \
  "$K/admin: cannot read this key list"
rm "$K/admin" && mv "$K/admin.d" "$K/admin"
chmod 777 "$K/workers/water"
refused_reload "a reload with a key list writable by others is refused (config.kept), naming it" \
  "$(writable "$K/workers/water" 777)"
chmod 755 "$K/workers/water"
mv "$K" "$T/keys.moved"
refused_reload "a reload whose keys directory is gone is refused (config.kept), naming it: the keys stay" \
  "$K: No such file or directory: keys must name the directory"
mv "$T/keys.moved" "$K"
stop_pid "$BROKER_PID"
refused=$(sed -n 's/.*event=broker.stopping.* refused=\([0-9]*\).*/\1/p' "$T/broker.log")
flood=$(sed -n 's/^# flood: \([0-9]*\) hostile.*/\1/p' "$T/security.out")
check "every hostile message was refused and counted ($refused refusals for $flood sent)" \
  test "${refused:-0}" -ge "${flood:-1}"
check "no sanitizer report" no_sanitizer_reports
finish && [ $rc -eq 0 ]
