"""Splitting an agent's output into lines (engine.run.attempt.LineSplitter): lines across chunks,
a last line without a newline, and lines too long to hold; and the attempt's pipeline from
lines to logs and usage, whatever the agent prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.agents.base import Event, Ignored, Notice, OutputParser, SessionStarted, Text
from engine.agents.command import CommandParser
from engine.observe.logs import TaskLog
from engine.observe.redact import Redactor
from engine.observe.state import TaskState
from engine.observe.usage import Tokens
from engine.outcome import DONE, Exit, Verdict
from engine.run.attempt import Attempt, CheckOutput, LineSplitter
from tests.e2e.agents.hostile import GOOD_USAGE, HOSTILE_FORMS


def split(chunks: list[bytes], limit: int = 1 << 20) -> tuple[list[bytes], int]:
    splitter = LineSplitter(limit)
    lines = [line for chunk in chunks for line in splitter.feed(chunk)]
    return lines + splitter.finish(), splitter.dropped


def test_lines_are_whole_whatever_the_chunks() -> None:
    """A line split over several reads comes out once, whole, without its newline."""
    assert split([b"ab", b"c\nde", b"f\n\ng", b"h\n"]) == ([b"abc", b"def", b"", b"gh"], 0)


def test_a_last_line_without_newline_is_kept() -> None:
    """Output that does not end with a newline still yields its last line at the end."""
    assert split([b"one\ntw", b"o"]) == ([b"one", b"two"], 0)


def test_a_line_longer_than_the_limit_is_dropped_and_the_next_ones_are_kept() -> None:
    """A line past the limit is not held in memory; the lines around it come out intact."""
    chunks = [b"before\n", b"x" * 40, b"x" * 40, b"x" * 40 + b"\nafter\n", b"y" * 200]
    assert split(chunks, limit=100) == ([b"before", b"after"], 2)


def test_a_too_long_line_ending_in_the_same_chunk_as_its_start_of_holding() -> None:
    """The end of a dropped line never shows up as a line of its own."""
    assert split([b"a" * 150, b"tail\nnext\n"], limit=100) == ([b"next"], 1)


def test_a_log_footer_names_the_signal_that_ended_the_agent() -> None:
    from engine.observe.logs import format_footer

    stopped = format_footer("cancelled", "stopped by the user", -2, 1.5, {}, None, 0.0)
    assert "\nkilled by SIGINT · 1.5s · ended " in stopped
    assert "\nexit 3 · " in format_footer("failed", "", 3, 0.1, {}, None, 0.0)
    assert "\nkilled by signal 99 · " in format_footer("failed", "", -99, 0.1, {}, None, 0.0)


# --------------------------------------------------------------------------
# hostile lines: each is logged as text, and nothing stops the lines after it


def _attempt(tmp_path: Path, parser: OutputParser | None = None) -> tuple[Attempt, list[str]]:
    """An attempt of task T writing real log files under tmp_path; the notes it shows live."""
    log = TaskLog(tmp_path, "T", 1)
    log.open()
    shown: list[str] = []
    attempt = Attempt(
        TaskState("T"),
        parser or CommandParser("command"),
        log,
        on_change=lambda: None,
        on_note=lambda _task, message: shown.append(message),
    )
    return attempt, shown


def _run(attempt: Attempt, chunks: list[bytes]) -> str:
    """Feed chunks as stdout, end the attempt's lines; the human log as written."""
    for chunk in chunks:
        attempt.stdout(chunk)
    attempt.finish_lines()
    attempt.refresh()
    attempt.log.close()
    return attempt.log.path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", list(HOSTILE_FORMS))
def test_no_hostile_line_stops_the_lines_after_it(tmp_path: Path, name: str) -> None:
    """A hostile form between good lines: the raw log has every byte, the human log every
    later line and no escape character, and the good lines' tokens are counted."""
    attempt, _ = _attempt(tmp_path)
    written = b"before\n" + GOOD_USAGE + HOSTILE_FORMS[name] + b"after\n" + GOOD_USAGE
    log = _run(attempt, [written])
    assert attempt.log.raw_out.read_bytes() == written
    assert "] after\n" in log
    assert "\x1b" not in log
    tokens = attempt.task.live_tokens
    assert tokens["command"] == Tokens(2, 2)
    assert all(len(model) <= 200 and "\x1b" not in model for model in tokens)
    assert attempt.task.live_cost is None  # no good line reports one


def test_a_line_any_parser_raises_on_is_logged_as_text_with_a_note(tmp_path: Path) -> None:
    """Whatever a parser raises on one line, that line is logged as text with a note saying
    so, and the lines after it are parsed and counted as usual."""

    class Fragile(CommandParser):
        def feed(self, line: bytes) -> list[str]:
            if line.startswith(b"boom"):
                raise KeyError("no such thing")
            return super().feed(line)

    attempt, _ = _attempt(tmp_path, Fragile("command"))
    log = _run(attempt, [b"boom \x1b[2J line\n", b"after\n", GOOD_USAGE])
    assert "] boom \\e[2J line\n" in log
    assert "nova: the line above (14 bytes) could not be read (KeyError: 'no such thing')" in log
    assert "] after\n" in log
    assert attempt.unparsed == 1
    assert attempt.task.live_tokens == {"command": Tokens(1, 1)}


