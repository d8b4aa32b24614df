"""Every class of malformed or illegal message gets an ERROR with the right
code, changes nothing, and the broker keeps serving other clients.

Usage: malformed.py DIR   (DIR holds intake.sock and workers.sock)
Prints TAP lines. Uses Debian's python3-zmq and python3-msgpack.
"""
import sys
import zmq
import msgpack

from tap import tap, finish

d = sys.argv[1]
ctx = zmq.Context()


def sock(name):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect("ipc://%s/%s.sock" % (d, name))
    return s


def ask(s, frames, timeout=5000):
    s.send_multipart(frames)
    if not s.poll(timeout):
        return None, None
    f = s.recv_multipart()
    return f[1].decode(), msgpack.unpackb(f[2], raw=False)


def body(d_):
    return msgpack.packb(d_, use_bin_type=True)


SIG = b"MINQING/1"
CASE = {"service_code": "water.leak", "description": "水管漏水", "external_id": "x-1",
        "channel": "hotline", "grid_code": "CG01-XH02-G0031"}


def expect_error(s, frames, code, what, re=None):
    cmd, b = ask(s, frames)
    good = cmd == "ERROR" and b.get("code") == code and b.get("reason")
    if re is not None:
        good = good and b.get("re") == re
    tap(good, "%s -> ERROR %d (got %s %s)" % (what, code, cmd, b))


intake = sock("intake")
worker = sock("workers")
other = sock("workers")

# --- the frames and the codec (intake side) ---
expect_error(intake, [b"garbage"], 100, "one frame")
expect_error(intake, [b"HTTP/1.1", b"SUBMIT", body({})], 100, "wrong signature")
expect_error(intake, [b"MINQING/2", b"SUBMIT", body({})], 101, "future protocol version")
expect_error(intake, [SIG, b"SUBMIT"], 100, "two frames")
expect_error(intake, [SIG, b"SUBMIT", body({}), b"extra"], 100, "four frames")
cmd, b = ask(intake, [b"MINQING/2", b"SUBMIT", body({}), b"extra"])
tap(cmd == "ERROR" and b.get("code") == 101 and "MINQING/1" in b.get("reason", ""),
    "four frames of a future version -> ERROR 101 naming the version spoken (got %s %s)" % (cmd, b))
expect_error(intake, [SIG, b"FROBNICATE", body({"msg_id": "u1"})], 102, "unknown command", re="u1")
expect_error(intake, [SIG, b"ACCEPT", body({"msg_id": "a1", "assignment_id": 1})], 102,
             "worker command on the intake endpoint")
expect_error(intake, [SIG, b"SUBMIT", b"\x81\xa6msg_id"], 100, "truncated msgpack")
expect_error(intake, [SIG, b"SUBMIT", b"\x82\xa6msg_id\xa2m1\xa1x\xdd\xff\x00\x00\x00"], 100,
             "array32 claiming 4 billion elements (msgpack-c #1013)")
expect_error(intake, [SIG, b"SUBMIT", b"\xdd\xff\x00\x00\x00"], 104, "body is an array, not a map")
expect_error(intake, [SIG, b"SUBMIT", body({"msg_id": "m1"})], 103, "missing case", re="m1")
expect_error(intake, [SIG, b"SUBMIT", body({"msg_id": "m2", "case": dict(CASE, description=5)})],
             104, "description is an integer", re="m2")
expect_error(intake, [SIG, b"SUBMIT", body({"msg_id": "m3", "case": dict(CASE, description="长" * 4001)})],
             105, "description of 4001 characters", re="m3")
bad_utf8 = body({"msg_id": "m4", "case": dict(CASE, description="XXXX")}).replace(b"XXXX", b"\xc0\xaf\xed\xa0")
expect_error(intake, [SIG, b"SUBMIT", bad_utf8], 106, "invalid UTF-8", re="m4")
expect_error(intake, [SIG, b"SUBMIT", body({"msg_id": "m5", "case": dict(CASE, grid_code="nowhere")})],
             107, "grid_code without street-community-grid", re="m5")
expect_error(intake, [SIG, b"SUBMIT", body({"msg_id": "m6", "case": CASE, "pad": "x" * 70000})],
             108, "body over 64 KiB")
dup = b"\x83\xa6msg_id\xa2m7\xa6msg_id\xa2m8\xa4case" + body(CASE)
expect_error(intake, [SIG, b"SUBMIT", dup], 109, "duplicate key")
expect_error(intake, [SIG, b"SUBMIT", body({"msg_id": "m9", "case": CASE}) + b"\xc0"], 110,
             "trailing bytes", re="m9")

# --- case commands that are well formed but not acceptable ---
cmd, ok_body = ask(intake, [SIG, b"SUBMIT", body({"msg_id": "good-1", "case": CASE})])
tap(cmd == "SUBMIT_OK" and ok_body["case_id"] >= 1, "a valid SUBMIT between the bad ones is stored")
case_id = ok_body["case_id"] if ok_body else 0
expect_error(intake, [SIG, b"FEEDBACK", body({"msg_id": "f1", "case_id": 999999, "rating": "satisfied"})],
             201, "feedback on an unknown case", re="f1")
