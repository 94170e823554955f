"""The executor seam: what the runner asks of wherever agents run, and what it gets back.

The runner decides *what* runs and when; an `Executor` decides *where*, and owns each process
from its start to its reaping. `engine.executors.local` runs agents on this machine; another
executor (a cluster's) implements the same protocol without touching the runner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from engine.outcome import Exit, StopCause


@dataclass(frozen=True)
class Launch:
    """Everything needed to start one agent process, wherever it runs."""

    argv: tuple[str, ...]
    cwd: str
    env: Mapping[str, str] = field(repr=False)
    stdin: bytes | None
    # Files the process reads, by the path it knows them by (a prompt file): the executor
    # puts them in place before it starts, so they travel with the launch to another machine.
    files: Mapping[str, bytes] = field(default_factory=dict, repr=False)


class SpawnError(OSError):
    """The agent could not be started (nothing of it runs); any other OSError is nova's."""


class Sink(Protocol):
    """Receives what an agent process does, as it happens."""

    def started(self, pid: int) -> None: ...
    def stdout(self, chunk: bytes) -> None: ...
    def stderr(self, chunk: bytes) -> None: ...
    def note(self, message: str) -> None: ...


@dataclass
class Limits:
    """How long a process may run, and go silent, before it is stopped; the grace before a kill."""

    timeout: float | None = None
    stall_timeout: float | None = None
    grace: float = 10.0


class StopRequest:
    """Set by the runner to ask a running attempt to stop; asking again cuts a grace short."""

    def __init__(self) -> None:
        self.cause = StopCause.CANCEL
        self.grace: float | None = None
        self._asked = False  # a request that no `rearm()` has taken yet
        self._future: asyncio.Future[None] | None = None

    def request(self, cause: StopCause = StopCause.CANCEL, grace: float | None = None) -> None:
        if not self._asked or grace is not None:
            self.cause = cause
            self.grace = grace
        self._asked = True
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    def waiter(self) -> asyncio.Future[None]:
        """A future that is done once a request has come (at once if one is pending)."""
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
            if self._asked:
                self._future.set_result(None)
        return self._future

    def rearm(self) -> None:
        """Take the pending request: the next `waiter()` waits for a new one."""
        self._asked = False
        self._future = None


class Executor(Protocol):
    """Runs agents somewhere, for one run at a time."""

    def begin(self, run_id: str) -> str | None:
        """Before the first agent of run `run_id`; a problem worth saying, or None."""
        ...

    async def run(
        self, launch: Launch, token: str, sink: Sink, limits: Limits, stop: StopRequest
    ) -> Exit:
        """Run one attempt's agent to its end (see `LocalExecutor.run`)."""
        ...

    async def end_strays(self) -> int:
        """Once no agent runs: end what agents left behind; how many processes that was."""
        ...

    def end(self) -> None:
        """After the run: release what `begin` took."""
        ...
