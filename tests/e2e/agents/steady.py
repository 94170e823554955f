"""Agent for the kill -9 tests: prints its pid first and then a few lines, keeping a copy of
every byte it prints, and records that it started and that it finished.

Usage: steady.py OUT ID. Appends its pid to OUT/ID.runs at the start and to OUT/ID.done at the
end; what it prints is also in OUT/ID.PID.out (written before it is printed, so the raw log
nova keeps is always a prefix of the copy). If OUT/trigger holds ID and OUT/ID.triggered does
not exist yet, it creates that file (the test's signal to kill nova) and sleeps.
"""

import os
import sys
import time
from pathlib import Path


def main(out: Path, task_id: str) -> int:
    pid = os.getpid()
    with open(out / f"{task_id}.{pid}.out", "ab") as copy:

        def say(text: str) -> None:
            data = text.encode()
            copy.write(data)
            copy.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()

        say(f"pid {pid}\n")
        with open(out / f"{task_id}.runs", "a") as runs:
            runs.write(f"{pid}\n")
        trigger, flag = out / "trigger", out / f"{task_id}.triggered"
        if trigger.exists() and trigger.read_text() == task_id and not flag.exists():
            flag.write_text(str(pid))
            time.sleep(60)  # nova is killed now; its guardian ends this agent
        for i in range(20):
            say(f"{task_id} line {i}\n")
    with open(out / f"{task_id}.done", "a") as done:
        done.write(f"{pid}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2]))
