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
#     optimised broker (build/), whose RSS is not the sanitizers'.
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
finish
