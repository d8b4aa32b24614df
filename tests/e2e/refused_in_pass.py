"""A refusal and a write in one pass of the broker, on a full disk.

Usage: refused_in_pass.py ENDPOINT BROKER_PID CASE_ID PREFIX
Stops the broker (SIGSTOP), sends a FEEDBACK that its state refuses (203: the
case is not closed) and then a SUBMIT of a new case, and lets it go on
(SIGCONT), so that both are read in one pass. The SUBMIT's commit fails on the
full disk, which rolls back the state the refusal went by: both answers must
then be 5xx, to be asked again. Prints "<msg_id> <command> <code>" per answer.
"""
import os
import signal
import sys
import time
import zmq
import msgpack

endpoint, pid, case_id, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = zmq.Context().socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.connect(endpoint)
case = {"service_code": "water.leak", "description": "居民反映楼道积水，" * 100,
        "external_id": prefix + "-new", "channel": "hotline", "grid_code": "CG01-XH01-G0001"}
os.kill(pid, signal.SIGSTOP)
try:
    s.send_multipart([b"MINQING/1", b"FEEDBACK", msgpack.packb(
        {"msg_id": prefix + "-feedback", "case_id": case_id, "rating": "satisfied"})])
    s.send_multipart([b"MINQING/1", b"SUBMIT", msgpack.packb(
        {"msg_id": prefix + "-submit", "case": case})])
    time.sleep(0.3)     # for the client's I/O thread to write both
finally:
    os.kill(pid, signal.SIGCONT)
for _ in range(2):
    if not s.poll(10000):
        print("timeout", flush=True)
        sys.exit(1)
    f = s.recv_multipart()
    body = msgpack.unpackb(f[2], raw=False)
    print(body.get("re"), f[1].decode(), body.get("code", 0), flush=True)
