"""The signals that end a command an operator stops (Ctrl-C, systemctl stop,
a closed terminal), for the Python parts of the e2e scripts that send them:
a child started with preexec_fn=default_signals has them at their default
action, whatever the test runner set."""
import signal

ENDING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def default_signals():
    for s in ENDING:
        signal.signal(s, signal.SIG_DFL)
