"""Accepted work whose worker's session ends goes only to a worker that
registered afterwards (PROTOCOL.md 8.4), however the worker took it up and
however the session ended.

Usage: handover.py DIR BROKER_PID   (DIR holds intake.sock, workers.sock,
minqing.conf and broker.log)
Prints TAP lines. Uses Debian's python3-zmq and python3-msgpack.
"""
import os
import signal
import sys
import time

from tap import tap, finish
import peer
from peer import mid, pump_all, first_dispatch

d = sys.argv[1]


def worker():
    return peer.worker(d)


intake = peer.Peer(d, "intake")


def submit(ext):
    return peer.submit(intake, ext)


def registered(w, who):
    """w, or the end of the test when it could not register."""
    if w is None:
        print("Bail out! %s could not register" % who)
        sys.exit(1)
    return w


# 1. ACCEPT and DISCONNECT in one breath: the broker reads both in one pass,
# and must orphan the assignment even though the ACCEPT is not yet committed
holder = registered(worker(), "holder")
submit("h-1")
asg = first_dispatch(holder)
tap(asg > 0, "the holder receives the case")
colleague = registered(worker(), "colleague")
holder.send(b"ACCEPT", {"msg_id": mid("accept"), "assignment_id": asg})
holder.send(b"DISCONNECT", {})
pump_all([colleague], 2)
tap(not colleague.got(asg), "an ACCEPT followed at once by DISCONNECT: the colleague does not get it "
    "(got %s)" % colleague.got(asg))
successor = registered(worker(), "successor")
pump_all([colleague, successor], 2)
tap([a[1] for a in successor.got(asg)] == [2], "the worker registered afterwards gets it, attempt 2 "
    "(got %s)" % successor.got(asg))

# 2. a take-over by PROGRESS: the worker that took it over disconnects
cmd, b = successor.ask(b"ACCEPT", {"assignment_id": asg})
tap(cmd == "ACK" and b.get("state") == "accepted", "the successor accepts it")
taker = registered(worker(), "taker")
cmd, b = taker.ask(b"PROGRESS", {"assignment_id": asg, "note": "我来跟进"})
tap(cmd == "ACK", "a colleague takes it over with PROGRESS")
cmd, _ = taker.ask(b"DISCONNECT", {})
pump_all([colleague, successor], 2)
tap(not colleague.got(asg) and len(successor.got(asg)) == 1,
    "the taker disconnects: no colleague registered before gets it (got %s, %s)"
    % (colleague.got(asg), successor.got(asg)))
last = registered(worker(), "last")
pump_all([colleague, successor, last], 2)
got = last.got(asg)
tap([a[1] for a in got] == [3], "the worker registered afterwards gets it, attempt 3 "
    "(got %s)" % got)

# 3. a reload that changes the departments rebuilds the queues: an orphan
# still waits for a worker registered after its holder's death
holder = registered(worker(), "holder of h-2")
submit("h-2")
end = time.time() + 5
while not [a for a in holder.dispatched if a[0] != asg] and time.time() < end:
    holder.pump(0.2)
asg2 = max([a[0] for a in holder.dispatched] + [0])
cmd, b = holder.ask(b"ACCEPT", {"assignment_id": asg2})
tap(asg2 > asg and cmd == "ACK", "a new holder accepts h-2")
holder.send(b"DISCONNECT", {})
pump_all([colleague, successor, last], 1)
conf = os.path.join(d, "minqing.conf")
with open(conf, encoding="utf-8") as f:
    text = f.read()
with open(conf, "w", encoding="utf-8") as f:
    f.write(text.replace("[departments]\n", "[departments]\nhousing = 住建局\n", 1))
log = os.path.join(d, "broker.log")
reloads = open(log, encoding="utf-8", errors="replace").read().count("event=config.reloaded")
os.kill(int(sys.argv[2]), signal.SIGHUP)
end = time.time() + 5
while time.time() < end and open(log, encoding="utf-8", errors="replace").read().count(
        "event=config.reloaded") == reloads:
    pump_all([colleague, successor, last], 0.2)
tap(time.time() < end, "the broker reloads a config with one more department")
pump_all([colleague, successor, last], 2)
early = colleague.got(asg2) + successor.got(asg2) + last.got(asg2)
tap(not early, "after the reload no colleague registered before the death gets it (got %s)" % early)
after = registered(worker(), "after")
pump_all([colleague, successor, last, after], 2)
tap([a[1] for a in after.got(asg2)] == [2], "the worker registered afterwards gets it, attempt 2 "
    "(got %s)" % after.got(asg2))

finish()
