"""LocalExecutor with real processes: what goes in (prompt, env, directory, descriptors), what
comes out (every byte, the exit status), and how it stops an agent that will not stop."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from engine.executors.base import Launch, Limits, StopRequest
from engine.executors.local import LocalExecutor
from engine.outcome import Exit, StopCause

PY = sys.executable


class Recorder:
    """A sink that keeps everything it is given."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.pid: int | None = None
        self.out = bytearray()
        self.err = bytearray()
        self.notes: list[str] = []
        self.fail_after = fail_after

    def started(self, pid: int) -> None:
        self.pid = pid

    def stdout(self, chunk: bytes) -> None:
        if self.fail_after is not None and len(self.out) >= self.fail_after:
            raise OSError(28, "No space left on device")
        self.out += chunk

    def stderr(self, chunk: bytes) -> None:
        self.err += chunk

    def note(self, message: str) -> None:
        self.notes.append(message)


def launch(
    *argv: str,
    stdin: bytes | None = None,
    cwd: str | None = None,
    env: dict[str, str] | None = None,
) -> Launch:
    return Launch(tuple(argv), cwd or os.getcwd(), env or dict(os.environ), stdin)


def run(
    job: Launch,
    sink: Recorder,
    limits: Limits | None = None,
    stop: StopRequest | None = None,
    stop_after: float | None = None,
) -> Exit:
    async def main() -> Exit:
        executor = LocalExecutor()
        request = stop or StopRequest()
        if stop_after is not None:
            asyncio.get_running_loop().call_later(stop_after, request.request)
        return await executor.run(job, "test/T1/1", sink, limits or Limits(), request)

    return asyncio.run(main())


def test_a_prompt_larger_than_a_pipe_reaches_the_agent_whole() -> None:
    """A 1 MiB prompt is written to stdin as the agent reads it, then stdin is closed."""
    prompt = os.urandom(1 << 20)
    sink = Recorder()
    code = "import sys,hashlib; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"
    exit = run(launch(PY, "-c", code, stdin=prompt), sink)
    assert exit.returncode == 0
    import hashlib

    assert sink.out.decode().strip() == hashlib.sha256(prompt).hexdigest()


def test_output_arrives_byte_for_byte_and_the_exit_status_is_kept() -> None:
    """Binary stdout without a final newline, stderr, and exit code 3 all come back as sent."""
    sink = Recorder()
    code = (
        "import sys; sys.stdout.buffer.write(bytes(range(256)) * 300); "
        "sys.stderr.write('oops'); sys.exit(3)"
    )
    exit = run(launch(PY, "-c", code), sink)
    assert exit.returncode == 3
    assert bytes(sink.out) == bytes(range(256)) * 300
    assert bytes(sink.err) == b"oops"
    assert sink.pid is not None


def test_an_agent_with_its_own_workdir_runs_there_with_the_given_environment(
    tmp_path: Path,
) -> None:
    """A workdir other than nova's own takes the other spawn path; cwd and env still hold."""
    sink = Recorder()
    env = {"PATH": os.environ["PATH"], "NOVA_TASK_TOKEN": "test/T1/1"}
    code = "import os; print(os.getcwd()); print(sorted(os.environ))"
    exit = run(launch(PY, "-c", code, cwd=str(tmp_path), env=env), sink)
    assert exit.returncode == 0
    lines = sink.out.decode().splitlines()
    assert lines[0] == str(tmp_path)
    assert "NOVA_TASK_TOKEN" in lines[1] and "HOME" not in lines[1]


@pytest.mark.parametrize("elsewhere", [False, True])
def test_descriptors_nova_inherited_are_not_passed_to_agents(
    tmp_path: Path, elsewhere: bool
) -> None:
    """An inheritable descriptor in nova (from whoever started it) is closed in the agent."""
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    try:
        sink = Recorder()
        check = f"[ -e /proc/self/fd/{write_end} ] && echo leaked || echo clean"
        cwd = str(tmp_path) if elsewhere else None
        assert run(launch("sh", "-c", check, cwd=cwd), sink).returncode == 0
        assert sink.out.decode().strip() == "clean"
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_program_that_cannot_start_raises_and_leaks_no_descriptor() -> None:
    """A missing program is an OSError for the runner to report; nova's descriptors balance."""
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(OSError, match="No such file"):
        run(launch("/nonexistent/agent"), Recorder())
    after = set(os.listdir("/proc/self/fd"))
    # LocalExecutor keeps /dev/null open for agents' stdin: one descriptor per executor.
    assert len(after - before) <= 1


