"""Agent adapters: how to launch one task's agent, and how to read what it prints.

Two adapters: Claude Code (`claude -p --output-format stream-json --verbose`, prompt on stdin)
and a generic command (any program, argv from a template, never through a shell). Both are
pure: they build a `Launch` and a parser; running it is the executor's job.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import re
import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from engine.agents.claude_stream import ClaudeStream, RateLimit
from engine.errors import AgentNotFoundError, ConfigError
from engine.observe.usage import (
    MODEL_CHARS,
    TOKEN_KINDS,
    Tokens,
    describe,
    model_key,
    parse_cost,
    parse_count,
)
from engine.outcome import Exit, Verdict, classify_claude, classify_command
from engine.plan.settings import Settings
from engine.text import visible_line

# Variables that make a nested Claude Code refuse to start, or change how it reports.
_DROPPED_ENV = ("CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT")
_TOKEN_LINE = re.compile(rb"Token usage:\s*(.*)", re.IGNORECASE)
_PAIR = re.compile(rb"([a-z_]+)\s*=\s*([^\s,]+)", re.IGNORECASE)
PLACEHOLDERS = ("id", "name", "prompt_file", "cascade_dir", "attempt")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_BRACED = re.compile(r"\{([A-Za-z][A-Za-z_-]*)\}")


class OutputParser(Protocol):
    """Reads an agent's stdout line by line and judges the attempt when it ends.

    `notices` are worth showing live; `warnings` say, in the task log, what of the agent's
    output was ignored (a count out of range, a field of the wrong type).
    """

    session_id: str | None
    rate_limit: RateLimit | None
    notices: list[str]
    warnings: list[str]

    def feed(self, line: bytes) -> list[str]: ...
    def tokens(self) -> dict[str, Tokens]: ...
    def cost_usd(self) -> float | None: ...
    def result_text(self) -> str: ...
    def verdict(
        self, exit: Exit, stderr_tail: str, now: float, limits: dict[str, float]
    ) -> Verdict: ...


def _shown(verdict: Verdict) -> Verdict:
    """The verdict with its reason safe to print: it quotes the agent (its result, its
    stderr), and is kept in the state and shown by `nova run` and `nova status`."""
    reason = visible_line(verdict.reason)
    return verdict if reason == verdict.reason else dataclasses.replace(verdict, reason=reason)


class ClaudeParser(ClaudeStream):
    """Claude Code's stream-json output, judged by `classify_claude` when the process exits."""

    def verdict(
        self, exit: Exit, stderr_tail: str, now: float, limits: dict[str, float]
    ) -> Verdict:
        return _shown(classify_claude(exit, self, stderr_tail, now, limits))


class CommandParser:
    """`Token usage: input=N, output=N, cache_read=N, cache_creation=N` lines, summed, plus
    Claude-style stream-json lines when the command prints them."""

    def __init__(self, default_model: str) -> None:
        self.default_model = default_model
        self.session_id: str | None = None
        self.rate_limit: RateLimit | None = None
        self._counted: dict[str, Tokens] = {}
        self._cost: float | None = None
        self._stream: ClaudeStream | None = None
        self.notices: list[str] = []
        self.warnings: list[str] = []

    def feed(self, line: bytes) -> list[str]:
        stripped = line.strip()
        if stripped.startswith(b"{"):
            if self._stream is None:
                self._stream = ClaudeStream()
            out = self._stream.feed(stripped)
            if self._stream.foreign:  # the program's own JSON (a log line): keep it
                return [stripped.decode("utf-8", "replace")]
            if self._stream.notices:
                self.notices.extend(self._stream.notices)
                self._stream.notices.clear()
            if self._stream.warnings:
                self.warnings.extend(self._stream.warnings)
                self._stream.warnings.clear()
            self.session_id = self._stream.session_id
            self.rate_limit = self._stream.rate_limit
            return out
        match = _TOKEN_LINE.search(stripped)
        if match:
            self._count(match.group(1))
        text = stripped.decode("utf-8", "replace")
        return [text] if text else []

    def _count(self, body: bytes) -> None:
        values: dict[str, int] = {}
        model = self.default_model
        ignored: list[str] = []
        rules: dict[str, None] = {}  # the rules the ignored values broke, in order, once
        for key, raw in _PAIR.findall(body):
            name = key.decode().lower()
            if name == "model":
                text = raw.decode("utf-8", "replace")
                model = model_key(text)
                if len(text) > MODEL_CHARS:
                    self.warnings.append(
                        f"a model name of {len(text)} characters was cut to {MODEL_CHARS}: {model}"
                    )
            elif name in ("cost", "cost_usd"):
                cost = parse_cost(raw)
                if cost is None:
                    ignored.append(f"{name}={describe(raw)}")
                    rules["a cost is a number from 0 to 1e6"] = None
                else:
                    self._cost = (self._cost or 0.0) + cost
            elif name in TOKEN_KINDS:
                # Up to 15 digits is always a count in range: no call for the usual case.
                count = int(raw) if len(raw) < 16 and raw.isdigit() else parse_count(raw)
                if count is None:
                    ignored.append(f"{name}={describe(raw)}")
                    rules["a token count is a whole number from 0 to 10^15"] = None
                else:
                    values[name] = count
        if ignored:
            self.warnings.append(
                f"ignored {', '.join(ignored)} in a 'Token usage:' line: {'; '.join(rules)}"
            )
        tokens = Tokens(
            values.get("input", 0),
            values.get("output", 0),
            values.get("cache_read", 0),
            values.get("cache_creation", 0),
        )
        self._counted[model] = self._counted[model] + tokens if model in self._counted else tokens

    def tokens(self) -> dict[str, Tokens]:
        if self._stream is not None:
            streamed = self._stream.tokens()
            if streamed:
                merged = dict(self._counted)
                for m, t in streamed.items():
                    merged[m] = merged[m] + t if m in merged else t
                return merged
        return dict(self._counted)

    def cost_usd(self) -> float | None:
        streamed = self._stream.cost_usd() if self._stream else None
        if streamed is None:
            return self._cost
        return streamed + (self._cost or 0.0)

    def result_text(self) -> str:
        return self._stream.result_text() if self._stream else ""  # control characters shown

    def verdict(
        self, exit: Exit, stderr_tail: str, now: float, limits: dict[str, float]
    ) -> Verdict:
        return _shown(classify_command(exit, self._stream, stderr_tail, limits))


