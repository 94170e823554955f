"""The guardian: ends a run's agents if nova itself dies without doing so.

`nova run` starts this as a tiny separate process (in its own session, stdlib only) whose
stdin is a pipe nova holds open. When nova exits for any reason, SIGKILL included, the pipe
closes; the guardian then finds every process carrying the run's `NOVA_RUN_ID` marker, ends
it (SIGTERM, then SIGKILL), and exits. After a normal exit of nova there is nothing to find.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time


def _marked(marker: bytes) -> list[int]:
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as handle:
                data = b"\0" + handle.read()
        except OSError:
            continue
        if b"\0" + marker + b"\0" in data + b"\0":
            found.append(int(name))
    return found


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def main(run_id: str) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is nova's to handle, not ours
    while os.read(0, 4096):
        pass
    marker = f"NOVA_RUN_ID={run_id}".encode()
    for _ in range(3):
        pids = _marked(marker)
        if not pids:
            return 0
        _signal_all(pids, signal.SIGTERM)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and _marked(marker):
            time.sleep(0.1)
        _signal_all(_marked(marker), signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
