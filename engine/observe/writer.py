"""Writing the state while a run goes on: debounced, atomic, and never fatal.

Rewriting the whole state JSON on every event would make a big run several times slower than
it needs to be, so a write is scheduled on the first change and then carries every change
made since; the run's end writes at once. The bytes come from `StateEncoder`, which encodes a
settled task only once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from engine.observe.state import State, StateEncoder
from engine.observe.store import StateStore

WRITE_INTERVAL = 0.25


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
    ) -> None:
        self.store = store
        self.state = state
        self.before_write = before_write
        self.on_error = on_error
        self.interval = WRITE_INTERVAL
        self.encoder = StateEncoder()
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
        try:
            self.store.write_bytes(self.encoder.encode(self.state), last=last)
        except OSError as exc:
            if self.error is None:
                self.on_error(exc)
            self.error = exc
            return
        if self.error is not None:
            self.error = None
            self.on_error(OSError(0, "written again"))
        self.interval = max(WRITE_INTERVAL, 4 * (time.perf_counter() - began))