def test_a_parser_that_cannot_add_up_its_usage_stops_no_state_write(tmp_path: Path) -> None:
    """`refresh` runs at every state write: a parser raising there keeps the last usage and
    says so once, instead of stopping the write of every task's state."""

    class Broken(CommandParser):
        def tokens(self) -> dict[str, Tokens]:
            raise ZeroDivisionError("division by zero")

    attempt, shown = _attempt(tmp_path, Broken("command"))
    attempt.refresh()
    attempt.refresh()
    assert shown == [
        "nova could not add up this attempt's usage (ZeroDivisionError: division by zero)"
    ]


def test_what_the_agent_says_reaches_the_log_and_the_terminal_with_escapes_shown(
    tmp_path: Path,
) -> None:
    """Text lines, stderr lines, stream-json text and live notices from an agent have their
    control characters shown as escapes; the raw logs keep the bytes."""
    attempt, shown = _attempt(tmp_path)
    retry = (
        b'{"type":"system","subtype":"api_retry","attempt":1,"max_retries":2,'
        b'"error":"\\u001b]52;c;ZXZpbA==\\u0007"}\n'
    )
    attempt.stderr(b"err \x1b]0;owned\x07\n")
    log = _run(attempt, [b"out \x1b[2J\x08\x08 \xc2\x9b31m\n", retry])
    assert "] out \\e[2J\\b\\b \\x9b31m\n" in log
    assert "] stderr: err \\e]0;owned\\x07\n" in log
    assert "! API error \\e]52;c;ZXZpbA==\\x07: the CLI retries (1/2)" in log
    assert shown == ["API error \\e]52;c;ZXZpbA==\\x07; Claude Code retries (1/2)"]
    assert attempt.log.raw_out.read_bytes().startswith(b"out \x1b[2J")


def test_a_line_break_inside_a_logged_line_cannot_pass_for_a_line_of_nova(tmp_path: Path) -> None:
    """A logged text holding a newline (a session id, a message) becomes lines of their own,
    each with the time and prefix, so it cannot forge a `nova:` line."""
    log = TaskLog(tmp_path, "T", 1)
    log.open()
    log.lines(0.0, ["a\n[00:00:00] nova: task done\tok"], "stderr: ")
    log.close()
    assert log.path.read_text(encoding="utf-8") == (
        "[00:00:00] stderr: a\n[00:00:00] stderr: [00:00:00] nova: task done\tok\n"
    )


def test_a_check_output_tail_quoted_in_a_verdict_has_its_escapes_shown(tmp_path: Path) -> None:
    """The check's last lines go into the failure reason, which `nova run` prints."""
    log = TaskLog(tmp_path, "T", 1)
    log.open()
    output = CheckOutput(TaskState("T"), log, lambda: None, lambda *_: None, Redactor(()))
    output.stdout(b"FAILED \x1b]0;owned\x07\n")
    assert output.tail() == "FAILED \\e]0;owned\\x07"
    log.close()


class _Scripted:
    """A parser that says, for each line, the events it was given for it."""

    def __init__(self, said: dict[bytes, list[Event]]) -> None:
        self.said = said

    def feed(self, line: bytes) -> list[Event]:
        return self.said.get(line, [])

    def tokens(self) -> dict[str, Tokens]:
        return {}

    def cost_usd(self) -> float | None:
        return None

    def result_text(self) -> str:
        return ""

    def verdict(
        self, exit: Exit, stderr_tail: str, now: float, limits: dict[str, float]
    ) -> Verdict:
        return DONE


def test_events_go_where_they_belong_in_the_order_the_line_said_them(tmp_path: Path) -> None:
    """Text lines (with their prefix) and what was ignored go to the log in order, notices
    to the terminal (control characters shown), a session to the task state at once."""
    parser = _Scripted(
        {
            b"one": [
                Text(("said", "and more")),
                Text(("marked",), "tool: "),
                Ignored("a count out of range"),
                Text(("said again",)),
                Notice("retrying \x1b[2J"),
                SessionStarted("s-1"),
            ]
        }
    )
    attempt, shown = _attempt(tmp_path, parser)
    log = _run(attempt, [b"one\n"])
    bodies = [line.split("] ", 1)[1] for line in log.splitlines() if line.startswith("[")]
    assert bodies == [
        "said",
        "and more",
        "tool: marked",
        "nova: a count out of range",
        "said again",
    ]
    assert shown == ["retrying \\e[2J"]
    assert attempt.task.session_id == "s-1"
