"""What every agent adapter shares: the `Agent` protocol, what a kind can do, and the events
its output parser returns.

An agent kind is one adapter (`engine.agents.claude`, `engine.agents.command`, or one a test
registers): its settings, its preflight, how it is launched, how its output reads, the verdict
of an exit, and how usage is recovered. The runner and the failure policy never test a kind's
name: they call its adapter and ask its `Capabilities`.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from engine.errors import AgentNotFoundError
from engine.executors.base import Launch
from engine.observe.usage import Tokens
from engine.outcome import Exit, Verdict
from engine.plan.settings import Settings
from engine.text import visible_line


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an agent kind can do, as far as the runner's policy is concerned."""

    # It can continue a session it started (after a usage limit, a failed check, `continues`,
    # an interruption), so the work done so far is not started again.
    resume: bool = False
    # It takes a `permission-mode` (Claude Code's), recorded in the state.
    permission_modes: bool = False
    # How to log in again, said when an attempt could not authenticate (the run halts).
    login: str = ""
    # The usage it reports for a resumed session includes the attempts before (Qwen Code's
    # `result.usage`): the attempt's own share is the difference.
    usage_cumulative: bool = False
    # It can tell an attempt's usage when its output ended without totals (a transcript).
    usage_recovery: bool = False


# ---- what a parser reads out of a line ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    """Lines for the task's human log (`prefix` marks lines that are not the agent's words).

    One event holds every line one line of output is worth: the parser runs for each line an
    agent prints, and one object per line costs less than one per log line."""

    lines: Sequence[str]  # never changed once made
    prefix: str = ""


@dataclass(frozen=True, slots=True)
class Notice:
    """Something worth showing on the user's terminal now (an API retry, a limit warning)."""

    text: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """What of the agent's output nova ignored (a count out of range), said in the task log."""

    text: str


@dataclass(frozen=True, slots=True)
class SessionStarted:
    """The agent named its session: the id to continue it by (`Capabilities.resume`)."""

    session_id: str


Event = Text | Notice | Ignored | SessionStarted


class OutputParser(Protocol):
    """Reads an agent's stdout line by line and judges the attempt when it ends."""

    def feed(self, line: bytes) -> list[Event]:
        """What one line of stdout says, in order (maybe nothing)."""
        ...

    def tokens(self) -> dict[str, Tokens]: ...
    def cost_usd(self) -> float | None: ...
    def result_text(self) -> str: ...
    def verdict(
        self, exit: Exit, stderr_tail: str, now: float, limits: dict[str, float]
    ) -> Verdict: ...


# ---- what an adapter is given ----------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One attempt of one task, as the runner knows it, for an adapter to launch."""

    task_id: str
    name: str
    attempt: int
    settings: Settings
    cwd: str
    env: Mapping[str, str] = dataclasses.field(repr=False)
    cascade_dir: str
    prompt_file: str  # where a prompt file goes, for an agent that reads one
    resume: str | None  # the session to continue (only for a kind that can resume)
    # The prompt: the task's own, or (with `resume`) the one that continues the session. Made
    # only when asked: most command agents never read it, and a plan can have 10 000 tasks.
    prompt: Callable[[], str] = dataclasses.field(repr=False)


@dataclass(frozen=True)
class Recovered:
    """Usage of an attempt recovered after it ended without totals, and how, for its log."""

    tokens: dict[str, Tokens]
    how: str


@dataclass(frozen=True)
class Program:
    """A program an agent runs, to find before anything runs, and what to say if it is not."""

    name: str  # on PATH, or a path
    what: str  # how errors name it: `Claude Code`, `the agent command`
    fix: str  # how to get it, or point nova at it
    # Found where each task's agent works (a command's own program), or once, from nova's
    # directory, and given to `Agent.launch` (Claude Code's).
    per_task: bool = False


class Agent(Protocol):
    """One agent kind: the only code that knows its CLI's flags, output and failures."""

    @property
    def kind(self) -> str:
        """Its name, as `agent:` settings write it."""
        ...

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def settings(self) -> Collection[str]:
        """The agent-specific settings (`Settings` fields) it reads; the others are left out
        of its tasks' log headers."""
        ...

    def label(self, settings: Settings) -> str:
        """How `nova run --dry-run` names a task's agent: `claude opus`, `command`."""
        ...

    def check(self, task_id: str, settings: Settings, env: Mapping[str, str]) -> None:
        """ConfigError if these settings cannot work for this kind, before anything runs."""
        ...

    def program(
        self, settings: Settings, values: Mapping[str, str], override: str | None
    ) -> Program | None:
        """The program a task's agent runs (`override` as the user named it), to find first."""
        ...

    def launch(self, request: Request, program: str) -> Launch:
        """The process of one attempt: argv, environment, and its prompt (stdin or a file);
        `program` is where `program()` was found, when it is found once."""
        ...

    def parser(self, settings: Settings) -> OutputParser:
        """A parser for one attempt's stdout."""
        ...

    def recover_usage(
        self, parser: OutputParser, launch: Launch, session_id: str | None, since: float
    ) -> Recovered | None:
        """Usage of an attempt whose output ended without totals, if the agent kept it."""
        ...


def shown(verdict: Verdict) -> Verdict:
    """The verdict with its reason safe to print: it quotes the agent (its result, its
    stderr), and is kept in the state and shown by `nova run` and `nova status`."""
    reason = visible_line(verdict.reason)
    return verdict if reason == verdict.reason else dataclasses.replace(verdict, reason=reason)


def find_program(program: str, cwd: str, what: str, fix: str) -> str:
    """The path of `program` (a name on PATH or a path), or AgentNotFoundError."""
    if os.sep in program:
        path = Path(cwd, program) if not os.path.isabs(program) else Path(program)
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise AgentNotFoundError(f"{what} '{program}' does not exist or is not executable. {fix}")
    found = shutil.which(program)
    if found is None:
        raise AgentNotFoundError(f"{what} '{program}' is not on PATH. {fix}")
    return found


# Variables that make a nested Claude Code refuse to start, or change how it reports: dropped
# for every kind, since a command agent may run Claude Code itself.
_DROPPED_ENV = ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT")


def agent_env(base: Mapping[str, str], markers: Mapping[str, str]) -> dict[str, str]:
    """The environment of an agent: nova's own, without nesting markers, plus nova's markers."""
    env = {k: v for k, v in base.items() if k not in _DROPPED_ENV}
    env.update(markers)
    return env
