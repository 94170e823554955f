"""A task's check command: passes once its agent has run N times.

Usage: check.py OUT ID N. Appends a line to OUT/ID.checks each time it runs; exits 0 when
OUT/ID.runs (written by record.py) has N lines or more, else prints why and exits 1.
With N=hang it sleeps for a minute instead (for timeouts and Ctrl-C).
"""

import sys
import time
from pathlib import Path


def main(out: Path, task_id: str, want: str) -> int:
    with open(out / f"{task_id}.checks", "a") as checks:
        checks.write("checked\n")
    if want == "hang":
        print("checking slowly", flush=True)
        time.sleep(60)
        return 0
    runs = out / f"{task_id}.runs"
    have = len(runs.read_text().splitlines()) if runs.exists() else 0
    if have >= int(want):
        print(f"{task_id}: all {have} good")
        return 0
    print("collecting tests")
    print(f"{task_id}: {have} run(s), want {want}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], sys.argv[3]))
