"""LocalExecutor with real processes: what goes in (prompt, env, directory, descriptors), what
comes out (every byte, the exit status), and how it stops an agent that will not stop."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.executors import procs
from engine.executors.base import LastRun, Launch, Limits, ProcessId, SpawnError, StopRequest
from engine.executors.local import LocalExecutor
from engine.outcome import Exit, StopCause

PY = sys.executable


class Recorder:
    """A sink that keeps everything it is given; `when` maps a line the agent prints to what
    to do on reading it (ask it to stop, ...), so a test waits for the agent, not the clock."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.process: ProcessId | None = None
        self.out = bytearray()
        self.err = bytearray()
        self.notes: list[str] = []
        self.fail_after = fail_after
        self.when: dict[bytes, Callable[[], None]] = {}

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def started(self, process: ProcessId) -> None:
        self.process = process

    def stdout(self, chunk: bytes) -> None:
        if self.fail_after is not None and len(self.out) >= self.fail_after:
            raise OSError(28, "No space left on device")
        self.out += chunk
        for line in chunk.splitlines():
            action = self.when.pop(line, None)
            if action is not None:
                action()

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
    stop_when_ready: bool = False,
) -> Exit:
    """Run `job` to its end in a run of its own; with `stop_when_ready`, ask it to stop once it
    prints `ready`."""
    request = stop or StopRequest()
    if stop_when_ready:
        sink.when[b"ready"] = request.request

    async def main() -> Exit:
        executor = LocalExecutor()
        executor.begin("test")
        try:
            return await executor.run(job, "test/T1/1", sink, limits or Limits(), request)
        finally:
            executor.end()

    return asyncio.run(main())


# Graces short enough that no test waits one out: each step is still taken, and said.
QUICK = Limits(grace=0.2, term_grace=0.2, sweep_grace=0.2, drain_grace=0.2)


def test_process_wide_changes_wait_for_the_run_to_begin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Making an executor changes nothing of nova's process (a test, a dry run, a remote
    executor's driver make one); its run's `begin` marks inherited descriptors, raises the
    descriptor limit and makes nova the subreaper."""
    done: list[str] = []
    for name in ("_inherit_nothing", "_allow_more_files"):
        monkeypatch.setattr(f"engine.executors.local.{name}", lambda name=name: done.append(name))
    monkeypatch.setattr(procs, "enable_subreaper", lambda: done.append("subreaper") or True)
    executor = LocalExecutor()
    assert done == []
    executor.begin("test")
    executor.end()
    assert done == ["_inherit_nothing", "_allow_more_files", "subreaper"]


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


def test_the_process_is_named_by_host_pid_and_start_time() -> None:
    """The sink is told the agent's host, pid and start time, the one the next run compares."""
    sink, stop = Recorder(), StopRequest()
    seen: list[float | None] = []

    def look() -> None:
        assert sink.pid is not None
        seen.append(procs.create_time(sink.pid))
        stop.request()

    sink.when[b"ready"] = look
    code = "import os, time; print(os.getpid()); print('ready', flush=True); time.sleep(30)"
    exit = run(launch(PY, "-c", code), sink, QUICK, stop)
    assert exit.stopped_by is StopCause.CANCEL
    assert sink.process is not None
    assert sink.process.host == socket.gethostname()
    assert sink.process.pid == int(sink.out.split()[0])
    assert sink.process.started is not None
    assert seen == [sink.process.started]


def test_the_launchs_files_are_in_place_before_the_agent_starts(tmp_path: Path) -> None:
    """`Launch.files` are written before the spawn: 0600, in new 0700 directories, and a
    link at a file's path is replaced, never followed."""
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    prompts = tmp_path / "state" / "prompts"
    first, second = prompts / "T1.md", prompts / "T2.md"
    job = Launch(
        ("sh", "-c", f"cat {first} {second}"),
        os.getcwd(),
        dict(os.environ),
        None,
        files={str(first): b"one\n", str(second): b"two\n"},
    )
    prompts.parent.mkdir()
    prompts.mkdir(mode=0o700)
    second.symlink_to(victim)
    sink = Recorder()
    assert run(job, sink).returncode == 0
    assert sink.out == b"one\ntwo\n"
    assert victim.read_text() == "untouched"
    assert not second.is_symlink()
    assert {(f.stat().st_mode & 0o777) for f in (first, second)} == {0o600}
    fresh = tmp_path / "new" / "dir" / "p.md"
    job = Launch(("cat", str(fresh)), os.getcwd(), dict(os.environ), None, {str(fresh): b"x"})
    assert run(job, Recorder()).returncode == 0
    assert (fresh.parent.stat().st_mode & 0o777, fresh.parent.parent.stat().st_mode & 0o777) == (
        0o700,
        0o700,
    )


def test_a_file_that_cannot_be_placed_starts_nothing(tmp_path: Path) -> None:
    """A launch whose file cannot be written (its directory is a file) is a SpawnError."""
    (tmp_path / "plain").write_text("")
    marker = tmp_path / "ran"
    job = Launch(
        ("touch", str(marker)),
        os.getcwd(),
        dict(os.environ),
        None,
        {str(tmp_path / "plain" / "p.md"): b"x"},
    )
    with pytest.raises(SpawnError):
        run(job, Recorder())
    assert not marker.exists()


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
    assert "NOVA_TASK_TOKEN" in lines[1]
    assert "HOME" not in lines[1]


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
    """A missing program is a SpawnError for the runner to report; nova's descriptors
    balance."""
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(SpawnError):
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
    exit = run(launch(PY, "-c", code), sink, QUICK, stop_when_ready=True)
    assert exit.stopped_by is StopCause.CANCEL
    assert exit.signal == 15
    assert any("after SIGINT; sent SIGTERM" in n for n in sink.notes)


