"""What every executor owes the runner, run against each one (a cluster's joins with a
`Subject` of its own): output in order and whole, the exit kept, one start per process named
by (host, pid, start time), a stop or a timeout that ends the process and says which, and
nothing left running after a stop."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from engine.executors import procs
from engine.executors.base import Executor, Launch, Limits, ProcessId, StopRequest
from engine.executors.local import LocalExecutor
from engine.executors.scripted import Play, ScriptedExecutor
from engine.outcome import Exit, StopCause

# Short graces: a conforming stop takes each step, none of them waits long.
QUICK = Limits(grace=0.2, term_grace=0.2, sweep_grace=0.2, drain_grace=0.2)


@dataclass
class Subject:
    """An executor under test, and how to make a process of task `task` (its token is
    `token(task)`) that prints `lines`, then runs for `seconds` and exits with `code` (on a
    local machine, a program that also leaves a child running; scripted, a play)."""

    executor: Executor
    program: Callable[[str, list[bytes], float, int], Launch]
    # What still runs of the process `started` named and of the task's token (nothing where
    # processes are not real).
    left: Callable[[ProcessId, str], list[int]]


def token(task: str) -> str:
    return f"conf/{task}/1"


def _local() -> Subject:
    def program(task: str, lines: list[bytes], seconds: float, code: int) -> Launch:
        # Its child, in its session and with its marker, outlives it unless the executor
        # ends it; it holds none of the agent's pipes.
        source = (
            "import subprocess, sys, time; out = sys.stdout.buffer\n"
            "subprocess.Popen(['sleep', '300'], stdout=subprocess.DEVNULL)\n"
            f"for line in {lines!r}: out.write(line + b'\\n'); out.flush()\n"
            f"time.sleep({seconds}); sys.exit({code})"
        )
        env = {**os.environ, "NOVA_TASK_ID": task, procs.TOKEN_VAR: token(task)}
        return Launch((sys.executable, "-c", source), os.getcwd(), env, None)

    def left(process: ProcessId, task_token: str) -> list[int]:
        marked = procs.alive(procs.marked(f"{procs.TOKEN_VAR}={task_token}".encode()))
        return [process.pid] * procs.same_process(process.pid, process.started) + marked

    return Subject(LocalExecutor(), program, left)


def _scripted() -> Subject:
    executor = ScriptedExecutor()

    def program(task: str, lines: list[bytes], seconds: float, code: int) -> Launch:
        executor.script[task] = [Play(lines, code, seconds)]
        return Launch(("agent",), os.getcwd(), {"NOVA_TASK_ID": task}, None)

    return Subject(executor, program, lambda process, task_token: [])


@pytest.fixture(params=[_local, _scripted], ids=["local", "scripted"])
def subject(request: pytest.FixtureRequest) -> Subject:
    made: Subject = request.param()
    return made


class Seen:
    """A sink that keeps what it is told, in order; `when_printed` runs once at the first
    output, so a test acts once the process runs instead of after a guessed delay."""

    def __init__(self, when_printed: Callable[[], None] | None = None) -> None:
        self.events: list[tuple[str, object]] = []
        self.out = bytearray()
        self._when_printed = when_printed

    def started(self, process: ProcessId) -> None:
        self.events.append(("started", process))

    def stdout(self, chunk: bytes) -> None:
        self.events.append(("stdout", chunk))
        self.out += chunk
        if self._when_printed is not None:
            action, self._when_printed = self._when_printed, None
            action()

    def stderr(self, chunk: bytes) -> None:
        self.events.append(("stderr", chunk))

    def note(self, message: str) -> None:
        self.events.append(("note", message))

    def processes(self) -> list[ProcessId]:
        return [p for kind, p in self.events if kind == "started" and isinstance(p, ProcessId)]


def _in_a_run(subject: Subject, body: Callable[[Executor], Awaitable[None]]) -> None:
    """`body` inside one run of the subject's executor: begin, then end, whatever happens."""

    async def main() -> None:
        assert subject.executor.begin("conformance") is None
        try:
            await body(subject.executor)
        finally:
            subject.executor.end()

    asyncio.run(main())


