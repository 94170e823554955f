"""The command agent: any program, once per task, its argv from a template.

It succeeds by exiting 0. Its stdout is the task's log; `Token usage: input=N, output=N,
cache_read=N, cache_creation=N` lines are summed, and Claude-style stream-json lines are read
as Claude Code's are, for a command that wraps an agent. The prompt is written to
`{prompt_file}` when the template names it (`Launch.files`), and to nothing otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from engine.agents.base import (
    Capabilities,
    Event,
    Ignored,
    OutputParser,
    Program,
    Recovered,
    Request,
    SessionStarted,
    Text,
    shown,
)
from engine.agents.claude.stream import ClaudeStream
from engine.agents.template import command_argv, placeholder_values
from engine.errors import ConfigError
from engine.executors.base import Launch
from engine.observe.usage import (
    MODEL_CHARS,
    TOKEN_KINDS,
    Tokens,
    describe,
    model_key,
    parse_cost,
    parse_count,
)
from engine.outcome import DONE, Exit, Failure, RateLimit, Verdict, first_line, stop_verdict
from engine.plan.settings import Settings

KIND = "command"
_TOKEN_LINE = re.compile(rb"Token usage:\s*(.*)", re.IGNORECASE)
_PAIR = re.compile(rb"([a-z_]+)\s*=\s*([^\s,]+)", re.IGNORECASE)


class CommandAgent:
    """Any program as a task's agent (`--agent-cmd`, `agent: command` with `command:`)."""

    kind = KIND
    capabilities = Capabilities()
    settings = frozenset({"command"})

    def label(self, settings: Settings) -> str:
        return KIND

    def check(self, task_id: str, settings: Settings, env: Mapping[str, str]) -> None:
        if not settings.command:
            raise ConfigError(
                f"task '{task_id}' uses the command agent but no command is set. Pass "
                "--agent-cmd 'PROGRAM ARGS' or add '- command: ...' to CASCADE.md."
            )

    def program(
        self, settings: Settings, values: Mapping[str, str], override: str | None
    ) -> Program | None:
        assert settings.command is not None  # `check` ran first
        # The program itself may hold a placeholder ({cascade_dir}/agent.sh): fill it.
        name = command_argv(settings.command, values)[0]
        fix = "Fix --agent-cmd or the command setting in CASCADE.md."
        return Program(name, "the agent command", fix, per_task=True)

    def launch(self, request: Request, program: str) -> Launch:
        s = request.settings
        assert s.command is not None
        values = placeholder_values(
            request.task_id,
            request.prompt_file,
            request.name,
            request.cascade_dir,
            request.attempt,
        )
        files = {}
        if "{prompt_file}" in s.command:  # most benchmark-style commands never read it
            files[request.prompt_file] = request.prompt().encode()
        return Launch(command_argv(s.command, values), request.cwd, request.env, None, files)

    def parser(self, settings: Settings) -> OutputParser:
        return CommandParser(KIND)

    def recover_usage(
        self, parser: OutputParser, launch: Launch, session_id: str | None, since: float
    ) -> Recovered | None:
        return None


class CommandParser:
    """`Token usage: input=N, output=N, cache_read=N, cache_creation=N` lines, summed, plus
    Claude-style stream-json lines when the command prints them."""

    def __init__(self, default_model: str) -> None:
        self.default_model = default_model
        self.session_id: str | None = None
        self._counted: dict[str, Tokens] = {}
        self._cost: float | None = None
        self._stream: ClaudeStream | None = None
        self._ignored: list[Event] = []  # said by the `Token usage:` line being read

    def feed(self, line: bytes) -> list[Event]:
        stripped = line.strip()
        if stripped.startswith(b"{"):
            if self._stream is None:
                self._stream = ClaudeStream()
            events = self._stream.feed(stripped)
            if self._stream.foreign:  # the program's own JSON (a log line): keep it
                return [Text((stripped.decode("utf-8", "replace"),))]
            for event in events:
                if isinstance(event, SessionStarted):
                    self.session_id = event.session_id
            return events
        match = _TOKEN_LINE.search(stripped)
        if match:
            self._count(match.group(1))
        text = stripped.decode("utf-8", "replace")
        said: list[Event] = [Text((text,))] if text else []
        if self._ignored:
            said += self._ignored
            self._ignored = []
        return said

    @property
    def rate_limit(self) -> RateLimit | None:
        """The last usage-limit event of its stream-json lines, if it printed any."""
        return self._stream.rate_limit if self._stream is not None else None

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
                    self._ignored.append(
                        Ignored(
                            f"a model name of {len(text)} characters was cut to "
                            f"{MODEL_CHARS}: {model}"
                        )
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
            self._ignored.append(
                Ignored(
                    f"ignored {', '.join(ignored)} in a 'Token usage:' line: {'; '.join(rules)}"
                )
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
        return shown(classify_command(exit, self._stream, stderr_tail, limits))


def classify_command(
    exit: Exit, stream: ClaudeStream | None, stderr_tail: str, limits: dict[str, float] | None
) -> Verdict:
    """A command agent succeeds with exit 0 (and, if it spoke stream-json, a good result)."""
    stopped = stop_verdict(exit, limits or {})
    if stopped:
        return stopped
    if stream is not None and stream.result is not None and stream.result.get("is_error"):
        event = stream.rate_limit
        if event and event.status == "rejected" and (event.resets_at or event.limit_type):
            return Verdict(Failure.RATE_LIMIT, "usage limit reached", event)
        return Verdict(Failure.TRANSIENT, first_line(stream.result_text()) or "result is_error")
    if exit.returncode == 0:
        return DONE
    if exit.signal:
        return Verdict(Failure.TRANSIENT, f"the command was killed by signal {exit.signal}")
    detail = first_line(stderr_tail)
    return Verdict(
        Failure.TRANSIENT,
        f"the command exited with code {exit.returncode}" + (f": {detail}" if detail else ""),
    )
