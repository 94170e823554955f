"""Finding and ending every process a task started, including ones that left its session.

Claude Code starts each Bash tool call in a session of its own, so signalling the agent's
process group misses them, and when the agent exits they are orphans. Two mechanisms catch
them all:

* nova makes itself a *child subreaper* (Linux `PR_SET_CHILD_SUBREAPER`): orphans of any
  agent are re-parented to nova instead of init, so they stay findable as nova's children;
* each agent gets an environment marker (`NOVA_TASK_TOKEN`), inherited by everything it
  starts, that says which task and attempt a process belongs to.

Where the subreaper is not available, a scan of all processes for the marker does the job.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
from collections.abc import Iterable

TOKEN_VAR = "NOVA_TASK_TOKEN"
RUN_VAR = "NOVA_RUN_ID"
_PR_SET_CHILD_SUBREAPER = 36

_subreaper = False


def enable_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process; True if the OS allowed it."""
    global _subreaper
    if _subreaper:
        return True
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        _subreaper = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        _subreaper = False
    return _subreaper


def own_children() -> list[int]:
    """Pids of this process's direct children.

    Orphans re-parent to the subreaper's main thread, and nova starts every child from its
    main thread, so that thread's list is the whole list: one small read of /proc.
    """
    try:
        with open(f"/proc/self/task/{os.getpid()}/children", "rb") as handle:
            return [int(p) for p in handle.read().split()]
    except FileNotFoundError:  # a kernel without CONFIG_PROC_CHILDREN
        import psutil

        return [c.pid for c in psutil.Process().children()]
    except OSError:  # no descriptor free: nothing is known now; the next look will tell
        return []


def orphans(managed: set[int]) -> list[int]:
    """Children of this process that nova did not start: re-parented orphans, live or ended.

    Empty without the subreaper, where orphans go to init and `leftovers` scans for them.
    """
    if not _subreaper:
        return []
    return [pid for pid in own_children() if pid not in managed]


def environ_has(pid: int, marker: bytes) -> bool:
    """True if process `pid` has the exact `NAME=value` entry `marker` in its environment."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            data = handle.read()
    except OSError:
        return False
    return (b"\0" + data).find(b"\0" + marker + b"\0") >= 0 or data.endswith(b"\0" + marker)


def marked(marker: bytes, candidates: Iterable[int] | None = None) -> list[int]:
    """Pids among `candidates` (default: every process) whose environment holds `marker`."""
    if candidates is None:
        candidates = (int(p) for p in os.listdir("/proc") if p.isdigit())
    me = os.getpid()
    return [pid for pid in candidates if pid != me and environ_has(pid, marker)]


def descendants(pid: int) -> list[int]:
    """Pids of everything below `pid` in the process tree (empty if it is gone).

    Walks /proc/<pid>/task/*/children: no full scan of /proc, and no exception when a
    process goes away meanwhile or no descriptor is free (what cannot be read is skipped).
    """
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            threads = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for tid in threads:
            try:
                with open(f"/proc/{parent}/task/{tid}/children", "rb") as handle:
                    kids = [int(k) for k in handle.read().split()]
            except (OSError, ValueError):
                continue
            found += kids
            todo += kids
    return found


def unmarked(pids: Iterable[int]) -> list[int]:
    """The live processes among `pids` that carry no task marker at all (they cleared it)."""
    entry = f"{TOKEN_VAR}=".encode()
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                data = b"\0" + handle.read()
        except OSError:
            continue
        if b"\0" + entry not in data and alive([pid]):
            out.append(pid)
    return out


def leftovers(marker: bytes | None, strays: Iterable[int]) -> list[int]:
    """Processes carrying a task's marker (or, with None, all of `strays`), and everything
    below them.

    With the subreaper on, every orphan is among `strays` (see `orphans`); without it, every
    process is scanned.
    """
    if marker is None:
        roots = list(strays)
    else:
        roots = marked(marker, strays) if _subreaper else marked(marker)
    found: dict[int, None] = {}
    for root in roots:
        found[root] = None
        for below in descendants(root):
            found.setdefault(below, None)
    return list(found)


def ancestors(pid: int | None = None) -> list[int]:
    """`pid` (default: this process) and its parent, its parent's parent, ... up to init."""
    found: list[int] = []
    current = pid if pid is not None else os.getpid()
    while current > 0 and current not in found:
        found.append(current)
        try:
            with open(f"/proc/{current}/stat", "rb") as handle:
                current = int(handle.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return found


def send(pids: Iterable[int], sig: int) -> int:
    """Signal each pid that still exists; return how many were signalled."""
    sent = 0
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            sent += 1
    return sent


def send_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def alive(pids: Iterable[int]) -> list[int]:
    """The pids that still run (zombies count as gone)."""
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):  # gone
            continue
        if state not in (b"Z", b"X"):
            out.append(pid)
    return out


def wait_exit(pid: int, seconds: float) -> bool:
    """Block up to `seconds` for child `pid` to exit (without reaping it); True if it did."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        return True  # gone already, or no pidfd: let the caller's waitpid do the waiting
    try:
        return bool(select.select([pidfd], [], [], seconds)[0])
    finally:
        os.close(pidfd)


def reap(pids: Iterable[int]) -> None:
    """Collect the exit status of each of these children that has ended (no zombies left)."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def same_process(pid: int | None, started: float | None) -> bool:
    """True if `pid` still names the process that was started at `started` (never a bare pid)."""
    import psutil  # imported where needed: it costs nova's start-up 7 ms

    if pid is None or started is None:
        return False
    try:
        return abs(psutil.Process(pid).create_time() - started) < 0.05
    except psutil.Error:
        return False


def command(pid: int, limit: int = 60) -> str:
    """What `pid` runs, as one line to show (`sleep 300`); its name in brackets when it has
    no command line (a kernel thread, a zombie); "?" when it is gone."""
    from engine.formats import clip
    from engine.text import visible_line

    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            words = handle.read().split(b"\0")
        text = " ".join(w.decode("utf-8", "replace") for w in words if w)
        if not text:
            with open(f"/proc/{pid}/comm", "rb") as handle:
                text = f"[{handle.read().decode('utf-8', 'replace').strip()}]"
    except OSError:
        return "?"
    text = visible_line(text)
    return clip(text, limit)


_boot_time: float | None = None


def create_time(pid: int) -> float | None:
    """When `pid` started, in seconds since the epoch, as psutil computes it (None if gone).

    Read from /proc/<pid>/stat directly: this runs for every agent started, and building a
    `psutil.Process` costs several reads. `same_process` compares it with psutil's reading.
    """
    global _boot_time
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        if _boot_time is None:
            _boot_time = _read_boot_time()
        return int(fields[19]) / _CLOCK_TICKS + _boot_time
    except (OSError, IndexError, ValueError):  # gone, or no descriptor free just now
        return None


def _read_boot_time() -> float:
    """The `btime` of /proc/stat, which psutil's create_time adds to the start in ticks."""
    with open("/proc/stat", "rb") as handle:
        for line in handle:
            if line.startswith(b"btime"):
                return float(line.split()[1])
    raise ValueError("no btime in /proc/stat")


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


KILL = signal.SIGKILL
TERM = signal.SIGTERM
INT = signal.SIGINT
