"""Submit cases one at a time until the broker answers ERROR 501 (disk full).

Usage: full_disk.py ENDPOINT PREFIX MAX
Prints "acked <external_id> <case_id>" per SUBMIT_OK and "full <code>" at the
first 5xx ERROR, then stops. Exit 0 when it saw a 5xx, 1 otherwise.
"""
import sys
import zmq
import msgpack

endpoint, prefix, most = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = zmq.Context().socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.connect(endpoint)
desc = "居民反映楼道积水，" * 100
for i in range(most):
    case = {"service_code": "water.leak", "description": desc, "external_id": "%s-%d" % (prefix, i),
            "channel": "hotline", "grid_code": "CG01-XH01-G0001"}
    s.send_multipart([b"MINQING/1", b"SUBMIT", msgpack.packb({"msg_id": "%s-%d" % (prefix, i), "case": case})])
    if not s.poll(10000):
        print("timeout", flush=True)
        sys.exit(1)
    f = s.recv_multipart()
    body = msgpack.unpackb(f[2], raw=False)
    if f[1] == b"SUBMIT_OK":
        print("acked", case["external_id"], body["case_id"], flush=True)
    elif body.get("code", 0) >= 500:
        print("full", body["code"], body.get("reason"), flush=True)
        sys.exit(0)
    else:
        print("refused", body, flush=True)
        sys.exit(1)
sys.exit(1)
