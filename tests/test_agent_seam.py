"""The agent seam, proved from outside: a kind defined here, in the test, runs a graph end to end
through the real runner, the local executor and real processes, with no change to nova.

The `echo` kind is a Python script that speaks a format of its own (`SAY`, `NOTE`, `USAGE`,
`SESSION`, `DONE`, `INCOMPLETE`), reads its prompt from a file that travels in
`Launch.files`, and can continue a session (`--resume ID`), so the runner's `continues`
policy, which asks the kind's capabilities, continues it.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from engine import agents
from engine.agents.base import (
    Capabilities,
    Event,
    Ignored,
    Notice,
    OutputParser,
    Program,
    Recovered,
    Request,
    SessionStarted,
    Text,
)
from engine.errors import ConfigError, ExitCode
from engine.executors.base import Launch
from engine.observe.progress import LineReporter
from engine.observe.usage import Tokens
from engine.outcome import DONE, Exit, Failure, Verdict
from engine.plan.cascade import parse_cascade
from engine.plan.graph import build_graph
from engine.plan.settings import Settings
from engine.run.runner import Runner, RunOptions

# The agent: says the first line of its prompt, a notice, its usage (once with a count no
# parser may keep), names its session, and ends done, or (task B, not resumed) incomplete.
AGENT = """\
import sys
args = sys.argv[1:]
task, prompt_file = args[0], args[1]
resumed = args[2:4] == ["--resume", f"s-{task}"]
with open(prompt_file) as handle:
    print("SAY", handle.readline().strip())
print("NOTE", "thinking hard about", task)
print("SESSION", f"s-{task}")
print("USAGE", "echo-1", 100, 7)
print("USAGE", "echo-1", "lots", 1)
if task == "B" and not resumed:
    print("INCOMPLETE", "ran out of turns")
else:
    print("SAY", "resumed" if resumed else "fresh")
    print("DONE")
"""


class EchoParser:
    """Reads the echo agent's lines into events; sums its usage; judges its exit."""

    def __init__(self) -> None:
        self._tokens: dict[str, Tokens] = {}
        self._end: str | None = None
        self._why = ""

    def feed(self, line: bytes) -> list[Event]:
        word, _, rest = line.decode().strip().partition(" ")
        if word == "SAY":
            return [Text((rest,))]
        if word == "NOTE":
            return [Notice(rest)]
        if word == "SESSION":
            return [SessionStarted(rest)]
        if word == "USAGE":
            model, given, taken = rest.split()
            if not (given.isdigit() and taken.isdigit()):
                return [Ignored(f"ignored the usage {rest!r}: counts are whole numbers")]
            add = Tokens(int(given), int(taken), 0, 0)
            self._tokens[model] = self._tokens[model] + add if model in self._tokens else add
            return []
        if word in ("DONE", "INCOMPLETE"):
            self._end, self._why = word, rest
            return [Text((f"the agent says {word.lower()}",), "echo: ")]
        return [Text((line.decode().strip(),))]

    def tokens(self) -> dict[str, Tokens]:
        return dict(self._tokens)

    def cost_usd(self) -> float | None:
        return None

    def result_text(self) -> str:
        return self._why or (self._end or "")

    def verdict(
        self, exit: Exit, stderr_tail: str, now: float, limits: dict[str, float]
    ) -> Verdict:
        if self._end == "INCOMPLETE":
            return Verdict(Failure.INCOMPLETE, self._why)
        if self._end == "DONE" and exit.returncode == 0:
            return DONE
        return Verdict(Failure.TRANSIENT, f"the echo agent exited with {exit.returncode}")


class EchoAgent:
    """A kind of agent nova has never heard of: Python running a script given in the test."""

    kind = "echo"
    capabilities = Capabilities(resume=True)
    settings = frozenset({"model"})

    def __init__(self, script: Path) -> None:
        self.script = script
        self.launched: list[Launch] = []

    def label(self, settings: Settings) -> str:
        return "echo"

    def check(self, task_id: str, settings: Settings, env: Mapping[str, str]) -> None:
        if settings.model == "refused":
            raise ConfigError(f"task '{task_id}': the echo agent has no model 'refused'.")

    def program(
        self, settings: Settings, values: Mapping[str, str], override: str | None
    ) -> Program | None:
        return Program(override or sys.executable, "Python", "Install Python.")

    def launch(self, request: Request, program: str) -> Launch:
        argv = [program, str(self.script), request.task_id, request.prompt_file]
        if request.resume:
            argv += ["--resume", request.resume]
        files = {request.prompt_file: request.prompt().encode()}
        launch = Launch(tuple(argv), request.cwd, request.env, None, files)
        self.launched.append(launch)
        return launch

    def parser(self, settings: Settings) -> OutputParser:
        return EchoParser()

    def recover_usage(
        self, parser: OutputParser, launch: Launch, session_id: str | None, since: float
    ) -> Recovered | None:
        return None


