"""Agent whose tool process hides a grandchild from nova, then dies when told to.

Usage: chain.py PIDFILE. The agent ignores SIGINT and SIGTERM and starts a middle process in
a session of its own; the middle process dies on SIGTERM and has started a grandchild that
also leaves its session, clears nova's marker from its environment and ignores SIGINT and
SIGTERM. When the middle one dies the grandchild is re-parented to nova, carrying nothing
that says which task it belongs to. Its pid goes to PIDFILE.
"""

import signal
import subprocess
import sys
import time

IGNORE = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(300)"
)
MIDDLE = (
    "import os, subprocess, sys, time\n"
    f"child = subprocess.Popen([sys.executable, '-c', {IGNORE!r}], start_new_session=True,\n"
    "                         env={'PATH': os.environ['PATH']}, stdin=subprocess.DEVNULL,\n"
    "                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    f"tmp = {sys.argv[1]!r} + '.tmp'\n"
    "open(tmp, 'w').write(str(child.pid))\n"
    f"os.rename(tmp, {sys.argv[1]!r})\n"
    "time.sleep(300)\n"
)

signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen(
    [sys.executable, "-c", MIDDLE],
    start_new_session=True,
    stdin=subprocess.DEVNULL,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
print("started the middle process", flush=True)
while True:
    time.sleep(300)
