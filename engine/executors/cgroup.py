"""A cgroup (v2) per run: the one container nothing an agent starts can leave by itself.

A process can clear nova's marker from its environment and leave the agent's session, and
once nova is dead its re-parenting to nova (the subreaper) is undone too. Its cgroup it keeps:
every process forked inside one stays inside, whatever its environment or parent. So at run
start nova makes a cgroup below its own, `nova.<run id>`, and moves itself in; everything it
spawns from then on is a member, at no cost per spawn. Whoever ends the run (nova, its
guardian, or the next run) ends every member and removes the cgroup.

The cgroup goes below nova's own cgroup, not at the root of the hierarchy, so that a service
manager that contains nova (a systemd unit, a container) still contains its agents and still
stops them with it.

Nothing here is required: where cgroup v2 is not mounted, or not writable (not root, a
read-only mount, v1 only), `create` returns None and nova relies on its recorded process
tree and markers (`engine.executors.ledger`). NOVA_CGROUP=0 turns cgroups off on purpose.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

from engine.executors import procs

PREFIX = "nova."
DISABLE_VAR = "NOVA_CGROUP"  # "0": do not use cgroups (the recorded tree does the job)


def v2_mount(mountinfo: str) -> tuple[str, str] | None:
    """(mount point, root within the hierarchy) of the first cgroup2 mount in the text of
    /proc/self/mountinfo, or None if cgroup v2 is not mounted."""
    for line in mountinfo.splitlines():
        fields, dash, tail = line.partition(" - ")
        if not dash or not tail.startswith("cgroup2 "):
            continue
        parts = fields.split()
        if len(parts) >= 5:
            return _unescape(parts[4]), _unescape(parts[3])
    return None


def v2_path(proc_cgroup: str) -> str | None:
    """This process's path in the v2 hierarchy, from the text of /proc/self/cgroup (its
    `0::/path` line), or None if it has none."""
    for line in proc_cgroup.splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


def own_dir(mountinfo: str, proc_cgroup: str) -> Path | None:
    """The directory of this process's v2 cgroup, given the two files' texts; None if it
    cannot be told (no v2 mount, or the cgroup lies outside what is mounted)."""
    mount = v2_mount(mountinfo)
    path = v2_path(proc_cgroup)
    if mount is None or path is None:
        return None
    point, root = mount
    if root != "/" and path != root and not path.startswith(root.rstrip("/") + "/"):
        return None  # e.g. `/..`, above a namespaced mount: not ours to reach
    inside = path[len(root) :] if root != "/" else path
    return Path(point, inside.lstrip("/"))


def _unescape(field: str) -> str:
    """A mountinfo field, with its octal escapes (`\\040` for a space) decoded."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


_ESCAPE = re.compile(r"\\([0-7]{3})")


def current() -> Path | None:
    """The directory of nova's own v2 cgroup, or None if there is none to be found."""
    try:
        found = own_dir(_read("/proc/self/mountinfo"), _read("/proc/self/cgroup"))
    except OSError:
        return None
    return found if found is not None and found.is_dir() else None


def is_run_cgroup(path: Path) -> bool:
    """Whether `path` (read from a record, which anyone could have edited) is a run's cgroup:
    named `nova.*`, on the cgroup v2 file system, and a cgroup. Only then are its members
    ended."""
    try:
        mount = v2_mount(_read("/proc/self/mountinfo"))
    except OSError:
        return False
    if mount is None or not path.name.startswith(PREFIX) or not path.is_absolute():
        return False
    return path.resolve().is_relative_to(mount[0]) and (path / "cgroup.procs").is_file()


def _read(name: str) -> str:
    with open(name, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def create(run_id: str, parent: Path | None) -> Path | None:
    """Make the cgroup of run `run_id` below `parent` (nova's own, from `current`); None if
    cgroups are off, not there or not writable: the caller falls back, and says nothing."""
    if parent is None or os.environ.get(DISABLE_VAR, "").strip() == "0":
        return None
    path = parent / f"{PREFIX}{run_id}"
    try:
        path.mkdir()
    except OSError:  # read-only, not root, or not a cgroup file system at all
        return None
    if not (path / "cgroup.procs").exists():  # a plain directory: not a cgroup
        with contextlib.suppress(OSError):
            path.rmdir()
        return None
    return path


def join(path: Path, pid: int = 0) -> bool:
    """Move process `pid` (0: this one, with all its threads) into cgroup `path`."""
    try:
        with open(path / "cgroup.procs", "w", encoding="ascii") as handle:
            handle.write(str(pid))
        return True
    except OSError:  # not allowed to leave the old one, or a threaded cgroup
        return False


def members(path: Path) -> list[int]:
    """Pids in cgroup `path` and the cgroups below it (empty if it is gone)."""
    found: list[int] = []
    for directory, _, _ in os.walk(path):
        try:
            with open(os.path.join(directory, "cgroup.procs"), "rb") as handle:
                found += [int(p) for p in handle.read().split()]
        except (OSError, ValueError):
            continue
    return found


def kill(path: Path) -> None:
    """SIGKILL everything in cgroup `path`: at once with `cgroup.kill` (Linux 5.14), which
    no fork can race; else one member at a time."""
    try:
        with open(path / "cgroup.kill", "w", encoding="ascii") as handle:
            handle.write("1")
        return
    except OSError:
        pass
    procs.send(members(path), procs.KILL)


def remove(path: Path, seconds: float = 2.0) -> bool:
    """Remove cgroup `path` and those below it once they are empty (waiting up to `seconds`
    for killed members to finish exiting); True if it is gone."""
    deadline = time.monotonic() + seconds
    while True:
        for directory, _, _ in sorted(os.walk(path), key=lambda d: -len(d[0])):
            with contextlib.suppress(OSError):  # busy (a member still exiting), or gone
                os.rmdir(directory)
        if not path.exists():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # the kernel says nothing when the last member is gone: poll
