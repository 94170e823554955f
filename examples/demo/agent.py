"""A stand-in agent for the offline demo: reads its task prompt, "works", reports tokens.

nova runs it once per task through the command agent (see CASCADE.md beside this file). It
needs no API key and no network: it writes a small file for its task and prints the
`Token usage:` line that nova counts, with numbers derived from the prompt it was given.
"""

import sys
import time
from pathlib import Path


def main(task_id: str, prompt_file: str) -> int:
    prompt = Path(prompt_file).read_text(encoding="utf-8")
    print(f"Reading the task prompt ({len(prompt)} characters).", flush=True)
    time.sleep(0.3)
    out = Path("out") / f"{task_id}.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(f"{task_id} was done by the demo agent.\n", encoding="utf-8")
    print(f"Wrote {out}.", flush=True)
    time.sleep(0.3)
    words = len(prompt.split())
    print(
        f"Token usage: input={words * 4}, output={40 + len(task_id)}, "
        f"cache_read={words * 2}, cache_creation=0, model=demo-agent",
        flush=True,
    )
    print(f"Finished {task_id}.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
