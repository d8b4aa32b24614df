#!/usr/bin/python3
"""minqing_worker - a department worker for the minqing broker, in Python.

Written from proto/PROTOCOL.md (MQP/1) alone, with pyzmq and msgpack
(Debian: python3-zmq, python3-msgpack). Importable:

    import minqing_worker as mq

    def on_dispatch(w, d, first):            # d: the DISPATCH body (with the case record)
        if first:                            # a redelivery of a known assignment is not new work
            w.accept(d["assignment_id"])

    w = mq.Worker("ipc:///run/minqing/workers.sock", "water", capacity=8,
                  on_dispatch=on_dispatch,
                  on_outcome=lambda w, o, ok, reply: ...)
    w.run()

The callbacks run inside the loop, which also keeps the session alive:
each must return well within the broker's heartbeat_ms, in practice within
250 ms as libminqing asks of its adapters, or the broker takes the worker
for dead and hands its assignments to another (see Worker: slow work goes
to a thread of its own).

What the Worker does for you (section numbers are the spec's):

* REGISTER and its ACK; re-register on DISCONNECT and ERROR 200 (5.7, 5.9);
  until the REGISTER ACK nothing but REGISTER goes out (5.7);
* heartbeats every heartbeat_ms, liveness 3 (5.8), heartbeat_ms back to 1000
  at every new REGISTER until its ACK; on a dead broker (or an unanswered
  REGISTER) a new socket, with backoff 250 ms doubling to 8 s, reset by a
  REGISTER ACK;
* CURVE on tcp:// with the broker's and the worker's zcert files (10);
* DISPATCH idempotent by assignment_id (5.10), ESCALATE by escalation_id,
  ACKed once on_escalate has returned (not when it raises: the broker's
  resend hands the notice over again), or, when it returned HOLD, once the
  adapter calls ack_escalation (release_escalation gives it up) from any
  thread, and on every later copy (5.16), in bounded memory as the C side
  does: the last max(4 x capacity, 4096) assignments are remembered (only by
  its id once an outcome's ACK says one is resolved, returned or cancelled),
  the last 10,000 escalations acted on, and at most 10,000 held (past that
  a new notice is left to the broker's resend, never a held one forgotten),
  so that a worker that runs for months does not grow;
* outcomes (ACCEPT, CONTACTED, PROGRESS, RESOLVED, RETURNED) with fresh
  msg_ids, kept until ACKed, resent with the same msg_id after a timeout and
  after every REGISTER ACK, retried on 5xx, 301 and 302, dropped (and
  reported to on_outcome) on any other ERROR (8.2, 9);
* every message it sends is checked against the spec's types and limits
  first (4, 5), and every message it receives before it is acted on (3.5).

Logging never prints personal data: messages are named by their ids only,
the case record is never logged (6.1). Lines starting with "spec-drift:" say
that the broker sent something PROTOCOL.md does not allow. The text of an
exception from a callback is logged masked as minqing-worker masks a
command's stderr (numbers, e-mail addresses, coordinates, escaped text), but
the library does not know the case: names and addresses in it are logged as
they are (docs/operations.md, "Personal data"), so keep them out.

CLI (bench/simworker's --log lines, its outcomes logged when acknowledged):

    minqing_worker.py --endpoint E --department D [--capacity N] [--name N]
                      [--steps accept,contacted,resolved] [--log FILE]
                      [--delay MS] [--server-cert FILE --cert FILE]
                      [--flush-timeout MS] [-v]

At SIGTERM or SIGINT it starts no new step, waits up to --flush-timeout
(5000 ms, as minqing-worker) for the outcomes not yet acknowledged, then
leaves (DISCONNECT); when some are left it logs how many and exits 1: the
broker hands their assignments out again. A second signal ends the wait.
A refusal before its first session (an unknown department, another
department's key, a CURVE key or handshake the broker refuses) exits 1;
after one (a key revoked, a reload that removed the department) it goes on,
as minqing-worker does: logged at once and then once a minute, it registers
again every 2, 4, then 8 s, its outcomes kept for the next session.

--server-cert and --cert (as minqing-worker's) name CZMQ certificate files
from `minqing keygen`: the broker's public one, and this worker's NAME (its
secret key in NAME_secret, whose public NAME is in the broker's
keys/workers/<department>/). A tcp:// endpoint needs them: the broker
refuses plain TCP unless its config allows it.

--log gets "<assignment_id> <case_id> received <attempt>" for every DISPATCH,
"<assignment_id> <case_id> <step> <attempt>" for every outcome the broker
acknowledged (simworker logs it when sent; an outcome the broker refused is
not logged here: it changed nothing), and "<escalation_id> <case_id>
escalation L<level> <ladder> <target> <street>" for every escalation notice,
as simworker.
"""

import argparse
import collections
import heapq
import itertools
import logging
import math
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import traceback

import msgpack
import zmq
import zmq.utils.z85

__all__ = ["Worker", "ProtocolError", "WorkerError", "CertError", "encode", "decode",
           "outcome_body", "read_cert", "SIGNATURE", "HOLD"]

SIGNATURE = b"MINQING/1"
MAX_BODY = 65536              # 3.3
MAX_ENTRIES = 64              # 4.2
MAX_DEPTH = 8                 # 4.2, unknown values
MAX_ID = 2 ** 53 - 1          # 4.4
MAX_I64 = 2 ** 63 - 1
MIN_I64 = -2 ** 63
LIVENESS = 3                  # 5.8, 11: workers use 3
DEFAULT_HEARTBEAT_MS = 1000   # 5.8: until the REGISTER ACK
BACKOFF_MIN, BACKOFF_MAX = 0.25, 8.0
REGISTER_RESEND_S = 1.0       # 5.7: RECOMMENDED every second
REGISTER_REFUSED_MAX_S = 8.0  # ... doubling after each refusal up to this (as libminqing)
MAXMSGSIZE = 131072           # 3.3
MAX_AGE_S = 23 * 3600         # 8.2: never resend a request older than the broker's 24 h
SEEN_MIN = 4096               # assignments remembered at least (as minqing-worker)
MAX_ACKED_ESCALATIONS = 10000  # escalation_ids acted on, remembered (as libminqing)
MAX_HELD_ESCALATIONS = 10000   # notices held (HOLD) at most (as libminqing's open ones)
MAX_KEPT = 10000               # DISPATCH and ESCALATE kept during a flush, at most
FLUSH_S = 5.0                  # the CLI's wait at SIGTERM (minqing-worker's)
HANDSHAKE_TRIES = 5            # CURVE handshakes failed in a row before the server key is doubted
_HS_OK = getattr(zmq, "EVENT_HANDSHAKE_SUCCEEDED", 0)
_HS_NO_DETAIL = getattr(zmq, "EVENT_HANDSHAKE_FAILED_NO_DETAIL", 0)
_HS_PROTOCOL = getattr(zmq, "EVENT_HANDSHAKE_FAILED_PROTOCOL", 0)
_HS_AUTH = getattr(zmq, "EVENT_HANDSHAKE_FAILED_AUTH", 0)
_MECHANISM_MISMATCH = getattr(zmq, "PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH", 0x11000002)
_monitors = itertools.count(1)  # names of handshake monitors, unique in the process


class _Hold(object):
    def __repr__(self):
        return "minqing_worker.HOLD"


# What on_escalate returns to keep a notice unacknowledged until the adapter
# calls Worker.ack_escalation or Worker.release_escalation (see Worker).
HOLD = _Hold()

log = logging.getLogger("minqing_worker")

COMMANDS = frozenset([
    "SUBMIT", "SUBMIT_OK", "FEEDBACK", "CLOSE", "REASSIGN", "CANCEL", "IMPORT",
    "REGISTER", "HEARTBEAT", "DISCONNECT", "DISPATCH", "ACCEPT", "CONTACTED",
    "PROGRESS", "RESOLVED", "RETURNED", "ESCALATE", "ACK", "ERROR", "EVENT"])

OUTCOMES = ("ACCEPT", "CONTACTED", "PROGRESS", "RESOLVED", "RETURNED")
TERMINAL = ("RESOLVED", "RETURNED")
FINAL_STATES = ("resolved", "returned", "cancelled")     # 7.1: not open
STATES = ("received", "dispatched", "accepted", "contacted", "resolved",
          "closed", "returned", "cancelled")
RETURN_REASONS = ("wrong_department", "wrong_locality", "duplicate",
                  "insufficient_info", "other")


class ProtocolError(ValueError):
    """A message (ours or the broker's) breaks PROTOCOL.md; code per section 9."""

    def __init__(self, code, reason, re_=None):
        ValueError.__init__(self, "%d %s" % (code, reason))
        self.code, self.reason, self.re = code, reason, re_


class WorkerError(RuntimeError):
    """The broker refused the registration for good (204, 300, other 1xx-3xx),
    or ended the session with 300 (the key was revoked: section 10), or
    refused the CURVE handshake (a key on none of its allowlists, no CURVE
    on that endpoint, a server certificate that is not the broker's).
    step() again to go on: the Worker registers again, less often while it
    is refused, and keeps its outcomes for the session that follows."""


class CertError(ValueError):
    """A CURVE certificate file cannot be read or lacks a key (section 10)."""


# ---------------------------------------------------------------------------
# CURVE certificates (section 10): CZMQ zcert files, as `minqing keygen NAME`
# writes them: NAME with the public key, NAME_secret with both keys, in ZPL
# (ZeroMQ RFC 4): "#" comments, 4 spaces of indent per level, a section on a
# line of its own, "name = value" properties, values quoted or bare.

_Z85_ZERO = "0" * 40                  # CZMQ's text for "no secret key"


