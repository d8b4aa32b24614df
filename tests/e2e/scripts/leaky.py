"""leaky.py - a careless command: it prints the case it was given on stderr
in each form a program may print it (json.dumps, Python bytes, a URL under
set -x, a geocoder's error, a table row), an ordinary progress line, and
two lines over the adapter's 64 KiB cut inside an e-mail address; then
resolves the case. minqing-worker must mask them before they reach its log."""
import json
import sys
import urllib.parse

c = json.load(sys.stdin)["case"]
name = c["last_name"] + c["first_name"]
err = sys.stderr
print("handling case", json.dumps(c), file=err)
print("name", name.encode(), c["address_string"].encode(), file=err)
query = urllib.parse.urlencode({"to": c["phone"], "name": name, "addr": c["address_string"],
                                "mail": c["email"]})
print("+ curl -s http://127.0.0.1:9/sms/send?" + query, file=err)
print("+ phone=" + urllib.parse.quote(c["phone"]), file=err)
print("geocode %s,%s -> no grid; %r" % (c["lat"], c["long"], (c["lat"], c["long"])), file=err)
print("row|" + c["phone"].replace(" ", "|") + "|", file=err)
print("took 1.234 s, ratio 0.123456, v1.2.3 on 10.0.12.34, 2024-05-01 10:30", file=err)
# 6 + 65506 + 6 bytes, then an address the cut at 65535 leaves 17 bytes of
err.write("dump: " + "a" * 65506 + "@x.cn " + c["email"] + "\n")
err.write("dump: " + "b" * 65506 + "@x.cn zhang.san.example@163.com\n")
err.flush()
print('{"event":"accepted"}')
print('{"event":"resolved","result":"fixed","summary":"done"}')
