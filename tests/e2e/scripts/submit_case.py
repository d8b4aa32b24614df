"""submit_case.py DIR WHICH [SERVICE_CODE] - submit one of the cases below to
DIR/intake.sock and print its case id. Uses Debian's python3-zmq and
python3-msgpack.
  full      every field of the record (section 6 of PROTOCOL.md), service
            code test.dump
  resident  the case of the review of personal data in logs: every personal
            field set, the description naming the resident, a neighbour and
            the address
SERVICE_CODE replaces the case's. check_input.py imports CASES."""
import sys
import zmq
import msgpack

CASES = {
    "full": {
        "service_code": "test.dump", "description": "楼道灯坏了，晚上看不见路",
        "external_id": "full-1", "channel": "miniprogram", "grid_code": "CG01-XH01-G0001",
        "address_string": "城关区西湖街道幸福小区3号楼", "first_name": "四", "last_name": "李",
        "phone": "13912345678", "email": "resident@example.com",
        "media_url": "https://example.com/photo.jpg",
        "requested_datetime": "2024-05-01T08:30:00+08:00",
        "lat": 36.06, "long": 103.83, "priority": "high",
    },
    "resident": {
        "service_code": "test.leaky",
        "description": "我是王小明，住幸福小区3栋2单元501室。楼上邻居李建国每晚噪音，请回电138 0013 8000",
        "external_id": "resident-1", "channel": "hotline12345", "grid_code": "CG01-XH02-G0031",
        "address_string": "甘肃省兰州市城关区幸福小区3栋2单元501室", "first_name": "小明",
        "last_name": "王", "phone": "+86 138 0013 8000", "email": "xiaoming.wang@163.com",
        "lat": 36.061089, "long": 103.834304,
    },
}
def main():
    case = dict(CASES[sys.argv[2]])
    if len(sys.argv) > 3:
        case["service_code"] = sys.argv[3]
    s = zmq.Context().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect("ipc://%s/intake.sock" % sys.argv[1])
    s.send_multipart([b"MINQING/1", b"SUBMIT", msgpack.packb(
        {"msg_id": case["external_id"], "case": case}, use_bin_type=True)])
    if not s.poll(5000):
        sys.exit("no answer to SUBMIT")
    f = s.recv_multipart()
    reply = msgpack.unpackb(f[2], raw=False)
    if f[1] != b"SUBMIT_OK":
        sys.exit("SUBMIT refused: %r" % reply)
    print(reply["case_id"])


if __name__ == "__main__":
    main()
