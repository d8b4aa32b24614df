"""Print one line per event of a kind from minqing's event stream.

Usage: subscribe.py ENDPOINT KIND SECONDS
Each line: "case_id level ladder" for escalations, "case_id state" otherwise.
Subscribes to KIND (a topic prefix) and exits after SECONDS.
"""
import sys
import time
import zmq
import msgpack

endpoint, kind, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
sub = zmq.Context().socket(zmq.SUB)
sub.setsockopt(zmq.LINGER, 0)
sub.setsockopt(zmq.SUBSCRIBE, (kind + ".").encode())
sub.connect(endpoint)
end = time.time() + seconds
while time.time() < end:
    if not sub.poll(100):
        continue
    topic, sig, cmd, body = sub.recv_multipart()
    ev = msgpack.unpackb(body, raw=False)
    if ev.get("level") is not None:
        print(ev["case_id"], ev["level"], ev.get("ladder"), flush=True)
    else:
        print(ev["case_id"], ev.get("state"), flush=True)
