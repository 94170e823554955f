"""Agent adapters: the exact `claude -p` command line, command templates that can never be
injected into, the child environment, finding programs, and the command agent's output parser."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from engine import agents
from engine.agents.base import (
    Capabilities,
    Ignored,
    Notice,
    SessionStarted,
    Text,
    agent_env,
    find_program,
)
from engine.agents.claude import ClaudeParser, claude_argv
from engine.agents.claude.stream import ClaudeStream
from engine.agents.command import CommandParser
from engine.agents.template import command_argv
from engine.errors import AgentNotFoundError, ConfigError
from engine.observe.usage import Tokens
from engine.outcome import Exit, Failure
from engine.plan.cascade import parse_cascade
from engine.plan.settings import DEFAULTS, Settings, describe
from engine.run.preflight import resolve_settings
from tests.support.events import Reading

BASE = ("claude", "-p", "--output-format", "stream-json", "--verbose")


def test_claude_argv_always_asks_for_stream_json_with_verbose() -> None:
    """stream-json without --verbose makes the CLI exit 1, so both are always there."""
    assert claude_argv("claude", Settings()) == BASE


def test_claude_argv_with_every_setting() -> None:
    """Model, turns, budget, permission mode, tools and resume each become their flag."""
    s = Settings(
        model="opus",
        max_turns=40,
        max_budget_usd=2.5,
        permission_mode="acceptEdits",
        allowed_tools="Bash Edit Read",
    )
    assert claude_argv("/opt/claude", s, resume_session="sess-1") == (
        "/opt/claude",
        "-p",
        "--output-format",
        "stream-json",
        "--verbose",
        "--model",
        "opus",
        "--max-turns",
        "40",
        "--max-budget-usd",
        "2.5",
        "--permission-mode",
        "acceptEdits",
        "--allowedTools",
        "Bash Edit Read",
        "--resume",
        "sess-1",
    )


def test_claude_argv_with_defaults_uses_accept_edits_and_allowed_tools() -> None:
    """The default run is unattended-safe: acceptEdits plus an explicit tool list."""
    argv = claude_argv("claude", DEFAULTS)
    assert argv[argv.index("--permission-mode") + 1] == "acceptEdits"
    assert argv[argv.index("--allowedTools") + 1] == DEFAULTS.allowed_tools
    assert "bypassPermissions" not in argv
    assert "--dangerously-skip-permissions" not in argv


@pytest.mark.parametrize("mode", [None, "default", "acceptEdits", "plan", "dontAsk"])
def test_claude_argv_never_bypasses_permissions_unless_chosen(mode: str | None) -> None:
    """No mode other than bypassPermissions itself puts bypass on the command line."""
    argv = claude_argv("claude", Settings(permission_mode=mode).over(DEFAULTS))
    assert "bypassPermissions" not in argv
    assert "--dangerously-skip-permissions" not in argv


def test_claude_argv_bypass_only_when_set() -> None:
    """bypassPermissions is passed through when the user chose it."""
    argv = claude_argv("claude", Settings(permission_mode="bypassPermissions"))
    assert argv[-2:] == ("--permission-mode", "bypassPermissions")


def test_claude_argv_default_permission_mode_adds_no_flag() -> None:
    """`default` is the CLI's own default, so no flag is passed."""
    assert "--permission-mode" not in claude_argv("claude", Settings(permission_mode="default"))


VALUES = {
    "id": "F1",
    "name": "Core Types",
    "prompt_file": "/tmp/p/F1.md",
    "cascade_dir": "/work/plan",
    "attempt": "2",
}


def test_command_argv_splits_like_a_shell_and_fills_placeholders() -> None:
    """Quotes group words; {id} and friends are replaced inside words too."""
    argv = command_argv(
        "python3 'my agent.py' --task {id} --attempt={attempt} {prompt_file} {cascade_dir}/x",
        VALUES,
    )
    assert argv == (
        "python3",
        "my agent.py",
        "--task",
        "F1",
        "--attempt=2",
        "/tmp/p/F1.md",
        "/work/plan/x",
    )


