"""The journal: every task transition on disk before anything depends on it.

state.json is rewritten whole and so only a few times a second (`engine.observe.writer`): a run
killed between a transition and the next write forgot it, and ran finished tasks again or gave an
attempt number out twice. `state/journal.jsonl` closes that gap. Each line is one record::

    {"seq": 7, "task": "A", "kind": "start"|"end", "state": TaskState.to_json()}

`seq` grows by one per record across runs; a record holds the task's whole state, so replaying
is laying the records over the snapshot in order (`overlay`), and state.json says in
`run.journal_seq` which records it already includes. A crash mid-append leaves a torn last
line, which is ignored; a bad line elsewhere is skipped and said.

Each record is written to the file the moment it happens, so it outlives any death of nova;
the journal's thread then syncs it to the disk, and the records written while one sync is
under way share the next (group commit). The runner awaits `durable()` before it starts any
process of an attempt (see `Runner._attempt`); with NOVA_JOURNAL_FSYNC=1 that waits for the
sync too, which also outlives a power loss.

The functions above `Journal` are pure (bytes in, values out); `Journal` and `read_journal`
do the I/O.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.observe.state import State, TaskState, read_task

if TYPE_CHECKING:  # `nova status` reads journals too, and must not pay for asyncio's import
    import asyncio
    import queue
    import threading

JOURNAL_FILE = "journal.jsonl"
KINDS = frozenset(("start", "end"))
# Without NOVA_JOURNAL_FSYNC, the records reach the disk within this long (a power loss may
# lose that much; a kill of nova loses nothing).
SYNC_EVERY = 0.2

_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Record:
    """One task transition in the journal: its sequence number, task, kind and the task's state."""

    seq: int
    task: str
    kind: str
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Decoded:
    """What a journal's bytes hold: its records in file order, where the last whole one ends
    (bytes after it are a torn append), and the lines that were not records."""

    records: list[Record] = field(default_factory=list)
    end: int = 0
    bad: list[int] = field(default_factory=list)  # line numbers, from 1

    @property
    def last_seq(self) -> int:
        return max((r.seq for r in self.records), default=0)

    def given(self) -> dict[str, int]:
        """The highest attempt number each task was given, in any record: a number once
        journaled is never given out again, even if its attempt was later counted as none."""
        found: dict[str, int] = {}
        for r in self.records:
            n = r.state.get("attempts")
            if type(n) is int and n > found.get(r.task, 0):
                found[r.task] = n
        return found


def encode(seq: int, task_id: str, kind: str, state: Mapping[str, Any]) -> bytes:
    """One record as its line of the journal."""
    return encode_text(seq, task_id, kind, _COMPACT.encode(state))


def encode_text(seq: int, task_id: str, kind: str, state: str) -> bytes:
    """`encode`, with the state already as JSON text."""
    text = f'{{"seq":{seq},"task":{_COMPACT.encode(task_id)},"kind":"{kind}","state":{state}}}\n'
    # Text decoded from an agent's JSON may hold lone surrogates; they become "?".
    return text.encode("utf-8", "replace")


def decode_line(line: bytes) -> Record | None:
    """The record a line holds, or None if it holds none."""
    try:
        doc = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(doc, dict):
        return None
    seq, task, kind, state = doc.get("seq"), doc.get("task"), doc.get("kind"), doc.get("state")
    if type(seq) is not int or type(task) is not str or not isinstance(state, dict):
        return None
    return Record(seq, task, kind if type(kind) is str else "", state)


def decode(data: bytes) -> Decoded:
    """The records of a journal's bytes. The last line is torn if it has no newline or holds no
    record (a crash mid-append, or the zeros a power loss can leave): it is left out quietly,
    and `end` is where it starts. A bad line before the last is left out and listed in `bad`."""
    records: list[Record] = []
    bad: list[int] = []
    end = at = 0
    number = 0
    pending: list[int] = []  # bad lines are torn, not bad, unless a record follows them
    while at < len(data):
        newline = data.find(b"\n", at)
        if newline < 0:
            break  # torn: no newline yet
        number += 1
        line = data[at:newline]
        at = newline + 1
        record = decode_line(line) if line else None
        if record is None:
            pending.append(number)
            continue
        bad += pending
        pending = []
        records.append(record)
        end = at
    return Decoded(records, end, bad)


