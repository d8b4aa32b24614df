"""A raw protocol peer for the Python end-to-end scripts: a DEALER on one of
the broker's ipc:// endpoints in a test directory, which answers HEARTBEATs,
files DISPATCHes apart from replies, and sends requests with fresh msg_ids.
Uses Debian's python3-zmq and python3-msgpack."""
import time
import zmq
import msgpack

SIG = b"MINQING/1"
_ctx = zmq.Context()
_serial = 0


def mid(prefix):
    """A msg_id not used before in this process."""
    global _serial
    _serial += 1
    return "%s-%d" % (prefix, _serial)


class Peer:
    """A DEALER on DIR/NAME.sock that files DISPATCHes apart from replies."""

    def __init__(self, d, name):
        self.s = _ctx.socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.connect("ipc://%s/%s.sock" % (d, name))
        self.dispatched = []
        self.escalations = []

    def send(self, cmd, body):
        self.s.send_multipart([SIG, cmd, msgpack.packb(body)])

    def pump(self, seconds, want_re=None):
        """Read for up to `seconds` (heartbeating), until the reply to want_re."""
        end = time.time() + seconds
        while time.time() < end:
            if not self.s.poll(200):
                continue
            f = self.s.recv_multipart()
            b = msgpack.unpackb(f[2], raw=False)
            if f[1] == b"DISPATCH":
                self.dispatched.append((b["assignment_id"], b["attempt"]))
            elif f[1] == b"ESCALATE":
                self.escalations.append(b)
            elif f[1] == b"HEARTBEAT":
                self.send(b"HEARTBEAT", {})
            elif want_re is not None and b.get("re") == want_re:
                return f[1].decode(), b
        return None, None

    def ask(self, cmd, body):
        """Send cmd with a fresh msg_id; its reply as (command, body), or (None, None)."""
        body = dict(body, msg_id=mid(cmd.decode().lower()))
        self.send(cmd, body)
        return self.pump(5, body["msg_id"])

    def got(self, asg):
        return [a for a in self.dispatched if a[0] == asg]


def worker(d, department="water", capacity=4, label=None):
    """A registered worker of department, or None when the broker refused it."""
    w = Peer(d, "workers")
    body = {"department": department, "capacity": capacity}
    if label:
        body["worker"] = label
    cmd, _ = w.ask(b"REGISTER", body)
    return w if cmd == "ACK" else None


def submit(intake, ext, service_code="water.leak"):
    """Submit a case through the intake peer; its case_id, or 0."""
    cmd, b = intake.ask(b"SUBMIT", {"case": {
        "service_code": service_code, "description": "水管漏水", "external_id": ext,
        "channel": "hotline", "grid_code": "CG01-XH02-G0031"}})
    return b["case_id"] if cmd == "SUBMIT_OK" else 0


def first_dispatch(w, seconds=5):
    """The first assignment w received, waiting up to `seconds`; 0 if none."""
    end = time.time() + seconds
    while not w.dispatched and time.time() < end:
        w.pump(0.2)
    return w.dispatched[0][0] if w.dispatched else 0


def pump_all(peers, seconds):
    end = time.time() + seconds
    while time.time() < end:
        for p in peers:
            p.pump(0.05)
