"""A worker that answers heartbeats but does not take up a case it was given
is reported (worker.unaccepted, naming the case) once accept_within has
passed, once, and worker.caught_up follows its ACCEPT; so is a worker that
drops one case while it accepts and resolves the others; a worker that
accepts at once is never reported; a reload that raises accept_within ends
a report without a worker.caught_up, which would say the worker caught up.

Usage: unaccepted.py DIR BROKER_PID   (DIR holds intake.sock, workers.sock,
minqing.conf and broker.log; the broker runs with accept_within = 2s).
Prints TAP lines.
"""
import os
import re
import signal
import sys
import time

from tap import tap, finish
import peer

d = sys.argv[1]
LOG = "%s/broker.log" % d


def lines(event, who):
    with open(LOG, encoding="utf-8", errors="replace") as f:
        return [l for l in f if "event=%s " % event in l and "worker=water:%s#" % who in l]


def pump_until(peers, seconds, cond):
    end = time.time() + seconds
    while time.time() < end and not cond():
        peer.pump_all(peers, 0.2)
    return cond()


def registered(w, who):
    if w is None:
        print("Bail out! %s could not register" % who)
        sys.exit(1)
    return w


def accept_new(w, done, resolve=False, skip=()):
    """Accept (and resolve) what w got since, but the assignments in skip."""
    while len(done) < len(w.dispatched):
        asg = w.dispatched[len(done)][0]
        done.append(asg)
        if asg in skip:
            continue
        w.ask(b"ACCEPT", {"assignment_id": asg})
        if resolve:
            w.ask(b"RESOLVED", {"assignment_id": asg, "result": "fixed", "summary": "修好了"})


intake = peer.Peer(d, "intake")

# 1. a worker that takes nothing up
stuck = registered(peer.worker(d, capacity=4, label="stuck"), "stuck")
case = peer.submit(intake, "s-1")
asg = peer.first_dispatch(stuck)
tap(case > 0 and asg > 0, "the worker receives a case, and neither accepts nor returns it")
peer.pump_all([stuck], 1.0)
tap(not lines("worker.unaccepted", "stuck"), "a second later it is not reported yet")
tap(pump_until([stuck], 6, lambda: lines("worker.unaccepted", "stuck")),
    "it is reported once accept_within has passed")
got = lines("worker.unaccepted", "stuck")
tap(got and "unaccepted=1 case_id=%d assignment_id=%d " % (case, asg) in got[0]
    and re.search(r" oldest_s=[2-9] ", got[0]) and "\u2026" not in got[0],
    "the line names the case and how long it waited, whole: %s" % (got[0].strip() if got else None))
peer.pump_all([stuck], 2.5)
tap(len(lines("worker.unaccepted", "stuck")) == 1, "once, not at every check")
cmd, _ = stuck.ask(b"ACCEPT", {"assignment_id": asg})
tap(cmd == "ACK", "it accepts at last")
tap(pump_until([stuck], 4, lambda: lines("worker.caught_up", "stuck")),
    "and worker.caught_up follows")

# 2. a worker that drops one case and works the others: more credit than
# stuck's, so it gets the next cases
skipper = registered(peer.worker(d, capacity=8, label="skipper"), "skipper")
for i in range(3):
    peer.submit(intake, "k-%d" % i)
first = peer.first_dispatch(skipper)
done = []
end = time.time() + 6
while time.time() < end and not lines("worker.unaccepted", "skipper"):
    skipper.pump(0.2)
    accept_new(skipper, done, resolve=True, skip=(first,))
    stuck.pump(0.05)
got = lines("worker.unaccepted", "skipper")
tap(len(done) >= 2 and got and "assignment_id=%d " % first in got[0],
    "a worker that resolves %d cases but drops one is reported, naming that one: %s"
    % (len(done) - 1, got[0].strip() if got else None))

# 3. a worker that accepts at once
good = registered(peer.worker(d, capacity=16, label="good"), "good")
taken = []
for i in range(6):
    peer.submit(intake, "g-%d" % i)
end = time.time() + 5
while time.time() < end:
    good.pump(0.2)
    accept_new(good, taken)
    peer.pump_all([stuck, skipper], 0.05)
tap(taken and not lines("worker.unaccepted", "good"),
    "a worker that accepts what it gets (%d) is never reported" % len(taken))

# 4. a reload that raises the limit: the late worker has not caught up
late = registered(peer.worker(d, capacity=32, label="late"), "late")
peer.submit(intake, "l-1")
peer.first_dispatch(late)
others = [stuck, skipper, good]
tap(pump_until([late] + others, 6, lambda: lines("worker.unaccepted", "late")),
    "a worker with more credit than the others gets a case and is reported")
conf = os.path.join(d, "minqing.conf")
with open(conf, encoding="utf-8") as f:
    text = f.read()
with open(conf, "w", encoding="utf-8") as f:
    f.write(text.replace("accept_within = 2s", "accept_within = 1h"))
os.kill(int(sys.argv[2]), signal.SIGHUP)
tap(pump_until([late] + others, 5, lambda: "event=config.reloaded" in open(LOG).read()),
    "the broker reloads with accept_within = 1h")
peer.pump_all([late] + others, 2.5)
tap(not lines("worker.caught_up", "late") and len(lines("worker.unaccepted", "late")) == 1,
    "no worker.caught_up for a worker that still holds the case, and no new report")
finish()