def overlay(state: State, records: Iterable[Record], after: int) -> int:
    """Lay the records with `seq` above `after` over `state`, in order; how many there were."""
    applied = 0
    for r in records:
        if r.seq > after:
            state.tasks[r.task] = read_task(r.task, r.state)[0]
            applied += 1
    return applied


def read_journal(directory: Path) -> Decoded:
    """The journal in `directory` as it is on disk (empty if there is none)."""
    try:
        fd = os.open(Path(directory) / JOURNAL_FILE, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return Decoded()
    with open(fd, "rb") as handle:
        return decode(handle.read())


_OPEN = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW


class Journal:
    """The journal file of one run: append, sync (group commit), truncate.

    Each record is written to the file the moment it is appended (one `write`: from then on
    it survives any death of nova, `kill -9` included, since the kernel holds it), and reaches
    the disk with the next `fdatasync`, which the journal's own thread runs as soon as records
    are waiting; those appended while a sync is under way share the next one. A start never
    waits for a sync unless `wait_for_sync` (NOVA_JOURNAL_FSYNC=1): then nothing of an attempt
    starts before every earlier record is on the disk itself, which survives a power loss too,
    at about 0.3 ms a start on ext4.

    Never fatal, like the state writes: a record that could not be written (a full disk) is
    said once through `on_error`, kept, and written with the next one; `durable()` returns
    anyway, since the run is worth more than the protection.
    """

    def __init__(
        self,
        directory: Path,
        on_error: Callable[[OSError], None] = lambda exc: None,
        task_text: Callable[[TaskState], str] | None = None,
        sync: Callable[[int], None] = os.fdatasync,
        wait_for_sync: bool | None = None,
        write: Callable[[int, memoryview], int] = os.write,
    ) -> None:
        self.path = Path(directory) / JOURNAL_FILE
        self.on_error = on_error
        self.task_text = task_text or (lambda ts: _COMPACT.encode(ts.to_json()))
        self.sync = sync
        self.write = write
        if wait_for_sync is None:
            wait_for_sync = os.environ.get("NOVA_JOURNAL_FSYNC", "") not in ("", "0")
        self.wait_for_sync = wait_for_sync
        self.seq = 0  # of the last record appended
        self.size = 0  # bytes in the file, as far as this journal wrote them
        self.error: OSError | None = None
        self._fd: int | None = None
        self._unwritten: list[bytes] = []  # records a failed write kept, for the next one
        self._synced = 0  # every record up to this seq is on disk (or could not be)
        self._syncing = 0  # the seq the sync under way covers, or 0
        self._kick: asyncio.Handle | None = None  # a sync to start at the end of this moment
        self._last_sync = float("-inf")  # when the last sync started (the loop's clock)
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: queue.SimpleQueue[int | None] | None = None
        self._thread: threading.Thread | None = None

    def open(self, seq: int, end: int | None = None) -> None:
        """Open (or create, 0600) the file; numbering goes on after `seq`. `end` is where the
        file's last whole record ends: a torn append after it is cut off, or the next record
        would be glued to it. OSError if the file cannot be opened (a planted link, too)."""
        fd = os.open(self.path, _OPEN, 0o600)
        try:
            size = os.fstat(fd).st_size
            if end is not None and end < size:
                os.ftruncate(fd, end)
                size = end
        except OSError:
            os.close(fd)
            raise
        self._fd, self.size = fd, size
        self.seq = self._synced = seq

    def task(self, ts: TaskState, kind: str = "end") -> int:
        """Write a record of the task as it is now (its sync follows); its seq."""
        return self._add(encode_text(self.seq + 1, ts.id, kind, self.task_text(ts)))

    def _add(self, line: bytes) -> int:
        self.seq += 1
        self._unwritten.append(line)
        self._write_now()
        self._sync_soon()
        return self.seq

    def _write_now(self) -> None:
        """Append what is not in the file yet, with one write; on failure keep it for the
        next record (the file is cut back, so no half record sits before it)."""
        if self._fd is None or not self._unwritten:
            return
        data = b"".join(self._unwritten)
        size = self.size
        try:
            view = memoryview(data)
            while view:
                view = view[self.write(self._fd, view) :]
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, size)
            self._unwritten = [data]
            self._failed(exc)
            return
        self._unwritten = []
        self.size = size + len(data)
        self._ok()

    def _sync_soon(self) -> None:
        """Have the thread sync every record written by the end of this moment (one pass of
        the event loop: the records of one moment share one sync), unless a sync is under
        way (the next one then starts as soon as it lands)."""
        if self._kick is not None or self._fd is None:
            return
        try:
            import asyncio

            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a test, the run's end): `commit` syncs
            return
        if self._thread is None:
            self._start_thread(loop)
        if self.wait_for_sync:
            self._kick = loop.call_soon(self._start_sync)
        else:
            # Nothing waits for it: one sync every SYNC_EVERY at most. Each sync commits the
            # file system's journal, which the creates of agents' logs then queue behind.
            delay = self._last_sync + SYNC_EVERY - loop.time()
            self._kick = loop.call_later(max(0.0, delay), self._start_sync)

    def _start_sync(self) -> None:
        self._kick = None
        if self._syncing or self._synced >= self.seq:
            return
        if self._loop is not None:
            self._last_sync = self._loop.time()
        assert self._queue is not None
        self._syncing = self.seq
        self._queue.put(self.seq)

    async def durable(self, upto: int | None = None) -> None:
        """Return once every record up to seq `upto` (default: all) is safe: written to the
        file, and with `wait_for_sync` also synced to the disk."""
        target = self.seq if upto is None else upto
        self._write_now()
        if not self.wait_for_sync or self._synced >= target:
            return
        import asyncio

        # A future of its own: a waiter that is cancelled must not cancel the others.
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((target, waiter))
        self._sync_soon()
        await waiter

    def _start_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        import queue
        import threading

        self._loop = loop
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="nova-journal", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        """The journal's thread: sync the file each time it is asked, and say so."""
        assert self._queue is not None
        assert self._loop is not None
        while (upto := self._queue.get()) is not None:
            failed: OSError | None = None
            fd = self._fd
            try:
                if fd is not None:
                    self.sync(fd)
            except OSError as exc:
                failed = exc
            with contextlib.suppress(RuntimeError):  # the loop closed: the run is over
                self._loop.call_soon_threadsafe(self._landed, upto, failed)

    def _landed(self, upto: int, failed: OSError | None) -> None:
        """A sync is done (or could not be): wake its waiters, start the next one."""
        self._syncing = 0
        if failed is not None:
            self._failed(failed)
        self._synced = max(self._synced, upto)
        waiting = []
        for target, waiter in self._waiters:
            if target <= self._synced:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                waiting.append((target, waiter))
        self._waiters = waiting
        if failed is None:
            self._sync_soon()  # records written while this sync ran

    def commit(self) -> None:
        """Write and sync every record appended so far, now (the run's end)."""
        self._write_now()
        if self._fd is not None and self._synced < self.seq:
            try:
                self.sync(self._fd)
            except OSError as exc:
                self._failed(exc)
        self._synced = self.seq

    def idle(self) -> bool:
        """Nothing unwritten and no sync under way: every record is on disk."""
        return not self._unwritten and not self._syncing and self._synced == self.seq

    def truncate(self) -> None:
        """Empty the file: call only when `idle()` and a synced snapshot holds every record."""
        if self._fd is None or self.size == 0:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError as exc:
            self._failed(exc)
            return
        self.size = 0

    def close(self) -> None:
        if self._kick is not None:
            self._kick.cancel()
            self._kick = None
        if self._thread is not None:
            assert self._queue is not None
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _failed(self, exc: OSError) -> None:
        if self.error is None:
            self.on_error(exc)
        self.error = exc

    def _ok(self) -> None:
        if self.error is not None:
            self.error = None
            self.on_error(OSError(0, "written again"))