def test_an_agent_ignoring_every_signal_is_killed_and_that_is_said() -> None:
    """SIGINT and SIGTERM ignored: SIGKILL after the TERM grace (injected: 0.2 s, not
    the 3 s default), announced in a note."""
    sink = Recorder()
    code = (
        "import signal, time; [signal.signal(s, signal.SIG_IGN) for s in "
        "(signal.SIGINT, signal.SIGTERM)]; print('ready', flush=True); time.sleep(60)"
    )
    exit = run(launch(PY, "-c", code), sink, QUICK, stop_when_ready=True)
    assert exit.signal == 9
    assert any("ignored SIGTERM for 0.2 s" in n and "killed it" in n for n in sink.notes)
    assert exit.duration < Limits().term_grace


def test_a_second_stop_request_cuts_the_grace_short() -> None:
    """With a 30 s grace, a second request (a second Ctrl-C) moves on to SIGTERM at once."""
    sink, stop = Recorder(), StopRequest()
    code = (
        "import signal, time; signal.signal(signal.SIGINT, lambda *_: print('INT', flush=True))"
        "; print('ready', flush=True); time.sleep(30)"
    )
    sink.when[b"ready"] = stop.request
    # The agent says it got SIGINT (and goes on): the second request comes in the grace.
    sink.when[b"INT"] = lambda: stop.request(StopCause.CANCEL, grace=0.0)
    exit = run(launch(PY, "-c", code), sink, Limits(grace=30.0, term_grace=0.2), stop)
    assert exit.signal == 15
    assert exit.duration < 10


def test_the_timeout_ends_an_agent_and_is_named_as_the_cause() -> None:
    """A wall-clock limit stops the agent with the timeout as the recorded cause."""
    exit = run(
        launch(PY, "-c", "import time; time.sleep(30)"), Recorder(), Limits(timeout=0.3, grace=1.0)
    )
    assert exit.stopped_by is StopCause.TIMEOUT
    assert exit.returncode is not None
    assert exit.returncode != 0


@pytest.mark.parametrize("elsewhere", [False, True])
def test_agents_do_not_inherit_pythons_ignored_sigpipe(tmp_path: Path, elsewhere: bool) -> None:
    """Python ignores SIGPIPE; an agent must not: `yes | head -1` ends at once (it would spin
    on EPIPE until its timeout), on both spawn paths."""
    sink = Recorder()
    check = "grep SigIgn /proc/self/status; yes | head -1"
    cwd = str(tmp_path) if elsewhere else None
    exit = run(launch("sh", "-c", check, cwd=cwd), sink, Limits(timeout=20))
    assert exit.returncode == 0
    assert exit.stopped_by is None
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

        async def main(pipe: Callable[[], tuple[int, int]] = pipe) -> None:
            executor = LocalExecutor()
            executor.begin("test")  # its guardian's pipe is not one of the agent's
            monkeypatch.setattr(os, "pipe", pipe)
            try:
                job = launch(PY, "-c", "pass", stdin=b"prompt")
                await executor.run(job, "test/T1/1", Recorder(), QUICK, StopRequest())
            finally:
                monkeypatch.setattr(os, "pipe", real_pipe)
                executor.end()

        with pytest.raises(SpawnError, match="Too many open files"):
            asyncio.run(main())
        still_open = [fd for fd in made if os.path.exists(f"/proc/self/fd/{fd}")]
        assert still_open == [], fail_at


@pytest.mark.parametrize("ignores_term", [False, True])
def test_what_an_agent_left_running_is_ended_within_the_sweep_grace(ignores_term: bool) -> None:
    """A process the agent left behind (it carries the attempt's marker) is ended once the
    agent exits: SIGTERM, awaited until it is gone; SIGKILL after the injected sweep grace
    only if it ignores SIGTERM, which is said."""
    # Popen returns once `sleep` runs, its SIGTERM already ignored: no race with the sweep.
    code = (
        "import signal, subprocess as s; print(s.Popen(['sleep', '30'], stdout=s.DEVNULL, "
        f"preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN if {ignores_term} "
        "else signal.SIG_DFL)).pid)"
    )
    env = {**os.environ, procs.TOKEN_VAR: "test/T1/1"}
    sink = Recorder()
    exit = run(launch(PY, "-c", code, env=env), sink, QUICK)
    left = int(sink.out.split()[0])
    assert exit.returncode == 0
    assert procs.alive([left]) == []
    assert any("left 1 process(es) running" in n for n in sink.notes)
    assert any("ignored SIGTERM; killed them" in n for n in sink.notes) is ignores_term
    assert exit.duration < Limits().sweep_grace * 3


@pytest.mark.parametrize(
    ("host", "ended"), [("", True), (socket.gethostname(), True), ("elsewhere", False)]
)
def test_the_last_runs_agents_are_ended_through_the_executor_on_their_own_host(
    tmp_path: Path, host: str, ended: bool
) -> None:
    """`end_survivors` ends an agent the last run's state names (by pid and start time) on
    this machine, or where the state names no host, and says so; one named on another host is
    not this executor's to end."""
    survivor = subprocess.Popen(["sleep", "300"])
    try:
        process = ProcessId(host, survivor.pid, procs.create_time(survivor.pid))
        notes = LocalExecutor(tmp_path).end_survivors(LastRun("old", (process,)))
        assert (survivor.poll() is not None) is ended
        # `sleep 300`, or `[sleep]` when /proc gave its name but not yet its command line.
        named = [n for n in notes if re.search(rf"\b{survivor.pid} (sleep 300|\[sleep\])", n)]
        assert bool(named) is ended
    finally:
        survivor.kill()
        survivor.wait()