def _zpl(path):
    """The properties of a ZPL file: {"section/.../name": value}."""
    props, stack = {}, []
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise CertError("cannot read the certificate %s: %s" % (path, getattr(e, "strerror", None) or e))
    for n, line in enumerate(lines, 1):
        body = line.lstrip(" ")
        if not body.strip() or body.startswith("#"):
            continue
        indent = len(line) - len(body)
        if indent % 4 or indent // 4 > len(stack):
            raise CertError("%s:%d: not ZPL (indent)" % (path, n))
        stack = stack[:indent // 4]
        m = re.match(r"([A-Za-z0-9$\-_@.&+/]+)\s*(?:=\s*(.*))?\Z", body.rstrip())
        if not m:
            raise CertError("%s:%d: not ZPL" % (path, n))
        name, value = m.group(1), m.group(2)
        if value is None:
            stack.append(name)
            continue
        if value[:1] in ("\"", "'"):
            end = value.find(value[0], 1)
            if end < 0:
                raise CertError("%s:%d: not ZPL (unterminated quote)" % (path, n))
            value = value[1:end]
        else:
            value = re.split(r"[\s#]", value, 1)[0]
        props["/".join(stack + [name])] = value
    return props


def _z85_key(path, props, name):
    v = props.get("curve/" + name)
    if v is None or v == _Z85_ZERO:
        return None
    try:
        ok = len(v) == 40 and len(zmq.utils.z85.decode(v.encode("ascii"))) == 32
    except Exception:
        ok = False
    if not ok:
        raise CertError("%s: curve %s is not a 40-character Z85 key" % (path, name))
    return v.encode("ascii")


def _private(path):
    """Refuse a secret key file that group or others may open (section 10):
    anyone of them may have copied the key. libminqing's words, so that an
    operator reads the same whichever worker refused."""
    try:
        mode = os.stat(path).st_mode & 0o777
    except OSError as e:
        raise CertError("cannot read the certificate %s: %s" % (path, e.strerror))
    if mode & 0o077:
        raise CertError("%s: this secret key is open to group or others (mode %03o); "
                        "refusing to use it: chmod 600 %s" % (path, mode, path))


def _cert_keys(where):
    props = _zpl(where)
    keys = {"public": _z85_key(where, props, "public-key"),
            "secret": _z85_key(where, props, "secret-key")}
    if keys["public"] is None:
        raise CertError("%s: no curve public-key" % where)
    return keys


def read_cert(path, secret=False):
    """The Z85 keys of a CZMQ certificate, as CZMQ's zcert_load loads them:
    PATH_secret, or PATH when that cannot be read or parsed (the broker's
    server_secret beside its public certificate, mode 0600 and another
    user's: the public key is all a client needs). Returns {"public":
    bytes, "secret": bytes or None}. With SECRET true (a client's own
    certificate) there is no fallback: a PATH_secret that exists must be
    readable, and the secret key is required, in a file that group or
    others may not read (mode 0600). Raises CertError."""
    where = path + "_secret" if os.path.exists(path + "_secret") else path
    try:
        keys = _cert_keys(where)
    except CertError:
        if secret or where == path:
            raise
        where = path
        keys = _cert_keys(where)
    if secret and keys["secret"] is None:
        raise CertError("%s_secret: the client's secret key is missing" % path)
    if secret:
        _private(where)
    if keys["secret"] is not None and zmq.has("curve") and \
            zmq.curve_public(keys["secret"]) != keys["public"]:   # a hand-edited pair
        raise CertError("%s: the public and secret keys are not a pair" % where)
    return keys


# ---------------------------------------------------------------------------
# Field checks (section 4.3). Each returns None or raises ProtocolError.

_TOKEN = re.compile(r"[A-Za-z0-9_.\-]+\Z")
_GRID = re.compile(r"[A-Za-z0-9_]+-[A-Za-z0-9_]+-[A-Za-z0-9_]+\Z")
_PHONE = re.compile(r"[0-9+\- ()]+\Z")
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?"
    r"(Z|[+-]([0-9]{2}):([0-9]{2}))\Z")     # ASCII digits: \d takes any script's


def _is_int(v):
    return type(v) is int          # bool is an int subclass: not an integer here


def _str(name, v):
    if not isinstance(v, str):
        raise ProtocolError(104, "%s: not a string" % name)
    try:
        v.encode("utf-8")            # strict: lone surrogates fail
    except UnicodeEncodeError:
        raise ProtocolError(106, "%s: not UTF-8" % name)
    if "\0" in v:
        raise ProtocolError(107, "%s: NUL character" % name)


def _length(name, v, lo, hi):
    if len(v) > hi:
        raise ProtocolError(105, "%s: %d characters, at most %d" % (name, len(v), hi))
    if len(v) < lo:
        raise ProtocolError(107, "%s: %d characters, at least %d" % (name, len(v), lo))


def _chk_text(name, v, lo, hi):
    _str(name, v)
    _length(name, v, lo, hi)


def _chk_printable(name, v, lo, hi):
    _str(name, v)
    _length(name, v, lo, hi)
    if any(not 0x21 <= ord(c) <= 0x7E for c in v):
        raise ProtocolError(107, "%s: not printable ASCII" % name)


def _chk_token(name, v, lo, hi):
    _str(name, v)
    _length(name, v, lo, hi)
    if not _TOKEN.match(v):
        raise ProtocolError(107, "%s: not a token" % name)


def _chk_grid(name, v, lo=5, hi=64):
    _str(name, v)
    _length(name, v, lo, hi)
    if not _GRID.match(v):
        raise ProtocolError(107, "%s: not a grid code" % name)


def _chk_uint(name, v, lo, hi):
    if not _is_int(v):
        raise ProtocolError(104, "%s: not an integer" % name)
    if not lo <= v <= hi:
        raise ProtocolError(107, "%s: out of range %d..%d" % (name, lo, hi))


_chk_int = _chk_uint


def _chk_number(name, v, lo, hi):
    if not (_is_int(v) or type(v) is float):
        raise ProtocolError(104, "%s: not a number" % name)
    if isinstance(v, float) and not math.isfinite(v):
        raise ProtocolError(107, "%s: not finite" % name)
    if not lo <= v <= hi:
        raise ProtocolError(107, "%s: out of range" % name)


def _chk_bool(name, v, *_):
    if type(v) is not bool:
        raise ProtocolError(104, "%s: not a bool" % name)


def _chk_enum(name, v, names):
    if not isinstance(v, str):
        raise ProtocolError(104, "%s: not a string" % name)
    _str(name, v)
    if v not in names:
        raise ProtocolError(107, "%s: not one of the names" % name)


def _chk_phone(name, v, lo=3, hi=32):
    _str(name, v)
    _length(name, v, lo, hi)
    if not _PHONE.match(v) or sum(c.isdigit() for c in v) < 3:
        raise ProtocolError(107, "%s: not a phone number" % name)


def _chk_email(name, v, lo=3, hi=254):
    _chk_printable(name, v, lo, hi)
    if v.count("@") != 1 or v[0] == "@" or v[-1] == "@":
        raise ProtocolError(107, "%s: not an e-mail address" % name)


def _chk_url(name, v, lo=8, hi=2048):
    _chk_printable(name, v, lo, hi)
    if not ((len(v) > 7 and v.startswith("http://")) or (len(v) > 8 and v.startswith("https://"))):
        raise ProtocolError(107, "%s: not an http(s) URL" % name)   # a host after the scheme


def _chk_datetime(name, v, lo=20, hi=40):
    _str(name, v)
    _length(name, v, lo, hi)
    m = _DATETIME.match(v)
    if not m:
        raise ProtocolError(107, "%s: not ISO 8601 with a zone" % name)
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    if not (1900 <= y <= 9999 and 1 <= mo <= 12 and 1 <= d <= 31 and h <= 23
            and mi <= 59 and s <= 60):
        raise ProtocolError(107, "%s: out of range" % name)
    if m.group(9) is not None and (int(m.group(9)) > 23 or int(m.group(10)) > 59):
        raise ProtocolError(107, "%s: bad zone" % name)


def _chk_case(name, v, *_):
    if not isinstance(v, dict):
        raise ProtocolError(104, "%s: not a map" % name)
    _check_map(v, CASE_FIELDS, name + ".")


def F(key, req, check, *args):
    return (key, req, check, args)


ID = (1, MAX_ID)
TIME = (0, MAX_I64)

# Section 6
CASE_FIELDS = [
    F("service_code", True, _chk_token, 1, 64),
    F("description", True, _chk_text, 1, 4000),
    F("external_id", True, _chk_printable, 1, 128),
    F("channel", True, _chk_token, 1, 32),
    F("grid_code", True, _chk_grid),
    F("address_string", False, _chk_text, 0, 512),
    F("first_name", False, _chk_text, 0, 64),
    F("last_name", False, _chk_text, 0, 64),
    F("phone", False, _chk_phone),
    F("email", False, _chk_email),
    F("media_url", False, _chk_url),
    F("requested_datetime", False, _chk_datetime),
    F("lat", False, _chk_number, -90, 90),
    F("long", False, _chk_number, -180, 180),
    F("priority", False, _chk_enum, ("low", "normal", "high", "urgent")),
]

MSG_ID = F("msg_id", True, _chk_printable, 1, 64)
ASSIGNMENT = F("assignment_id", True, _chk_uint, *ID)

# Section 5: the commands a worker sends or receives, keys in table order
# (the reference encoder's order, Appendix A).
SCHEMAS = {
    "REGISTER": [MSG_ID, F("department", True, _chk_token, 1, 32),
                 F("capacity", True, _chk_uint, 1, 10000),
                 F("worker", False, _chk_text, 1, 64)],
    "HEARTBEAT": [],
    "DISCONNECT": [F("reason", False, _chk_text, 0, 256)],
    "DISPATCH": [ASSIGNMENT, F("case_id", True, _chk_uint, *ID),
                 F("department", True, _chk_token, 1, 32),
                 F("role", True, _chk_enum, ("lead", "co")),
                 F("attempt", True, _chk_uint, 1, 1000000),
                 F("received_at", True, _chk_int, *TIME),
                 F("contact_due", True, _chk_int, *TIME),
                 F("resolve_due", False, _chk_int, *TIME),
                 F("case", True, _chk_case)],
    "ACCEPT": [MSG_ID, ASSIGNMENT],
    "CONTACTED": [MSG_ID, ASSIGNMENT, F("note", False, _chk_text, 0, 1000)],
    "PROGRESS": [MSG_ID, ASSIGNMENT, F("note", True, _chk_text, 0, 1000)],
    "RESOLVED": [MSG_ID, ASSIGNMENT, F("result", True, _chk_token, 1, 32),
                 F("summary", True, _chk_text, 1, 2000)],
    "RETURNED": [MSG_ID, ASSIGNMENT, F("reason", True, _chk_enum, RETURN_REASONS),
                 F("note", False, _chk_text, 0, 1000)],
    "ESCALATE": [MSG_ID, F("escalation_id", True, _chk_uint, *ID),
                 F("case_id", True, _chk_uint, *ID),
                 F("level", True, _chk_uint, 1, 16),
                 F("ladder", True, _chk_enum, ("contact", "resolve")),
                 F("target", True, _chk_token, 1, 64),
                 F("department", True, _chk_token, 1, 32),
                 F("grid_code", True, _chk_grid),
                 F("community", True, _chk_text, 1, 64),
                 F("street", True, _chk_text, 1, 64),
                 F("due_at", True, _chk_int, *TIME),
                 F("overdue_s", True, _chk_int, MIN_I64, MAX_I64)],
    "ACK": [F("re", True, _chk_printable, 1, 64),
            F("case_id", False, _chk_uint, *ID),
            F("assignment_id", False, _chk_uint, *ID),
            F("state", False, _chk_enum, STATES),
            F("heartbeat_ms", False, _chk_uint, 100, 600000)],
    "ERROR": [F("re", False, _chk_printable, 1, 64),
              F("code", True, _chk_uint, 100, 599),
              F("reason", True, _chk_text, 0, 256)],
}

# What a worker may send (5.19) and what it accepts from the broker (2.3).
SENDABLE = frozenset(["REGISTER", "HEARTBEAT", "DISCONNECT", "ACK", "ERROR"] + list(OUTCOMES))
# 5.7: before its REGISTER is ACKed a worker sends nothing else (frame 2's bytes).
UNREGISTERED_SENDABLE = frozenset([b"REGISTER", b"HEARTBEAT", b"DISCONNECT"])
RECEIVABLE = frozenset(["HEARTBEAT", "DISCONNECT", "DISPATCH", "ESCALATE", "ACK", "ERROR"])


