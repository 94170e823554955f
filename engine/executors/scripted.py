"""The scripted executor: the executor protocol with no processes behind it.

`ScriptedExecutor` plays, for each start of a task, the output lines and the exit a script
gives, exactly as `LocalExecutor` hands them to the runner: so the runner's policy (retries,
blocked dependents, usage-limit waits, halts, waits for resources) is tested, and a plan can
be dry-run, without starting an agent. It honours a stop request and the wall-clock limit as
a process would; it prints everything at once, so it never stalls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from engine.executors.base import (
    ExecutorCapabilities,
    LastRun,
    Launch,
    Limits,
    ProcessId,
    Sink,
    SpawnError,
    StopRequest,
)
from engine.outcome import Exit, StopCause

HOST = "scripted"
PID = 4242
TASK_VAR = "NOVA_TASK_ID"  # how the runner names an attempt's task in its environment
STOPPED = -2  # the exit status of a process ended by SIGINT


@dataclass
class Play:
    """One process as the scripted executor plays it."""

    lines: Sequence[bytes] = ()
    code: int = 0
    seconds: float = 0.0  # how long it runs after printing (a stop or a timeout ends it early)
    raises: SpawnError | None = None  # it could not be started
    fails_after: OSError | None = None  # the executor fails once it has run


@dataclass
class ScriptedExecutor:
    """Plays `script[task_id][n]` for the n-th time the task is started (the last play again
    after that; a task without a script exits 0 at once)."""

    script: dict[str, list[Play]] = field(default_factory=dict)
    # Called at each start, before anything is played (a test reads the state there).
    on_start: Callable[[Launch], None] | None = None
    capabilities: ExecutorCapabilities = field(
        default_factory=lambda: ExecutorCapabilities(shared_fs=True)
    )
    launches: list[tuple[str, Launch]] = field(default_factory=list)
    launched_at: list[float] = field(default_factory=list)
    running: int = 0
    peak: int = 0
    starts: dict[str, int] = field(default_factory=dict)
    runs: list[str] = field(default_factory=list)  # the run ids `begin` was given
    ended: int = 0  # how many times `end` was called
    survivors_of: list[LastRun] = field(default_factory=list)  # what `end_survivors` was given

    def end_survivors(self, last: LastRun) -> list[str]:
        self.survivors_of.append(last)
        return []

    def begin(self, run_id: str) -> str | None:
        self.runs.append(run_id)
        return None

    async def end_strays(self, limits: Limits) -> int:
        return 0  # a play leaves nothing behind

    def end(self) -> None:
        self.ended += 1

    async def run(
        self, launch: Launch, token: str, sink: Sink, limits: Limits, stop: StopRequest
    ) -> Exit:
        """Play the next play of the launch's task: start, print, run, exit."""
        task_id = launch.env.get(TASK_VAR, token)
        plays = self.script.get(task_id, [Play()])
        n = self.starts[task_id] = self.starts.get(task_id, 0) + 1
        play = plays[min(n, len(plays)) - 1]
        self.launches.append((task_id, launch))
        self.launched_at.append(time.monotonic())
        if self.on_start is not None:
            self.on_start(launch)
        if play.raises is not None:
            raise play.raises
        self.running += 1
        self.peak = max(self.peak, self.running)
        began = time.monotonic()
        try:
            sink.started(ProcessId(HOST, PID, time.time()))
            for line in play.lines:
                sink.stdout(line + b"\n")
            cause = await _run_for(play.seconds, limits, stop)
        finally:
            self.running -= 1
        if play.fails_after is not None:
            raise play.fails_after
        duration = time.monotonic() - began
        return Exit(play.code if cause is None else STOPPED, cause, duration)


async def _run_for(seconds: float, limits: Limits, stop: StopRequest) -> StopCause | None:
    """Run for `seconds` unless a stop request or the timeout comes first; which one did."""
    asked = stop.waiter()
    if seconds <= 0 and not asked.done():
        return None
    limit = limits.timeout if limits.timeout else None
    await asyncio.wait({asked}, timeout=seconds if limit is None else min(seconds, limit))
    if asked.done():
        return stop.cause
    if limit is not None and limit < seconds:
        return StopCause.TIMEOUT
    return None
