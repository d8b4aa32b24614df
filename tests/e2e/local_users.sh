#!/bin/sh
# local_users.sh - on ipc:// with [local_users], the peer's Unix user (the
# kernel's SO_PEERCRED, not anything the peer says) decides its role, as a
# CURVE key does on tcp://: a department's adapter gets only its own cases and
# cannot submit, an intake user cannot cancel, an unlisted user gets a clear
# refusal, root stays admin; a reload that takes the section out locks the
# sockets to the broker's user again. Runs programs as daemon, sys and bin
# (not nobody: the overflow uid, as every unmapped user looks in a namespace).
. "$(dirname "$0")/../lib.sh"
MQ="$BIN/minqing"
chmod 711 "$T"                  # other users reach the sockets, not the files
write_config
printf '\n[local_users]\ndaemon = worker water\nsys = intake\n' >> "$T/minqing.conf"
CONF="$T/minqing.conf"
chmod 644 "$CONF"
# as USER COMMAND...: run it as USER (and USER's group), bounded
as() { u=$1; shift; bounded setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups "$@"; }
state_is() { [ "$(sql "select state from cases where id = $1")" = "$2" ]; }
line_of() { grep -n "^$1 = " "$CONF" | cut -d: -f1; }

# refusals of the section itself, each at its line
cp "$CONF" "$T/bad.conf"
printf 'no-such-user-x = admin\nbin = supervisor\n1 = intake\nroot = worker nowhere\n' >> "$T/bad.conf"
bounded "$BIN/minqingd" --check-config -c "$T/bad.conf" > "$T/bad.log" 2>&1; rc=$?
n=$(grep -c '' "$T/bad.conf")
check "--check-config refuses (exit 2) a user the host does not know, at its line" \
  sh -c "[ $rc -eq 2 ] && grep -qF 'bad.conf:$((n - 3)): local user '\''no-such-user-x'\'': no such user on this host' '$T/bad.log'"
check "... a role that is not admin, intake or worker DEPARTMENT" \
  grep -qF "bad.conf:$((n - 2)): local user 'bin': bad role 'supervisor' (want admin, intake or worker DEPARTMENT)" "$T/bad.log"
check "... one user written twice, by name and by uid" \
  grep -qF "bad.conf:$((n - 1)): local user '1' is uid 1, as 'daemon' is" "$T/bad.log"
check "... and a worker of an unknown department" \
  grep -qF "bad.conf:$n: local user 'root': unknown department 'nowhere'" "$T/bad.log"

# a broker in a user namespace of its own (systemd's PrivateUsers=yes) sees
# every other user as the overflow uid: a role for one would never apply
unshare --user --map-root-user "$BIN/minqingd" --check-config -c "$CONF" > "$T/ns.log" 2>&1; rc=$?
check "a broker that cannot see a listed user (a user namespace) refuses the file, saying why" \
  sh -c "[ $rc -eq 2 ] && grep -qF \"[local_users] daemon (uid 1): the broker cannot see this user\" '$T/ns.log' && grep -q 'PrivateUsers=no' '$T/ns.log'"
sed 's|^intake = .*|intake = tcp://127.0.0.1:1\nallow_plain_tcp = yes|' "$CONF" > "$T/plain.conf"
bounded "$BIN/minqingd" --check-config -c "$T/plain.conf" > "$T/plain.log" 2>&1; rc=$?
check "plain tcp:// beside [local_users] is refused: its peers would have every role" \
  sh -c "[ $rc -eq 2 ] && grep -q 'plain tcp:// (allow_plain_tcp) beside \[local_users\]' '$T/plain.log'"

start_broker || exit 1
mode() { stat -c %a "$1"; }
check "with [local_users] the socket files are open to every local user (0666): the broker decides" \
  sh -c "[ $(mode "$T/intake.sock") = 666 ] && [ $(mode "$T/workers.sock") = 666 ] && [ $(mode "$T/events.sock") = 666 ]"

printf '{"service_code": "water.leak", "grid_code": "CG01-XH02-G0031", "external_id": "LU-1", "channel": "hotline12345", "description": "居民反映：水管漏水"}\n' > "$T/a.json"
printf '{"service_code": "wage.arrears", "grid_code": "CG01-XH02-G0032", "external_id": "LU-2", "channel": "hotline12345", "description": "居民反映：欠薪"}\n' > "$T/b.json"
chmod 644 "$T/a.json" "$T/b.json"
A=$(as sys "$MQ" -c "$CONF" submit "$T/a.json" 2>"$T/sys.err")
check "an intake user (sys) submits a case ($A)" sh -c "echo '$A' | grep -qx '[0-9][0-9]*'"
as sys "$MQ" -c "$CONF" cancel "$A" --reason duplicate > "$T/cancel.out" 2>&1; rc=$?
check "but may not cancel it: refused with the reason (exit 1 or 2)" \
  sh -c "[ $rc -ne 0 ] && grep -q 'needs a Unix user that \[local_users\] makes admin' '$T/cancel.out'"