def agent_env(base: Mapping[str, str], markers: Mapping[str, str]) -> dict[str, str]:
    """The environment of an agent: nova's own, without nesting markers, plus nova's markers."""
    env = {k: v for k, v in base.items() if k not in _DROPPED_ENV}
    env.update(markers)
    return env


def claude_argv(
    binary: str, settings: Settings, resume_session: str | None = None
) -> tuple[str, ...]:
    """The `claude -p` command line for a task; the prompt goes on stdin."""
    argv = [binary, "-p", "--output-format", "stream-json", "--verbose"]
    if settings.model:
        argv += ["--model", settings.model]
    if settings.max_turns:
        argv += ["--max-turns", str(settings.max_turns)]
    if settings.max_budget_usd:
        argv += ["--max-budget-usd", f"{settings.max_budget_usd:g}"]
    if settings.permission_mode and settings.permission_mode != "default":
        argv += ["--permission-mode", settings.permission_mode]
    if settings.allowed_tools:
        argv += ["--allowedTools", settings.allowed_tools]
    if resume_session:
        argv += ["--resume", resume_session]
    return tuple(argv)


def command_argv(
    template: str, values: Mapping[str, str], what: str = "agent command"
) -> tuple[str, ...]:
    """Split a command template as a shell would split words, then fill its placeholders.

    Placeholders are filled after splitting, so a task name with spaces or quotes stays one
    argument and can never inject another. `what` names the template in errors.
    """
    fill = lambda m: values[m.group(1)]  # noqa: E731
    words = split_command(template, what)
    return tuple(_PLACEHOLDER.sub(fill, w) if "{" in w else w for w in words)


_EXAMPLES = {
    "agent command": "--agent-cmd 'python3 agent.py {id} {prompt_file}'",
    "check command": "'- check: pytest -q tests/test_{id}.py'",
}


@functools.lru_cache(maxsize=64)
def split_command(template: str, what: str = "agent command") -> tuple[str, ...]:
    """The words of a command template (split once per template, not once per task)."""
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise ConfigError(f"{what} '{template}' cannot be split into words: {exc}.") from None
    if not words:
        raise ConfigError(
            f"the {what} is empty. Give a program to run, like {_EXAMPLES.get(what, '')}."
        )
    for word in words:
        for name in _BRACED.findall(word):
            close = difflib.get_close_matches(name.lower(), PLACEHOLDERS, n=1, cutoff=0.6)
            if name not in PLACEHOLDERS and close:  # `{idd}`: a typo, not a literal
                raise ConfigError(
                    f"{what} '{template}' has the placeholder {{{name}}}, which nova does not "
                    f"fill in. Did you mean {{{close[0]}}}? The placeholders are "
                    f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}."
                )
    return tuple(words)


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


CLAUDE_INSTALL_HINT = (
    "Install Claude Code with 'npm install -g @anthropic-ai/claude-code', or point nova at it "
    "with --claude PATH (or NOVA_CLAUDE=PATH). To run tasks with another program, use "
    "--agent-cmd."
)
