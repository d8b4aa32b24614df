#!/bin/sh
# mask_parity.sh - the Python adapter library masks free text exactly as
# proto/mask.c does (minqing-worker's log, `minqing show`, the broker's log):
# an adapter author's log must not show what the C programs hide, and the
# two must not drift apart as either learns a new way people write numbers.
# The same texts go through both: the forms in PROTOCOL.md and the unit
# tests, and 3,000 random ones drawn from digits, separators, e-mail
# characters, escapes and Chinese text (seeded, so a failure repeats). The
# forms a review found leaking (URL-encoded and escaped text, coordinates,
# bars and newlines between groups) must come out of both as written here,
# and the Python library must mask an exception's text before it cuts it.
. "$(dirname "$0")/../lib.sh"

cat > "$T/mask_nul.c" <<'EOF'
/* stdin: texts, each ended by a NUL; stdout: each masked, ended by a NUL */
#include "mask.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void)
{
    static char in[1 << 16], out[1 << 18];
    size_t n = 0;
    int c;
    while ((c = getchar()) != EOF) {
        if (n + 1 >= sizeof in)
            return 2;
        in[n++] = (char)c;
        if (c == '\0') {
            mask_text(in, out, sizeof out);
            fwrite(out, 1, strlen(out) + 1, stdout);
            n = 0;
        }
    }
    return n == 0 ? 0 : 3;
}
EOF
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$ROOT/proto" -o "$T/mask_nul" "$T/mask_nul.c" \
  "$ROOT/proto/mask.c" "$ROOT/proto/utf8.c" > "$T/cc.log" 2>&1
rc=$?
check "a program of proto/mask.c's mask_text builds" test "$rc" = 0
[ "$rc" = 0 ] || { sed 's/^/# /' "$T/cc.log"; finish; exit 1; }

cat > "$T/parity.py" <<'EOF'
import random, subprocess, sys
sys.path.insert(0, sys.argv[1] + "/workers/python")
import minqing_worker as mw

fixed = [
    "居民13812345678来电，身份证620102199001011234，3号楼", "case 4242, room 12, 2024-05-01",
    "138-1234-5678, 138 1234 5678", "电话１３８－１２３４－５６７８", "0755-86001234 or 86001234",
    "138\u30001234\u30005678", "138 - 1234 - 5678", "138     1234", "138 -/ 1234",
    "\x1b[31m13812345678\x1b[0m", "138 \x1b[31m1234\x1b[0m 5678", "tel 1381234\x015678 ok",
    "电话 1 3 8 1 2 3 4 5 6 7 8 谢谢", "1-3-8-1-2-3-4-5-6-7-8", "1 3 8 1234 5678",
    "2024-05-01 10:30, 1 - 2", "138 12 34 56 78", "电话138，1234，5678。", "138、1234、5678",
    "138\u200b1234\u200b5678", "138--1234--5678; 138\u2014\u20141234\u2014\u20145678",
    "13812345678、13987654321", "138-1234-5678, 139 8765 4321", "1,234,567 元, 10:30:45",
    "邮箱zhang.san@example.com。QQ 12345678@qq.com", "user@localhost, a@b, @x.com, x@.com",
]
# (text, as both must mask it): the review's forms, and figures that stay
expected = [
    ("to=%2B86+138+0013+8000", "to=%2B86+138+****+8000"),
    ("to=%2B86%20138%200013%208000", "to=%2B86%20138%20****%208000"),
    ("to=138%200013%208000&x=138+0013+8000", "to=138%20****%208000&x=138+****+8000"),
    ("%2b86%2d138%2d0013%2d8000", "%2b86%2d138%2d****%2d8000"),
    ("x=%2012345", "x=%*****45"),
    ("to=138%EF%BC%8D0013%EF%BC%8D8000", "to=138%EF%BC%8D****%EF%BC%8D8000"),
    ('{"d": "138\\u30000013\\u30008000"}', '{"d": "138\\u3000****\\u30008000"}'),
    ("b'138\\xe3\\x80\\x800013\\xe3\\x80\\x808000'",
     "b'138\\xe3\\x80\\x80****\\xe3\\x80\\x808000'"),
    ("tel=138%A3%AD0013%A3%AD8000", "tel=138%A3%AD****%A3%AD8000"),
    ("13800138000%EF%BC%8C13912345678", "138****8000*139****5678"),
    ("tel 138\\t0013\\n8000 '138\\xa00013\\xa08000'", "tel 138\\t****\\n8000 '138\\xa0****\\xa08000'"),
    ("q=2024%C4%EA1000%D4%AA 1203%CA%D25678", "q=2024**1000* 1203**5678"),
    ("138|0013|8000", "138|****|8000"), ("138*0013*8000", "138******8000"),
    ("bad row:\n138\n0013\n8000", "bad row:\n138\n****\n8000"),
    ('{"first_name": "\\u5c0f\\u660e", "x": "\\u5355\\u5143501\\u5BA4"}',
     '{"first_name": "**", "x": "**501*"}'),
    ("name=%E7%8E%8B%e5%b0%8f b'\\xe7\\x8e\\x8b' %CD%F5 %E7%8E", "name=** b'*' ** **"),
    ("\\u0041 %41 \\x41 %20 \\u00 %zz", "\\u0041 %41 \\x41 %20 \\u00 %zz"),
    ("geocode 36.061089,103.834304 POINT(103.834304 36.061089)",
     "geocode 36.******,103.****** POINT(103.****** 36.******)"),
    ('"lat": 36.061089, "long": 103.834304, lat=-33.8688',
     '"lat": 36.******, "long": 103.******, lat=-33.****'),
    ("0.123456 1.234 s 12.50 元 v1.2.3 10.0.12.34 99.5% 3.14 05.12345 36.061 1.2.3456",
     "0.123456 1.234 s 12.50 元 v1.2.3 10.0.12.34 99.5% 3.14 05.12345 36.061 1.2.3456"),
]
fixed += [t for t, _ in expected]
pieces = (list("0123456789") * 4 + ["１", "８", " ", " ", "-", "--", ".", "/", "_", ",", ":",
          "~", "，", "、", "。", "·", "\u3000", "\u00a0", "\u200b", "\u2014", "\t", "\r", "\x7f",
          "\x1b[0m", "\x1b[", "@", "@", "a", "Z", "%", "+", "电", "话", "\n", "1@q.cn",
          "%20", "%2B", "%2d", "%2C", "%0A", "|", "*", "\uff5c", "\uff0a", "\\u738b", "\\u",
          "\\xe7", "%E7", "%8e", "%B0", "36.061089", "1", "B", "0.",
          "%EF%BC%8D", "%ef%bc%8c", "\\u3000", "\\uff0d", "\\xe3\\x80\\x80", "%A3%AD", "%A3",
          "\\t", "\\n", "\\r", "\\xa0", "\\x85", "\\xb7", "%C4%EA", "%A1%A1", "\\xa3\\xac", "\\"])