def _too_deep(v, level=1):
    """True if V nests more than MAX_DEPTH arrays and maps, V itself being
    level 1 (4.2). Stops looking below MAX_DEPTH + 1, so hostile nesting
    cannot exhaust the Python stack."""
    if isinstance(v, dict):
        items = [x for kv in v.items() for x in kv] + list(getattr(v, "odd_keys", ()))
    elif isinstance(v, (list, tuple)):
        items = v
    else:
        return False
    if level > MAX_DEPTH:
        return True
    return any(_too_deep(x, level + 1) for x in items)


def _check_map(m, fields, prefix=""):
    if len(m) > MAX_ENTRIES:
        raise ProtocolError(105, "%smap of %d entries, at most %d" % (prefix, len(m), MAX_ENTRIES))
    known = {f[0]: f for f in fields}
    if getattr(m, "odd_keys", None):
        raise ProtocolError(104, "%skey: not a string" % prefix)
    for k in getattr(m, "dups", ()):
        if k in known:
            raise ProtocolError(109, "%s%s: given twice" % (prefix, k))
    for k, v in m.items():
        if not isinstance(k, str):
            raise ProtocolError(104, "%skey: not a string" % prefix)
        _str(prefix + "key", k)
        f = known.get(k)
        if f is None:
            if _too_deep(v):            # the key is the broker's text: masked, ASCII
                raise ProtocolError(111, "%s%s: nested too deep" % (prefix, _masked(k, 64)))
            continue
        if v is None:
            continue
        f[2](prefix + k, v, *f[3])
    for key, req, _, _ in fields:
        if req and m.get(key) is None:
            raise ProtocolError(103, "%s%s: missing" % (prefix, key))


def encode(command, body):
    """The three frames of COMMAND with BODY, after checking BODY against the
    spec. Keys whose value is None are left out (4.2: nil means absent);
    keys the command does not define are refused (we never send them)."""
    if command not in SENDABLE:
        raise ProtocolError(102, "%s: a worker does not send it" % command)
    fields = SCHEMAS[command]
    names = [f[0] for f in fields]
    unknown = [k for k in body if k not in names]
    if unknown:
        raise ProtocolError(104, "%s: unknown key %s" % (command, unknown[0]))
    clean = {k: body[k] for k in names if body.get(k) is not None}   # table order
    _check_map(clean, fields)
    packed = msgpack.packb(clean, use_bin_type=True)
    if len(packed) > MAX_BODY:
        raise ProtocolError(108, "%s: body of %d bytes, at most %d" % (command, len(packed), MAX_BODY))
    return [SIGNATURE, command.encode("ascii"), packed]


class _Map(dict):
    """A decoded map that remembers what a dict cannot hold: keys given twice
    (109 if the key is known, 4.2) and unhashable keys (maps, arrays: 104 in
    the body and the case; allowed inside unknown values)."""
    __slots__ = ("dups", "odd_keys")


def _pairs_to_map(pairs):
    d = _Map()
    d.dups, d.odd_keys = set(), []
    for k, v in pairs:
        try:
            if k in d:
                d.dups.add(k)
                continue                      # the first one is kept
        except TypeError:
            d.odd_keys.append(k)
            continue
        d[k] = v
    return d


def _valid_id(v):
    """V when it is a msg_id (printable ASCII, 1..64 characters), else None:
    only such a one may go back as an ERROR's re (5.18)."""
    try:
        _chk_printable("msg_id", v, 1, 64)
        return v
    except ProtocolError:
        return None


def _read_msg_id(body):
    """The body's msg_id, if it can be read (for ERROR re)."""
    try:
        m = msgpack.unpackb(body, raw=False, strict_map_key=False, unicode_errors="surrogateescape")
    except Exception:
        return None
    return _valid_id(m.get("msg_id")) if isinstance(m, dict) else None


def decode(frames, accept=RECEIVABLE):
    """(command, body) of a received message, checked in the order of
    section 3.5; raises ProtocolError with the spec's code."""
    if not frames or not frames[0].startswith(b"MINQING/"):
        raise ProtocolError(100, "not an MQP signature")
    if frames[0] != SIGNATURE:
        raise ProtocolError(101, "version 1 spoken here")
    if len(frames) != 3:
        raise ProtocolError(100, "%d frames, not 3" % len(frames))
    cmd = frames[1].decode("ascii", "replace")
    if cmd not in COMMANDS:
        raise ProtocolError(102, "unknown command", _read_msg_id(frames[2]))
    body = frames[2]
    if len(body) > MAX_BODY:
        raise ProtocolError(108, "body of %d bytes" % len(body))
    if not body or body[:1] == b"\xc1":
        raise ProtocolError(100, "empty or not MessagePack")
    try:
        # surrogateescape: bad UTF-8 becomes lone surrogates, which _str()
        # refuses (106) in keys and known fields; inside unknown values it is
        # not checked (4.2)
        m = msgpack.unpackb(body, raw=False, strict_map_key=False, unicode_errors="surrogateescape",
                            object_pairs_hook=_pairs_to_map)
    except ProtocolError as e:
        e.re = _read_msg_id(body)
        raise
    except msgpack.ExtraData:
        raise ProtocolError(110, "bytes after the body map", _read_msg_id(body))
    except (msgpack.exceptions.StackError, RecursionError):
        raise ProtocolError(111, "nested too deep", _read_msg_id(body))
    except Exception:               # whatever else msgpack may raise: never out of the loop
        raise ProtocolError(100, "not well-formed MessagePack", _read_msg_id(body))
    if not isinstance(m, dict):
        raise ProtocolError(104, "body: not a map")
    re_ = _valid_id(m.get("msg_id"))
    if cmd not in accept:
        raise ProtocolError(102, "%s: not accepted by a worker" % cmd, re_)
    try:
        _check_map(m, SCHEMAS[cmd])
    except ProtocolError as e:
        e.re = re_
        raise
    return cmd, m


def outcome_body(command, msg_id, assignment_id, **fields):
    """The body of an outcome, keys in the order of the spec's tables."""
    body = {"msg_id": msg_id, "assignment_id": assignment_id}
    body.update(fields)
    return body


def _safe(s, limit=120):
    """A broker's ERROR reason, for our log: ASCII only, bounded (6.1: the spec
    says reasons never quote values; we do not rely on it)."""
    s = "".join(c if 0x20 <= ord(c) < 0x7F else "?" for c in str(s)[:limit])
    return s


# Masking, as proto/mask.c's mask_text (so minqing-worker's log and `minqing
# show`): every number of 7 or more digits, written as people write them, and
# every e-mail address. Digits are 0-9 and the full-width ０-９; a number is
# groups of digits joined by a separator: up to 4 units, each a space (ASCII,
# tab, newline, '+', ideographic, no-break, zero-width, any other control
# character) or a terminal escape (CSI, as in a coloured line), at most one
# of them a mark (- . / _ : ~ | * 。 · ・, the full-width forms, the hyphens
# and dashes U+2010-2015, the minus sign, or a comma , ， 、), which may be
# doubled or tripled. A space or mark may be written as escapes, as a URL,
# JSON or a Python repr shows it (%20, %2D, %EF%BC%8D, GBK's %A3%AD, \u3000,
# \xe3\x80\x80, \xa0, \t). Groups of 3 or more join; so do groups of one or of two, by the
# same separator throughout; groups joined by a comma also need the same
# separator throughout, and a comma never joins a group of 7 digits; where
# the separator changes before 7 digits, the number is its first group alone
# and the next one starts after it. So 138-1234-5678, 138 - 1234 - 5678,
# 138，1234，5678, 138+1234+5678, 1 3 8 1 2 3 4 5 6 7 8 and
# １３８－１２３４－５６７８ are numbers; 2024-05-01 10:30 is none, and
# 13812345678、13912345678 is two. A coordinate (1 to 180, a '.', 4 or more
# decimals) keeps its whole part: 36.061089 -> 36.******. An escaped
# non-ASCII character (\u738b, \xe7\x8e\x8b, %E7%8E%8B: a name, an
# address) becomes one '*'.

_SPACES = frozenset(" \t+\u3000\u00a0\u200b\u200c\u200d\u2060\ufeff")
_LIST_MARKS = frozenset(",\uff0c\u3001")
_MARKS = frozenset("-./_\uff0d\uff0e\uff0f\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
                   ":~\uff1a\uff5e\u3002\u00b7\u30fb|*\uff5c\uff0a") | _LIST_MARKS
_SEPARATOR_UNITS = 4
_HEX = "0123456789abcdefABCDEF"


def _is_digit(c):
    return "0" <= c <= "9" or "\uff10" <= c <= "\uff19"


def _is_space(c):
    return c in _SPACES or c < " " or "\x7f" <= c <= "\x9f"


def _byte_escape_at(s, i):
    """(the byte, its length) of a byte escape at s[i]: %XX (a URL) or \\xNN
    (Python's bytes), hex in either case; (0, 0) for none."""
    n = 1 if s.startswith("%", i) else 2 if s.startswith("\\x", i) else 0
    h = s[i + n:i + n + 2]
    if not n or len(h) != 2 or h[0] not in _HEX or h[1] not in _HEX:
        return 0, 0
    return int(h, 16), n + 2


def _u_escape_at(s, i):
    """(the code point, 6) of a JSON escape \\uXXXX at s[i]; (0, 0) for none."""
    h = s[i + 2:i + 6]
    if not s.startswith("\\u", i) or len(h) != 4 or any(c not in _HEX for c in h):
        return 0, 0
    return int(h, 16), 6


# GBK's spaces and marks (%A3%AD, \\xa3\\xad: older county systems), as
# proto/mask.c's gbk_separators: only these join a number's groups, not any
# character (2024年1000元).
_GBK_SEPARATORS = {
    (0xa1, 0xa1): "\u3000", (0xa1, 0xa2): "\u3001", (0xa1, 0xa3): "\u3002",
    (0xa1, 0xa4): "\u00b7", (0xa1, 0xaa): "\u2014", (0xa1, 0xab): "\uff5e",
    (0xa3, 0xaa): "\uff0a", (0xa3, 0xac): "\uff0c", (0xa3, 0xad): "\uff0d",
    (0xa3, 0xae): "\uff0e", (0xa3, 0xaf): "\uff0f", (0xa3, 0xba): "\uff1a",
    (0xa3, 0xfc): "\uff5c",
}
_SHORT_ESCAPES = {"t": "\t", "n": "\n", "r": "\r"}


def _escaped_bytes_at(s, i):
    """(the character, the escapes' length) of byte escapes at s[i] that make
    one UTF-8 character or GBK's space or mark; ("", 0) for none."""
    b, first = _byte_escape_at(s, i)
    if not first:
        return "", 0
    bs, at = [b], first
    while len(bs) < _utf8_len(b):
        c, v = _byte_escape_at(s, i + at)
        if not v:
            break
        bs.append(c)
        at += v
    if len(bs) == _utf8_len(b):
        try:
            return bytes(bs).decode("utf-8"), at
        except UnicodeDecodeError:
            pass
    trail, second = _byte_escape_at(s, i + first)
    c = _GBK_SEPARATORS.get((b, trail)) if second else None
    return (c, first + second) if c else ("", 0)


