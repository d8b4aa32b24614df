"""A supervision worker's view of an ESCALATE notice: it names the
department the rung fired for, also after a reassignment and a restart; an
ACK whose `re` only begins like the notice's msg_id ("esc-1/x") does not
acknowledge it; the exact one does.

Usage: notice_ack.py DIR DEPARTMENT   (DIR holds workers.sock and
minqing.db; DEPARTMENT the one the notice must name). Prints TAP lines.
"""
import sqlite3
import sys
import time

from tap import tap, finish
import peer

d, want = sys.argv[1], sys.argv[2]


def notified(esc_id):
    db = sqlite3.connect("file:%s/minqing.db?mode=ro" % d, uri=True, timeout=5)
    try:
        row = db.execute("select notified_at from escalations where id = ?", (esc_id,)).fetchone()
    finally:
        db.close()
    return row and row[0] is not None


sv = peer.worker(d, department="supervision", capacity=4, label="sv")
if sv is None:
    print("Bail out! the supervision worker could not register")
    sys.exit(1)
end = time.time() + 10
while not sv.escalations and time.time() < end:
    sv.pump(0.2)
got = sv.escalations[0] if sv.escalations else {}
tap(got.get("department") == want, "the notice names %s, the department the rung fired for (got %s)"
    % (want, got.get("department")))
esc = got.get("escalation_id", 0)
sv.send(b"ACK", {"re": "esc-%d/not-really" % esc})
sv.send(b"ACK", {"re": "esc-%d " % esc})
sv.pump(1.5)
tap(esc and not notified(esc), "an ACK whose re only begins with esc-%d acknowledges nothing" % esc)
sv.send(b"ACK", {"re": "esc-%d" % esc})
end = time.time() + 5
while esc and not notified(esc) and time.time() < end:
    sv.pump(0.2)
tap(esc and notified(esc), "the exact esc-%d does" % esc)
finish()