def test_a_sink_that_fails_is_reported_once_and_the_agent_is_not_blocked() -> None:
    """When the log cannot be written (disk full), the pipe is still drained to the end."""
    sink = Recorder(fail_after=1)
    code = "import sys; [sys.stdout.write('x' * 1000 + '\\n') for _ in range(5000)]"
    exit = run(launch(PY, "-c", code), sink)
    assert exit.returncode == 0
    assert len([n for n in sink.notes if "could not record" in n]) == 1


def test_stopping_escalates_to_sigterm_and_says_so_when_sigint_is_ignored() -> None:
    """SIGINT first; an agent that ignores it gets SIGTERM after the grace, with a note."""
    sink = Recorder()
    code = (
        "import signal, time, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(30)"
    )
    exit = run(launch(PY, "-c", code), sink, Limits(grace=0.3), stop_after=0.5)
    assert exit.stopped_by is StopCause.CANCEL
    assert exit.signal == 15
    assert any("after SIGINT; sent SIGTERM" in n for n in sink.notes)


def test_an_agent_ignoring_every_signal_is_killed_and_that_is_said() -> None:
    """SIGINT and SIGTERM ignored: SIGKILL after the TERM grace, announced in a note."""
    sink = Recorder()
    code = (
        "import signal, time; [signal.signal(s, signal.SIG_IGN) for s in "
        "(signal.SIGINT, signal.SIGTERM)]; print('ready', flush=True); time.sleep(60)"
    )
    exit = run(launch(PY, "-c", code), sink, Limits(grace=0.2), stop_after=0.5)
    assert exit.signal == 9
    assert any("ignored SIGTERM" in n and "killed it" in n for n in sink.notes)


def test_a_second_stop_request_cuts_the_grace_short() -> None:
    """With a 30 s grace, a second request (a second Ctrl-C) moves on to SIGTERM at once."""
    sink = Recorder()
    code = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(30)"
    stop = StopRequest()

    async def main() -> Exit:
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, stop.request)
        loop.call_later(0.6, lambda: stop.request(StopCause.CANCEL, grace=0.0))
        return await LocalExecutor().run(
            launch(PY, "-c", code), "test/T1/1", sink, Limits(grace=30.0), stop
        )

    exit = asyncio.run(main())
    assert exit.signal == 15
    assert exit.duration < 10


def test_the_timeout_ends_an_agent_and_is_named_as_the_cause() -> None:
    """A wall-clock limit stops the agent with the timeout as the recorded cause."""
    exit = run(
        launch(PY, "-c", "import time; time.sleep(30)"), Recorder(), Limits(timeout=0.3, grace=1.0)
    )
    assert exit.stopped_by is StopCause.TIMEOUT
    assert exit.returncode is not None and exit.returncode != 0


@pytest.mark.parametrize("elsewhere", [False, True])
def test_agents_do_not_inherit_pythons_ignored_sigpipe(tmp_path: Path, elsewhere: bool) -> None:
    """Python ignores SIGPIPE; an agent must not: `yes | head -1` ends at once (it would spin
    on EPIPE until its timeout), on both spawn paths."""
    sink = Recorder()
    check = "grep SigIgn /proc/self/status; yes | head -1"
    cwd = str(tmp_path) if elsewhere else None
    exit = run(launch("sh", "-c", check, cwd=cwd), sink, Limits(timeout=20))
    assert exit.returncode == 0 and exit.stopped_by is None
    ignored = int(sink.out.decode().split()[1], 16)
    assert ignored & (1 << (13 - 1)) == 0  # SIGPIPE is 13


def test_running_out_of_descriptors_between_pipes_leaks_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """EMFILE on the second or third pipe: the pipes already made are closed again."""
    real_pipe = os.pipe
    for fail_at in (2, 3):
        made: list[int] = []

        def pipe(fail_at: int = fail_at, made: list[int] = made) -> tuple[int, int]:
            if len(made) // 2 + 1 == fail_at:
                raise OSError(24, "Too many open files")
            fds = real_pipe()
            made.extend(fds)
            return fds

        monkeypatch.setattr(os, "pipe", pipe)
        with pytest.raises(OSError, match="Too many open files"):
            run(launch(PY, "-c", "pass", stdin=b"prompt"), Recorder())
        monkeypatch.setattr(os, "pipe", real_pipe)
        still_open = [fd for fd in made if os.path.exists(f"/proc/self/fd/{fd}")]
        assert still_open == [], fail_at
