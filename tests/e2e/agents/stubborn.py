"""Agent that will not stop: ignores SIGINT and SIGTERM and leaves a child in its own session.

Usage: stubborn.py OUT ID. Counts its run in OUT/ID.runs. If OUT/behave exists it just exits 0.
Otherwise it starts `sleep 300` with setsid (out of its process group), then writes the sleep's
pid to OUT/ID.ready and waits forever.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path


def main(out: Path, task_id: str) -> int:
    with open(out / f"{task_id}.runs", "a") as runs:
        runs.write("run\n")
    if (out / "behave").exists():
        print(f"{task_id} behaved", flush=True)
        return 0
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen(
        ["sleep", "300"],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tmp = out / f"{task_id}.ready.tmp"
    tmp.write_text(str(child.pid))
    tmp.rename(out / f"{task_id}.ready")
    print(f"{task_id} started sleep {child.pid} and ignores SIGINT/SIGTERM", flush=True)
    while True:
        time.sleep(300)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2]))
