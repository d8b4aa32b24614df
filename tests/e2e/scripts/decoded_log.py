"""decoded_log.py LOG - each text= of LOG's cmd.stderr records decoded as
anyone reading the journal could decode it (JSON's \\uXXXX, Python's \\xNN,
a URL's %XX and '+'), one a line; exit 1 naming what of the resident's
case review's values one of them still shows."""
import re
import sys
import urllib.parse

LEAKS = ["小明", "王小", "甘肃", "幸福小区", "李建国", "xiaoming", "zhang.san", "061089", "834304"]


def decoded(text):
    text = re.sub(r"\\([\"\\])", r"\1", text)               # the log's own escapes
    text = urllib.parse.unquote_plus(text)
    text = re.sub(r"(\\x[0-9a-fA-F]{2})+", lambda m: bytes.fromhex(
        m.group(0).replace("\\x", "")).decode("utf-8", "replace"), text)
    return re.sub(r"(\\u[0-9a-fA-F]{4})+", lambda m: m.group(0).encode().decode(
        "unicode_escape").encode("utf-16", "surrogatepass").decode("utf-16", "replace"), text)


bad = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    m = re.search(r'event=cmd\.stderr .* text="((?:[^"\\]|\\.)*)"', line)
    if not m:
        continue
    text = decoded(m.group(1))
    print(text[:300])
    found = [w for w in LEAKS if w in text]
    found += ["the phone"] if re.search(r"(?<![0-9])0013(?![0-9])", text) or \
        "13800138000" in re.sub(r"[^0-9]", "", text) else []
    if found:
        bad += 1
        print("# shows %s" % ", ".join(found))
sys.exit(1 if bad else 0)