def _escaped_unit_at(s, i):
    """(the character, the escapes' length) that the escapes at s[i] spell:
    %2D or %EF%BC%8D (a URL; GBK's %A3%AD), \\xef\\xbc\\x8d (Python's
    bytes) or \\xa0 alone (a str's repr: the code point), \\u3000 (JSON; no
    surrogate), \\t \\n \\r; ("", 0) for none, as proto/mask.c's
    escaped_unit_at."""
    cp, w = _u_escape_at(s, i)
    if w:
        return ("", 0) if 0xd800 <= cp < 0xe000 else (chr(cp), w)
    if s.startswith("\\", i) and s[i + 1:i + 2] in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[s[i + 1]], 2
    c, w = _escaped_bytes_at(s, i)
    if w:
        return c, w
    b, w = _byte_escape_at(s, i) if s.startswith("\\", i) else (0, 0)
    return (chr(b), w) if w and b >= 0x80 else ("", 0)


def _escaped_separator_at(s, i, mark):
    """The escapes' length of a space (mark false: %20, %2B, %E3%80%80,
    \\u3000, \\t) or a mark (mark true: %2D, %2C, %EF%BC%8D, %A3%AD,
    \\uff0d) written as escapes at s[i], else 0."""
    c, w = _escaped_unit_at(s, i)
    if not w or c == "\0":
        return 0
    return w if (c in _MARKS if mark else _is_space(c)) else 0


def _escape_at(s, i):
    """The length of a terminal escape (ESC [, parameters of at most 3
    digits each, a final byte) at s[i], 0 for none."""
    if not s.startswith("\x1b[", i):
        return 0
    n, run = 2, 0
    while i + n < len(s) and ("0" <= s[i + n] <= "9" or s[i + n] == ";"):
        run = 0 if s[i + n] == ";" else run + 1
        if run > 3 or n > 16:
            return 0
        n += 1
    return n + 1 if i + n < len(s) and "@" <= s[i + n] <= "~" else 0


def _copied_unit_at(s, i):
    """A terminal escape or an escaped separator among a number's digits: copied."""
    return _escape_at(s, i) or _escaped_separator_at(s, i, False) or _escaped_separator_at(s, i, True)


def _separator_at(s, i):
    """(its length, whether its mark is a comma) of the separator at s[i]."""
    at, marked, is_list = 0, False, False
    for _ in range(_SEPARATOR_UNITS):
        j = i + at
        w = (_escape_at(s, j) or (1 if j < len(s) and _is_space(s[j]) else 0)
             or _escaped_separator_at(s, j, False))
        if not w:
            raw = j < len(s) and s[j] in _MARKS
            w = 1 if raw else _escaped_separator_at(s, j, True)
            if marked or not w:
                break
            marked = True
            is_list = (s[j] if raw else _escaped_unit_at(s, j)[0]) in _LIST_MARKS
            m = w
            while w < 3 * m and s[j + w:j + w + m] == s[j:j + m]:
                w += m
        at += w
    return at, is_list


def _digits_at(s, i):
    n = i
    while n < len(s) and _is_digit(s[n]):
        n += 1
    return n - i


def _number_at(s, i):
    """(its digits, its length) of the number at s[i]; (0, 0) for none."""
    group = length = total = _digits_at(s, i)
    last, was_list = None, False
    while group:
        sep, is_list = _separator_at(s, i + length)
        if not sep:
            break
        nxt = _digits_at(s, i + length + sep)
        here = s[i + length:i + length + sep]
        same = last is None or here == last
        if not same and (group < 3 or is_list or was_list) and total < 7:
            first = _digits_at(s, i)    # the last group may start a number of its own
            return first, first
        joins = (group >= 3 and nxt >= 3) or (group == nxt and group <= 2)
        if (not joins or ((group < 3 or is_list or was_list) and not same)
                or (is_list and (group >= 7 or nxt >= 7))):
            break
        length, total, group, last, was_list = length + sep + nxt, total + nxt, nxt, here, is_list
    return total, length


def _local_char(c):
    return c.isascii() and (c.isalnum() or c in "._%+-")


def _email_at(s, i):
    """(its length, where its '@' is) of the e-mail address at s[i]
    (local@label.label, ASCII); (0, 0) for none. A full stop after it ends
    the sentence, not the domain."""
    n = i
    while n < len(s) and _local_char(s[n]):
        n += 1
    if n == i or n >= len(s) or s[n] != "@":
        return 0, 0
    at, n = n, n + 1
    domain, dots = n, 0
    while n < len(s) and s[n].isascii() and (
            s[n].isalnum() or s[n] == "-"
            or (s[n] == "." and n + 1 < len(s) and s[n + 1].isascii() and s[n + 1].isalnum())):
        dots += s[n] == "."
        n += 1
    if dots and n > domain and s[domain].isascii() and s[domain].isalnum():
        return n - i, at
    return 0, 0


def _mask_digits(s):
    """Of a mobile or ID number (11 or more digits) the first 3 and last 4
    stay, of a shorter one the last 2; terminal escapes and escaped
    separators are copied, their digits not counted."""
    d, i = 0, 0
    while i < len(s):
        w = _copied_unit_at(s, i)
        d += 0 if w else _is_digit(s[i])
        i += w or 1
    first, last = (3, 4) if d >= 11 else (0, 2 if d > 2 else 0)
    out, i, k = [], 0, 0
    while i < len(s):
        w = _copied_unit_at(s, i)
        if w:
            out.append(s[i:i + w])
            i += w
            continue
        if _is_digit(s[i]):
            out.append(s[i] if k < first or k >= d - last else "*")
            k += 1
        else:
            out.append(s[i])
        i += 1
    return "".join(out)


def _utf8_len(b):
    """The length of the UTF-8 sequence a byte starts (1 for none), as
    proto/utf8.c's utf8_seqlen."""
    return 2 if 0xc2 <= b <= 0xdf else 3 if 0xe0 <= b <= 0xef else 4 if 0xf0 <= b <= 0xf4 else 1


def _escaped_char_at(s, i):
    """The length of the escapes of one non-ASCII character at s[i] (\\u5c0f,
    \\xe5\\xb0\\x8f, %E5%B0%8F; bytes that make no UTF-8 character one by
    one), 0 for none: escaped text is a name or an address as often as not."""
    cp, w = _u_escape_at(s, i)
    if w:
        return w if cp >= 0x80 else 0
    b, w = _byte_escape_at(s, i)
    if not w or b < 0x80:
        return 0
    bs, at, want = [b], w, _utf8_len(b)
    while len(bs) < want:
        c, v = _byte_escape_at(s, i + at)
        if not v:
            break
        bs.append(c)
        at += v
    if len(bs) == want > 1:
        try:
            bytes(bs).decode("utf-8")
            return at
        except UnicodeDecodeError:
            pass
    return w


def _coordinate_at(s, i):
    """(its length, its whole part's) of a coordinate at s[i]: 1 to 180
    without a leading zero, a '.', 4 or more decimals (a home, to within
    10 m), after no digit or '.', followed by no '.' and digit (a version, an
    IP address); (0, 0) for none."""
    if (i > 0 and ("0" <= s[i - 1] <= "9" or s[i - 1] == ".")) or not "1" <= s[i] <= "9":
        return 0, 0
    n = i
    while n < len(s) and n - i < 4 and "0" <= s[n] <= "9":
        n += 1
    if n - i > 3 or int(s[i:n]) > 180 or not s.startswith(".", n):
        return 0, 0
    f = n + 1
    while f < len(s) and "0" <= s[f] <= "9":
        f += 1
    if f - n - 1 < 4 or (s.startswith(".", f) and f + 1 < len(s) and "0" <= s[f + 1] <= "9"):
        return 0, 0
    return f - i, n - i


def _escaped_number_at(s, i):
    """(its length with the escape, the escape's) of a number of 7 or more
    digits right after an escaped separator at s[i] (%20138%200013...); (0, 0)."""
    esc = _escaped_separator_at(s, i, False) or _escaped_separator_at(s, i, True)
    if not esc:
        return 0, 0
    digits, n = _number_at(s, i + esc)
    return (esc + n, esc) if digits >= 7 else (0, 0)


def _mask_item(s, i):
    """(masked, its length in s) of the item at s[i]: an e-mail address, an
    escaped character, a coordinate, a number, or one character."""
    if i == 0 or not _local_char(s[i - 1]):
        n, at = _email_at(s, i)
        if n:       # the domain as any text: 13812345678.cn is a number
            return s[i] + "***@", at + 1 - i
    n = _escaped_char_at(s, i)
    if n:
        return "*", n
    n, whole = _coordinate_at(s, i)
    if n:
        return s[i:i + whole + 1] + "*" * (n - whole - 1), n
    n, esc = _escaped_number_at(s, i)
    if n:
        return s[i:i + esc] + _mask_digits(s[i + esc:i + n]), n
    digits, n = _number_at(s, i)
    if digits >= 7:
        return _mask_digits(s[i:i + n]), n
    n = n or 1
    return s[i:i + n], n


def _mask_text(s, limit=None):
    """s masked; with LIMIT, only as far as its first LIMIT characters
    masked need: those are the same as the whole text's."""
    out, i, shown = [], 0, 0
    while i < len(s) and (limit is None or shown < limit):
        piece, n = _mask_item(s, i)
        out.append(piece)
        shown += len(piece)
        i += n
    return "".join(out)


def _masked(s, limit=200):
    """An exception's text, for our log: every number of 7 or more digits
    masked as minqing-worker masks a command's stderr (proto/mask.c:
    13812345678 -> 138****5678, 138 - 1234 - 5678 -> 138 - **** - 5678,
    86001234 -> ******34), since a callback's message may quote a case;
    then _safe, cut to LIMIT characters."""
    # masked before _safe makes every other character '?', which would split
    # １３８－１２３４－５６７８ into groups too short to mask; and before it is
    # cut, item by item until LIMIT characters are shown: masking shrinks
    # text (an e-mail's local part to 'x***'), and text cut first could show
    # a piece of an address that no longer looks like one. The text is first
    # cut far beyond LIMIT: one item (a run of 4 MiB of digits) would
    # otherwise be masked whole, seconds on the thread that owes heartbeats;
    # what that cut changes is past the LIMIT characters shown
    return _safe(_mask_text(str(s)[:limit * 16], limit), 1 << 20)[:limit]


def _failure(e):
    """An exception from an adapter's callback, for our log: its type, its
    text masked (it may quote the case, 6.1) and where it was raised."""
    where = ""
    tb = traceback.extract_tb(e.__traceback__)
    if tb:
        where = " (%s:%d in %s)" % (os.path.basename(tb[-1].filename), tb[-1].lineno, tb[-1].name)
    return "%s: %s%s" % (type(e).__name__, _masked(e), where)


def _default_id_prefix(name):
    p = "".join(c for c in name if c.isascii() and (c.isalnum() or c in "_.-"))[:20]
    return p or "worker"


class _Recent(collections.OrderedDict):
    """A dict (or, through add and discard, a set) of at most LIMIT keys that
    drops the oldest first, like the C side's rings of finished assignments
    and of acknowledged escalations (never of ones still being worked on): a
    worker that runs for months keeps a bounded memory,
    and a late copy of anything recent is still recognised."""

    def __init__(self, limit):
        collections.OrderedDict.__init__(self)
        self.limit = limit

    def __setitem__(self, key, value):
        collections.OrderedDict.__setitem__(self, key, value)
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)

    def add(self, key):
        self[key] = None

    def discard(self, key):
        self.pop(key, None)


# ---------------------------------------------------------------------------

