"""The ledger of a run's processes: what it started, kept where the guardian and the next run
find it without trusting anything the processes themselves carry.

A process can clear nova's marker from its environment, leave its session, and, once its
parent dies, its place in the process tree. What does not change is its pid *and* its start
time, together (a pid alone can name another process by then). So as a run goes, nova records
(pid, start time) of each agent and of every orphan it sees, in `state/processes.txt` and, line
for line, on the guardian's pipe; with the run's cgroup (`engine.executors.cgroup`), if it has
one. When nova dies, the guardian ends what the record names; when both are dead, the next run
does.

The record is plain text, one fact a line, appended as the run goes (a torn last line after a
crash is skipped):

    run <run id> <nova's pid> <nova's start time>
    cgroup <path>
    proc <pid> <start time>
    ended <pid> <command>        (written by the guardian: what it ended)
    done                         (only on the guardian's pipe: nova ended the run itself)
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.executors import cgroup, procs

if TYPE_CHECKING:
    import asyncio

FILE = "processes.txt"
DONE = "done"
TERM_GRACE = 2.0  # what the guardian always gave agents between SIGTERM and SIGKILL
ROUNDS = 3  # a process that forks while it is being ended is caught by the next round
SHOWN = 10  # processes named in one message


@dataclass
class Record:
    """What a run recorded of its processes (see the module docstring for the lines)."""

    run_id: str | None = None
    nova: tuple[int, float] | None = None
    cgroup: str | None = None
    processes: list[tuple[int, float]] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)  # "pid command", as the guardian wrote
    done: bool = False  # the last line was `done`


def parse_record(text: str) -> Record:
    """The record in `text`; lines it does not understand (a torn last line) are skipped."""
    record = Record()
    lines = text.split("\n")
    lines.pop()  # "" after the last newline, or a line cut off mid-way: it says nothing sure
    for line in lines:
        kind, _, rest = line.partition(" ")
        words = rest.split()
        record.done = False
        try:
            if kind == "proc" and len(words) == 2:
                record.processes.append((int(words[0]), float(words[1])))
            elif kind == "run" and len(words) == 3:
                record.run_id = words[0]
                if int(words[1]) > 0:
                    record.nova = (int(words[1]), float(words[2]))
            elif kind == "cgroup" and rest:
                record.cgroup = rest
            elif kind == "ended" and rest:
                record.ended.append(rest)
            elif kind == DONE and not rest:
                record.done = True
        except ValueError:
            continue
    return record


def process_line(pid: int, started: float) -> bytes:
    return f"proc {pid} {started!r}\n".encode()


def header(run_id: str, nova: tuple[int, float | None], group: Path | None) -> str:
    """The first lines of a run's record: who the run is, and its cgroup if it has one."""
    pid, started = nova
    text = f"run {run_id} {pid} {started if started is not None else 0.0!r}\n"
    return text + (f"cgroup {group}\n" if group is not None else "")


