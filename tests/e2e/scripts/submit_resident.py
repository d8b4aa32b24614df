"""submit_resident.py DIR SERVICE_CODE - submit the resident's case of the
review of personal data in logs (every personal field set, the description
naming the resident, a neighbour and the address) to DIR/intake.sock, and
print its case id. Uses Debian's python3-zmq and python3-msgpack."""
import sys
import zmq
import msgpack

CASE = {
    "service_code": sys.argv[2],
    "description": "我是王小明，住幸福小区3栋2单元501室。楼上邻居李建国每晚噪音，请回电138 0013 8000",
    "external_id": "resident-1", "channel": "hotline12345", "grid_code": "CG01-XH02-G0031",
    "address_string": "甘肃省兰州市城关区幸福小区3栋2单元501室", "first_name": "小明", "last_name": "王",
    "phone": "+86 138 0013 8000", "email": "xiaoming.wang@163.com",
    "lat": 36.061089, "long": 103.834304,
}
s = zmq.Context().socket(zmq.DEALER)
s.setsockopt(zmq.LINGER, 0)
s.connect("ipc://%s/intake.sock" % sys.argv[1])
s.send_multipart([b"MINQING/1", b"SUBMIT",
                  msgpack.packb({"msg_id": "resident-1", "case": CASE}, use_bin_type=True)])
if not s.poll(5000):
    sys.exit("no answer to SUBMIT")
f = s.recv_multipart()
reply = msgpack.unpackb(f[2], raw=False)
if f[1] != b"SUBMIT_OK":
    sys.exit("SUBMIT refused: %r" % reply)
print(reply["case_id"])
