"""Submit cases while another process holds the database's write lock.

Usage: locked.py ENDPOINT DATABASE PREFIX N
Takes the write lock (BEGIN IMMEDIATE, as an sqlite3 shell left in a
transaction would), sends N SUBMITs at once and waits up to 12 s for their
answers, then lets the lock go and resends every one with its msg_id until
SUBMIT_OK (up to 10 s), as a client does after a 5xx. Prints
  "locked ANSWERS CODES SECONDS"   CODES: the answers' codes, comma-separated
                                   (0 for SUBMIT_OK), in the order they came
  "after ACKED SECONDS"
"""
import sqlite3
import sys
import time
import zmq
import msgpack

endpoint, database, prefix, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s = zmq.Context().socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.connect(endpoint)


def submit(i):
    key = "%s-%d" % (prefix, i)
    case = {"service_code": "water.leak", "description": "楼道积水", "external_id": key,
            "channel": "hotline", "grid_code": "CG01-XH01-G0001"}
    s.send_multipart([b"MINQING/1", b"SUBMIT", msgpack.packb({"msg_id": key, "case": case})])


def answer(deadline):
    """(index, code) of the next answer, code 0 for SUBMIT_OK; None past the deadline."""
    left = deadline - time.monotonic()
    if left <= 0 or not s.poll(int(left * 1000)):
        return None
    f = s.recv_multipart()
    body = msgpack.unpackb(f[2], raw=False)
    re = body.get("re") or body.get("msg_id") or ""
    return int(re.rsplit("-", 1)[1]), 0 if f[1] == b"SUBMIT_OK" else body.get("code", -1)


db = sqlite3.connect(database, timeout=5, isolation_level=None)
db.execute("BEGIN IMMEDIATE")
t0 = time.monotonic()
for i in range(n):
    submit(i)
codes = []
while len(codes) < n:
    a = answer(t0 + 12)
    if a is None:
        break
    codes.append(a[1])
print("locked", len(codes), ",".join(str(c) for c in codes), "%.2f" % (time.monotonic() - t0),
      flush=True)
db.execute("COMMIT")
db.close()

t0 = time.monotonic()
todo = set(range(n))
while todo and time.monotonic() < t0 + 10:
    for i in todo:
        submit(i)
    while True:
        a = answer(time.monotonic() + 0.3)
        if a is None:
            break
        if a[1] == 0:
            todo.discard(a[0])
print("after", n - len(todo), "%.2f" % (time.monotonic() - t0), flush=True)
