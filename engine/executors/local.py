"""The local executor: each agent a child process of nova, on this machine.

`LocalExecutor` implements `engine.executors.base.Executor`.

Every child is started in a session of its own (so the terminal's Ctrl-C reaches nova, which
then stops agents in order), gets an empty stdin unless it takes a prompt, is awaited, and is
reaped; when it ends, anything it left running is ended too. Stopping escalates and says so:
SIGINT (Claude Code's gentle stop, which still reports usage), then SIGTERM to everything the
task started, then SIGKILL.

A child (`engine.executors.child`) costs the event loop two pipe readers and a pidfd reader,
nothing else, so a run of many short tasks spends its time running them, not supervising them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path

from engine import fsio
from engine.executors import cgroup, guardian, ledger, procs
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
from engine.executors.child import Child, wait_exit
from engine.outcome import Exit, StopCause

FILES_WANTED = 65536
# How often, without a cgroup, nova looks for orphans to record: as often as the runner's
# heartbeat (runner.HEARTBEAT), no more. One read of /proc a look.
LOOK_EVERY = 5.0


def _inherit_nothing() -> None:
    """Mark every descriptor nova inherited (beyond 0-2) close-on-exec, as Python marks the
    ones it opens: agents then get only what `child.spawn` gives them, as with `close_fds`."""
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc/self/fd"):
            if int(name) > 2:
                with contextlib.suppress(OSError):  # the listing's own descriptor is gone
                    os.set_inheritable(int(name), False)


def _allow_more_files() -> None:
    """Raise the soft limit on open descriptors (up to the hard limit, at most 65,536): each
    running agent holds about five, and a common soft limit of 1,024 would cap `-j` near 200.
    What is still too little makes a `resources` failure, which waits and tries again."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = FILES_WANTED if hard == resource.RLIM_INFINITY else min(hard, FILES_WANTED)
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, OSError, ValueError):
        pass  # keep the limit as it is


def _prepare_process() -> None:
    """What nova's own process needs before it starts agents. It changes process-wide
    things (inherited descriptors, the open-files limit, the subreaper), so it happens when a
    run begins, not when an executor is made; each step is cheap and the same done twice."""
    _inherit_nothing()
    _allow_more_files()
    procs.enable_subreaper()


def _place_files(files: Mapping[str, bytes]) -> None:
    """Put a launch's files where its process reads them: parent directories made 0700,
    each file written whole (0600) in place of whatever was there, no link followed."""
    for path, data in files.items():
        fsio.make_private_dir(os.path.dirname(os.path.abspath(path)))
        fsio.write_atomic(path, data)


