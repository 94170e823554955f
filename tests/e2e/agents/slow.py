"""Agent that takes too long: records its pid, optionally prints once, then sleeps 60 s.

Usage: slow.py OUT ID [talk]. Appends its pid to OUT/ID.runs (one line per run).
"""

import os
import sys
import time
from pathlib import Path

out, task_id = Path(sys.argv[1]), sys.argv[2]
with open(out / f"{task_id}.runs", "a") as runs:
    runs.write(f"{os.getpid()}\n")
if sys.argv[3:] == ["talk"]:
    print(f"{task_id} said one thing and went quiet", flush=True)
time.sleep(60)