@pytest.mark.parametrize(
    "name",
    [
        "Core Types",
        'it\'s "quoted"',
        "x; rm -rf /",
        "$(touch pwned)",
        "`id`",
        "a && b | c",
        "{id}",
        "",
    ],
)
def test_task_name_stays_one_argument_whatever_it_holds(name: str) -> None:
    """Spaces, quotes and shell syntax in a name are one literal argument, never a command."""
    argv = command_argv("agent --name {name} --id {id}", VALUES | {"name": name})
    assert argv == ("agent", "--name", name, "--id", "F1")


def test_unknown_braces_are_left_alone() -> None:
    """Only nova's placeholders are filled; other braces are literal."""
    assert command_argv("tool {other} {id}", VALUES) == ("tool", "{other}", "F1")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("", "the agent command is empty"),
        ("   ", "the agent command is empty"),
        ("agent 'unterminated", "cannot be split into words"),
    ],
)
def test_bad_templates_are_config_errors(template: str, message: str) -> None:
    """An empty or unbalanced template is refused before anything runs."""
    with pytest.raises(ConfigError, match=message):
        command_argv(template, VALUES)


def test_agent_env_drops_nesting_markers_and_adds_novas() -> None:
    """CLAUDECODE and CLAUDE_CODE_ENTRYPOINT are removed; nova's markers are added."""
    base = {
        "PATH": "/usr/bin",
        "HOME": "/h",
        "CLAUDECODE": "1",
        "CLAUDE_CODE_ENTRYPOINT": "cli",
        "ANTHROPIC_API_KEY": "k",
    }
    env = agent_env(base, {"NOVA_TASK_ID": "F1", "NOVA_RUN_ID": "r1"})
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/h",
        "ANTHROPIC_API_KEY": "k",
        "NOVA_TASK_ID": "F1",
        "NOVA_RUN_ID": "r1",
    }
    assert "CLAUDECODE" in base  # the caller's mapping is not changed


def make_executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_find_program_by_path_and_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths are checked as given (relative to cwd); bare names are looked up on PATH."""
    tool = make_executable(tmp_path / "my-agent")
    assert find_program(str(tool), "/", "the agent", "fix") == str(tool)
    assert find_program("./my-agent", str(tmp_path), "the agent", "fix") == str(
        tmp_path / "./my-agent"
    )
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    assert find_program("my-agent", "/", "the agent", "fix") == str(tool)


def test_find_program_missing_or_not_executable(tmp_path: Path) -> None:
    """A missing binary, or a file that cannot run, is AgentNotFoundError with the fix."""
    with pytest.raises(AgentNotFoundError) as info:
        find_program("/nonexistent/claude", "/", "Claude Code", "Install it.")
    assert str(info.value) == (
        "Claude Code '/nonexistent/claude' does not exist or is not executable. Install it."
    )
    plain = tmp_path / "notes.txt"
    plain.write_text("x")
    with pytest.raises(AgentNotFoundError):
        find_program(str(plain), "/", "the agent", "fix")
    with pytest.raises(AgentNotFoundError, match="'no-such-program-xyz' is not on PATH"):
        find_program("no-such-program-xyz", "/", "the agent command", "fix")


# ---- CommandParser ---------------------------------------------------------------------------


def test_command_parser_sums_token_usage_lines() -> None:
    """Every `Token usage:` line adds to the default model's count; other lines are the log."""
    parser = Reading(CommandParser("bench-model"))
    out = []
    for raw in [
        b"working...\n",
        b"Token usage: input=100, output=20, cache_read=5, cache_creation=1\n",
        b"Token usage: input=50, output=10\n",
        b"\n",
    ]:
        out += parser.feed(raw)
    assert parser.tokens() == {"bench-model": Tokens(150, 30, 5, 1)}
    assert out == [
        "working...",
        "Token usage: input=100, output=20, cache_read=5, cache_creation=1",
        "Token usage: input=50, output=10",
    ]
    assert parser.cost_usd() is None


