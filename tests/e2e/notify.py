"""Play systemd's side of Type=notify for minqingd.

Usage: notify.py SOCKET_PATH SECONDS
Binds a datagram socket at SOCKET_PATH and prints every notification it
receives, one per line, prefixed with the ms since it started, for SECONDS.
"""
import os
import socket
import sys
import time

path, seconds = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(0.1)
start = time.time()
print("listening", flush=True)
while time.time() - start < seconds:
    try:
        data = s.recv(4096).decode()
    except socket.timeout:
        continue
    for line in data.split("\n"):
        if line:
            print(int((time.time() - start) * 1000), line, flush=True)
