"""Where a task's agent runs: the executor seam, and the local implementation.

The runner decides *what* runs; an `Executor` decides *where* and owns the process from start
to reaping. `LocalExecutor` runs agents as child processes of nova on this machine; a remote
executor can implement the same protocol without touching the scheduler or the runner.

Every child is started in a session of its own (so the terminal's Ctrl-C reaches nova, which
then stops agents in order), gets an empty stdin unless it takes a prompt, is awaited, and is
reaped; when it ends, anything it left running is ended too. Stopping escalates and says so:
SIGINT (Claude Code's gentle stop, which still reports usage), then SIGTERM to everything the
task started, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from dataclasses import dataclass
from typing import Protocol

from engine import procs
from engine.agents import Launch
from engine.outcome import Exit, StopCause

READ_CHUNK = 1 << 18
PIPE_LIMIT = 1 << 20
TERM_GRACE = 3.0
SWEEP_GRACE = 1.0
DRAIN_GRACE = 2.0


class Sink(Protocol):
    """Receives what an agent process does, as it happens."""

    def started(self, pid: int, pid_started: float | None) -> None: ...
    def stdout(self, chunk: bytes) -> None: ...
    def stderr(self, chunk: bytes) -> None: ...
    def note(self, message: str) -> None: ...


@dataclass
class Limits:
    timeout: float | None = None
    stall_timeout: float | None = None
    grace: float = 10.0


class StopRequest:
    """Set by the runner to ask a running attempt to stop."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.cause = StopCause.CANCEL
        self.grace: float | None = None

    def request(self, cause: StopCause = StopCause.CANCEL, grace: float | None = None) -> None:
        if not self.event.is_set() or grace is not None:
            self.cause = cause
            self.grace = grace
        self.event.set()


class Executor(Protocol):
    async def run(
        self, launch: Launch, token: str, sink: Sink, limits: Limits, stop: StopRequest
    ) -> Exit: ...


