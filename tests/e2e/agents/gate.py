"""Agent that holds its slot until the test lets it go.

Usage: gate.py OUT ID. Writes OUT/ID.ready, waits (up to 60 s) for OUT/release, exits 0.
"""

import sys
import time
from pathlib import Path

out, task_id = Path(sys.argv[1]), sys.argv[2]
with open(out / f"{task_id}.runs", "a") as runs:
    runs.write("run\n")
(out / f"{task_id}.ready").write_text("ready")
deadline = time.monotonic() + 60
while not (out / "release").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
print(f"{task_id} released", flush=True)