class Outcome(object):
    """One outcome request, kept until it is ACKed or dropped."""
    __slots__ = ("command", "msg_id", "assignment_id", "frames", "created",
                 "sent_at", "next_send", "tries", "blocked", "out", "context")

    def __init__(self, command, msg_id, assignment_id, frames, context):
        self.command, self.msg_id, self.assignment_id = command, msg_id, assignment_id
        self.frames, self.context = frames, context
        self.created = time.monotonic()
        self.sent_at = None
        self.next_send = 0.0
        self.tries = 0
        self.blocked = False            # True after ERROR 302: wait for a reply
        self.out = False                # sent, and nothing since asks for it again


class Worker(object):
    """An MQP/1 worker for one department. Call run() (or step()) from one
    thread; the callbacks run inside it. The outcome methods (accept(), ...),
    ack_escalation() and release_escalation() may also be called from other
    threads: they then only queue what is to be sent, which the loop sends on
    its next pass (the socket stays in one thread).

    Time: heartbeats, liveness, resends and reconnection happen only inside
    step(), and the callbacks run inside it. So each callback must return
    well within heartbeat_ms (the broker's, given in the REGISTER ACK: 1000
    ms by default, maybe shorter): in practice within 250 ms, as libminqing
    asks of its adapters between two calls; and a caller that drives step()
    itself calls it at least that often (run() does). After 3 heartbeats
    without one, the broker takes the worker for dead: it hands the
    assignments it had not accepted to a colleague at once (so they may be
    worked twice), and the worker must register again. Slow work (a ticket
    system's API, an SMS gateway) belongs in a thread of its own: it
    reports with the outcome methods, which work from any thread; for an
    escalation, on_escalate returns HOLD, and the thread calls
    ack_escalation or release_escalation.

    An exception (an Exception) from a callback never ends the loop: it is
    logged at WARNING, its type, its text with numbers masked as in
    minqing-worker's log (the text may quote the case, 6.1) and where it was
    raised, without the traceback; what the callback was told stays told,
    but for on_dispatch and on_escalate (below). So does one from a
    call_later function.

    on_dispatch(worker, dispatch, first): every DISPATCH; first is False for a
        redelivery of an assignment this process already has (do not start a
        second piece of work: section 5.10). If it raises for a first
        delivery, the assignment is not taken: its next copy (the broker's
        redelivery, after a reconnect or to a colleague) comes with first
        True again, so make starting work twice harmless, or raise before
        starting it. An outcome it queued before raising is sent all the same.
    on_outcome(worker, outcome, ok, reply): an outcome was ACKed (ok True,
        reply the ACK body) or dropped on an ERROR (ok False, reply the ERROR
        body; code 0 when it went unanswered for 23 hours, 8.2).
        outcome.context is what the caller passed. Called once the outcome
        is off the queue and those held behind it are on their way.
    on_escalate(worker, escalate): once per escalation_id that it handled:
        the Worker ACKs the ESCALATE only after on_escalate returns, and every
        later copy of it without calling on_escalate again. If on_escalate
        raises (an Exception), the failure is logged and the notice is not
        ACKed: the broker sends it again (every 5 s, maybe to another worker
        of the department) and the next copy here is handed to on_escalate
        again. So a notice is acted on at least once, not lost when the
        callback fails or the process dies in it; make acting on it twice
        harmless (by escalation_id, 5.16). Without on_escalate every notice
        is ACKed as it comes. No ACK goes out before the REGISTER ACK (5.7):
        one due meanwhile goes out right after it (or at the next copy).

        An adapter that acts on a notice elsewhere (an SMS sent from another
        thread, confirmed later by the gateway) returns HOLD: the notice is
        then held, neither ACKed nor handed to on_escalate again, until the
        adapter calls ack_escalation(escalation_id) (acted on: ACKed now and
        at every later copy) or release_escalation(escalation_id) (given up:
        the next copy goes to on_escalate again). Both work from any thread,
        on_escalate included. The broker goes on resending the notice every
        5 s meanwhile, round the department's workers, so a colleague may be
        handed it and act on it too while it is held here. A held notice
        stays held across a reconnect and a new REGISTER (the work on it goes
        on; the broker takes the ACK from the new session). A held notice is
        never forgotten (its next copy would go to on_escalate again, and be
        acted on twice); at most 10,000 are held: beyond that a new notice
        is not handed to on_escalate, nor ACKed (logged once), and the
        broker's resend brings it again once some are settled. An
        on_escalate that releases the notice itself and returns is not ACKed
        either.
    on_register(worker, session): after each REGISTER ACK, once the
        outcomes and escalation ACKs waiting for it are sent.

    server_cert, cert: CURVE on a tcp:// endpoint (section 10), as
        minqing-worker's --server-cert and --cert: the broker's public
        certificate and this worker's, CZMQ zcert files from `minqing keygen
        NAME` (give NAME: its secret key is read from NAME_secret). The
        worker's public key must be in the broker's keys/workers/<department>/.
        CertError if one cannot be read, or if this worker's secret key file
        is open to group or others (chmod 600 it). A key the broker does not
        admit gets no answer at all (10): the worker watches its handshakes,
        as libminqing does, and step() raises WorkerError at once, saying
        why (the key on none of the broker's allowlists: ZAP status 400; no
        CURVE on that endpoint, or CURVE there and none here; 5 handshakes
        failed in a row: the server certificate is not the broker's); the
        next step() tries a new connection after the backoff.
    """

    def __init__(self, endpoint, department, capacity=10, name=None,
                 on_dispatch=None, on_outcome=None, on_escalate=None,
                 on_register=None, resend_s=2.0, retry_s=1.0, id_factory=None,
                 context=None, server_cert=None, cert=None):
        self.endpoint = endpoint
        # CURVE (10): both certificates or neither, read now, not at the first connect
        self.curve = None
        if (server_cert is None) != (cert is None):
            raise CertError("CURVE needs both server_cert (the broker's public certificate) "
                            "and cert (this worker's, with its _secret beside it)")
        if server_cert is not None:
            if not zmq.has("curve"):
                raise CertError("this libzmq (%s) was built without CURVE" % zmq.zmq_version())
            mine = read_cert(cert, secret=True)
            self.curve = (read_cert(server_cert)["public"], mine["public"], mine["secret"])
        self.department = department
        self.capacity = capacity
        self.name = name or ("%s@%s" % (department, socket.gethostname()))[:64]
        # check what REGISTER will carry now, not at the first connect
        encode("REGISTER", {"msg_id": "x", "department": department,
                            "capacity": capacity, "worker": self.name})
        self.on_dispatch = on_dispatch
        self.on_outcome = on_outcome
        self.on_escalate = on_escalate
        self.on_register = on_register
        self.resend_s = resend_s
        self.retry_s = retry_s
        prefix = "%s-%x-%08x" % (_default_id_prefix(self.name), os.getpid(),
                                 random.SystemRandom().getrandbits(32))
        self._counter = itertools.count(1)
        self._loop_thread = None
        self._inbox = collections.deque()   # outcomes queued by other threads
        self._ids_lock = threading.Lock()
        self._live_ids = set()              # msg_ids of outcomes queued or pending
        self._later = []                      # heap of (when, seq, fn): call_later
        self._id_factory = id_factory or (lambda: self._next_id(prefix))
        self.ctx = context or zmq.Context.instance()
        self.sock = None
        self._monitor = None               # the socket's handshakes (CURVE, tcp://)
        self._hs_failed = 0
        if self.curve is None and endpoint.startswith("tcp://"):
            log.warning("%s without CURVE (server_cert and cert): unless the broker allows plain "
                        "TCP, it refuses this worker", endpoint)
        self.registered = False
        self._send_blocked = False         # the send queue was full: wait POLLOUT
        self._blocked = {}                 # msg_id -> outcome held by ERROR 302, in order
        self.sessions = 0                 # REGISTER ACKs received so far
        self.heartbeat_ms = DEFAULT_HEARTBEAT_MS
        self.pending = collections.OrderedDict()   # msg_id -> Outcome
        self._by_asg = {}                # assignment_id -> its pending Outcomes, in order
        # Bounded: the broker holds at most `capacity` assignments open here, so
        # more than that are ones withdrawn without our knowing (11), oldest first.
        self.remember = max(4 * capacity, SEEN_MIN)
        self.assignments = _Recent(self.remember)  # open assignment_ids (values None)
        self.finished = _Recent(self.remember)     # assignment_ids that reached a final state
        # Escalations: the loop thread and ack_escalation / release_escalation
        # callers change them together, under _esc_lock.
        self._esc_lock = threading.Lock()
        self.escalations = _Recent(MAX_ACKED_ESCALATIONS)  # escalation_ids acted on
        self.held_escalations = {}          # HOLD: escalation_id -> latest copy's msg_id
        self.max_held = MAX_HELD_ESCALATIONS
        self._held_full = False             # a notice was left to the broker: logged
        self._acks_owed = _Recent(MAX_ACKED_ESCALATIONS)  # escalation_id -> msg_id, ACK not yet sent
        self.drift = 0                    # spec-drift warnings logged
        self.stopping = False
        self._flushing = False
        self._kept = collections.deque()   # (handler, message) that came during a flush
        self._backoff = BACKOFF_MIN
        self._reconnect_at = 0.0
        self._reg_id = None
        self._reg_next = 0.0
        self._reg_every = REGISTER_RESEND_S   # longer after refusals, reset at the ACK
        self._conn_at = 0.0
        self._last_in = 0.0
        self._last_out = 0.0

    # -- ids -----------------------------------------------------------------
    def _next_id(self, prefix):
        return "%s-%x" % (prefix, next(self._counter))

    def new_msg_id(self):
        mid = self._id_factory()
        _chk_printable("msg_id", mid, 1, 64)
        return mid

    def _drift(self, fmt, *args):
        self.drift += 1
        log.warning("spec-drift: " + fmt, *args)

    # -- socket ----------------------------------------------------------------
    def _connect(self):
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.IMMEDIATE, 1)
        s.setsockopt(zmq.MAXMSGSIZE, MAXMSGSIZE)
        if self.curve:                    # a CURVE client of the broker (10)
            s.curve_serverkey, s.curve_publickey, s.curve_secretkey = self.curve
        self._watch(s)
        s.connect(self.endpoint)
        self.sock = s
        now = time.monotonic()
        self._conn_at = self._last_in = self._last_out = now
        self._register(new_id=True)       # heartbeat_ms back to 1000 until its ACK

    def _close(self):
        if self.sock is not None:
            self.sock.close(0)            # LINGER 0: drop what was queued for a dead broker
            self.sock = None
        self._unwatch()
        self.registered = False
        self._send_blocked = False

    def _watch(self, s):
        """Watch the handshakes of socket S, with CURVE or on tcp:// (as
        libminqing's mq_handshake.c): a key the broker refuses gets no
        answer at all (10), and ZeroMQ does not say so unless asked."""
        self._unwatch()
        if not (self.curve or self.endpoint.startswith("tcp://")) or not _HS_AUTH:
            return
        addr = "inproc://minqing-worker-handshakes-%d-%d" % (os.getpid(), next(_monitors))
        s.monitor(addr, _HS_OK | _HS_NO_DETAIL | _HS_PROTOCOL | _HS_AUTH)
        m = self.ctx.socket(zmq.PAIR)
        m.setsockopt(zmq.LINGER, 0)
        m.connect(addr)
        self._monitor = m

    def _unwatch(self):
        if self._monitor is not None:
            self._monitor.close(0)
            self._monitor = None
        self._hs_failed = 0

    def _check_handshake(self):
        """Raise WorkerError, in libminqing's words, when the handshake cannot
        succeed; the socket is then closed and a new one tried after the
        backoff (the key may be allowed back)."""
        refusal = None
        while self._monitor is not None and refusal is None:
            try:
                frames = self._monitor.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if len(frames[0]) < 6:
                continue
            event, value = struct.unpack("=HI", frames[0][:6])
            if event == _HS_OK:
                self._hs_failed = 0
            elif event == _HS_NO_DETAIL:
                self._hs_failed += 1
            elif event in (_HS_AUTH, _HS_PROTOCOL):
                refusal = (event, value)
        if refusal is not None and refusal[0] == _HS_AUTH:
            why = ("the broker at %s refused this client's CURVE key (ZAP status %d): its "
                   "certificate is on none of the broker's allowlists" % (self.endpoint, refusal[1]))
        elif refusal is not None:
            why = "the %s handshake with %s failed (ZeroMQ protocol error 0x%x)%s" % (
                "CURVE" if self.curve else "ZeroMQ", self.endpoint, refusal[1],
                "" if refusal[1] != _MECHANISM_MISMATCH else
                ": the broker does not use CURVE on this endpoint" if self.curve else
                ": the broker uses CURVE on this endpoint, and this worker has no certificates "
                "(server_cert and cert; the CLI's --server-cert and --cert)")
        elif self.curve and self._hs_failed >= HANDSHAKE_TRIES:
            # libminqing's words, and the other cause: a broker without CURVE
            # there may hang up before ZeroMQ can tell a mechanism mismatch
            why = ("the CURVE handshake with %s failed %d times in a row: is the server "
                   "certificate the broker's own (server_cert in its config), and does the "
                   "broker use CURVE on this endpoint?" % (self.endpoint, self._hs_failed))
        else:
            return
        self._reconnect(why)
        raise WorkerError(why)

    def _reconnect(self, why):
        log.info("reconnecting in %.2fs: %s", self._backoff, why)
        self._close()
        self._reconnect_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)

    def _send(self, frames):
        if self.sock is None:
            return False
        if not self.registered and frames[1] not in UNREGISTERED_SENDABLE:
            return False                  # 5.7: only these before the REGISTER ACK
        try:
            self.sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=True)
        except zmq.Again:                 # no connection up (ZMQ_IMMEDIATE) or HWM
            return False
        self._last_out = time.monotonic()
        return True

    def _register(self, new_id):
        if new_id or self._reg_id is None:
            self._reg_id = self.new_msg_id()
            # A new registration round: the last session's heartbeat_ms (up to
            # 600 s) ended with it. Until this round's ACK the interval is 1000
            # (5.8), or a broker that went silent would be given up only after
            # 3 of the old beats.
            self.heartbeat_ms = DEFAULT_HEARTBEAT_MS
        self.registered = False
        frames = encode("REGISTER", {"msg_id": self._reg_id, "department": self.department,
                                     "capacity": self.capacity, "worker": self.name})
        sent = self._send(frames)
        self._reg_next = time.monotonic() + (self._reg_every if sent else 0.1)

    # -- outcomes --------------------------------------------------------------
    def send_outcome(self, command, assignment_id, context=None, msg_id=None, **fields):
        """Queue an outcome (checked against the spec now; ProtocolError if it
        breaks it, or 107 if MSG_ID is that of an outcome still queued, in
        the caller's thread); sent at once when registered. Returns its
        msg_id."""
        if command not in OUTCOMES:
            raise ProtocolError(102, "%s is not an outcome" % command)
        mid = msg_id or self.new_msg_id()
        frames = encode(command, outcome_body(command, mid, assignment_id, **fields))
        o = Outcome(command, mid, assignment_id, frames, context)
        with self._ids_lock:             # checked here, so that the caller gets the error
            if mid in self._live_ids:
                raise ProtocolError(107, "msg_id %s already pending" % mid)
            self._live_ids.add(mid)
        if self._loop_thread not in (None, threading.get_ident()):
            self._inbox.append(o)
            return mid
        self._add(o)
        return mid

    def _add(self, o):
        self.pending[o.msg_id] = o
        self._by_asg.setdefault(o.assignment_id, []).append(o)
        if self.registered and not self._send_blocked:
            self._transmit(o)

    def accept(self, assignment_id, context=None):
        return self.send_outcome("ACCEPT", assignment_id, context)

    def contacted(self, assignment_id, note=None, context=None):
        return self.send_outcome("CONTACTED", assignment_id, context, note=note)

    def progress(self, assignment_id, note, context=None):
        return self.send_outcome("PROGRESS", assignment_id, context, note=note)

    def resolved(self, assignment_id, result, summary, context=None):
        return self.send_outcome("RESOLVED", assignment_id, context, result=result, summary=summary)

    def returned(self, assignment_id, reason, note=None, context=None):
        return self.send_outcome("RETURNED", assignment_id, context, reason=reason, note=note)

    def _waiting_before(self, o):
        """An earlier outcome of o's assignment waiting to be sent (again):
        8.2, the outcomes of one assignment go in the order they were made.
        Only its assignment's few are looked at: a worker back from an outage
        may hold tens of thousands, and a walk of them all per send would make
        the resend pass outlast the broker's patience."""
        for e in self._by_asg.get(o.assignment_id, ()):
            if e is o:
                return None
            if not e.out:
                return e
        return None

    def _transmit(self, o):
        now = time.monotonic()
        first = self._waiting_before(o)
        if first is not None:             # goes when that one does
            o.out = False
            o.next_send = max(first.next_send, now + 0.1)
            return
        o.out = self._send(o.frames)
        if o.out:
            o.tries += 1
            o.sent_at = now
            o.next_send = now + self.resend_s
        elif self.registered and self.sock is not None:
            # The send queue is full (or the connection is down): o and the
            # ones after it go, in order, as soon as the socket is writable
            # again. Retrying each on a timer, a worker back from an outage
            # with 40,000 outcomes spent its time on failed sends.
            o.next_send = now
            self._send_blocked = True
        else:
            o.next_send = now + 0.1
        if o.blocked:
            o.blocked = False
            self._blocked.pop(o.msg_id, None)

    def _release_held(self, assignment_id):
        """An outcome of assignment_id was answered: the ones held behind it go."""
        now = time.monotonic()
        for o in self._by_asg.get(assignment_id, ()):
            if not o.out and o.next_send > now:
                o.next_send = now

    def _resend_all(self):
        # all due now, also those an ERROR 200 or 300 held for this moment
        # (next_send = inf): the pass may stop at a full send queue, and the
        # rest must then go on POLLOUT, not wait for the 23-hour expiry
        now = time.monotonic()
        for o in self.pending.values():
            o.out = False
            o.next_send = now
        self._send_blocked = False
        for o in list(self.pending.values()):
            self._transmit(o)
            if self._send_blocked:
                break

    def _send_due(self, now):
        """Send the outcomes due, in queue order, up to the first the full
        send queue refuses (the rest wait for POLLOUT)."""
        if self._send_blocked and not self.sock.getsockopt(zmq.EVENTS) & zmq.POLLOUT:
            return
        self._send_blocked = False
        for o in list(self.pending.values()):
            if o.next_send <= now:
                self._transmit(o)
                if self._send_blocked:
                    break

    def _finish(self, o, ok, reply):
        """O is answered (or given up): off the queue, the outcomes held
        behind it released, and only then on_outcome, whose exception
        cannot leave the queue half updated."""
        self._blocked.pop(o.msg_id, None)
        if self.pending.pop(o.msg_id, None) is not None:
            same = self._by_asg[o.assignment_id]
            same.remove(o)
            if not same:
                del self._by_asg[o.assignment_id]
        with self._ids_lock:
            self._live_ids.discard(o.msg_id)
        if ok and self._final(o, reply):
            self._forget(o.assignment_id)
        self._release_held(o.assignment_id)
        self._unblock()
        if self.on_outcome:
            self._call("on_outcome for %s of assignment %d" % (o.command, o.assignment_id),
                       self.on_outcome, self, o, ok, reply)

    def _call(self, what, fn, *args):
        """Run an adapter's callback: (its result, None), or (None, the
        exception) when it raised one, logged (masked), never raised into
        the loop, whose state stays whole."""
        try:
            return fn(*args), None
        except Exception as e:
            log.warning("%s failed: %s", what, _failure(e))
            return None, e

    @staticmethod
    def _final(o, ack):
        """Whether the ACK leaves the assignment no longer open (7.1); one
        without its state (a drift, logged) is taken at the outcome's word."""
        state = ack.get("state")
        return state in FINAL_STATES if state is not None else o.command in TERMINAL

    def _forget(self, assignment_id):
        """A final state (7.1): only the id is kept, for a late DISPATCH copy."""
        self.assignments.discard(assignment_id)
        self.finished.add(assignment_id)

    # -- receiving -------------------------------------------------------------
    def _handle(self, frames):
        self._last_in = time.monotonic()     # any message is a sign of life (5.8)
        try:
            cmd, m = decode(frames)
        except ProtocolError as e:
            self._refuse_input(frames, e)
            return
        except Exception as e:               # a bug of ours: the message is dropped, not the loop
            self._refuse_input(frames, ProtocolError(100, "undecodable (%s)" % type(e).__name__))
            return
        getattr(self, "_on_" + cmd)(m)

    def _refuse_input(self, frames, e):
        """A broker message that fails its checks (3.5): logged and dropped,
        answered with ERROR when one may be (5.18: a MAY; the broker logs it),
        with re only when its msg_id is one; never an exception out of the
        loop, whatever the message holds. The reason names fields only (an
        unknown key's name masked), never a value (6.1)."""
        reason = _safe(e.reason, 256)
        self._drift("broker sent an invalid message: %d %s", e.code, reason)
        name = frames[1] if len(frames) > 1 else b""
        # 5.7: not before the REGISTER ACK; nobody answers these (5.18)
        if not self.registered or e.code in (100, 101, 108) or \
                name in (b"ACK", b"ERROR", b"HEARTBEAT", b"DISCONNECT", b"SUBMIT_OK"):
            return
        body = {"code": e.code, "reason": reason}
        if _valid_id(e.re) is not None:
            body["re"] = e.re
        try:
            reply = encode("ERROR", body)
        except ProtocolError as x:           # cannot happen with the checks above; never fatal
            log.warning("no ERROR answer to that message: %s", _safe(x))
            return
        self._send(reply)

    def _on_HEARTBEAT(self, m):
        pass

    def _on_DISCONNECT(self, m):
        # 5.9: consider ourselves unregistered and register again (unless a
        # REGISTER is already on its way: this may answer an older HEARTBEAT)
        if self.registered or time.monotonic() >= self._reg_next:
            log.info("broker sent DISCONNECT: registering again")
            self._register(new_id=True)

    def _on_ACK(self, m):
        re_ = m["re"]
        if re_ == self._reg_id and not self.registered and self.sock is not None:
            hb = m.get("heartbeat_ms")
            if hb is None:
                self._drift("REGISTER ACK without heartbeat_ms (5.17)")
                hb = DEFAULT_HEARTBEAT_MS
            self.heartbeat_ms = hb
            self.registered = True
            self.sessions += 1
            self._reg_every = REGISTER_RESEND_S
            self._backoff = BACKOFF_MIN
            log.info("registered department=%s capacity=%d heartbeat_ms=%d session=%d pending=%d",
                     self.department, self.capacity, hb, self.sessions, len(self.pending))
            self._resend_all()               # 8.2: every unanswered request after a REGISTER ACK
            self._flush_acks()               # ESCALATE ACKs held back until now (5.7)
            if self.on_register:
                self._call("on_register", self.on_register, self, self.sessions)
            return
        o = self.pending.get(re_)
        if o is None:
            return                           # 8.2: a reply we do not expect (a second copy)
        for k in ("case_id", "assignment_id", "state"):
            if k not in m:
                self._drift("ACK of %s %s without %s (5.17)", o.command, re_, k)
        if m.get("assignment_id") not in (None, o.assignment_id):
            self._drift("ACK of %s names assignment %s, not %s", o.command,
                        m.get("assignment_id"), o.assignment_id)
        self._finish(o, True, m)

    def _earlier_pending(self, o):
        same = self._by_asg.get(o.assignment_id)
        return bool(same) and same[0] is not o

    def _unblock(self):
        """A reply arrived: the outcomes ERROR 302 held go again. Only they
        are looked at: a walk of the whole queue per ACK made a worker with
        40,000 queued take minutes to drain it."""
        if self._blocked and self.registered:
            for o in list(self._blocked.values()):
                self._transmit(o)

    def _on_ERROR(self, m):
        code, re_ = m["code"], m.get("re")
        o = self.pending.get(re_) if re_ is not None else None
        if code == 200:
            # 5.7: register again; pending outcomes are resent after the ACK.
            if self.registered or time.monotonic() >= self._reg_next:
                log.info("ERROR 200 NOT_REGISTERED: registering again")
                self._register(new_id=True)
            if o is not None:
                o.next_send = float("inf")   # wait for the REGISTER ACK
            return
        if re_ == self._reg_id and not self.registered:
            if code // 100 == 5 or code == 301 or code == 302:
                self._reg_next = time.monotonic() + self.retry_s
                log.warning("REGISTER refused for now: %d %s", code, _safe(m["reason"]))
                return
            # refused until an operator acts (allows the key back, adds the
            # department): asking every second would only fill two logs
            self._reg_every = min(self._reg_every * 2, REGISTER_REFUSED_MAX_S)
            self._reg_next = time.monotonic() + self._reg_every
            raise WorkerError("REGISTER refused: %d %s" % (code, _safe(m["reason"])))
        if code == 300 and self.registered:
            # 10: the key was revoked, the session is over; register again
            # (refused until the key is allowed back), outcomes kept
            self._register(new_id=True)
            raise WorkerError("the broker no longer accepts this worker: 300 %s"
                              % _safe(m["reason"]))
        if o is None:
            if re_ is None:
                log.warning("broker ERROR %d without re: %s", code, _safe(m["reason"]))
            return
        now = time.monotonic()
        o.out = False
        if code == 300:
            # a copy sent before the session ended: kept for the next one
            o.next_send = float("inf")       # resent after the REGISTER ACK
            return
        if code // 100 == 5 or code == 301:
            o.next_send = now + self.retry_s          # retry later, same msg_id
            log.info("%s %s: ERROR %d, retrying", o.command, o.assignment_id, code)
            return
        if code == 302:
            o.blocked = True                           # resend once replies arrive
            self._blocked[o.msg_id] = o
            o.next_send = now + self.resend_s * 2      # or at the latest then
            return
        if code == 203 and self._earlier_pending(o):
            # 8.2: it overtook an earlier outcome of its assignment that is
            # still unanswered; it goes again once that one is acknowledged
            o.next_send = now + self.resend_s
            log.info("%s %s: ERROR 203 before an earlier outcome was answered, held",
                     o.command, o.assignment_id)
            return
        # 1xx, 2xx, 3xx (and 4xx, reserved): do not resend unchanged
        log.warning("dropped %s assignment=%s msg_id=%s: ERROR %d %s", o.command,
                    o.assignment_id, o.msg_id, code, _safe(m["reason"]))
        self._finish(o, False, m)

    def _keep(self, handler, m):
        """During a flush, a DISPATCH or a new ESCALATE waits for the next
        step() (as libminqing's flush keeps them for mq_worker_next): True
        when it was kept. Past MAX_KEPT it is dropped (logged once): the
        broker sends it again."""
        if not self._flushing:
            return False
        if len(self._kept) < MAX_KEPT:
            self._kept.append((handler, m))
        elif len(self._kept) == MAX_KEPT:
            log.warning("%d messages kept during the flush: later ones are left to the broker's resend",
                        MAX_KEPT)
            self._kept.append(None)          # logged: no more
        return True

    def _on_DISPATCH(self, m):
        if self._keep(self._on_DISPATCH, m):
            return
        aid = m["assignment_id"]
        if m["department"] != self.department:
            self._drift("DISPATCH of assignment %d for department %s, we registered for %s (5.10)",
                        aid, _safe(m["department"]), self.department)
        if not self.registered:
            self._drift("DISPATCH of assignment %d before the REGISTER ACK", aid)
        done = aid in self.finished
        first = not done and aid not in self.assignments
        if not done:
            self.assignments[aid] = None         # only the id: no case, no unknown keys
        # No check against capacity (5.7): the broker frees a slot when it
        # withdraws an assignment (CANCEL, REASSIGN) or a colleague takes it
        # over (5.15), and tells this worker neither (11), so more DISPATCHes
        # than capacity is no sign of a broker breaking the spec.
        if self.on_dispatch:
            _, failed = self._call("on_dispatch for assignment %d (attempt %d)" % (aid, m["attempt"]),
                                   self.on_dispatch, self, m, first)
            if failed is not None and first:
                # not taken: its next copy comes as new again (first=True),
                # as an escalation's does after on_escalate raised
                self.assignments.discard(aid)

    def _on_ESCALATE(self, m):
        # 5.16: the broker records the ACK as "notified" and never sends the
        # notice again, so it is ACKed only once the notice is acted on: a
        # callback that raises, or a process that dies in it, leaves the
        # notice unacknowledged, and the broker's resend (every 5 s, maybe to
        # a colleague) hands it out again. A copy of one acted on is ACKed
        # again without bothering the callback (the first ACK may be lost).
        eid, mid = m["escalation_id"], m["msg_id"]
        with self._esc_lock:
            acted, held = eid in self.escalations, eid in self.held_escalations
            if held:
                self.held_escalations[eid] = mid   # its ACK names the latest copy, as libminqing's
        if acted:
            self._ack_escalation(mid)
        elif not held and not self._keep(self._on_ESCALATE, m):
            self._hand_over(eid, mid, m)

    def _hand_over(self, eid, mid, m):
        if self.on_escalate:
            with self._esc_lock:
                if not self._hold_notice(eid, mid):   # during the call too: it may ack or release it itself
                    return
            try:
                verdict = self.on_escalate(self, m)
            except Exception as e:
                with self._esc_lock:
                    self.held_escalations.pop(eid, None)
                    acked = eid in self.escalations
                log.warning("on_escalate failed for escalation %d (case %d): %s; %s",
                            eid, m["case_id"], _failure(e),
                            "it had acknowledged it" if acked else
                            "not acknowledged, the broker sends it again")
                return
            if verdict is HOLD:
                return
            with self._esc_lock:
                # settled inside the call: acknowledged, or released (then no
                # ACK: the broker's next copy comes to on_escalate again)
                settled = eid not in self.held_escalations
            if settled:
                return
        with self._esc_lock:
            self._acted_on(eid, mid)
        self._flush_acks()

    def _hold_notice(self, eid, mid):
        """With _esc_lock: hold a notice for on_escalate; False when max_held
        are held already. Then it is not taken (nor ACKed): the broker sends
        it again within 5 s. Forgetting a held one instead would hand its next
        copy to on_escalate again, and have it acted on twice."""
        held = self.held_escalations
        if len(held) >= self.max_held:
            if not self._held_full:
                log.warning("%d escalation notices held: escalation %d and newer ones are left "
                            "to the broker's resend until some are settled", len(held), eid)
            self._held_full = True
            return False
        self._held_full = False
        held[eid] = mid
        return True

    def _acted_on(self, eid, mid):
        """With _esc_lock: ACK it once registered, and every later copy."""
        self.held_escalations.pop(eid, None)
        self.escalations.add(eid)
        self._acks_owed[eid] = mid

    def _flush_acks(self):
        """Send the ACKs due (loop thread only); before the REGISTER ACK they
        wait for it (5.7). One that cannot go out now is left to the
        broker's next copy, as a lost one is."""
        if not self.registered:
            return
        with self._esc_lock:
            owed = list(self._acks_owed.values())
            self._acks_owed.clear()
        for mid in owed:
            self._ack_escalation(mid)

    def _ack_escalation(self, msg_id):
        """ACK {re} for an ESCALATE, once per copy; not before the REGISTER
        ACK (5.7)."""
        if self.registered:
            self._send(encode("ACK", {"re": msg_id}))

    def ack_escalation(self, escalation_id):
        """The notice on_escalate returned HOLD for has been acted on: ACK it
        (the latest copy's msg_id, 5.16; the broker sends every copy with
        the same one) and every later copy. From any thread: another one's
        ACK goes out at the loop's next pass, and none before the REGISTER
        ACK (5.7). Once more for one acted on does nothing. ValueError for a
        notice not held here: never handed to on_escalate, or released: its
        next copy, if the broker sends one, goes to on_escalate again."""
        with self._esc_lock:
            if escalation_id in self.escalations:
                return
            mid = self.held_escalations.get(escalation_id)
            if mid is None:
                raise ValueError("escalation %r is not held by this worker" % (escalation_id,))
            self._acted_on(escalation_id, mid)
        if self._loop_thread in (None, threading.get_ident()):
            self._flush_acks()

    def release_escalation(self, escalation_id):
        """Give up on a notice on_escalate returned HOLD for (acting on it
        failed): no ACK, and the broker's next copy (within 5 s, maybe to a
        colleague) goes to on_escalate again. From any thread; it sends
        nothing. ValueError for a notice not held here (see ack_escalation),
        and for one already acknowledged: an ACK cannot be taken back (as
        libminqing's mq_worker_release_escalation)."""
        with self._esc_lock:
            if escalation_id in self.escalations:
                raise ValueError("escalation %r is already acknowledged" % (escalation_id,))
            if escalation_id not in self.held_escalations:
                raise ValueError("escalation %r is not held by this worker" % (escalation_id,))
            self.held_escalations.pop(escalation_id, None)

    # -- the loop --------------------------------------------------------------
    def call_later(self, delay, fn):
        """Run fn() in the loop thread after DELAY seconds (loop thread only)."""
        heapq.heappush(self._later, (time.monotonic() + delay, next(self._counter), fn))

    def step(self, timeout=0.1):
        """One pass: connect if due, wait up to TIMEOUT seconds for messages,
        handle them, run the timers. Call it at least every 250 ms (more
        often with a heartbeat_ms under 1000), with callbacks that return as
        fast: the session lives only inside it (see Worker)."""
        self._loop_thread = threading.get_ident()
        while self._inbox:
            self._add(self._inbox.popleft())
        while self._kept and not self._flushing:   # what came during a flush
            kept = self._kept.popleft()
            if kept is not None:
                kept[0](kept[1])
        if self._acks_owed:
            self._flush_acks()
        self._run_later()
        now = time.monotonic()
        if self.sock is None:
            if now < self._reconnect_at:
                nap = min(timeout, self._reconnect_at - now)
                if self._later:
                    nap = max(0.0, min(nap, self._later[0][0] - now))
                time.sleep(nap)
                return
            self._connect()
        hb = self.heartbeat_ms / 1000.0
        wait = min(timeout, hb / 4)
        if self._later:
            wait = max(0.0, min(wait, self._later[0][0] - now))
        blocked = zmq.POLLOUT if self._send_blocked and self.registered else 0
        if self.sock.poll(int(wait * 1000), zmq.POLLIN | blocked) & zmq.POLLIN:
            for _ in range(1000):
                try:
                    frames = self.sock.recv_multipart(flags=zmq.NOBLOCK)
                except zmq.Again:
                    break
                self._handle(frames)
                if self.sock is None:
                    return
        self._check_handshake()
        self._timers()

    def _run_later(self):
        now = time.monotonic()
        while self._later and self._later[0][0] <= now:
            self._call("a call_later function", heapq.heappop(self._later)[2])

    def _timers(self):
        self._run_later()
        if self.sock is None:
            return
        now = time.monotonic()
        hb = self.heartbeat_ms / 1000.0
        # while registering, at least 3 REGISTER rounds (longer after refusals)
        live = LIVENESS * (hb if self.registered else max(hb, self._reg_every))
        if now - self._last_in >= live:
            self._reconnect("nothing from the broker for %.1fs" % (now - self._last_in)
                            if self.registered else "REGISTER not answered")
            return
        expired = []                      # pending is in creation order: the old come first
        for o in self.pending.values():
            if now - o.created <= MAX_AGE_S:
                break
            expired.append(o)
        for o in expired:
            log.warning("dropped %s assignment=%s msg_id=%s: unanswered for 23 hours",
                        o.command, o.assignment_id, o.msg_id)
            self._finish(o, False, {"code": 0, "reason": "unanswered for 23 hours"})
        if not self.registered:
            if now >= self._reg_next:
                self._register(new_id=False)  # same msg_id: REGISTER may be resent (5.7)
            return
        self._send_due(now)
        if now - self._last_out >= hb:
            self._send(encode("HEARTBEAT", {}))

    def run(self, stop=None):
        """Run until stop() returns true (or self.stopping is set)."""
        while not self.stopping and not (stop and stop()):
            self.step()

    def unacked(self):
        """Outcomes queued and not yet acknowledged (nor dropped)."""
        return len(self.pending) + len(self._inbox)

    def flush(self, timeout=FLUSH_S, stop=None):
        """Run the loop until every outcome queued is acknowledged (or
        dropped on an ERROR), for TIMEOUT seconds at most (None: no limit),
        or until stop() returns true, as libminqing's mq_worker_flush; loop
        thread only. Returns how many are left unacknowledged: 0 when none.
        Meanwhile DISPATCH and new ESCALATE notices are not handed to the
        callbacks: they wait for the next step() (after close(), they are
        dropped, and the broker sends them again). WorkerError as step()."""
        end = None if timeout is None else time.monotonic() + timeout
        self._flushing = True
        try:
            while self.unacked() and not (stop and stop()):
                left = 0.1 if end is None else end - time.monotonic()
                if left <= 0:
                    break
                self.step(min(left, 0.1))
        finally:
            self._flushing = False
        return self.unacked()

    def close(self, reason="worker stopping"):
        """Leave: DISCONNECT if registered, then close the socket. Outcomes
        not yet acknowledged are dropped with it (the broker hands their
        assignments out again): call flush() first."""
        if self.sock is not None and self.registered:
            self._flush_acks()               # an ack_escalation the loop had no pass left for
            self._send(encode("DISCONNECT", {"reason": reason}))
            self.sock.setsockopt(zmq.LINGER, 200)
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self._unwatch()
        self.registered = False