def test_command_parser_reads_model_and_cost_in_token_lines() -> None:
    """`model=` puts the counts under that model (suffix stripped); `cost=` adds up."""
    parser = Reading(CommandParser("default"))
    parser.feed(b"Token usage: model=claude-opus-4-8[1m] input=7 output=3 cost=$0.25\n")
    parser.feed(b"token usage: model=gpt-x, input=1, output=1, cost_usd=0.5\n")
    parser.feed(b"Token usage: input=2 output=2\n")
    assert parser.tokens() == {
        "claude-opus-4-8": Tokens(7, 3, 0, 0),
        "gpt-x": Tokens(1, 1, 0, 0),
        "default": Tokens(2, 2, 0, 0),
    }
    assert parser.cost_usd() == pytest.approx(0.75)


def test_command_parser_ignores_garbage_values() -> None:
    """Non-numeric counts are skipped without error."""
    parser = Reading(CommandParser("m"))
    parser.feed(b"Token usage: input=lots, output=5, cost=free\n")
    assert parser.tokens() == {"m": Tokens(0, 5, 0, 0)}
    assert parser.cost_usd() is None


def test_a_token_count_too_long_for_int_is_ignored_and_the_rest_of_the_line_counts() -> None:
    """int() refuses more than 4,300 digits: such a count (and one over 10^15, or negative)
    is ignored with a warning, and the line's other counts are kept."""
    parser = Reading(CommandParser("m"))
    assert parser.feed(b"Token usage: input=" + b"9" * 5000 + b", output=3\n")
    parser.feed(b"Token usage: input=1" + b"0" * 40 + b", output=-1, cache_read=7\n")
    assert parser.tokens() == {"m": Tokens(0, 3, 7, 0)}
    rule = "a token count is a whole number from 0 to 10^15"
    assert parser.warnings == [
        f"ignored input={'9' * 40}… (5000 characters) in a 'Token usage:' line: {rule}",
        f"ignored input=1{'0' * 40}, output=-1 in a 'Token usage:' line: {rule}",
    ]


@pytest.mark.parametrize("cost", [b"nan", b"NaN", b"inf", b"-inf", b"infinity", b"-0.5", b"1e400"])
def test_a_cost_that_is_not_finite_or_is_negative_is_ignored(cost: bytes) -> None:
    """cost=nan once made the task's cost NaN, written as a bare NaN (no JSON) and shown as
    $nan: it is ignored, with a warning that names it."""
    parser = Reading(CommandParser("m"))
    parser.feed(b"Token usage: input=1, cost=0.25\n")
    parser.feed(b"Token usage: output=1, cost=" + cost + b"\n")
    assert parser.cost_usd() == 0.25
    assert parser.tokens() == {"m": Tokens(1, 1, 0, 0)}
    [warning] = parser.warnings
    assert warning == (
        f"ignored cost={cost.decode()} in a 'Token usage:' line: a cost is a number from 0 to 1e6"
    )


def test_a_model_name_is_cut_to_200_characters_with_its_escapes_shown() -> None:
    """A 5,000-character model name would be a token key in the state and on the terminal:
    cut, said, and with control characters as escapes."""
    parser = Reading(CommandParser("m"))
    parser.feed(b"Token usage: model=" + b"x" * 5000 + b", input=1\n")
    parser.feed(b"Token usage: model=\x1b]0;owned\x07, input=2\n")
    assert parser.tokens() == {"x" * 199 + "…": Tokens(1), "\\e]0;owned\\x07": Tokens(2)}
    assert parser.warnings == [f"a model name of 5000 characters was cut to 200: {'x' * 199}…"]