rng = random.Random(20261207)
texts = fixed + ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))
                 for _ in range(3000)]
data = b"".join(t.encode() + b"\0" for t in texts)
c = subprocess.run([sys.argv[2]], input=data, capture_output=True, timeout=30, check=True)
c_out = [x.decode() for x in c.stdout.split(b"\0")[:-1]]
if len(c_out) != len(texts):
    sys.exit("# the C program answered %d texts of %d" % (len(c_out), len(texts)))
bad = [(t, a, mw._mask_text(t)) for t, a in zip(texts, c_out) if a != mw._mask_text(t)]
for t, a, p in bad[:5]:
    print("# %r: C %r, Python %r" % (t, a, p))
print("# %d texts, %d masked differently" % (len(texts), len(bad)))
c_of = dict(zip(texts, c_out))
wrong = [(t, w, c_of[t], mw._mask_text(t)) for t, w in expected
         if c_of[t] != w or mw._mask_text(t) != w]
for t, w, a, p in wrong:
    print("# %r: want %r, C %r, Python %r" % (t, w, a, p))
sys.exit((1 if bad else 0) | (2 if wrong else 0))
EOF
bounded "$PY" "$T/parity.py" "$ROOT" "$T/mask_nul"
rc=$?
check "the fixed texts and 3,000 random ones: the Python library masks each exactly as proto/mask.c does" \
  test $((rc & 1)) = 0 -a "$rc" -lt 4
check "the forms a review found leaking: both mask each as they must" test $((rc & 2)) = 0 -a "$rc" -lt 4

cat > "$T/masked.py" <<'EOF'
import random, sys
sys.path.insert(0, sys.argv[1] + "/workers/python")
import minqing_worker as mw
# an exception as smtplib's SMTPRecipientsRefused: long staff addresses,
# which shrink to c***@gov.cn, then the resident's where the text was cut;
# and any text: what is shown is the whole text masked, then cut
staff = ["county-12345-hotline-supervision-office-notifications-%06d@gov.cn" % i for i in range(12)]
smtp = "SMTPRecipientsRefused: " + ", ".join(staff + ["xiaoming.wang@163.com"])
fails = [(smtp, mw._masked(smtp))] if "xiaoming" in mw._masked(smtp) else []
rng = random.Random(20261208)
pieces = ["a" * 70 + "@x.cn ", "13800138000 ", "\\u738b", "%E7%8E%8B", "word ", "电话", "36.061089 "]
for _ in range(300):
    t = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 30)))
    fails += [(t, mw._masked(t, n)) for n in (7, 40, 200)
              if mw._masked(t, n) != mw._safe(mw._mask_text(t), 1 << 20)[:n]]
for t, m in fails[:3]:
    print("# %r: %r" % (t[-80:], m[-80:]))
sys.exit(1 if fails else 0)
EOF
bounded "$PY" "$T/masked.py" "$ROOT"
check "the Python library masks an exception's text whole before it cuts it" test $? = 0

finish