expect_error(intake, [SIG, b"CLOSE", body({"msg_id": "c1", "case_id": case_id})], 203,
             "close a case that is not resolved", re="c1")
expect_error(intake, [SIG, b"REASSIGN", body({"msg_id": "r1", "case_id": case_id, "department": "nosuch"})],
             204, "reassign to an unknown department", re="r1")

# --- the worker side ---
expect_error(worker, [SIG, b"ACCEPT", body({"msg_id": "w1", "assignment_id": 1})], 200,
             "outcome before REGISTER", re="w1")
expect_error(worker, [SIG, b"REGISTER", body({"msg_id": "w2", "department": "nosuch", "capacity": 1})],
             204, "register as an unknown department", re="w2")
cmd, b = ask(worker, [SIG, b"REGISTER", body({"msg_id": "w3", "department": "water", "capacity": 4})])
tap(cmd == "ACK" and b.get("re") == "w3", "register as water")
cmd, b = ask(other, [SIG, b"REGISTER", body({"msg_id": "o1", "department": "hrss", "capacity": 4})])
tap(cmd == "ACK", "register as hrss")
# the water worker gets the stored case
got = None
for _ in range(20):
    if not worker.poll(500):
        continue
    f = worker.recv_multipart()
    if f[1] == b"DISPATCH":
        got = msgpack.unpackb(f[2], raw=False)
        break
tap(got is not None and got["case_id"] == case_id, "the water worker receives the case")
asg = got["assignment_id"] if got else 0


def worker_ask(s, frames):
    """Ask, skipping heartbeats and dispatches."""
    s.send_multipart(frames)
    for _ in range(20):
        if not s.poll(500):
            continue
        f = s.recv_multipart()
        if f[1] in (b"HEARTBEAT", b"DISPATCH"):
            continue
        return f[1].decode(), msgpack.unpackb(f[2], raw=False)
    return None, None


def worker_error(s, frames, code, what, re):
    cmd_, b_ = worker_ask(s, frames)
    tap(cmd_ == "ERROR" and b_.get("code") == code and b_.get("re") == re,
        "%s -> ERROR %d (got %s %s)" % (what, code, cmd_, b_))


worker_error(worker, [SIG, b"RESOLVED", body({"msg_id": "w4", "assignment_id": 424242, "result": "fixed",
                                               "summary": "done"})], 202, "outcome for an unknown assignment", "w4")
worker_error(other, [SIG, b"ACCEPT", body({"msg_id": "o2", "assignment_id": asg})], 205,
             "hrss worker accepts water's assignment", "o2")
worker_error(worker, [SIG, b"RESOLVED", body({"msg_id": "w5", "assignment_id": asg, "result": "fixed",
                                               "summary": "done"})], 203, "resolve before accept", "w5")
worker_error(worker, [SIG, b"SUBMIT", body({"msg_id": "w6", "case": CASE})], 102,
             "SUBMIT on the worker endpoint", "w6")

# nothing refused changed anything: the assignment is still only dispatched
cmd, b = worker_ask(worker, [SIG, b"ACCEPT", body({"msg_id": "w7", "assignment_id": asg})])
tap(cmd == "ACK" and b.get("state") == "accepted", "the refused outcomes changed nothing; ACCEPT works")
cmd, b = worker_ask(worker, [SIG, b"ACCEPT", body({"msg_id": "w7", "assignment_id": asg})])
tap(cmd == "ACK" and b.get("state") == "accepted", "a repeated ACCEPT (same msg_id) is acked again")

# a worker's ERROR reason is a peer's free text: it is logged (checked by
# malformed.sh) with digit runs masked and control characters escaped
worker.send_multipart([SIG, b"ERROR", body({"re": "x", "code": 500,
                       "reason": "SMS to 13812345678 failed\rts=0 severity=crit event=forged\nnext"})])

# a malformed ACK or ERROR is never answered (PROTOCOL.md 2.3: no error
# loops); the next answer the worker gets is the one to its next request
worker.send_multipart([SIG, b"ACK", body({"msg_id": "w8"})])            # no re
worker.send_multipart([SIG, b"ERROR", body({"re": "x", "code": "500"})])  # code a string
worker_error(worker, [SIG, b"ACCEPT", body({"msg_id": "w9", "assignment_id": 434343})], 202,
             "after a malformed ACK and ERROR, the first answer is to the next request", "w9")

# a fresh client is still served
fresh = sock("intake")
cmd, b = ask(fresh, [SIG, b"SUBMIT", body({"msg_id": "z1", "case": dict(CASE, external_id="x-2")})])
tap(cmd == "SUBMIT_OK" and b["case_id"] == case_id + 1, "another client is served after every refusal")
finish()