def read_record(state_dir: Path) -> Record | None:
    """The record the last run left in `state_dir`, or None if it left none."""
    try:
        text = (state_dir / FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return parse_record(text)


def write_record(state_dir: Path, text: str) -> bool:
    """Replace the record in `state_dir` with `text` (atomically); False if it cannot."""
    path = state_dir / FILE
    temp = path.with_name(f".{FILE}.{os.getpid()}")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
        return True
    except OSError:
        with contextlib.suppress(OSError):
            temp.unlink()
        return False


def forget(state_dir: Path) -> None:
    """Remove the record: nothing it names needs ending any more."""
    with contextlib.suppress(OSError):
        (state_dir / FILE).unlink()


# Agents started within this long of each other are recorded in one write.
BATCH_DELAY = 0.05


class Ledger:
    """nova's side of the record: appends each process it is told of, once, to the file and
    to the guardian's pipe. Writes that fail are dropped: the other copy, the cgroup and the
    markers still hold."""

    def __init__(self, path: Path, pipe: int | None) -> None:
        self._fds: list[int] = [pipe] if pipe is not None else []
        self._file: int | None = None
        try:
            self._file = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            self._fds.append(self._file)
        except OSError:
            pass
        self._known: set[tuple[int, float]] = set()
        self._pending: list[bytes] = []
        self._flush: asyncio.TimerHandle | None = None

    def add(self, pids: Iterable[int]) -> None:
        """Record these processes (those already gone are skipped: nothing to end)."""
        lines = b""
        for pid in pids:
            started = procs.create_time(pid)
            if started is None or (pid, started) in self._known:
                continue
            self._known.add((pid, started))
            lines += process_line(pid, started)
        self._write(lines)

    def add_known(self, pid: int, started: float) -> None:
        """Record a process whose start time the caller has read already (an agent it just
        started): soon, with the others of this moment, in one write per copy. An agent
        carries nova's marker and is in the run's cgroup, so a kill before the write still
        finds it; the record is for one that cleared both."""
        if (pid, started) in self._known:
            return
        self._known.add((pid, started))
        self._pending.append(process_line(pid, started))
        if self._flush is None:
            try:
                import asyncio

                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._flush = loop.call_later(BATCH_DELAY, self.flush)

    def flush(self) -> None:
        """Write what `add_known` gathered."""
        self._flush = None
        lines, self._pending = b"".join(self._pending), []
        self._write(lines)

    def _write(self, lines: bytes) -> None:
        if lines:
            for fd in self._fds:
                with contextlib.suppress(OSError):  # full disk, full pipe, dead guardian
                    os.write(fd, lines)

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
        self.flush()
        if self._file is not None:
            os.close(self._file)
            self._file = None


class Hunt:
    """Everything a run that is gone left running, found anew at each look: the members of
    its cgroup, its recorded processes that are still the same processes, those carrying its
    marker, and everything below all of those. What was found once is remembered with its
    start time, so a process whose parent died is still found (by pid and start time)."""

    def __init__(
        self,
        group: Path | None,
        recorded: Iterable[tuple[int, float | None]],
        markers: Iterable[bytes],
    ) -> None:
        self.group = group
        self.seen: dict[int, float | None] = {}
        self.names: dict[int, str] = {}
        self._recorded = list(recorded)
        self._markers = list(markers)
        self._spare = {1, *procs.ancestors()}  # never this process, nor what runs it

    def find(self) -> list[int]:
        roots = [p for p, t in self._recorded if procs.same_process(p, t)]
        roots += [p for p, t in self.seen.items() if procs.same_process(p, t)]
        if self.group is not None:
            roots += cgroup.members(self.group)
        for marker in self._markers:
            roots += procs.marked(marker)
        found: dict[int, None] = {}
        for root in roots:
            found[root] = None
            for below in procs.descendants(root):
                found.setdefault(below, None)
        live = [p for p in procs.alive(found) if p not in self._spare]
        for pid in live:
            if pid not in self.seen:
                self.seen[pid] = procs.create_time(pid)
                self.names[pid] = procs.command(pid)
        return live

    def end(self) -> list[str]:
        """End all of it (SIGTERM, a grace, SIGKILL); say what was ended, as `pid command`.

        Not children of the caller: there is nothing to wait on but time, so it polls.
        """
        for _ in range(ROUNDS):
            pids = self.find()
            if not pids:
                break
            procs.send(pids, procs.TERM)
            deadline = time.monotonic() + TERM_GRACE
            while time.monotonic() < deadline and self.find():
                time.sleep(0.05)
            if self.group is not None:
                cgroup.kill(self.group)
            procs.send(self.find(), procs.KILL)
        return [f"{pid} {self.names[pid]}" for pid in self.seen]


def listing(ended: list[str]) -> str:
    """`4242 sleep 300, 4250 sh -c ...` (the first few, and how many more)."""
    shown = ", ".join(ended[:SHOWN])
    return shown + (f" and {len(ended) - SHOWN} more" if len(ended) > SHOWN else "")


def end_left(
    state_dir: Path,
    recorded: Iterable[tuple[int, float | None]],
    run_ids: Iterable[str | None],
    note: Callable[[str], None],
) -> None:
    """End what the last run left running (its record in `state_dir`, `recorded` pids and
    start times, its marker `NOVA_RUN_ID=<id>`), say which, and remove its record."""
    record = read_record(state_dir)
    if record is not None and record.nova is not None and procs.same_process(*record.nova):
        # Its nova still runs: it cannot hold the lock we hold, so it is no run of ours.
        return
    if record is not None and record.ended:
        note(
            "the last run stopped without ending its processes; its guardian ended "
            f"{len(record.ended)} process(es) it left running: {listing(record.ended)}."
        )
    group = Path(record.cgroup) if record is not None and record.cgroup else None
    if group is not None and not cgroup.is_run_cgroup(group):
        group = None  # removed already (by the guardian), or not a run's: not to be ended
    ids = [*run_ids, record.run_id if record is not None else None]
    hunt = Hunt(
        group,
        [*recorded, *(record.processes if record is not None else [])],
        [f"{procs.RUN_VAR}={run_id}".encode() for run_id in dict.fromkeys(ids) if run_id],
    )
    ended = hunt.end()
    if ended:
        note(f"ended {len(ended)} process(es) the last run left running: {listing(ended)}.")
    if group is not None and not cgroup.remove(group):
        return  # still busy: keep the record, so the run after this one removes it
    forget(state_dir)