class LocalExecutor:
    """Runs each agent as a child process of nova."""

    def __init__(self) -> None:
        self.managed: set[int] = set()
        # While a spawn awaits its pipes, its child exists but is not in `managed` yet;
        # reaping then could steal the exit status asyncio waits for.
        self._spawning = 0
        procs.enable_subreaper()

    @staticmethod
    def watch_children_without_threads() -> None:
        """On Python 3.11, wait for children with pidfds instead of a thread per child.

        The default watcher there starts a thread per process; each one contends for the GIL
        with the event loop, and a run of short tasks spends most of its time in that convoy.
        Python 3.12+ uses pidfds by default.
        """
        if sys.version_info >= (3, 12) or not hasattr(asyncio, "PidfdChildWatcher"):
            return
        try:
            watcher = asyncio.PidfdChildWatcher()
            watcher.attach_loop(asyncio.get_running_loop())
            asyncio.set_child_watcher(watcher)
        except (OSError, RuntimeError, NotImplementedError):
            pass  # no pidfd_open on this kernel: keep the default watcher

    def reap(self) -> None:
        """Collect ended orphans, unless a spawn is in flight (see `_spawning`)."""
        if not self._spawning:
            procs.reap_orphans(self.managed)

    async def run(
        self, launch: Launch, token: str, sink: Sink, limits: Limits, stop: StopRequest
    ) -> Exit:
        began = time.monotonic()
        self._spawning += 1
        try:
            loop = asyncio.get_running_loop()
            transport, protocol = await loop.subprocess_exec(
                lambda: _ExitProtocol(PIPE_LIMIT, loop),
                *launch.argv,
                cwd=launch.cwd,
                env=dict(launch.env),
                stdin=(asyncio.subprocess.PIPE if launch.stdin is not None
                       else asyncio.subprocess.DEVNULL),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
            proc = asyncio.subprocess.Process(transport, protocol, loop)
            self.managed.add(proc.pid)
        finally:
            self._spawning -= 1
        marker = f"{procs.TOKEN_VAR}={token}".encode()
        sink.started(proc.pid, procs.create_time(proc.pid))
        last_output = [time.monotonic()]
        assert proc.stdout is not None and proc.stderr is not None
        readers = [
            asyncio.create_task(_pump(proc.stdout, sink.stdout, last_output)),
            asyncio.create_task(_pump(proc.stderr, sink.stderr, last_output)),
        ]
        feeder = asyncio.create_task(_feed(proc, launch.stdin))
        waiter = asyncio.create_task(_wait_process(proc, protocol))
        stopper = asyncio.create_task(stop.event.wait())
        cause: StopCause | None = None
        try:
            while True:
                now = time.monotonic()
                deadlines = []
                if limits.timeout:
                    deadlines.append(began + limits.timeout)
                if limits.stall_timeout:
                    deadlines.append(last_output[0] + limits.stall_timeout)
                wait_for = max(0.0, min(deadlines) - now) if deadlines else None
                done, _ = await asyncio.wait(
                    {waiter, stopper}, timeout=wait_for, return_when=asyncio.FIRST_COMPLETED
                )
                if waiter in done:
                    break
                if stopper in done:
                    cause = stop.cause
                    break
                now = time.monotonic()
                if limits.timeout and now >= began + limits.timeout:
                    cause = StopCause.TIMEOUT
                    break
                if limits.stall_timeout and now >= last_output[0] + limits.stall_timeout:
                    cause = StopCause.STALL
                    break
            if cause is not None and not waiter.done():
                grace = stop.grace if stop.grace is not None else limits.grace
                await self._stop(proc, waiter, marker, grace, sink, stop)
            returncode = await waiter
        finally:
            stopper.cancel()
            feeder.cancel()
            if not waiter.done():  # cancelled from outside: never leave the child behind
                procs.send([proc.pid, *procs.descendants(proc.pid)], procs.KILL)
            self.managed.discard(proc.pid)
        await self._sweep(marker, sink)
        _, pending = await asyncio.wait(readers, timeout=DRAIN_GRACE)
        if pending:
            for reader in pending:
                reader.cancel()
            transport.close()  # the process has exited: this only closes nova's ends of the pipes
            sink.note("output pipe still held open by a process nova cannot see; closed it")
        self.reap()
        return Exit(returncode, cause, time.monotonic() - began)

    async def _stop(
        self,
        proc: asyncio.subprocess.Process,
        waiter: asyncio.Task[int],
        marker: bytes,
        grace: float,
        sink: Sink,
        stop: StopRequest,
    ) -> None:
        """SIGINT, then SIGTERM to the whole task, then SIGKILL; each step announced."""
        procs.send_group(proc.pid, procs.INT)
        sent = time.monotonic()
        if await _wait_exit(waiter, grace, stop):
            return
        sink.note(
            f"agent still running {time.monotonic() - sent:.1f} s after SIGINT; sent SIGTERM to "
            "it and every process it started."
        )
        procs.send_group(proc.pid, procs.TERM)
        procs.send(self._task_pids(proc.pid, marker), procs.TERM)
        if await _wait_exit(waiter, TERM_GRACE, None):
            return
        sink.note(f"agent ignored SIGTERM for {TERM_GRACE:g} s; killed it.")
        procs.send_group(proc.pid, procs.KILL)
        procs.send(self._task_pids(proc.pid, marker), procs.KILL)

    def _task_pids(self, pid: int, marker: bytes) -> list[int]:
        return [pid, *procs.descendants(pid), *procs.leftovers(marker, self.managed)]

    async def _sweep(self, marker: bytes, sink: Sink) -> None:
        """End whatever the attempt left running once its agent has exited."""
        left = procs.leftovers(marker, self.managed)
        if not left:
            return
        names = ", ".join(f"{pid}" for pid in left[:10])
        sink.note(f"the agent left {len(left)} process(es) running (pid {names}); ending them.")
        procs.send(left, procs.TERM)
        deadline = time.monotonic() + SWEEP_GRACE
        # Orphans are not our asyncio children, so there is nothing to await: poll briefly.
        while procs.alive(left) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stubborn = procs.alive(left)
        if stubborn:
            sink.note(f"{len(stubborn)} of them ignored SIGTERM; killed them.")
            procs.send(stubborn, procs.KILL)
        self.reap()


class _ExitProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """asyncio's stream protocol, plus a future set the moment the process exits.

    `Process.wait()` returns only once the process has exited *and* every pipe is closed, so a
    grandchild that inherited stdout (`sleep 300 &`) would keep nova waiting for it.
    """

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


async def _wait_process(proc: asyncio.subprocess.Process, protocol: _ExitProtocol) -> int:
    """The exit status of `proc` as soon as it exits, whoever still holds its pipes."""
    await protocol.exited
    assert proc.returncode is not None
    return proc.returncode


async def _pump(
    stream: asyncio.StreamReader, deliver: object, last_output: list[float]
) -> None:
    assert callable(deliver)
    while True:
        chunk = await stream.read(READ_CHUNK)
        if not chunk:
            return
        last_output[0] = time.monotonic()
        deliver(chunk)


async def _feed(proc: asyncio.subprocess.Process, data: bytes | None) -> None:
    if proc.stdin is None or data is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(data)
        await proc.stdin.drain()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
        proc.stdin.close()


async def _wait_exit(waiter: asyncio.Task[int], seconds: float, stop: StopRequest | None) -> bool:
    """Wait up to `seconds` for the process to exit; a renewed stop request cuts it short."""
    if stop is not None:
        stop.event.clear()
        again = asyncio.create_task(stop.event.wait())
        try:
            await asyncio.wait(
                {waiter, again}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            again.cancel()
    else:
        await asyncio.wait({waiter}, timeout=seconds)
    return waiter.done()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
