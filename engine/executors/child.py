"""One agent process on this machine, wired into the event loop.

A child costs the event loop two pipe readers and a pidfd reader, nothing else: no stream
objects, no task per pipe, no child-watcher thread. The loop wakes only when the agent prints
or exits. `engine.executors.local` decides when to start, stop and sweep; this module only
starts a process, delivers its output and knows when it has exited.
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
from typing import Any

from engine.executors.base import Launch, Sink

READ_CHUNK = 1 << 18


class Child:
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
            self.pid, self.popen = spawn(launch, in_r, out_w, err_w)
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


def spawn(
    launch: Launch, stdin: int, stdout: int, stderr: int
) -> tuple[int, subprocess.Popen[bytes] | None]:
    """Start the agent in a session of its own, with these descriptors as 0, 1 and 2.

    `posix_spawn` (a vfork and an exec, no Python in between) when the agent works in nova's
    own directory, as it usually does; `Popen`, which can change directory first, otherwise.
    Both leave nothing else open in the child: see `local._inherit_nothing`.
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


async def wait_exit(
    child: Child, seconds: float | None, also: asyncio.Future[None] | None = None
) -> bool:
    """Wait up to `seconds` (None: no limit) for the agent to exit or `also` to complete; True
    if it exited."""
    waiting: set[asyncio.Future[Any]] = {child.exited}
    if also is not None:
        waiting.add(also)
    await asyncio.wait(waiting, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    return child.exited.done()
