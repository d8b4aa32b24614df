#!/bin/sh
# deps.sh - install the Debian packages minqing needs, and nothing when all are present.
# Usage: scripts/deps.sh [build|test|bench]   (each set includes the ones before it)
set -eu

# python3: the demo workers' scripts (examples/) that `make run` starts
BUILD="build-essential pkg-config libzmq3-dev libczmq-dev libmsgpack-dev libsqlite3-dev
libsystemd-dev libinih-dev libjansson-dev sqlite3 python3"
# man-db: `systemd-analyze verify` (tests/e2e/units.sh) opens the units' man: pages
TEST="libcmocka-dev clang libclang-rt-14-dev python3-zmq python3-msgpack valgrind
systemd procps man-db"
BENCH="beanstalkd redis-server libhiredis-dev"

case "${1:-build}" in
  build) want="$BUILD" ;;
  test)  want="$BUILD $TEST" ;;
  bench) want="$BUILD $TEST $BENCH" ;;
  *) echo "deps.sh: unknown set '$1' (build, test or bench)" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$st" in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
if [ "$(id -u)" = 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"
else echo "deps: need root or sudo to install:$missing" >&2; exit 1
fi
# passed through env: sudo's env_reset would drop an exported variable, and a
# package's configuration question would then stop a scripted install
APT="env DEBIAN_FRONTEND=noninteractive apt-get"
# A fresh machine has no package lists yet; refresh them before the first install.
$SUDO $APT update -qq
# shellcheck disable=SC2086
$SUDO $APT install -y -qq --no-install-recommends $missing
