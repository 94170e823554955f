"""The local executor: each agent a child process of nova, on this machine.

`LocalExecutor` implements `engine.executors.base.Executor`.

Every child is started in a session of its own (so the terminal's Ctrl-C reaches nova, which
then stops agents in order), gets an empty stdin unless it takes a prompt, is awaited, and is
reaped; when it ends, anything it left running is ended too. Stopping escalates and says so:
SIGINT (Claude Code's gentle stop, which still reports usage), then SIGTERM to everything the
task started, then SIGKILL.

A child costs the event loop two pipe readers and a pidfd reader, nothing else: no stream
objects, no task per pipe, no child-watcher thread. The loop wakes only when the agent prints
or exits, so a run of many short tasks spends its time running them, not supervising them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.executors import cgroup, guardian, ledger, procs
from engine.executors.base import Launch, Limits, Sink, SpawnError, StopRequest
from engine.outcome import Exit, StopCause

READ_CHUNK = 1 << 18
TERM_GRACE = 3.0
SWEEP_GRACE = 1.0
DRAIN_GRACE = 2.0
FILES_WANTED = 65536
# How often, without a cgroup, nova looks for orphans to record: as often as the runner's
# heartbeat (runner.HEARTBEAT), no more. One read of /proc a look.
LOOK_EVERY = 5.0


class _Child:
    """One agent process, wired into the event loop: its output goes to the sink as it comes,
    `exited` holds its exit status the moment it ends, `drained` is done once both of its
    output pipes are closed (which a grandchild holding them can delay past the exit)."""

    def __init__(self, launch: Launch, sink: Sink, devnull: int) -> None:
        loop = asyncio.get_running_loop()
        self.loop = loop
        self.sink = sink
        self.last_output = time.monotonic()
        self.exited: asyncio.Future[int] = loop.create_future()
        self.drained: asyncio.Future[None] = loop.create_future()
        self.error: BaseException | None = None
        self._open: set[int] = set()
        self._prompt = memoryview(launch.stdin or b"")
        ours: list[int] = []  # nova's ends, kept
        theirs: list[int] = []  # the agent's ends, closed here once it has them
        try:
            # Any of these can fail for want of descriptors: whatever was opened is closed.
            out_r, out_w = os.pipe()
            ours.append(out_r)
            theirs.append(out_w)
            err_r, err_w = os.pipe()
            ours.append(err_r)
            theirs.append(err_w)
            in_r, in_w = devnull, -1
            if launch.stdin is not None:
                in_r, in_w = os.pipe()
                ours.append(in_w)
                theirs.append(in_r)
            self.pid, self.popen = _spawn(launch, in_r, out_w, err_w)
        except BaseException:
            for fd in ours:
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        self._watch_exit()
        for fd, deliver in ((out_r, sink.stdout), (err_r, sink.stderr)):
            os.set_blocking(fd, False)
            self._open.add(fd)
            loop.add_reader(fd, self._read, fd, deliver)
        self._stdin = in_w
        if in_w >= 0:
            os.set_blocking(in_w, False)
            self._write_prompt()

    # ---- exit ------------------------------------------------------------------------------

    def _watch_exit(self) -> None:
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # no pidfd (Linux < 5.3): a thread waits instead
            threading.Thread(target=self._wait_blocking, daemon=True).start()
            return
        self.loop.add_reader(pidfd, self._reap, pidfd)

    def _reap(self, pidfd: int) -> None:
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere: the status is lost, not the child
            pid, status = self.pid, -1
        if pid == 0:
            return  # not ended yet (a spurious wake-up): keep waiting
        self.loop.remove_reader(pidfd)
        os.close(pidfd)
        self._exited(status)

    def _wait_blocking(self) -> None:
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            status = -1
        self.loop.call_soon_threadsafe(self._exited, status)

    def _exited(self, status: int) -> None:
        code = os.waitstatus_to_exitcode(status) if status >= 0 else 255
        if self.popen is not None:
            self.popen.returncode = code  # so Popen never waits for it again
        if not self.exited.done():
            self.exited.set_result(code)

    # ---- pipes -----------------------------------------------------------------------------

    def _read(self, fd: int, deliver: Callable[[bytes], None]) -> None:
        try:
            data = os.read(fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(fd)
            return
        self.last_output = time.monotonic()
        if self.error is not None:
            return  # keep draining the pipe, so the agent never blocks on a full one
        try:
            deliver(data)
        except Exception as exc:  # e.g. the disk is full: say so once, keep the agent going
            self.error = exc
            self.sink.note(
                f"nova could not record the agent's output ({exc}); the rest of "
                "this attempt's output is not logged."
            )

    def _close(self, fd: int) -> None:
        if fd in self._open:
            self._open.discard(fd)
            self.loop.remove_reader(fd)
            os.close(fd)
        if not self._open and not self.drained.done():
            self.drained.set_result(None)

    def close_pipes(self) -> None:
        """Stop reading: the agent has exited, and whoever holds its pipes is not ours."""
        for fd in list(self._open):
            self._close(fd)
        self._close_stdin()

    def _write_prompt(self) -> None:
        try:
            while self._prompt:
                written = os.write(self._stdin, self._prompt)
                self._prompt = self._prompt[written:]
        except BlockingIOError:
            self.loop.add_writer(self._stdin, self._write_more)
            return
        except OSError:  # the agent closed its stdin: it does not want the prompt
            pass
        self._close_stdin()

    def _write_more(self) -> None:
        self.loop.remove_writer(self._stdin)
        self._write_prompt()

    def _close_stdin(self) -> None:
        if self._stdin >= 0:
            with contextlib.suppress(Exception):
                self.loop.remove_writer(self._stdin)
            os.close(self._stdin)
            self._stdin = -1


def _spawn(
    launch: Launch, stdin: int, stdout: int, stderr: int
) -> tuple[int, subprocess.Popen[bytes] | None]:
    """Start the agent in a session of its own, with these descriptors as 0, 1 and 2.

    `posix_spawn` (a vfork and an exec, no Python in between) when the agent works in nova's
    own directory, as it usually does; `Popen`, which can change directory first, otherwise.
    Both leave nothing else open in the child: see `_inherit_nothing`.
    """
    if launch.cwd == os.getcwd():
        actions = [
            (os.POSIX_SPAWN_DUP2, stdin, 0),
            (os.POSIX_SPAWN_DUP2, stdout, 1),
            (os.POSIX_SPAWN_DUP2, stderr, 2),
        ]
        # Python ignores SIGPIPE and SIGXFSZ; an agent must not inherit that (`head` would
        # leave `yes | head -1` spinning on EPIPE). Popen's restore_signals does the same.
        pid = os.posix_spawnp(
            launch.argv[0],
            launch.argv,
            launch.env,
            file_actions=actions,
            setsid=True,
            setsigdef=_RESTORED_SIGNALS,
        )
        return pid, None
    popen = subprocess.Popen(
        launch.argv,
        cwd=launch.cwd,
        env=launch.env,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
    return popen.pid, popen


_RESTORED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, name)
)


def _inherit_nothing() -> None:
    """Mark every descriptor nova inherited (beyond 0-2) close-on-exec, as Python marks the
    ones it opens: agents then get only what `_spawn` gives them, as with `close_fds`."""
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
        self._devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        _inherit_nothing()
        _allow_more_files()
        procs.enable_subreaper()

    def begin(self, run_id: str) -> str | None:
        """Make the run's cgroup, start its record, fork the guardian (which ends the run's
        processes should nova die without doing so), then move nova into the cgroup."""
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

    async def end_strays(self) -> int:
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
            await _end(left)
            self.reap()
        return len(left)

    async def run(
        self, launch: Launch, token: str, sink: Sink, limits: Limits, stop: StopRequest
    ) -> Exit:
        began = time.monotonic()
        try:
            child = _Child(launch, sink, self._devnull)
        except OSError as exc:
            raise SpawnError(exc.errno, exc.strerror) from exc
        self.managed.add(child.pid)
        self._agents.add(child.pid)
        marker = f"{procs.TOKEN_VAR}={token}".encode()
        sink.started(child.pid)
        self._record([child.pid])
        if self._cgroup is None and self._ledger is not None and self._looking is None:
            self._looking = asyncio.get_running_loop().call_later(LOOK_EVERY, self._look)
        cause: StopCause | None = None
        try:
            cause = await self._watch(child, limits, stop, began)
            if cause is not None and not child.exited.done():
                grace = stop.grace if stop.grace is not None else limits.grace
                await self._stop(child, marker, grace, sink, stop)
            returncode = await child.exited
        finally:
            if not child.exited.done():  # cancelled from outside: never leave the child behind
                procs.send([child.pid, *procs.descendants(child.pid)], procs.KILL)
            self.managed.discard(child.pid)
            self._agents.discard(child.pid)
        await self._sweep(marker, sink)
        if not child.drained.done():
            await asyncio.wait({child.drained}, timeout=DRAIN_GRACE)
        if not child.drained.done():
            sink.note(
                "a process without nova's marker still holds the agent's output; stopped "
                "reading it (such processes are ended when the run ends)"
            )
        child.close_pipes()
        return Exit(returncode, cause, time.monotonic() - began)

    async def _watch(
        self, child: _Child, limits: Limits, stop: StopRequest, began: float
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
            if await _wait_exit(child, wait_for, asked):
                return None
            if asked.done():
                return stop.cause
            now = time.monotonic()
            if limits.timeout and now >= began + limits.timeout:
                return StopCause.TIMEOUT
            if limits.stall_timeout and now >= child.last_output + limits.stall_timeout:
                return StopCause.STALL

    async def _stop(
        self, child: _Child, marker: bytes, grace: float, sink: Sink, stop: StopRequest
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
        if await _wait_exit(child, grace, stop.waiter()):
            return
        sink.note(
            f"agent still running {time.monotonic() - sent:.1f} s after SIGINT; sent SIGTERM to "
            "it and every process it started."
        )
        procs.send_group(child.pid, procs.TERM)
        procs.send(remember(self._task_pids(child.pid, marker)), procs.TERM)
        if await _wait_exit(child, TERM_GRACE):
            return
        sink.note(f"agent ignored SIGTERM for {TERM_GRACE:g} s; killed it.")
        procs.send_group(child.pid, procs.KILL)
        procs.send(remember(self._task_pids(child.pid, marker)), procs.KILL)
        procs.send([pid for pid, t in seen.items() if procs.same_process(pid, t)], procs.KILL)

    def _task_pids(self, pid: int, marker: bytes) -> list[int]:
        strays = procs.leftovers(marker, procs.orphans(self.managed))
        return [pid, *procs.descendants(pid), *strays]

    async def _sweep(self, marker: bytes, sink: Sink) -> None:
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
        if await _end(left):
            sink.note("some of them ignored SIGTERM; killed them.")
        self.reap()


async def _end(pids: list[int]) -> bool:
    """SIGTERM, a short grace, then SIGKILL for what still runs; True if SIGKILL was needed."""
    procs.send(pids, procs.TERM)
    deadline = time.monotonic() + SWEEP_GRACE
    # Orphans are not children asyncio knows, so there is nothing to await: poll briefly.
    while procs.alive(pids) and time.monotonic() < deadline:  # noqa: ASYNC110 (see above)
        await asyncio.sleep(0.05)
    stubborn = procs.alive(pids)
    procs.send(stubborn, procs.KILL)
    return bool(stubborn)


async def _wait_exit(
    child: _Child, seconds: float | None, also: asyncio.Future[None] | None = None
) -> bool:
    """Wait up to `seconds` (None: no limit) for the agent to exit or `also` to complete; True
    if it exited."""
    waiting: set[asyncio.Future[Any]] = {child.exited}
    if also is not None:
        waiting.add(also)
    await asyncio.wait(waiting, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    return child.exited.done()