@pytest.fixture
def echo(tmp_path: Path) -> Iterator[EchoAgent]:
    script = tmp_path / "echo_agent.py"
    script.write_text(AGENT)
    agent = EchoAgent(script)
    agents.register(agent)
    yield agent
    agents.unregister("echo")


PLAN = """\
# Echo

- agent: echo
- continues: 1

## L1: Work

| Task ID | Task Name | What Changes | Depends On |
|---|---|---|---|
| A | Lay the ground | ground | - |
| B | Build on it | walls | A |
| C | Paint it | paint | A |
"""


def run_plan(
    tmp_path: Path, text: str = PLAN
) -> tuple[ExitCode, dict[str, dict[str, object]], str]:
    path = tmp_path / "CASCADE.md"
    path.write_text(text)
    cascade = parse_cascade(text, str(path))
    options = RunOptions(
        cascade_path=path, state_dir=tmp_path / "state", logs_dir=tmp_path / "logs", jobs=2
    )
    out = io.StringIO()
    runner = Runner(cascade, build_graph(cascade), options, LineReporter(out, colour=False))
    runner.prepare()
    code = runner.run()
    tasks = json.loads((tmp_path / "state" / "state.json").read_bytes())["tasks"]
    return code, tasks, out.getvalue()


@pytest.mark.timeout(60)
def test_a_kind_defined_in_a_test_runs_a_graph_through_the_real_runner(
    tmp_path: Path, echo: EchoAgent
) -> None:
    """Its events reach the log (text, what was ignored), the terminal (notices) and the state
    (the session, the usage); its verdict decides; its resume capability lets `continues`
    continue B's session; the prompt reached it as a file in the launch; its log header shows
    only the settings it takes."""
    code, tasks, out = run_plan(tmp_path)
    assert code is ExitCode.OK, out
    assert {t: tasks[t]["status"] for t in "ABC"} == dict.fromkeys("ABC", "done")
    assert [t["agent"] for t in tasks.values()] == ["echo"] * 3
    # B went incomplete, and was continued in its session, not started afresh.
    assert tasks["B"]["attempts"] == 2
    assert tasks["A"]["attempts"] == 1
    assert tasks["B"]["session_id"] == "s-B"
    resumed = [launch.argv[2:] for launch in echo.launched if launch.argv[2] == "B"]
    assert resumed[1][-2:] == ("--resume", "s-B")
    # Usage came from the parser's queries, summed over B's two attempts.
    assert tasks["B"]["tokens"] == {
        "echo-1": {"input": 200, "output": 14, "cache_read": 0, "cache_creation": 0}
    }
    log = (tmp_path / "logs" / "B.log").read_text()
    # The prompt's first line, read by the agent from the file its launch carried.
    assert "] You are one of several agents carrying out the plan of work 'Echo'." in log
    assert "echo: the agent says incomplete" in log
    assert "resumed" in log
    assert "nova: ignored the usage 'echo-1 lots 1': counts are whole numbers" in log
    assert "thinking hard about C" in out  # a Notice, shown live
    # The header shows the settings the kind takes: none of Claude Code's defaults.
    header = next(line for line in log.splitlines() if line.startswith("settings: "))
    assert header == "settings: agent=echo, timeout=1h, retries=2, continues=1, retry-delay=10s"


def test_an_unknown_kind_is_refused_before_anything_runs_with_the_close_match(
    tmp_path: Path, echo: EchoAgent
) -> None:
    """The registry says which kinds exist: `ecoh` is no kind, and the one meant is named."""
    with pytest.raises(ConfigError) as info:
        run_plan(tmp_path, PLAN.replace("agent: echo", "agent: ecoh"))
    assert str(info.value).endswith(
        "task 'A': agent 'ecoh' is not one of claude, command, echo. Did you mean 'echo'?"
    )
    assert echo.launched == []


def test_a_kinds_own_check_refuses_settings_before_anything_runs(
    tmp_path: Path, echo: EchoAgent
) -> None:
    """What cannot work with a kind is its adapter's to say, before the first launch."""
    with pytest.raises(ConfigError, match="the echo agent has no model 'refused'"):
        run_plan(tmp_path, PLAN.replace("- continues: 1", "- model: refused"))
    assert echo.launched == []