def test_a_verdict_reason_quoting_the_agent_has_its_escapes_shown() -> None:
    """The reason quotes stderr or the result text, and `nova run` and `nova status` print it."""
    command = Reading(CommandParser("m"))
    reason = command.verdict(Exit(1), "boom \x1b]0;owned\x07\x1b[2J", 0.0, {}).reason
    assert reason == "the command exited with code 1: boom \\e]0;owned\\x07\\e[2J"
    claude = ClaudeParser()
    claude.feed(b'{"type":"result","is_error":true,"result":"no \\u001b]52;c;eA==\\u0007"}\n')
    assert claude.verdict(Exit(1), "", 0.0, {}).reason == "no \\e]52;c;eA==\\x07"
    assert claude.result_text() == "no \\e]52;c;eA==\\x07"


def test_command_parser_reads_stream_json_lines_too() -> None:
    """A command that speaks Claude stream-json gets its session, tokens, cost and result."""
    parser = Reading(CommandParser("default"))
    lines = [
        {"type": "system", "subtype": "init", "session_id": "s-9", "model": "claude-sonnet-5"},
        {
            "type": "assistant",
            "message": {
                "id": "m1",
                "model": "claude-sonnet-5",
                "content": [{"type": "tool_use", "name": "Bash", "input": {"command": "make"}}],
                "usage": {"input_tokens": 10, "output_tokens": 1},
            },
        },
        {
            "type": "rate_limit_event",
            "rate_limit_info": {"status": "allowed_warning", "utilization": 0.8},
        },
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "stop_reason": "end_turn",
            "result": "built",
            "total_cost_usd": 0.5,
            "modelUsage": {"claude-sonnet-5": {"inputTokens": 40, "outputTokens": 9}},
        },
    ]
    out = []
    for event in lines:
        out += parser.feed(json.dumps(event).encode() + b"\n")
    parser.feed(b"Token usage: input=1 output=1 cost=0.25\n")
    assert "→ Bash: make" in out
    assert parser.session_id == "s-9"
    assert parser.rate_limit is not None
    assert parser.rate_limit.status == "allowed_warning"
    assert parser.notices == ["usage limit warning at 80% (unknown window)"]
    assert parser.tokens() == {
        "claude-sonnet-5": Tokens(40, 9, 0, 0),
        "default": Tokens(1, 1, 0, 0),
    }
    assert parser.cost_usd() == pytest.approx(0.75)
    assert parser.result_text() == "built"


def test_command_parser_verdict_uses_exit_code_and_stream_result() -> None:
    """Exit 0 is done unless the command's own stream-json result says is_error."""
    parser = Reading(CommandParser("m"))
    assert parser.verdict(Exit(0), "", 0.0, {}).ok
    assert parser.verdict(Exit(2), "oops", 0.0, {}).failure is Failure.TRANSIENT
    parser.feed(b'{"type":"result","is_error":true,"result":"failed hard"}\n')
    verdict = parser.verdict(Exit(0), "", 0.0, {})
    assert (verdict.failure, verdict.reason) == (Failure.TRANSIENT, "failed hard")


def test_claude_parser_verdict_is_classify_claude() -> None:
    """ClaudeParser judges with the Claude rules: exit 0 without a result is not done."""
    parser = ClaudeParser()
    assert not parser.verdict(Exit(0), "", 0.0, {}).ok
    parser.feed(b'{"type":"result","subtype":"success","is_error":false,"stop_reason":"end_turn"}')
    assert parser.verdict(Exit(0), "", 0.0, {}).ok


def test_command_agent_json_lines_that_are_not_claude_events_stay_in_the_log() -> None:
    """A program's own JSON log lines (no Claude event type) are shown, not swallowed."""
    parser = Reading(CommandParser("command"))
    assert parser.feed(b'{"level": "info", "msg": "built 3 files"}') == [
        '{"level": "info", "msg": "built 3 files"}'
    ]
    assert parser.feed(b'{"no": "type"}') == ['{"no": "type"}']
    assert parser.feed(b'{"type": "system", "subtype": "status"}') == []  # a Claude event