# ---------------------------------------------------------------------------
# CLI: work every assignment through STEPS, like bench/simworker.

STEPS = ("accept", "contacted", "progress", "resolved", "returned")


class StepRunner(object):
    def __init__(self, steps, logfile, delay=0.0):
        self.steps = steps
        self.delay = delay
        self.log = logfile
        self.jobs = {}            # assignment_id -> [case_id, attempt, next step index]

    def _line(self, *parts):
        if self.log:
            self.log.write(" ".join(str(p) for p in parts) + "\n")
            self.log.flush()

    def on_dispatch(self, w, d, first):
        aid, cid = d["assignment_id"], d["case_id"]
        self._line(aid, cid, "received", d["attempt"])
        if first:
            self.jobs[aid] = [cid, d["attempt"], 0]
            self._next(w, aid)

    def _next(self, w, aid):
        if w.stopping:                    # SIGTERM: no new step, the last ones are flushed
            return
        if self.delay > 0:
            w.call_later(self.delay, lambda: self._advance(w, aid))
        else:
            self._advance(w, aid)

    def _advance(self, w, aid):
        job = self.jobs.get(aid)
        if job is None or w.stopping:
            return
        cid, _, i = job
        if i >= len(self.steps):
            del self.jobs[aid]
            return
        s = self.steps[i]
        if s == "accept":
            w.accept(aid, context=s)
        elif s == "contacted":
            w.contacted(aid, context=s)
        elif s == "progress":
            w.progress(aid, "处理中", context=s)
        elif s == "resolved":
            w.resolved(aid, "fixed", "已处理完毕：案件%d" % cid, context=s)
        elif s == "returned":
            w.returned(aid, "wrong_department", context=s)

    def on_outcome(self, w, o, ok, reply):
        aid = o.assignment_id
        job = self.jobs.get(aid)
        if job is None:
            return
        if not ok:
            log.warning("assignment %d: %s refused (%d), stopping work on it",
                        aid, o.context, reply["code"])
            del self.jobs[aid]
            return
        self._line(aid, job[0], o.context, job[1])
        job[2] += 1
        state = reply.get("state")
        # a handed-over assignment may already be contacted (11: DISPATCH carries
        # no state; the ACCEPT ACK does): do not send a second CONTACTED
        while job[2] < len(self.steps) and self.steps[job[2]] == "contacted" and state == "contacted":
            job[2] += 1
        if state in ("resolved", "returned", "cancelled"):
            job[2] = len(self.steps)
        self._next(w, aid)

    def on_escalate(self, w, e):
        street = "".join(c if c.isprintable() else "?" for c in e["street"])   # one line
        self._line(e["escalation_id"], e["case_id"], "escalation",
                   "L%d" % e["level"], e["ladder"], e["target"], street)


