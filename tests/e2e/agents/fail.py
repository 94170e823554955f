"""Agent that fails: counts its run, says which run it is, and exits with CODE.

Usage: fail.py OUT ID CODE
"""

import sys
from pathlib import Path


def main(out: Path, task_id: str, code: int) -> int:
    with open(out / f"{task_id}.runs", "a") as runs:
        runs.write("run\n")
    n = len((out / f"{task_id}.runs").read_text().splitlines())
    print(f"{task_id} run {n} of the failing agent", flush=True)
    print(f"{task_id} broke on run {n}", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
