#!/bin/sh
# hostile_peers.sh - what a peer that may connect (a local process on ipc://,
# any listed key on tcp://) can do to the broker by misusing ZeroMQ itself:
#  1. claim the routing ids the broker's ROUTERs would number the next peers
#     with. ZeroMQ numbers peers without an id of their own from a start
#     drawn with rand(), and aborts the process when a number it hands out
#     was claimed by a peer; with rand() unseeded that start was the same in
#     every broker (0x6b8b4567 for the first socket, 0xe43c9869 for the
#     second), and 68 connections claiming the numbers around them, then 20
#     ordinary ones, killed it;
#  2. unsubscribe, on the event stream, from topics it never subscribed to
#     (an XPUB passes that on): counted, that silenced the stream for every
#     other monitor;
#  3. send 5,000 messages that each cause a warning (a body that does not
#     decode): at most 20 lines of it are logged in 10 s, so that a flood
#     cannot fill the journal and push escalations past its rate limit;
#  4. send without reading the answers: what the broker queues for it is
#     bounded (10,000 messages a connection, not 100,000). Measured on the
#     optimised broker (build/), whose RSS is not the sanitizers', as are 6
#     and 7;
#  5. connect more peers than the broker's soft limit of open files: libzmq
#     aborts a process whose listener finds no descriptor left (about 1,000
#     monitors did it at the default limit), so the broker raises the limit;
#  6. subscribe and never read while cases come in (10,000 events were held
#     for each such monitor, 2 GB for a thousand);
#  7. subscribe to 100-kB topics on the event stream (each cost 4 MB);
#  8. flood the log with REGISTERs on one connection, or with sessions that
#     register and vanish.
. "$(dirname "$0")/../lib.sh"
write_config
start_broker || exit 1

# 1. routing ids
for ep in intake workers; do
  bounded 30 "$PY" - "ipc://$T/$ep.sock" <<'PY'
import struct, sys, time, zmq
ctx = zmq.Context()
socks = []
def peer(ident=None):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    if ident is not None:
        s.setsockopt(zmq.ROUTING_ID, ident)
    s.connect(sys.argv[1])
    s.send_multipart([b"MINQING/1", b"HEARTBEAT", b"\x80"])
    socks.append(s)
for start in (0x6b8b4567, 0xe43c9869):
    for k in range(-2, 32):
        peer(b"\x00" + struct.pack(">I", (start + k) & 0xffffffff))
time.sleep(0.5)
for _ in range(20):
    peer()
time.sleep(0.5)
PY
done
check "claimed routing ids: the broker is still running" kill -0 "$BROKER_PID"
echo '{"service_code": "water.leak", "description": "hostile peers", "external_id": "hp-1",
  "channel": "hotline", "grid_code": "CG01-XH01-G0001"}' > "$T/case.json"
check "and still serves: a SUBMIT is answered" \
  bounded 30 "$BIN/minqing" submit -c "$T/minqing.conf" "$T/case.json"

