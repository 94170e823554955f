"""What the tests know of other processes, from /proc: their environment, command line, and
whether they still run; and the one way a test waits for another process's doing.

One module for the three harnesses (tests/support/nova_run.py, tests/e2e/agents/harness.py,
tests/e2e/test_claude_faults.py), which each had their own copy.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

POLL = 0.05  # how often a wait looks again


def epoch(iso: str) -> float:
    """Seconds since the epoch of an ISO 8601 time from the state JSON."""
    return datetime.fromisoformat(iso).timestamp()


def read_environ(pid: int) -> list[bytes] | None:
    """The `NAME=value` entries of a process's environment, or None if it cannot be read."""
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:  # gone, or not ours to read
        return None


def read_cmdline(pid: int) -> list[str] | None:
    """A process's arguments, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def is_zombie(pid: int) -> bool:
    """True if pid has ended (a zombie or dead, or gone altogether)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        return stat.rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def alive(pid: int) -> bool:
    """True if pid names a running process (a zombie counts as ended)."""
    return not is_zombie(pid)


def pids_with(entry: str, alive_only: bool = True) -> list[int]:
    """PIDs of processes whose environment holds the exact entry `entry` (NAME=value); with
    `alive_only`, not those that have ended."""
    wanted = entry.encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        environ = read_environ(int(name))
        if environ is not None and wanted in environ and not (alive_only and is_zombie(int(name))):
            found.append(int(name))
    return found


def wait_for(probe: Callable[[], T | None], what: str, deadline: float, alive: Any = None) -> T:
    """Poll `probe` until it returns something truthy; fail the test after `deadline` seconds.

    For another process's doing, where there is nothing to await. `alive` (a Popen) makes the
    wait fail early when that process has exited.
    """
    end = time.monotonic() + deadline
    while True:
        value = probe()
        if value:
            return value
        if alive is not None and alive.poll() is not None:
            raise AssertionError(f"nova exited with {alive.returncode} before {what}")
        if time.monotonic() > end:
            raise AssertionError(f"gave up after {deadline:g} s waiting for {what}")
        time.sleep(POLL)
