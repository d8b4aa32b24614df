"""check_input.py DIR CASE_ID - check what dump.sh kept of the assignment and
of the escalation of case CASE_ID (submitted by submit_case.py full): the JSON on
stdin and the MINQING_* environment. Prints what differs; exit 1 if anything."""
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from submit_case import CASES  # noqa: E402

d, case_id = sys.argv[1], int(sys.argv[2])
bad = []


def expect(what, got, want):
    if got != want:
        bad.append("%s: got %r, want %r" % (what, got, want))


def load(kind):
    for path in glob.glob("%s/in-%s-*.json" % (d, kind)):
        with open(path) as f:
            doc = json.load(f)
        if doc.get("case_id") == case_id:
            with open(path[:-5] + ".env") as f:
                env = dict(line.rstrip("\n").split("=", 1) for line in f)
            return doc, env
    bad.append("no %s input kept for case %d" % (kind, case_id))
    return None, None


a, env = load("assignment")
if a:
    for key in ("assignment_id", "received_at", "contact_due", "resolve_due"):
        if not isinstance(a.get(key), int):
            bad.append("assignment.%s is not an integer: %r" % (key, a.get(key)))
    expect("type", a.get("type"), "assignment")
    expect("department", a.get("department"), "dump")
    expect("role", a.get("role"), "lead")
    expect("attempt", a.get("attempt"), 1)
    expect("contact_due - received_at", a["contact_due"] - a["received_at"], 1000)
    expect("resolve_due - received_at", a["resolve_due"] - a["received_at"], 3600000)
    want = CASES["full"]
    expect("case", a.get("case"), want)
    for key in ("lat", "long"):
        if not isinstance(a["case"].get(key), float):
            bad.append("case.%s is not a number: %r" % (key, a["case"].get(key)))
    expect("MINQING_TYPE", env.get("MINQING_TYPE"), "assignment")
    expect("MINQING_ASSIGNMENT_ID", env.get("MINQING_ASSIGNMENT_ID"), str(a["assignment_id"]))
    expect("MINQING_CASE_ID", env.get("MINQING_CASE_ID"), str(case_id))
    expect("MINQING_DEPARTMENT", env.get("MINQING_DEPARTMENT"), "dump")
    expect("MINQING_ATTEMPT", env.get("MINQING_ATTEMPT"), "1")
    expect("MINQING_CONTACT_DUE", env.get("MINQING_CONTACT_DUE"), str(a["contact_due"]))
    expect("MINQING_RUN", env.get("MINQING_RUN"), "1")

e, env = load("escalation")
if e:
    expect("escalation keys", sorted(e), sorted([
        "type", "escalation_id", "case_id", "level", "ladder", "target", "department",
        "grid_code", "community", "street", "due_at", "overdue_s"]))
    expect("type", e.get("type"), "escalation")
    expect("level", e.get("level"), 1)
    expect("ladder", e.get("ladder"), "contact")
    expect("department", e.get("department"), "dump")
    expect("grid_code", e.get("grid_code"), "CG01-XH01-G0001")
    if a:
        expect("due_at", e.get("due_at"), a["contact_due"])
    expect("MINQING_TYPE", env.get("MINQING_TYPE"), "escalation")
    expect("MINQING_ESCALATION_ID", env.get("MINQING_ESCALATION_ID"), str(e.get("escalation_id")))
    expect("MINQING_LEVEL", env.get("MINQING_LEVEL"), "1")
    expect("MINQING_DEPARTMENT", env.get("MINQING_DEPARTMENT"), "supervision")

for b in bad:
    print("# " + b)
sys.exit(1 if bad else 0)