# 2. a monitor's stray unsubscriptions
bounded 30 "$PY" - "ipc://$T/events.sock" "$T/minqing.conf" "$BIN/minqing" > "$T/events.txt" 2>&1 <<'PY'
import subprocess, sys, time, zmq
ctx = zmq.Context()
mon = ctx.socket(zmq.SUB)
mon.setsockopt(zmq.SUBSCRIBE, b"received.")
mon.connect(sys.argv[1])
# the rogue speaks ZMTP 3.0 itself: a ZeroMQ XSUB would not pass on the
# unsubscription of a topic it never subscribed to
import socket, struct
rogue = socket.socket(socket.AF_UNIX)
rogue.connect(sys.argv[1][len("ipc://"):])
rogue.sendall(b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0") + b"\0" * 32)
ready = b"\x05READY" + b"\x0bSocket-Type" + struct.pack(">I", 4) + b"XSUB"
rogue.sendall(b"\x04" + bytes([len(ready)]) + ready)
rogue.settimeout(5)
got = b""
while len(got) < 64 + 2:                  # the broker's greeting and READY
    got += rogue.recv(4096)
time.sleep(0.3)
for topic in (b"received.", b"", b"zzz"):
    frame = b"\x00" + topic              # never subscribed to any of them
    rogue.sendall(b"\x00" + bytes([len(frame)]) + frame)
time.sleep(0.3)
case = '{"service_code": "water.leak", "description": "x", "external_id": "hp-2", ' \
       '"channel": "hotline", "grid_code": "CG01-XH01-G0001"}'
subprocess.run([sys.argv[3], "submit", "-c", sys.argv[2], "-"], input=case.encode(),
               stdout=subprocess.DEVNULL, timeout=20, check=True)
got = mon.poll(5000) and mon.recv_multipart()[0]
print("monitor got:", got)
PY
check "another peer's stray unsubscriptions leave a monitor its events ($(cat "$T/events.txt"))" \
  grep -q "monitor got: b'received" "$T/events.txt"

# 3. a flood of warnings
before=$(grep -c 'event=msg.dropped' "$T/broker.log")
bounded 30 "$PY" - "ipc://$T/workers.sock" <<'PY'
import sys, time, zmq
s = zmq.Context().socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.connect(sys.argv[1])
for _ in range(5000):
    s.send_multipart([b"MINQING/1", b"HEARTBEAT", b"\xc1"])      # 0xc1: never valid msgpack
time.sleep(1)
PY
logged=$(( $(grep -c 'event=msg.dropped' "$T/broker.log") - before ))
check "5,000 undecodable messages: $logged msg.dropped lines, at most 40" test "$logged" -le 40 -a "$logged" -ge 1
stop_pid "$BROKER_PID"
check "the stop says how many were not written" \
  grep -q "event=msg.dropped suppressed=$((5000 - logged)) " "$T/broker.log"
check "no sanitizer report" no_sanitizer_reports

# 4. answers never read
BIN=$ROOT/build
start_broker || exit 1
rss0=$(rss_kb "$BROKER_PID")
bounded 60 "$PY" - "ipc://$T/workers.sock" <<'PY'
import sys, time, zmq
ctx = zmq.Context()
socks = []
for _ in range(4):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SNDHWM, 0)
    s.setsockopt(zmq.RCVHWM, 1)
    s.connect(sys.argv[1])
    socks.append(s)
time.sleep(0.3)
for i in range(60000):
    for s in socks:
        s.send_multipart([b"MINQING/1", b"HEARTBEAT", b"\x80"])
time.sleep(3)
PY
rss1=$(rss_kb "$BROKER_PID")
diag "broker RSS $rss0 kB before 240,000 answers nobody read, $rss1 kB after"
check "what the broker holds for them is bounded: +$(( (rss1 - rss0) / 1024 )) MB, at most 20" \
  test $((rss1 - rss0)) -le 20480
check "the broker is still running" kill -0 "$BROKER_PID"
stop_pid "$BROKER_PID"

# 5. more connections than the soft limit of open files it was started with:
# libzmq aborts a process whose listener finds no descriptor left, so the
# broker raises its soft limit to the hard one
soft=$(ulimit -Sn)
ulimit -Sn 256
LOG_LEVEL=info                   # worker.registered, for 8.
start_broker; rc=$?
ulimit -Sn "$soft"
[ "$rc" = 0 ] || exit 1
bounded 60 "$PY" - "ipc://$T/events.sock" "$T/minqing.conf" "$BIN/minqing" "$T/case.json" \
  > "$T/many.txt" 2>&1 <<'PY'
import subprocess, sys, time, zmq
ctx = zmq.Context()
ctx.set(zmq.MAX_SOCKETS, 2000)
subs = []
for _ in range(400):
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(sys.argv[1])
    subs.append(s)
time.sleep(2)
r = subprocess.run([sys.argv[3], "submit", "-c", sys.argv[2], sys.argv[4]], capture_output=True, timeout=30)
print("submit:", r.returncode)
for s in subs:
    s.close()
PY
check "400 monitors on a broker started with 256 open files: still running" kill -0 "$BROKER_PID"
check "and serving: a SUBMIT is answered ($(cat "$T/many.txt"))" grep -q "submit: 0" "$T/many.txt"
check "its soft limit was raised to the hard one ($(grep 'open files' /proc/$BROKER_PID/limits))" \
  awk '/^Max open files/ { ok = $4 == $5 && $4 > 256 } END { exit !ok }' "/proc/$BROKER_PID/limits"

