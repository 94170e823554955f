"""The journal: every task transition on disk before anything depends on it.

state.json is rewritten whole and so only a few times a second (`engine.observe.writer`): a run
killed between a transition and the next write forgot it, and ran finished tasks again or gave an
attempt number out twice. `state/journal.jsonl` closes that gap. Each line is one record::

    {"seq": 7, "task": "A", "kind": "start"|"end", "state": TaskState.to_json()}

`seq` grows by one per record across runs; a record holds the task's whole state, so replaying
is laying the records over the snapshot in order (`overlay`), and state.json says in
`run.journal_seq` which records it already includes. A crash mid-append leaves a torn last
line, which is ignored; a bad line elsewhere is skipped and said.

Group commit: `append` only adds to a buffer; `durable()` writes the buffer with one `write`
and one `fdatasync` in the journal's own thread, and records appended while that sync is under
way wait for the next one, so the transitions of one moment cost one sync together. The
runner awaits `durable()` before it starts any process of an attempt (see `Runner._attempt`).

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
# A record nobody waits for is written this long after it was appended: soon enough that a
# kill right after a task ends rarely finds its end unwritten, late enough that the next
# attempt's start (which is waited for) usually shares its sync.
FLUSH_DELAY = 0.005
KINDS = frozenset(("start", "end"))

_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Record:
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
    """The journal file of one run: append, make durable (group commit), truncate.

    Batches are written by one thread of the journal's own, started with the first batch;
    the event loop hands it a batch and hears back through `call_soon_threadsafe`, and goes
    on meanwhile. Never fatal, like the state writes: a record that could not be written (a
    full disk) is said once through `on_error`, kept, and written with the next batch;
    `durable()` then returns anyway, since the run is worth more than the protection.
    """

    def __init__(
        self,
        directory: Path,
        on_error: Callable[[OSError], None] = lambda exc: None,
        task_text: Callable[[TaskState], str] | None = None,
        sync: Callable[[int], None] = os.fdatasync,
    ) -> None:
        self.path = Path(directory) / JOURNAL_FILE
        self.on_error = on_error
        self.task_text = task_text or (lambda ts: _COMPACT.encode(ts.to_json()))
        self.sync = sync
        self.seq = 0  # of the last record appended
        self.size = 0  # bytes in the file, as far as this journal wrote them
        self.error: OSError | None = None
        self._fd: int | None = None
        self._buffer: list[bytes] = []
        self._synced = 0  # every record up to this seq is on disk (or could not be)
        self._writing = False  # a batch is with the thread
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: queue.SimpleQueue[tuple[bytes, int] | None] | None = None
        self._thread: threading.Thread | None = None
        self._lock: threading.Lock | None = None

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

    def append(self, task_id: str, kind: str, state: Mapping[str, Any]) -> int:
        """Add a record to the next batch, which starts within `FLUSH_DELAY`; its seq."""
        return self._add(encode(self.seq + 1, task_id, kind, state))

    def task(self, ts: TaskState, kind: str = "end") -> int:
        """Add a record of the task as it is now; its seq."""
        return self._add(encode_text(self.seq + 1, ts.id, kind, self.task_text(ts)))

    def _add(self, line: bytes) -> int:
        import asyncio

        self.seq += 1
        self._buffer.append(line)
        if self._timer is None and not self._writing:
            with contextlib.suppress(RuntimeError):  # no loop: `commit` writes it
                self._timer = asyncio.get_running_loop().call_later(FLUSH_DELAY, self._due)
        return self.seq

    def _due(self) -> None:
        self._timer = None
        self.flush_soon()

    def flush_soon(self) -> None:
        """Hand what is buffered to the thread now, unless a batch is with it already (what
        is buffered then goes as soon as that one is on disk)."""
        if self._writing or not self._buffer:
            return
        if self._thread is None:
            self._start_thread()
        assert self._queue is not None
        data, upto = b"".join(self._buffer), self.seq
        self._buffer = []
        self._writing = True
        self._queue.put((data, upto))

    async def durable(self, upto: int | None = None) -> None:
        """Wait until every record up to seq `upto` (default: every record appended so far)
        is on disk."""
        target = self.seq if upto is None else upto
        if self._synced >= target:
            return
        import asyncio

        # A future of its own: a waiter that is cancelled must not cancel the others.
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((target, waiter))
        self.flush_soon()
        await waiter

    def _start_thread(self) -> None:
        import asyncio
        import queue
        import threading

        self._loop = asyncio.get_running_loop()
        self._queue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="nova-journal", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        """The journal's thread: write and sync each batch handed to it, and say so."""
        assert self._queue is not None and self._lock is not None and self._loop is not None
        while (batch := self._queue.get()) is not None:
            data, upto = batch
            failed: OSError | None = None
            with self._lock:
                try:
                    self._write(data)
                except OSError as exc:
                    failed = exc
            with contextlib.suppress(RuntimeError):  # the loop closed: the run is over
                self._loop.call_soon_threadsafe(self._landed, data, upto, failed)

    def _landed(self, data: bytes, upto: int, failed: OSError | None) -> None:
        """A batch is on disk (or could not be): wake its waiters, send the next batch."""
        self._writing = False
        if failed is not None:
            self._buffer.insert(0, data)
            self._failed(failed)
        else:
            self._ok()
        self._synced = max(self._synced, upto)
        waiting = []
        for target, waiter in self._waiters:
            if target <= self._synced:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                waiting.append((target, waiter))
        self._waiters = waiting
        if failed is None and self._buffer:  # gathered while this batch was written
            self.flush_soon()

    def commit(self) -> None:
        """Write and sync every record appended so far, now (the run's end)."""
        data, upto = b"".join(self._buffer), self.seq
        self._buffer = []
        try:
            with self._lock or contextlib.nullcontext():  # after a batch still being written
                self._write(data)
        except OSError as exc:
            self._buffer.insert(0, data)
            self._failed(exc)
        else:
            self._ok()
        self._synced = max(self._synced, upto)

    def idle(self) -> bool:
        """Nothing buffered and nothing being written: every record is on disk."""
        return not self._writing and not self._buffer and self._synced == self.seq

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
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._thread is not None:
            assert self._queue is not None
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _write(self, data: bytes) -> None:
        """Append `data` and sync it; on failure cut the file back, so that a half-written
        batch never sits before the next one."""
        fd = self._fd
        if fd is None or not data:
            return
        size = self.size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            self.sync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
        self.size = size + len(data)

    def _failed(self, exc: OSError) -> None:
        if self.error is None:
            self.on_error(exc)
        self.error = exc

    def _ok(self) -> None:
        if self.error is not None:
            self.error = None
            self.on_error(OSError(0, "written again"))