as daemon "$MQ" -c "$CONF" submit "$T/b.json" > "$T/daemon.out" 2>&1; rc=$?
check "a worker's user (daemon) may not submit" \
  sh -c "[ $rc -ne 0 ] && grep -q \"a worker's Unix user cannot use intake\" '$T/daemon.out'"
# root (admin) with a routing id of its own, for a department that does
# not exist: the right comes first (PROTOCOL.md 3.5), so a refused peer
# does not learn from a 204 which departments exist
code=$(bounded "$PY" - "ipc://$T/workers.sock" <<'PY'
import sys, msgpack, zmq
s = zmq.Context().socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.ROUTING_ID, b"my-own-id")
s.connect(sys.argv[1])
s.send_multipart([b"MINQING/1", b"REGISTER",
                  msgpack.packb({"msg_id": "r1", "department": "nowhere", "capacity": 1})])
print(msgpack.unpackb(s.recv_multipart()[2])["code"] if s.poll(5000) else "timeout")
PY
)
check "a routing id of its own and an unknown department: 300, not 204 ($code)" test "$code" = 300
as bin "$MQ" -c "$CONF" submit "$T/b.json" > "$T/bin.out" 2>&1; rc=$?
check "a user [local_users] does not list (bin) is refused, and told why" \
  sh -c "[ $rc -ne 0 ] && grep -q 'this Unix user is not in \[local_users\]' '$T/bin.out'"
check "and the log names the Unix user it refused (security.refused peer=unix:2)" \
  grep -q 'event=security.refused command=SUBMIT peer=unix:2 ' "$T/broker.log"
B=$("$MQ" -c "$CONF" submit "$T/b.json" 2>>"$T/cli.log")
check "root is admin without being listed: it submits ($B)" sh -c "echo '$B' | grep -qx '[0-9][0-9]*'"

# workers: daemon works for water only
setpriv --reuid=daemon --regid=daemon --clear-groups "$BIN/simworker" -e "ipc://$T/workers.sock" \
  -d hrss -n wronghrss > "$T/w-hrss.out" 2>&1 &
PIDS="$PIDS $!"
setpriv --reuid=daemon --regid=daemon --clear-groups "$BIN/simworker" -e "ipc://$T/workers.sock" \
  -d water -n daemonwater > "$T/w-water.out" 2>&1 &
PIDS="$PIDS $!"
check "daemon's worker for water gets the water case and resolves it" \
  wait_for 15 state_is "$A" resolved
check "daemon's worker for hrss is refused at REGISTER, with the reason in the log" \
  wait_for 10 grep -q 'event=security.refused command=REGISTER peer=unix:1 msg="this Unix user works for another department in \[local_users\]"' "$T/broker.log"
check "and the hrss case waits for a worker of its own: no assignment of it was delivered" \
  test "$(sql "select count(*) from events where case_id = $B and kind = 'dispatched'")" = 0
start_worker hrss roothrss
check "a worker left running as root (an admin) still works for any department: hrss's case resolves" \
  wait_for 15 state_is "$B" resolved

# the event stream: a listed user follows it, an unlisted one is refused at the handshake
tail_as() {
  setpriv --reuid="$1" --regid="$(id -g "$1")" --clear-groups "$MQ" -c "$CONF" tail \
    --count 1 > "$T/tail-$1.out" 2>&1 &
  PIDS="$PIDS $!"
}
tail_as daemon; NT=$!
tail_as bin
i=0
while [ $i -lt 30 ] && ! gone "$NT"; do      # events go only to subscribers: until one has
  i=$((i + 1))
  sed "s/LU-2/LU-T$i/" "$T/b.json" | bounded "$MQ" -c "$CONF" submit - >/dev/null 2>>"$T/cli.log"
  sleep 0.3
done
check "a user [local_users] lists (daemon) follows the event stream" grep -q ' case ' "$T/tail-daemon.out"
check "an unlisted user (bin) gets no event: its tail stops at the handshake, naming [local_users]" \
  wait_for 5 sh -c "grep -q 'refused this process.s Unix user (uid 2, ZAP status 400): the broker.s \[local_users\] does not let it follow the event stream' '$T/tail-bin.out' && ! grep -q ' case ' '$T/tail-bin.out'"

# a worker's routing id cannot be taken over: held peers get no ROUTER handover
cat > "$T/claim.py" <<'PY'
# claim.py ROLE ENDPOINT SECONDS: connect with the routing id 00 56 49 43 54;
# victim: register for traffic and heartbeat; thief: say nothing. Prints what arrives.
import sys, time, zmq, msgpack
role, ep, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
s = zmq.Context().socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.setsockopt(zmq.ROUTING_ID, b"\x00VICT")
s.connect(ep)
SIG = b"MINQING/1"
if role == "victim":
    s.send_multipart([SIG, b"REGISTER", msgpack.packb({"msg_id": "r1", "department": "traffic", "capacity": 100})])