# 6. monitors that never read, while cases come in: each holds at most 1,000
# events in the broker (10,000 held 2 GB for 1,000 such monitors)
rss0=$(rss_kb "$BROKER_PID")
bounded 120 "$PY" - "ipc://$T/events.sock" "$BIN/loadgen" "ipc://$T/intake.sock" > "$T/slow.txt" 2>&1 <<'PY'
import subprocess, sys, time, zmq
ctx = zmq.Context()
def monitor():                    # subscribed to everything, reading nothing
    s = ctx.socket(zmq.SUB)
    for opt, value in ((zmq.LINGER, 0), (zmq.RCVHWM, 100), (zmq.SUBSCRIBE, b"")):
        s.setsockopt(opt, value)
    s.connect(sys.argv[1])
    return s
subs = [monitor() for _ in range(30)]
time.sleep(1)
r = subprocess.run([sys.argv[2], "-e", sys.argv[3], "-n", "6000", "-p", "hp7", "-c", "water.leak",
                    "-t", "60"], capture_output=True, timeout=90)
print("loadgen:", r.returncode)
time.sleep(1)
PY
rss1=$(rss_kb "$BROKER_PID")
diag "broker RSS $rss0 kB before 6,000 cases with 30 monitors that never read, $rss1 kB after ($(cat "$T/slow.txt"))"
check "30 monitors that never read cost the broker +$(( (rss1 - rss0) / 1024 )) MB, at most 25" \
  test $((rss1 - rss0)) -le 25600

# 7. subscriptions of 100 kB (a topic is at most 65 bytes): each cost the
# XPUB 4 MB and the loop its time; now the connection ends at the first
rss0=$(rss_kb "$BROKER_PID")
bounded 60 "$PY" - "ipc://$T/events.sock" <<'PY'
import sys, time, zmq
s = zmq.Context().socket(zmq.SUB)
s.setsockopt(zmq.LINGER, 0)
s.connect(sys.argv[1])
for i in range(50):
    s.setsockopt(zmq.SUBSCRIBE, b"%06d" % i + b"x" * 100000)
time.sleep(3)
PY
rss1=$(rss_kb "$BROKER_PID")
diag "broker RSS $rss0 kB before 50 subscriptions of 100 kB, $rss1 kB after"
check "50 subscriptions of 100 kB cost the broker +$(( (rss1 - rss0) / 1024 )) MB, at most 20" \
  test $((rss1 - rss0)) -le 20480

# 8. log floods from one peer: a REGISTER loop on one connection, and
# sessions that register and vanish, are logged within the flood limit
before=$(grep -c 'event=worker.registered' "$T/broker.log")
lost0=$(grep -c 'event=worker.lost' "$T/broker.log")
bounded 60 "$PY" - "ipc://$T/workers.sock" <<'PY'
import sys, time, msgpack, zmq
ctx = zmq.Context()
def register(s, i):             # hrss: no case waits there, so none is held
    s.send_multipart([b"MINQING/1", b"REGISTER",
                      msgpack.packb({"msg_id": "r%d" % i, "department": "hrss", "capacity": 1})])
w = ctx.socket(zmq.DEALER)
w.setsockopt(zmq.LINGER, 0)
w.connect(sys.argv[1])
for i in range(1000):
    register(w, i)
time.sleep(1)
w.close()
for i in range(300):              # each on a connection of its own, gone at once
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 100)
    s.connect(sys.argv[1])
    register(s, i)
    s.close()
time.sleep(4)                     # past the liveness window (3 heartbeats of 500 ms)
PY
# (a REGISTER sent from a socket closed at once may not arrive on a busy
# host: the lower bound only says the records were not all lost)
registered=$(( $(grep -c 'event=worker.registered' "$T/broker.log") - before ))
lost=$(( $(grep -c 'event=worker.lost' "$T/broker.log") - lost0 ))
check "1,000 REGISTERs on one connection and 300 more that come and go: $registered worker.registered lines, at most 350" \
  test "$registered" -le 350 -a "$registered" -ge 20
check "their 301 sessions lost: $lost worker.lost lines, at most 25" test "$lost" -le 25 -a "$lost" -ge 1
stop_pid "$BROKER_PID"
check "the stop says how many worker.lost were not written" \
  grep -q "event=worker.lost suppressed=" "$T/broker.log"
finish
