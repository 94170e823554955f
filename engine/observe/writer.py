"""Writing the state while a run goes on: debounced, atomic, and never fatal.

Rewriting the whole state JSON on every event would make a big run several times slower than
it needs to be, so a write is scheduled on the first change and then carries every change
made since; the run's end writes at once. The bytes come from `StateEncoder`, which encodes a
settled task only once.

Each write records the last journal record it includes (`run.journal_seq`). Once the journal
has grown past a quarter of the state (or at the run's end), a write that includes every
record is synced to disk and the journal emptied: it stays small, so `nova status` and the
next run read little of it. A crash between the two leaves records the state already has,
which replay skips by their seq.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from engine.observe.journal import Journal
from engine.observe.state import State, StateEncoder
from engine.observe.store import StateStore

WRITE_INTERVAL = 0.25
COMPACT_AT = 256 * 1024  # bytes of journal at least before it is emptied into the state


class StateWriter:
    """Writes the state at most every `interval` seconds, and at once when asked.

    The interval stretches to 4x the time a write takes, so on a huge graph writing never
    costs more than a fifth of the loop's time; every transition is in the next write. A write
    that fails (a full disk) leaves the last good file in place; it is said once, and the next
    write tries again.
    """

    def __init__(
        self,
        store: StateStore,
        state: State,
        before_write: Callable[[], None],
        on_error: Callable[[OSError], None],
        journal: Journal | None = None,
        encoder: StateEncoder | None = None,
    ) -> None:
        self.store = store
        self.state = state
        self.before_write = before_write
        self.on_error = on_error
        self.interval = WRITE_INTERVAL
        self.journal = journal
        self.encoder = encoder or StateEncoder()
        self.error: OSError | None = None
        self._handle: asyncio.TimerHandle | None = None

    def touch(self) -> None:
        """Something changed: make sure a write is coming."""
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(self.interval, self.flush)

    def flush(self, last: bool = False) -> None:
        """Write now (and cancel the pending write); `last` for the run's final state."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        began = time.perf_counter()
        self.before_write()
        journal = self.journal
        if journal is not None:
            if last:  # should this write fail, the journal still has every transition
                journal.commit()
            self.state.run.journal_seq = journal.seq  # the state in memory has every record
        try:
            data = self.encoder.encode(self.state)
            self.store.write_bytes(data, last=last)
        except OSError as exc:
            if self.error is None:
                self.on_error(exc)
            self.error = exc
            return
        if self.error is not None:
            self.error = None
            self.on_error(OSError(0, "written again"))
        self.interval = max(WRITE_INTERVAL, 4 * (time.perf_counter() - began))
        if (
            journal is not None
            and journal.size > 0
            and (last or journal.size > max(COMPACT_AT, len(data) // 4))
            and journal.idle()
        ):
            self._compact(journal)

    def _compact(self, journal: Journal) -> None:
        """Empty the journal into the state just written: sync that first (its file and its
        directory's rename), or a power loss could keep the empty journal and the old state."""
        try:
            _sync_path(self.store.path, os.O_RDONLY | os.O_NOFOLLOW)
            # The directory may be a link the user made (state -> /elsewhere): followed.
            _sync_path(self.store.dir, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return  # the journal stays; the next write tries again
        journal.truncate()


def _sync_path(path: Path, flags: int) -> None:
    fd = os.open(path, flags | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