class LocalExecutor:
    """Runs each agent as a child process of nova.

    With `state_dir`, each run keeps its record of processes there (`engine.executors.ledger`), for
    its guardian and the next run.
    """

    def __init__(self, state_dir: Path | None = None) -> None:
        self.managed: set[int] = set()  # nova's own children: running agents, the guardian
        self._agents: set[int] = set()  # running agents
        self._guardian: tuple[int, int] | None = None  # its pid, and the pipe it watches
        self._state_dir = state_dir.absolute() if state_dir is not None else None
        self._home: Path | None = None  # nova's cgroup before the run's
        self._cgroup: Path | None = None  # the run's, which nova and all it starts are in
        self._ledger: ledger.Ledger | None = None
        self._looking: asyncio.TimerHandle | None = None
        self.capabilities = ExecutorCapabilities(shared_fs=True)
        self._devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self.host = socket.gethostname()

    def end_survivors(self, last: LastRun) -> list[str]:
        """End what a killed run left running, and say which: its cgroup's members, the
        processes it recorded in the state directory and its running agents (each by pid and
        start time, never a bare pid), those carrying its marker, and everything below them.
        """
        if self._state_dir is None:
            return []
        notes: list[str] = []
        agents = [(p.pid, p.started) for p in last.agents if p.host in ("", self.host)]
        ledger.end_left(self._state_dir, agents, [last.run_id], notes.append)
        return notes

    def begin(self, run_id: str) -> str | None:
        """Make the run's cgroup, start its record, fork the guardian (which ends the run's
        processes should nova die without doing so), then move nova into the cgroup."""
        _prepare_process()
        self._home = cgroup.current()
        self._cgroup = cgroup.create(run_id, self._home)
        record = None
        if self._state_dir is not None:
            nova = (os.getpid(), procs.create_time(os.getpid()))
            if ledger.write_record(self._state_dir, ledger.header(run_id, nova, self._cgroup)):
                record = self._state_dir / ledger.FILE
        problem = pipe = None
        try:
            self._guardian = guardian.start(run_id, self._cgroup, self._state_dir)
        except OSError as exc:
            problem = (
                f"could not start the guardian process ({exc}); agents may outlive nova "
                "if it is killed."
            )
        else:
            self.managed.add(self._guardian[0])
            pipe = self._guardian[1]
            os.set_blocking(pipe, False)  # a guardian that stopped reading must not stall nova
        # After the fork: the guardian stays where nova was, outside what it may have to end.
        if self._cgroup is not None and not cgroup.join(self._cgroup):
            self._leave_cgroup()
        if record is not None:
            self._ledger = ledger.Ledger(record, pipe)
        return problem

    def _leave_cgroup(self) -> bool:
        """Move nova back where it was and remove the run's cgroup, ending what is left in it;
        True if it is gone (or there was none)."""
        group, self._cgroup = self._cgroup, None
        if group is None:
            return True
        if self._home is not None:
            cgroup.join(self._home)
        inside = cgroup.members(group)
        if os.getpid() in inside:
            return False  # could not leave: never kill it with nova inside; the record keeps it
        if inside:
            cgroup.kill(group)
        return cgroup.remove(group)

    def _record(self, pids: list[int]) -> None:
        if self._ledger is not None and pids:
            self._ledger.add(pids)

    def _record_known(self, process: ProcessId) -> None:
        if self._ledger is not None and process.started is not None:
            self._ledger.add_known(process.pid, process.started)

    def _look(self) -> None:
        """Record the orphans re-parented to nova since the last look, and what is below
        them: without a cgroup, that is how the guardian and the next run know of them."""
        self._looking = None
        strays = procs.orphans(self.managed)
        self._record(procs.leftovers(None, procs.alive(strays)))
        if self._agents:
            self._looking = asyncio.get_running_loop().call_later(LOOK_EVERY, self._look)

    def end(self) -> None:
        """Leave and remove the run's cgroup, forget its record, tell the guardian the run
        ended cleanly, and reap it."""
        if self._looking is not None:
            self._looking.cancel()
            self._looking = None
        gone = self._leave_cgroup()
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None
            if gone and self._state_dir is not None:
                ledger.forget(self._state_dir)
        if self._guardian is None:
            return
        pid, pipe = self._guardian
        self._guardian = None
        os.set_blocking(pipe, True)
        with contextlib.suppress(OSError):
            os.write(pipe, guardian.DONE)
        os.close(pipe)
        # It exits on reading DONE and the end of the pipe: at once.
        if not procs.wait_exit(pid, 5.0):
            procs.send([pid], procs.KILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        self.managed.discard(pid)

    def reap(self) -> None:
        """Collect the exit status of orphans that have ended (no zombies left behind)."""
        procs.reap(procs.orphans(self.managed))

    async def end_strays(self, limits: Limits) -> int:
        """End every process still re-parented to nova: what agents left behind that no task
        could claim (it cleared nova's marker from its environment). Run when no agent runs,
        so nothing an agent started outlives the run; returns how many were ended."""
        strays = procs.orphans(self.managed)
        procs.reap(strays)
        left = procs.alive(strays)
        if self._cgroup is not None:  # also what left nova's tree (another subreaper's)
            me = os.getpid()
            left += [p for p in cgroup.members(self._cgroup) if p != me and p not in left]
        left += [p for root in left for p in procs.descendants(root) if p not in left]
        if left:
            await _end(left, limits.sweep_grace)
            self.reap()
        return len(left)

    async def run(
        self, launch: Launch, token: str, sink: Sink, limits: Limits, stop: StopRequest
    ) -> Exit:
        began = time.monotonic()
        try:
            _place_files(launch.files)
            child = Child(launch, sink, self._devnull)
        except OSError as exc:
            raise SpawnError(exc.errno, exc.strerror) from exc
        self.managed.add(child.pid)
        self._agents.add(child.pid)
        marker = f"{procs.TOKEN_VAR}={token}".encode()
        # Read once, right after the spawn, where the record has always read it: the sink
        # and the record share the one read (it waits for the agent to finish loading).
        process = ProcessId(self.host, child.pid, procs.create_time(child.pid))
        sink.started(process)
        self._record_known(process)
        if self._cgroup is None and self._ledger is not None and self._looking is None:
            self._looking = asyncio.get_running_loop().call_later(LOOK_EVERY, self._look)
        cause: StopCause | None = None
        try:
            cause = await self._watch(child, limits, stop, began)
            if cause is not None and not child.exited.done():
                grace = stop.grace if stop.grace is not None else limits.grace
                await self._stop(child, marker, grace, limits, sink, stop)
            returncode = await child.exited
        finally:
            if not child.exited.done():  # cancelled from outside: never leave the child behind
                procs.send([child.pid, *procs.descendants(child.pid)], procs.KILL)
            self.managed.discard(child.pid)
            self._agents.discard(child.pid)
        await self._sweep(marker, sink, limits)
        if not child.drained.done():
            await asyncio.wait({child.drained}, timeout=limits.drain_grace)
        if not child.drained.done():
            sink.note(
                "a process without nova's marker still holds the agent's output; stopped "
                "reading it (such processes are ended when the run ends)"
            )
        child.close_pipes()
        return Exit(returncode, cause, time.monotonic() - began)

    async def _watch(
        self, child: Child, limits: Limits, stop: StopRequest, began: float
    ) -> StopCause | None:
        """Wait for the agent to exit, a stop request, or a time limit; say which stopped it."""
        while True:
            deadlines = []
            if limits.timeout:
                deadlines.append(began + limits.timeout)
            if limits.stall_timeout:
                deadlines.append(child.last_output + limits.stall_timeout)
            wait_for = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            asked = stop.waiter()
            if await wait_exit(child, wait_for, asked):
                return None
            if asked.done():
                return stop.cause
            now = time.monotonic()
            if limits.timeout and now >= began + limits.timeout:
                return StopCause.TIMEOUT
            if limits.stall_timeout and now >= child.last_output + limits.stall_timeout:
                return StopCause.STALL

    async def _stop(
        self,
        child: Child,
        marker: bytes,
        grace: float,
        limits: Limits,
        sink: Sink,
        stop: StopRequest,
    ) -> None:
        """SIGINT, then SIGTERM to the whole task, then SIGKILL; each step announced.

        Every process seen in the task at any step is remembered (with its start time), so
        one whose parent died, taking its place in the tree with it, is still killed.
        """
        seen: dict[int, float | None] = {}

        def remember(pids: list[int]) -> list[int]:
            for pid in pids:
                if pid not in seen:
                    seen[pid] = procs.create_time(pid)
            self._record(pids)
            return pids

        remember(self._task_pids(child.pid, marker))
        procs.send_group(child.pid, procs.INT)
        sent = time.monotonic()
        stop.rearm()  # a second Ctrl-C during the grace skips the rest of it
        if await wait_exit(child, grace, stop.waiter()):
            return
        sink.note(
            f"agent still running {time.monotonic() - sent:.1f} s after SIGINT; sent SIGTERM to "
            "it and every process it started."
        )
        procs.send_group(child.pid, procs.TERM)
        procs.send(remember(self._task_pids(child.pid, marker)), procs.TERM)
        if await wait_exit(child, limits.term_grace):
            return
        sink.note(f"agent ignored SIGTERM for {limits.term_grace:g} s; killed it.")
        procs.send_group(child.pid, procs.KILL)
        procs.send(remember(self._task_pids(child.pid, marker)), procs.KILL)
        procs.send([pid for pid, t in seen.items() if procs.same_process(pid, t)], procs.KILL)

    def _task_pids(self, pid: int, marker: bytes) -> list[int]:
        strays = procs.leftovers(marker, procs.orphans(self.managed))
        return [pid, *procs.descendants(pid), *strays]

    async def _sweep(self, marker: bytes, sink: Sink, limits: Limits) -> None:
        """End whatever the attempt left running once its agent has exited.

        Its processes carry its marker. One that cleared its environment carries none: it is
        this task's for sure only when no other agent runs, and is ended then; otherwise
        `end_strays` ends it when the run is over.
        """
        strays = procs.orphans(self.managed)
        if not strays:
            return  # the usual case: one read of /proc, nothing to end or reap
        procs.reap(strays)
        self._record(procs.alive(strays))
        left = procs.leftovers(marker, strays)
        if left:
            names = ", ".join(f"{pid}" for pid in left[:10])
            sink.note(f"the agent left {len(left)} process(es) running (pid {names}); ending them.")
        if not self._agents:
            hidden = [p for p in procs.leftovers(None, procs.unmarked(strays)) if p not in left]
            if hidden:
                names = ", ".join(f"{pid}" for pid in hidden[:10])
                sink.note(
                    f"{len(hidden)} process(es) without nova's marker (pid {names}) were "
                    "left by an agent, and no other agent runs; ending them."
                )
                left += hidden
        if not left:
            return
        if await _end(left, limits.sweep_grace):
            sink.note("some of them ignored SIGTERM; killed them.")
        self.reap()


async def _end(pids: list[int], grace: float) -> bool:
    """SIGTERM, a short grace, then SIGKILL for what still runs; True if SIGKILL was needed."""
    procs.send(pids, procs.TERM)
    await _all_gone(pids, grace)
    stubborn = procs.alive(pids)
    procs.send(stubborn, procs.KILL)
    return bool(stubborn)


async def _all_gone(pids: list[int], seconds: float) -> None:
    """Wait up to `seconds` for every one of `pids` to end. Orphans are no children asyncio
    knows, but a pidfd of any process becomes readable when it ends: those are awaited."""
    loop = asyncio.get_running_loop()
    ends: dict[int, asyncio.Future[None]] = {}
    try:
        for pid in procs.alive(pids):
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                continue  # gone meanwhile
            except (AttributeError, OSError):  # no pidfd (Linux < 5.3), or no descriptor free
                await _poll_gone(pids, seconds)
                return
            ends[fd] = loop.create_future()
            loop.add_reader(fd, _ended, ends[fd])
        if ends:
            await asyncio.wait(ends.values(), timeout=seconds)
    finally:
        for fd in ends:
            loop.remove_reader(fd)
            os.close(fd)


def _ended(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _poll_gone(pids: list[int], seconds: float) -> None:
    """`_all_gone` where a process cannot be awaited: look again every 50 ms."""
    deadline = time.monotonic() + seconds
    while True:  # there is nothing to await here, so this polls
        if not procs.alive(pids) or time.monotonic() >= deadline:
            return
        await asyncio.sleep(0.05)
