"""submit_full.py DIR - submit one case with every field of the record
(section 6 of PROTOCOL.md) to DIR/intake.sock, service code test.dump, and
print its case id. Uses Debian's python3-zmq and python3-msgpack."""
import sys
import zmq
import msgpack

CASE = {
    "service_code": "test.dump", "description": "楼道灯坏了，晚上看不见路",
    "external_id": "full-1", "channel": "miniprogram", "grid_code": "CG01-XH01-G0001",
    "address_string": "城关区西湖街道幸福小区3号楼", "first_name": "四", "last_name": "李",
    "phone": "13912345678", "email": "resident@example.com",
    "media_url": "https://example.com/photo.jpg",
    "requested_datetime": "2024-05-01T08:30:00+08:00",
    "lat": 36.06, "long": 103.83, "priority": "high",
}
s = zmq.Context().socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.connect("ipc://%s/intake.sock" % sys.argv[1])
s.send_multipart([b"MINQING/1", b"SUBMIT",
                  msgpack.packb({"msg_id": "full-1", "case": CASE}, use_bin_type=True)])
if not s.poll(5000):
    sys.exit("no answer to SUBMIT")
f = s.recv_multipart()
reply = msgpack.unpackb(f[2], raw=False)
if f[1] != b"SUBMIT_OK":
    sys.exit("SUBMIT refused: %r" % reply)
print(reply["case_id"])
