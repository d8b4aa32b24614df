"""A worker that answers heartbeats but does not take up what it is given
is reported (worker.stalled) once stalled_after has passed without an
outcome from it, once, and worker.resumed follows its ACCEPT; a worker that
accepts at once is never reported.

Usage: stalled.py DIR   (DIR holds intake.sock, workers.sock and broker.log;
the broker runs with stalled_after = 2s). Prints TAP lines.
"""
import re
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


intake = peer.Peer(d, "intake")
stuck = peer.worker(d, capacity=4, label="stuck")
if stuck is None:
    print("Bail out! the worker could not register")
    sys.exit(1)
peer.submit(intake, "s-1")
asg = peer.first_dispatch(stuck)
given = time.time()
tap(asg > 0, "the worker receives a case, and neither accepts nor returns it")
peer.pump_all([stuck], 1.0)
tap(not lines("worker.stalled", "stuck"), "a second later it is not reported yet")
tap(pump_until([stuck], 6, lambda: lines("worker.stalled", "stuck")),
    "it is reported once stalled_after has passed (after %.1f s)" % (time.time() - given))
got = lines("worker.stalled", "stuck")
tap(got and "unaccepted=1 " in got[0] and re.search(r" quiet_s=[2-9] ", got[0]) and "\u2026" not in got[0],
    "the line says how many it holds and for how long, whole: %s" % (got[0].strip() if got else None))
peer.pump_all([stuck], 2.5)
tap(len(lines("worker.stalled", "stuck")) == 1, "once, not at every check")
cmd, _ = stuck.ask(b"ACCEPT", {"assignment_id": asg})
tap(cmd == "ACK", "it accepts at last")
tap(pump_until([stuck], 4, lambda: lines("worker.resumed", "stuck")),
    "and worker.resumed follows")

good = peer.worker(d, capacity=4, label="good")
taken = 0
end = time.time() + 5
for i in range(6):
    peer.submit(intake, "g-%d" % i)
while time.time() < end:
    good.pump(0.2)
    while taken < len(good.dispatched):
        good.ask(b"ACCEPT", {"assignment_id": good.dispatched[taken][0]})
        taken += 1
    stuck.pump(0.05)
tap(taken > 0 and not lines("worker.stalled", "good"),
    "a worker that accepts what it gets (%d) is never reported" % taken)
finish()
