#!/bin/sh
# worker_config.sh - minqing-worker's config file, checked before anything
# connects: a value the library would only refuse later (exit 1, which the
# systemd unit restarts in a loop) is a configuration error at its line
# (exit 2, which it does not): a tcp:// endpoint without a port or with a
# space in its host, an ipc:// path longer than a socket address holds, a
# name over the 64 characters REGISTER carries; and a key given twice,
# which used to win in silence (a stale exec = line below a new one). A name
# of 64 Chinese characters (192 bytes) and a valid endpoint still start.
# No broker: nothing gets as far as connecting, but the one that starts.
. "$(dirname "$0")/../lib.sh"

# conf NAME LINES: $T/NAME.conf with an endpoint, a department, an exec, then LINES
conf() {
  printf 'endpoint = ipc://%s/w.sock\ndepartment = water\nexec = true\n%s' "$T" "$2" > "$T/$1.conf"
}
# refused NAME TEXT: the adapter on $T/NAME.conf exits 2, naming the file,
# the line and TEXT
refused() {
  bounded 5 "$BIN/minqing-worker" -c "$T/$1.conf" > "$T/$1.out" 2>&1
  rc=$?
  check "$1: exit 2 at $T/$1.conf:$2 ($rc: $(head -c 160 "$T/$1.out"))" \
    sh -c "[ $rc = 2 ] && grep -qF -- '$T/$1.conf:$2: $3' '$T/$1.out'"
}

printf 'endpoint = tcp://127.0.0.1\ndepartment = water\nexec = true\n' > "$T/tcp_noport.conf"
refused tcp_noport 1 'endpoint: bad value: not tcp://HOST:PORT'
printf 'department = water\nendpoint = tcp://no such host:5556\nexec = true\n' > "$T/tcp_space.conf"
refused tcp_space 2 'endpoint: bad value: not tcp://HOST:PORT'
printf 'endpoint = ipc://%s/%0100d.sock\ndepartment = water\nexec = true\n' "$T" 0 > "$T/ipc_long.conf"
refused ipc_long 1 'endpoint: bad value: the ipc:// path is longer than a socket address holds'
conf name_long "name = $(printf '%065d' 0)
"
refused name_long 4 'name: bad value: longer than 64 characters'
conf exec_twice 'concurrency = 2
exec = /usr/local/libexec/minqing/old-adapter
'
refused exec_twice 5 'exec given twice (first at line 3)'
conf key_twice '[worker]
on_failure = return
on-failure = retry
'
refused key_twice 6 'on-failure given twice (first at line 5)'

# counted in characters, as REGISTER counts them: 64 Chinese ones (192
# bytes, too long for a line of the file) start, 65 do not
bounded 5 "$BIN/minqing-worker" --endpoint "ipc://$T/w.sock" --department water \
  --exec true --name "$(printf '水%.0s' $(seq 65))" > "$T/name65.out" 2>&1
rc=$?
check "--name of 65 Chinese characters: exit 2 ($rc)" \
  sh -c "[ $rc = 2 ] && grep -q 'name: bad value: longer than 64 characters' '$T/name65.out'"
conf fine ""
timeout --preserve-status -s TERM 1 "$BIN/minqing-worker" -c "$T/fine.conf" \
  --name "$(printf '水%.0s' $(seq 64))" > "$T/fine.out" 2>&1
rc=$?
check "a name of 64 Chinese characters and an ipc:// endpoint start (exit $rc on SIGTERM)" \
  sh -c "[ $rc = 0 ] && grep -q 'event=worker.started' '$T/fine.out'"
check "no sanitizer report" sh -c "! grep -q -E 'Sanitizer|runtime error:' '$T'/*.out"
finish