def test_output_arrives_in_order_after_one_start_and_the_exit_is_kept(subject: Subject) -> None:
    """Every line, in order, after exactly one `started` naming a live process by host, pid
    and start time; the exit code as the process gave it."""
    lines = [f"line {n}".encode() for n in range(200)]
    sink = Seen()
    exits: list[Exit] = []
    left: list[int] = []

    async def body(executor: Executor) -> None:
        launch = subject.program("T1", lines, 0.0, 3)
        exits.append(await executor.run(launch, token("T1"), sink, QUICK, StopRequest()))
        # Before the run ends (which would end it all anyway): the attempt's own end did.
        left.extend(subject.left(sink.processes()[0], token("T1")))

    _in_a_run(subject, body)
    assert sink.events[0][0] == "started"
    assert len(sink.processes()) == 1
    process = sink.processes()[0]
    assert process.host
    assert process.pid > 0
    assert process.started is not None
    assert bytes(sink.out).splitlines() == lines
    assert (exits[0].returncode, exits[0].stopped_by) == (3, None)
    assert left == []  # what it left running is ended with it


def test_a_stop_ends_the_process_says_why_and_leaves_nothing_running(subject: Subject) -> None:
    """Asked to stop once it has printed, a process meant to run 30 s ends within the graces,
    the cause is the request's, and no process of it is left (`end_strays` finds none)."""
    stop = StopRequest()
    sink = Seen(when_printed=stop.request)
    exits: list[Exit] = []
    strays: list[int] = []

    async def body(executor: Executor) -> None:
        launch = subject.program("T1", [b"ready"], 30.0, 0)
        exits.append(await executor.run(launch, token("T1"), sink, QUICK, stop))
        strays.append(await executor.end_strays(QUICK))
        strays.extend(subject.left(sink.processes()[0], token("T1")))

    _in_a_run(subject, body)
    assert exits[0].stopped_by is StopCause.CANCEL
    assert exits[0].returncode != 0
    assert exits[0].duration < 10
    assert strays == [0]  # none for end_strays, and none still running


def test_a_stop_asked_before_the_start_ends_the_process_at_once(subject: Subject) -> None:
    """A Ctrl-C that came before the process started still stops it."""
    stop = StopRequest()
    exits: list[Exit] = []

    async def body(executor: Executor) -> None:
        stop.request(StopCause.CANCEL)
        launch = subject.program("T1", [], 30.0, 0)
        exits.append(await executor.run(launch, token("T1"), Seen(), QUICK, stop))

    _in_a_run(subject, body)
    assert exits[0].stopped_by is StopCause.CANCEL
    assert exits[0].duration < 10


def test_the_timeout_ends_the_process_and_is_named(subject: Subject) -> None:
    """A wall-clock limit ends a process meant to run 30 s, with the timeout as its cause."""
    exits: list[Exit] = []
    limits = Limits(timeout=0.3, grace=0.2, term_grace=0.2, sweep_grace=0.2, drain_grace=0.2)

    async def body(executor: Executor) -> None:
        launch = subject.program("T1", [b"working"], 30.0, 0)
        exits.append(await executor.run(launch, token("T1"), Seen(), limits, StopRequest()))

    _in_a_run(subject, body)
    assert exits[0].stopped_by is StopCause.TIMEOUT
    assert exits[0].duration < 10


def test_processes_at_once_each_get_their_own_output(subject: Subject) -> None:
    """Two processes of one run at the same time: each sink gets its own lines, only."""
    sinks = {"T1": Seen(), "T2": Seen()}

    async def body(executor: Executor) -> None:
        await asyncio.gather(
            *(
                executor.run(
                    subject.program(task, [task.encode()] * 50, 0.1, 0),
                    token(task),
                    sink,
                    QUICK,
                    StopRequest(),
                )
                for task, sink in sinks.items()
            )
        )

    _in_a_run(subject, body)
    for task, sink in sinks.items():
        assert bytes(sink.out).splitlines() == [task.encode()] * 50
