"""The guardian: ends a run's agents if nova itself dies without doing so.

`nova run` forks this small watcher before it starts any agent: a process in a session of its
own whose only open descriptor is the read end of a pipe from nova. When nova exits for any
reason, SIGKILL included, the pipe closes. Unless nova wrote `DONE` first (it ended its agents
itself), the guardian then finds every process carrying the run's `NOVA_RUN_ID` marker, ends
it (SIGTERM, then SIGKILL), and exits. It uses nothing but `os` and `signal`; forking it costs
nova a millisecond, where starting a fresh interpreter cost tens.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

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
    marker = f"NOVA_RUN_ID={run_id}".encode()
    for _ in range(3):
        pids = _marked(marker)
        if not pids:
            return 0
        _signal_all(pids, signal.SIGTERM)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and _marked(marker):
            time.sleep(0.1)  # not our children: nothing to wait on but time
        _signal_all(_marked(marker), signal.SIGKILL)
    return 0


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
