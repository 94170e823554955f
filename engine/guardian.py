"""The guardian: ends a run's agents if nova itself dies without doing so.

`nova run` forks this small watcher before it starts any agent: a process in a session of its
own whose only open descriptor is the read end of a pipe from nova. When nova exits for any
reason, SIGKILL included, the pipe closes. Unless nova wrote `DONE` first (it ended its agents
itself), the guardian then finds every process carrying the run's `NOVA_RUN_ID` marker, ends
it (SIGTERM, then SIGKILL), and exits. Being a fork, it has nova's `procs` loaded already;
forking it costs nova a millisecond, where starting a fresh interpreter cost tens.
"""

from __future__ import annotations

import os
import signal
import time

from engine import procs

DONE = b"done"


def start(run_id: str) -> tuple[int, int]:
    """Fork the guardian of run `run_id`: (its pid, the write end of its pipe)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the guardian: never returns into nova's code
        code = 1
        try:
            os.setsid()  # out of nova's process group: a Ctrl-C is nova's to handle
            for sig in (signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            # Nothing of nova's stays open here: not its terminal or pipes, nor its files.
            os.closerange(0, read_end)
            os.closerange(read_end + 1, os.sysconf("SC_OPEN_MAX"))
            code = watch(read_end, run_id)
        finally:
            os._exit(code)
    os.close(read_end)
    return pid, write_end


def watch(fd: int, run_id: str) -> int:
    """Wait for the pipe to close; then, unless nova said `DONE`, end the run's processes."""
    last = b""
    while chunk := os.read(fd, 4096):
        last = (last + chunk)[-len(DONE) :]
    if last == DONE:
        return 0
    marker = f"{procs.RUN_VAR}={run_id}".encode()
    for _ in range(3):
        pids = procs.marked(marker)
        if not pids:
            return 0
        procs.send(pids, signal.SIGTERM)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and procs.marked(marker):
            time.sleep(0.1)  # not our children: nothing to wait on but time
        procs.send(procs.marked(marker), signal.SIGKILL)
    return 0
