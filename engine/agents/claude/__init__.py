"""The Claude Code adapter: `claude -p --output-format stream-json --verbose`, prompt on stdin.

The only code that knows Claude Code's flags (`claude_argv`), its output (`stream`), its
failures (`verdict`) and its session transcripts (`transcript`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from engine.agents.base import (
    Capabilities,
    OutputParser,
    Program,
    Recovered,
    Request,
    shown,
)
from engine.agents.claude.stream import ClaudeStream
from engine.agents.claude.transcript import transcript_usage
from engine.agents.claude.verdict import ROOT_BYPASS_HINT, classify_claude
from engine.errors import ConfigError
from engine.executors.base import Launch
from engine.outcome import Exit, Verdict
from engine.plan.settings import Settings

KIND = "claude"
CLAUDE_INSTALL_HINT = (
    "Install Claude Code with 'npm install -g @anthropic-ai/claude-code', or point nova at it "
    "with --claude PATH (or NOVA_CLAUDE=PATH). To run tasks with another program, use "
    "--agent-cmd."
)


class ClaudeParser(ClaudeStream):
    """Claude Code's stream-json, judged by `classify_claude` when the attempt ends."""

    def verdict(
        self, exit: Exit, stderr_tail: str, now: float, limits: dict[str, float]
    ) -> Verdict:
        return shown(classify_claude(exit, self, stderr_tail, now, limits))


class ClaudeAgent:
    """Claude Code (`claude -p`), the default agent kind."""

    kind = KIND
    capabilities = Capabilities(
        resume=True,
        permission_modes=True,
        usage_recovery=True,
        login="Log in with 'claude /login' or set ANTHROPIC_API_KEY",
    )
    settings = frozenset(
        {"model", "max_turns", "max_budget_usd", "allowed_tools", "permission_mode"}
    )

    def label(self, settings: Settings) -> str:
        return f"{KIND} {settings.model or '(default model)'}"

    def check(self, task_id: str, settings: Settings, env: Mapping[str, str]) -> None:
        """As root, Claude Code refuses bypassPermissions unless IS_SANDBOX=1: say so now,
        not after every task has failed."""
        sandbox = env.get("IS_SANDBOX")
        bypass = settings.permission_mode == "bypassPermissions"
        if bypass and os.geteuid() == 0 and sandbox != "1":
            now = f"is '{sandbox}'" if sandbox is not None else "is not set"
            raise ConfigError(
                f"task '{task_id}' uses permission-mode bypassPermissions, nova runs as root, "
                f"and IS_SANDBOX {now}. {ROOT_BYPASS_HINT}"
            )

    def program(
        self, settings: Settings, values: Mapping[str, str], override: str | None
    ) -> Program | None:
        return Program(override or KIND, "Claude Code", CLAUDE_INSTALL_HINT)

    def launch(self, request: Request, program: str) -> Launch:
        argv = claude_argv(program, request.settings, request.resume)
        return Launch(argv, request.cwd, request.env, request.prompt().encode())

    def parser(self, settings: Settings) -> OutputParser:
        return ClaudeParser()

    def recover_usage(
        self, parser: OutputParser, launch: Launch, session_id: str | None, since: float
    ) -> Recovered | None:
        if not isinstance(parser, ClaudeParser) or parser.final_tokens() is not None:
            return None
        if session_id is None:
            return None
        tokens = transcript_usage(launch.env, launch.cwd, session_id, since)
        if not tokens:
            return None
        how = (
            "no final result: this attempt's tokens are read from Claude Code's session "
            "transcript; its cost is not known"
        )
        return Recovered(tokens, how)


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
