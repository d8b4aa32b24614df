"""TAP output for the Python end-to-end scripts: tap() prints one "ok" or
"not ok" line, finish() the plan and the exit status (1 when any failed)."""
import sys

_n = _failed = 0


def tap(good, what):
    global _n, _failed
    _n += 1
    _failed += 0 if good else 1
    print(("ok" if good else "not ok"), _n, "-", what, flush=True)


def finish():
    print("1..%d" % _n)
    sys.exit(1 if _failed else 0)