# ---- the registry ----------------------------------------------------------------------------


def test_the_registry_holds_the_built_in_kinds_and_names_the_default_once() -> None:
    """`claude` (the default, for a task that names none) and `command` are registered; each
    adapter's capabilities are what `capabilities(kind)` says."""
    assert agents.kinds()[:2] == ("claude", "command")
    assert agents.get(None) is agents.get(agents.DEFAULT) is agents.get("claude")
    assert agents.capabilities("claude") == agents.get("claude").capabilities
    assert agents.capabilities("claude").resume
    assert agents.capabilities("claude").usage_recovery
    assert agents.capabilities("command") == Capabilities()
    assert agents.capabilities("nobody") == Capabilities()


def test_an_unknown_kind_names_the_kinds_and_the_close_one() -> None:
    """The same message the settings parser gave before kinds were the registry's."""
    with pytest.raises(ConfigError, match=r"^agent 'gpt' is not one of claude, command\.$"):
        agents.get("gpt")
    with pytest.raises(ConfigError, match=r"Did you mean 'claude'\?$"):
        agents.get("claud")


def test_resolve_settings_gives_the_default_kind_and_refuses_an_unknown_one() -> None:
    """A task that names no agent runs the default kind (its state and log header say so);
    one that names a kind no adapter is registered for is refused at its line."""
    table = "| Task ID | Task Name | What Changes | Depends On |\n|---|---|---|---|\n"
    plain = parse_cascade(f"# P\n\n## L1: A\n\n{table}| F1 | a | x | - |\n")
    assert resolve_settings(plain, Settings())["F1"].agent == "claude"
    wrong = parse_cascade(f"# P\n\n- agent: gpt\n\n## L1: A\n\n{table}| F1 | a | x | - |\n")
    with pytest.raises(ConfigError) as info:
        resolve_settings(wrong, Settings())
    assert str(info.value) == (
        f"{wrong.path}:9: task 'F1': agent 'gpt' is not one of claude, command."
    )


def test_claude_stream_events_name_the_session_once_and_keep_notices_after_the_text() -> None:
    """`feed` returns events: the log text first, then the notices and what was ignored,
    then a session that is new; nothing is left for the caller to clear."""
    stream = ClaudeStream()
    init = {"type": "system", "subtype": "init", "session_id": "s-1", "model": "m"}
    first = stream.feed(json.dumps(init).encode())
    assert isinstance(first[0], Text)
    assert first[-1] == SessionStarted("s-1")
    assert SessionStarted("s-1") not in stream.feed(json.dumps(init).encode())
    retry = {"type": "system", "subtype": "api_retry", "error_status": 529, "attempt": 1}
    assert stream.feed(json.dumps(retry).encode()) == [
        Text(["! API error 529: the CLI retries (1/?)"]),
        Notice("API error 529; Claude Code retries (1/?)"),
    ]
    bad = {"type": "result", "subtype": "success", "is_error": False, "num_turns": "x"}
    events = stream.feed(json.dumps(bad).encode())
    assert isinstance(events[0], Text)
    assert isinstance(events[-1], Ignored)
    assert stream.feed(b"") == []


def test_describe_with_each_adapters_settings_hides_what_the_kind_does_not_take() -> None:
    """A command agent's log header shows no model or permission mode; Claude's shows them."""
    s = Settings(agent="command", model="opus", permission_mode="plan", retries=1)
    assert describe(s, agents.get("command").settings) == {"agent": "command", "retries": "1"}
    assert describe(s, agents.get("claude").settings) == {
        "agent": "command",
        "model": "opus",
        "permission-mode": "plan",
        "retries": "1",
    }
