"""The guardian: ends a run's processes if nova itself dies without doing so.

`nova run` forks this small watcher before it starts any agent: a process in a session of its
own whose only open descriptor is the read end of a pipe from nova. On it nova writes the
processes it records (`engine.executors.ledger`: each agent and orphan, by pid and start time), and
`done` when it has ended the run itself. When nova exits for any reason, SIGKILL included,
the pipe closes. Unless the last line was `done`, the guardian then ends every process of the
run: the members of its cgroup, the recorded processes that are still the same processes,
those carrying the run's `NOVA_RUN_ID` marker, and everything below them (SIGTERM, then
SIGKILL). It removes the cgroup, writes what it ended to the record in the state directory
for the next run to tell, and exits.

It is forked before nova moves into the run's cgroup, so it is never a member of what it
ends. Being a fork, it has nova's modules loaded already; forking it costs nova a
millisecond, where starting a fresh interpreter cost tens.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from engine.executors import cgroup, ledger, procs

DONE = f"{ledger.DONE}\n".encode()


def start(run_id: str, group: Path | None = None, state_dir: Path | None = None) -> tuple[int, int]:
    """Fork the guardian of run `run_id` (its cgroup `group`, its record in `state_dir`):
    (its pid, the write end of its pipe)."""
    nova = (os.getpid(), procs.create_time(os.getpid()))
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
            code = watch(read_end, run_id, group, state_dir, nova)
        finally:
            os._exit(code)
    os.close(read_end)
    return pid, write_end


def watch(
    fd: int,
    run_id: str,
    group: Path | None = None,
    state_dir: Path | None = None,
    nova: tuple[int, float | None] = (0, None),
) -> int:
    """Read what nova records until the pipe closes; then, unless nova said `done`, end the
    run's processes and leave the next run a record of what was ended."""
    told = bytearray()
    while chunk := os.read(fd, 1 << 16):
        told += chunk
    record = ledger.parse_record(told.decode("ascii", "replace"))
    if record.done:
        return 0
    hunt = ledger.Hunt(
        group if group is not None and group.is_dir() else None,
        record.processes,
        [f"{procs.RUN_VAR}={run_id}".encode()],
    )
    ended = hunt.end()
    left = group is not None and group.exists() and not cgroup.remove(group)
    if state_dir is None:
        return 0
    if ended or left:
        text = ledger.header(run_id, nova, group if left else None)
        ledger.write_record(state_dir, text + "".join(f"ended {e}\n" for e in ended))
    else:
        ledger.forget(state_dir)
    return 0
