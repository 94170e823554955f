"""Agent that exits at once but leaves `sleep 300` running with its stdout and stderr.

Usage: leaky.py PIDFILE [same-session|setsid|scrubbed]. The sleep inherits the agent's stdout
and stderr pipes, so they stay open after the agent exits. With `setsid` the sleep also leaves
the agent's session; with `scrubbed` it leaves the session and gets an environment without
nova's markers, so nova cannot tell it belongs to the task.
"""

import os
import subprocess
import sys

how = sys.argv[2] if len(sys.argv) > 2 else "same-session"
env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")} if how == "scrubbed" else None
child = subprocess.Popen(
    ["sleep", "300"],
    stdin=subprocess.DEVNULL,
    env=env,
    start_new_session=how in ("setsid", "scrubbed"),
)
with open(sys.argv[1], "w") as handle:
    handle.write(str(child.pid))
print(f"left sleep {child.pid} holding stdout; exiting", flush=True)
sys.exit(0)