def main(argv=None):
    p = argparse.ArgumentParser(description="an MQP/1 department worker")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--department", required=True)
    p.add_argument("--capacity", type=int, default=10)
    p.add_argument("--name")
    p.add_argument("--steps", default="accept,contacted,resolved")
    p.add_argument("--delay", type=int, default=0, metavar="MS",
                   help="pause before each step, in milliseconds (like simworker -D)")
    p.add_argument("--log", help="outcome log, one line per DISPATCH, per outcome ACKed and per "
                        "escalation notice, as simworker's")
    p.add_argument("--server-cert", metavar="FILE",
                   help="CURVE on tcp://: the broker's public certificate (minqing keygen)")
    p.add_argument("--cert", metavar="FILE",
                   help="CURVE on tcp://: this worker's certificate, its secret key in FILE_secret")
    p.add_argument("--flush-timeout", type=int, default=int(FLUSH_S * 1000), metavar="MS",
                   help="at SIGTERM or SIGINT, how long to wait for the outcomes not yet "
                        "acknowledged (%(default)s); exit 1 if some are left")
    p.add_argument("--verbose", "-v", action="store_true")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if a.verbose else logging.WARNING,
                        format="%(asctime)s minqing_worker[%(process)d] %(levelname)s %(message)s")
    if (a.server_cert is None) != (a.cert is None):
        p.error("--server-cert and --cert go together")
    steps = [s for s in a.steps.split(",") if s]
    bad = [s for s in steps if s not in STEPS]
    if bad or not steps:
        p.error("--steps: comma-separated of %s" % ", ".join(STEPS))
    logfile = open(a.log, "a", encoding="utf-8") if a.log else None
    runner = StepRunner(steps, logfile, a.delay / 1000.0)
    refusals = _Refusals()
    try:
        w = Worker(a.endpoint, a.department, a.capacity, a.name,
                   on_dispatch=runner.on_dispatch, on_outcome=runner.on_outcome,
                   on_escalate=runner.on_escalate, on_register=refusals.readmitted,
                   server_cert=a.server_cert, cert=a.cert)
    except ProtocolError as e:
        p.error("invalid registration: %s" % e.reason)
    except CertError as e:
        p.error(str(e))

    signals = [0]

    def stop(*_):
        signals[0] += 1
        w.stopping = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    rc = 0
    try:
        while not w.stopping:
            try:
                w.run()
            except WorkerError as e:
                if w.sessions == 0:           # this configuration is refused: stop
                    log.error("%s", e)
                    rc = 1
                    break
                refusals.refused(w, e)        # the session ended (a key revoked): go on
    finally:
        rc = max(rc, _shut_down(w, a.flush_timeout / 1000.0, lambda: signals[0] > 1))
        if logfile:
            logfile.close()
    return rc