end, last = time.time() + secs, 0
while time.time() < end:
    if role == "victim" and time.time() - last > 0.2:
        s.send_multipart([SIG, b"HEARTBEAT", msgpack.packb({})])
        last = time.time()
    if s.poll(100):
        f = s.recv_multipart()
        if f[1] != b"HEARTBEAT":
            print(f[1].decode(), flush=True)
PY
chmod 644 "$T/claim.py"
"$PY" "$T/claim.py" victim "ipc://$T/workers.sock" 10 > "$T/victim.out" 2>&1 &
VP=$!; PIDS="$PIDS $VP"
wait_for 5 grep -q ACK "$T/victim.out"
setpriv --reuid=bin --regid=bin --clear-groups "$PY" "$T/claim.py" thief "ipc://$T/workers.sock" 8 > "$T/thief.out" 2>&1 &
TP=$!; PIDS="$PIDS $TP"
sleep 0.5                       # the thief's handshake is done
sed 's/"service_code": "water.leak"/"service_code": "road.pothole"/; s/LU-1/LU-P/' "$T/a.json" > "$T/p.json"
bounded "$MQ" -c "$CONF" submit "$T/p.json" >/dev/null 2>>"$T/cli.log"
check "a worker's routing id is not handed over: the DISPATCH goes to the worker that registered" \
  wait_for 5 grep -q DISPATCH "$T/victim.out"
check "not to another user's connection claiming the same id" sh -c "! grep -q DISPATCH '$T/thief.out'"
kill "$VP" "$TP" 2>/dev/null

# followers of the event stream before the reload: daemon (listed) and root
setpriv --reuid=daemon --regid=daemon --clear-groups "$MQ" -c "$CONF" tail \
  > "$T/follow-daemon.out" 2>&1 &
FD=$!; PIDS="$PIDS $FD"
"$MQ" -c "$CONF" tail > "$T/follow-root.out" 2>&1 &
FR=$!; PIDS="$PIDS $FR"
i=0
until grep -q ' case ' "$T/follow-daemon.out" && grep -q ' case ' "$T/follow-root.out" || [ $i -ge 30 ]; do
  i=$((i + 1))
  sed "s/LU-2/LU-F$i/" "$T/b.json" | bounded "$MQ" -c "$CONF" submit - >/dev/null 2>>"$T/cli.log"
  sleep 0.3
done

# the section taken out by a reload: ipc:// back to the broker's user alone
sed -i '/^\[local_users\]/,$d' "$CONF"
kill -HUP "$BROKER_PID"
check "a reload without [local_users] sets the socket files back to 0600" \
  wait_for 10 sh -c "[ \$(stat -c %a '$T/intake.sock') = 600 ] && [ \$(stat -c %a '$T/workers.sock') = 600 ]"
check "and ends the session of daemon's worker, connected before: it is no root nor the broker's user" \
  wait_for 5 grep -q 'event=worker.lost worker=water:daemonwater#[0-9]* department=water reason="its Unix user is no longer allowed' "$T/broker.log"
as sys "$MQ" -c "$CONF" submit -t 1 "$T/b.json" > "$T/after.out" 2>&1; rc=$?
check "and another user cannot connect at all any more (exit 1)" test "$rc" = 1
sleep 0.5                       # the followers have reconnected, or tried to
n_root=$(grep -c ' case ' "$T/follow-root.out")
n_daemon=$(grep -c ' case ' "$T/follow-daemon.out")
sed "s/LU-2/LU-AFTER/" "$T/b.json" | bounded "$MQ" -c "$CONF" submit - >/dev/null 2>>"$T/cli.log"
check "root's event stream follows on across the reload: it gets the events of a case submitted after it" \
  wait_for 10 sh -c "[ \$(grep -c ' case ' '$T/follow-root.out') -gt $n_root ]"
check "daemon's, open before the reload, is cut off: not one of them (the stream was bound again)" \
  test "$(grep -c ' case ' "$T/follow-daemon.out")" = "$n_daemon"
kill "$FR" "$FD" 2>/dev/null
stop_pid "$BROKER_PID"

# started without the section under a loose umask (by hand, not by systemd's
# UMask=0077): the socket files are 0600 all the same (PROTOCOL.md 10)
(umask 002; exec "$BIN/minqingd" -c "$CONF" -l notice >>"$T/broker.log" 2>&1) &
BROKER_PID=$!
PIDS="$PIDS $BROKER_PID"
check "a broker started under umask 002 without [local_users] makes its socket files 0600" \
  wait_for 10 sh -c "[ \$(stat -c %a '$T/intake.sock') = 600 ] && [ \$(stat -c %a '$T/workers.sock') = 600 ] && [ \$(stat -c %a '$T/events.sock') = 600 ]"
stop_pid "$BROKER_PID"
check "no sanitizer reports" no_sanitizer_reports
finish
