"""The executor seam: what the runner asks of wherever agents run, and what it gets back.

The runner decides *what* runs and when; an `Executor` decides *where*, and owns each process
from its start to its reaping. `engine.executors.local` runs agents on this machine,
`engine.executors.scripted` plays scripted output with no process at all (the runner's
tests); another executor (a cluster's) implements the same protocol without touching the
runner: what it needs (the files a process reads, a process's host, the graces, whether the
file system is nova's) travels through it, and tests/test_executor_conformance.py says what
it owes.
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


@dataclass(frozen=True)
class ProcessId:
    """A process wherever it runs: a pid names nothing without its host and its start time."""

    host: str  # "" where it is not known (a state names no host): the run's own machine
    pid: int
    started: float | None  # seconds since the epoch, as psutil reads it; None if gone already


@dataclass(frozen=True)
class LastRun:
    """What the state says of the run before this one, for ending what it left running."""

    run_id: str | None
    agents: tuple[ProcessId, ...] = ()  # its agents that were running when it stopped


@dataclass(frozen=True)
class ExecutorCapabilities:
    """What an executor's processes share with nova."""

    # The agent sees nova's file system: its transcripts can be read, its files written
    # here. Without it, what a process reads travels in `Launch.files`.
    shared_fs: bool


class Sink(Protocol):
    """Receives what an agent process does, as it happens."""

    def started(self, process: ProcessId) -> None: ...
    def stdout(self, chunk: bytes) -> None: ...
    def stderr(self, chunk: bytes) -> None: ...
    def note(self, message: str) -> None: ...


@dataclass
class Limits:
    """How long a process may run, and how long each step of stopping it waits."""

    timeout: float | None = None
    stall_timeout: float | None = None
    grace: float = 10.0  # after SIGINT, before SIGTERM
    term_grace: float = 3.0  # after SIGTERM, before SIGKILL
    sweep_grace: float = 1.0  # for what an agent left running, between SIGTERM and SIGKILL
    # For a grandchild holding the agent's output pipes after it exited, before nova stops
    # reading them.
    drain_grace: float = 2.0


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

    capabilities: ExecutorCapabilities

    def end_survivors(self, last: LastRun) -> list[str]:
        """Before `begin`: end what the last run left running (where this executor runs
        agents: its own nodes' survivors); what to tell the user of it."""
        ...

    def begin(self, run_id: str) -> str | None:
        """Before the first agent of run `run_id` (process-wide set-up happens here, not in a
        constructor); a problem worth saying, or None."""
        ...

    async def run(
        self, launch: Launch, token: str, sink: Sink, limits: Limits, stop: StopRequest
    ) -> Exit:
        """Run one process to its end and say how it ended.

        `launch.files` are in place before it starts; the sink is told `started` once, then
        its output in order, as it comes. A stop request or a limit ends it (the grace after
        SIGINT, then `limits.term_grace`) and `Exit.stopped_by` names which; what it left
        running is ended within `limits.sweep_grace`. `token` is the attempt's marker
        (`procs.TOKEN_VAR`), by which its processes are found. SpawnError if it could not be
        started: then nothing of it runs and the sink was told nothing.
        """
        ...

    async def end_strays(self, limits: Limits) -> int:
        """Once no agent runs: end what agents left behind (with `limits.sweep_grace`); how
        many processes that was."""
        ...

    def end(self) -> None:
        """After the run: release what `begin` took."""
        ...
