#!/usr/bin/python3
"""make_seeds.py - write the seed corpus of fuzz/fuzz_decode.c.

Usage: fuzz/make_seeds.py [OUTDIR]   (default: fuzz/corpus/decode beside this file)

fuzz_decode splits one input into frames at the two bytes 00 ff, so a seed is
"MINQING/1" 00 ff COMMAND 00 ff BODY. This writes one valid message per
command, named after it in lower case (submit, dispatch, ...), and a few
invalid ones named bad-*, each aimed at one refusal of PROTOCOL.md section
3.5. Needs Debian's python3-msgpack; the output is deterministic, so the
committed files change only when this script does.
"""
import os
import sys

import msgpack

SIG = b"MINQING/1"
SEP = b"\x00\xff"
MAX_SEED = 5 * 1024

CASE = {
    "service_code": "street_light",
    "description": "和平路与解放路交叉口的路灯不亮，已经三天了，夜里行人很危险。",
    "external_id": "12345-20240501-000123",
    "channel": "hotline12345",
    "grid_code": "XW01-HP02-G07",
    "address_string": "江苏省南京市玄武区和平路12号",
    "first_name": "小明",
    "last_name": "王",
    "phone": "+86 (138) 0013-8000",
    "email": "wang.xm@example.cn",
    "media_url": "https://img.example.cn/12345/a.jpg",
    "requested_datetime": "2024-05-01T08:30:00.250+08:00",
    "lat": 32.0588,
    "long": 118.7965,
    "priority": "urgent",
}

T0 = 1714523400000  # unix ms

VALID = {
    "SUBMIT": {"msg_id": "intake-7f3a-0001", "case": CASE},
    "SUBMIT_OK": {"re": "intake-7f3a-0001", "case_id": 9007199254740991, "duplicate": False},
    "FEEDBACK": {"msg_id": "fb-1", "case_id": 42, "rating": "basically_satisfied",
                 "comment": "处理及时，态度很好"},
    "CLOSE": {"msg_id": "close-1", "case_id": 43, "comment": "市民确认已修复"},
    "REASSIGN": {"msg_id": "re-1", "case_id": 44, "department": "city.lighting",
                 "comment": "属城管职责"},
    "CANCEL": {"msg_id": "cx-1", "case_id": 45, "reason": "duplicate", "comment": "重复"},
    "REGISTER": {"msg_id": "water-w1-1714550400-000001", "department": "water",
                 "capacity": 10, "worker": "water@host1"},
    "HEARTBEAT": {},
    "DISCONNECT": {"reason": "shutting down"},
    "DISPATCH": {"assignment_id": 9001, "case_id": 46, "department": "street_light",
                 "role": "lead", "attempt": 1, "received_at": T0,
                 "contact_due": T0 + 1800000, "resolve_due": T0 + 604800000, "case": CASE},
    "ACCEPT": {"msg_id": "w1-000001", "assignment_id": 42},
    "CONTACTED": {"msg_id": "w1-000002", "assignment_id": 42, "note": "已电话联系市民"},
    "PROGRESS": {"msg_id": "w1-000003", "assignment_id": 42, "note": "配件已到，正在更换"},
    "RESOLVED": {"msg_id": "w1-000004", "assignment_id": 42, "result": "fixed",
                 "summary": "更换路灯镇流器两只，恢复照明"},
    "RETURNED": {"msg_id": "w1-000005", "assignment_id": 43, "reason": "wrong_locality",
                 "note": "该路段属于秦淮区"},
    "ESCALATE": {"msg_id": "esc-77-1", "escalation_id": 77, "case_id": 47, "level": 2,
                 "ladder": "resolve", "target": "district.supervisor",
                 "department": "street_light", "grid_code": "XW01-HP02-G07",
                 "community": "和平社区", "street": "玄武门街道",
                 "due_at": T0 + 604800000, "overdue_s": -3600},
    "ACK": {"re": "w1-000001", "case_id": 1001, "assignment_id": 42, "state": "accepted"},
    "ERROR": {"re": "reg-1", "code": 204, "reason": "department: not configured"},
    "EVENT": {"case_id": 46, "kind": "escalated", "at": T0 + 608400000,
              "department": "street_light", "state": "contacted", "actor": "broker",
              "note": "resolve deadline passed", "level": 2, "ladder": "resolve",
              "overdue_s": 3600},
}


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def frames(*parts):
    for part in parts:     # fuzz_decode would split a frame holding 00 ff
        assert SEP not in part, part
    return SEP.join(parts)


def message(cmd, body):
    return frames(SIG, cmd.encode(), body)


def nested(depth):
    """`depth` nested one-element arrays around nil, as raw msgpack."""
    return b"\x91" * depth + b"\xc0"


def invalid():
    accept = VALID["ACCEPT"]
    return {
        # msgpack-c issue 1013: counts that the bytes cannot hold (100)
        "bad-1013-array32-value": message("HEARTBEAT", b"\x81\xa1x\xdd\xff\x00\x00\x00"),
        "bad-1013-map32-body": message("SUBMIT", b"\xdf\xff\xff\xff\xff"),
        # frames (100, 101, 102)
        "bad-frame-count": frames(SIG, b"ACCEPT"),
        "bad-version": message("ACCEPT", pack(accept)).replace(SIG, b"MINQING/2", 1),
        "bad-command": message("accept", pack(accept)),
        # body structure (100, 104, 110, 109, 111)
        "bad-not-msgpack": message("HEARTBEAT", b"\xc1"),
        "bad-not-a-map": message("HEARTBEAT", pack([1, 2, 3])),
        "bad-trailing": message("ACCEPT", pack(accept) + b"\xc0"),
        "bad-duplicate-key": message("ACCEPT", b"\x83" + pack("msg_id") + pack("a")
                                     + pack("assignment_id") + pack(42)
                                     + pack("msg_id") + pack("b")),
        "bad-nil-then-duplicate": message("CLOSE", b"\x84" + pack("msg_id") + pack("c-2")
                                          + pack("case_id") + pack(43)
                                          + pack("comment") + pack(None)
                                          + pack("comment") + pack("again")),
        "bad-too-deep": message("HEARTBEAT", b"\x81" + pack("deep") + nested(9)),
        # fields (103, 104, 105, 106, 107) and msg_id salvage
        "bad-utf8-surrogate": message("SUBMIT", pack({"msg_id": "s-1", "case": dict(
            CASE, description="@SURROGATE@")}).replace(pack("@SURROGATE@"), b"\xa3\xed\xa0\x80")),
        "bad-phone": message("SUBMIT", pack({"case": dict(CASE, phone="call me"),
                                             "msg_id": "late-id"})),
        "bad-missing-case-field": message("DISPATCH", pack(dict(VALID["DISPATCH"], case={
            k: v for k, v in CASE.items() if k != "grid_code"}))),
        "bad-nan-lat": message("SUBMIT", pack({"msg_id": "s-2",
                                               "case": dict(CASE, lat=float("nan"))})),
        "bad-negative-capacity": message("REGISTER", pack(dict(VALID["REGISTER"], capacity=-1))),
        "bad-salvage-misaligned": message("SUBMIT", pack({"msg_id": "has space",
                                                          "note": "msg_id", "forged": "x"})),
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "decode")
    os.makedirs(out, exist_ok=True)
    seeds = {cmd.lower(): message(cmd, pack(body)) for cmd, body in VALID.items()}
    seeds.update(invalid())
    for name, data in sorted(seeds.items()):
        assert len(data) < MAX_SEED, (name, len(data))
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"make_seeds: wrote {len(seeds)} seeds to {out}")


if __name__ == "__main__":
    main()
