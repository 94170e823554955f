"""Agent that records when it runs: start/end times, and how many agents run at once.

Usage: record.py OUT ID [MEET]. Under an flock on OUT/lock it keeps OUT/active (agents
running now) and OUT/peak (the most ever), and appends `start|end ID TIME` to OUT/events.
With MEET=N it waits (up to 20 s) until N agents run at once, proving they overlap.
"""

import fcntl
import sys
import time
from pathlib import Path


def locked(out: Path, change: int, event: str, task_id: str) -> int:
    with open(out / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        active_file, peak_file = out / "active", out / "peak"
        active = int(active_file.read_text() or 0) if active_file.exists() else 0
        active += change
        active_file.write_text(str(active))
        peak = int(peak_file.read_text() or 0) if peak_file.exists() else 0
        peak_file.write_text(str(max(peak, active)))
        if event:
            with open(out / "events", "a") as events:
                events.write(f"{event} {task_id} {time.time():.6f}\n")
        return active


def main(out: Path, task_id: str, meet: int) -> int:
    with open(out / f"{task_id}.runs", "a") as runs:
        runs.write("run\n")
    locked(out, +1, "start", task_id)
    deadline = time.monotonic() + 20
    while meet and locked(out, 0, "", task_id) < meet and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    print(f"{task_id} worked", flush=True)
    locked(out, -1, "end", task_id)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0))