class _Refusals(object):
    """The CLI's refusals after a first session (a key revoked, a reload
    that removed the department), as minqing-worker's: the worker goes on
    registering (every 2, 4, then 8 s), outcomes kept; logged at once, then
    once a minute while it lasts, and once more when readmitted."""
    EVERY_S = 60.0

    def __init__(self):
        self.logged_at = None
        self.repeated = 0

    def refused(self, w, e):
        self.repeated += 1
        now = time.monotonic()
        if self.logged_at is not None and now - self.logged_at < self.EVERY_S:
            return
        log.error("%s%s; registering again, %d outcome(s) kept", e,
                  " (%d times since the last report)" % self.repeated if self.logged_at else "",
                  w.unacked())
        self.logged_at, self.repeated = now, 0

    def readmitted(self, w, session):
        if self.logged_at is not None:
            log.warning("registered again after the refusal (session %d), %d outcome(s) queued",
                        session, w.unacked())
        self.logged_at, self.repeated = None, 0


def _shut_down(w, timeout, stop):
    """As minqing-worker's at SIGTERM: the outcomes not yet acknowledged get
    TIMEOUT seconds (a second signal ends the wait); those left are dropped,
    and then the exit status is 1: the broker hands their assignments out
    again, so the stop was not clean."""
    try:
        left = w.flush(timeout, stop)
    except WorkerError as e:
        log.error("%s", e)
        left = w.unacked()
    w.close()
    if left:
        log.error("stopped with %d outcome(s) not acknowledged after %.1f s: dropped", left, timeout)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
