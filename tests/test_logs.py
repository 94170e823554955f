"""The task logs (engine.observe.logs): the header and footer that frame an attempt, lines
stamped and made safe to `cat`, the raw output kept byte for byte, secrets masked, and a log
that survives what it cannot write."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from engine.observe import logs
from engine.observe.logs import (
    RULE,
    TaskLog,
    format_footer,
    format_header,
    log_path,
    raw_path,
)
from engine.observe.redact import Redactor
from engine.observe.usage import Tokens

T0 = 1767225600.0  # 2026-01-01T00:00:00Z


def test_logs_are_named_by_task_and_raw_ones_by_attempt_and_stream(tmp_path: Path) -> None:
    assert log_path(tmp_path, "F1") == tmp_path / "F1.log"
    assert raw_path(tmp_path, "F1", 2) == tmp_path / "raw" / "F1-2.stdout"
    assert raw_path(tmp_path, "F1", 2, "stderr") == tmp_path / "raw" / "F1-2.stderr"


def test_the_header_says_task_attempt_start_command_cwd_and_settings() -> None:
    header = format_header(
        "F1", "Core", 2, ["claude", "-p", "it's"], "/w", T0, {"model": "opus", "x": None}
    )
    assert header.splitlines() == [
        RULE,
        "task F1 · Core · attempt 2 · started 2026-01-01 00:00:00 UTC",
        "command: claude -p 'it'\"'\"'s'",  # as a shell would need it
        "cwd: /w",
        "settings: model=opus",  # unset settings are not listed
        RULE,
    ]


def test_the_footer_gives_the_outcome_exit_time_cost_and_tokens_per_model() -> None:
    footer = format_footer(
        "done", "", 0, 61.25, {"claude-opus": Tokens(10, 2, 300, 4)}, 0.5, T0 + 61.25
    )
    lines = footer.splitlines()
    assert lines[1] == "done"
    assert lines[2].startswith("exit 0 · 61.2s · ended 2026-01-01 00:01:01 UTC · cost $0.5")
    assert lines[3:5] == [
        "tokens:",
        "  claude-opus: input 10, output 2, cache read 300, cache write 4",
    ]
    assert footer.endswith(f"{RULE}\n\n")
    assert "tokens: none counted" in format_footer("failed", "why", 1, 1.0, {}, None, T0)


def test_an_attempt_writes_stamped_lines_and_raw_output_as_it_came(tmp_path: Path) -> None:
    log = TaskLog(tmp_path, "A", 1)
    log.open()
    log.write("header\n")
    log.lines(T0 + 5, ["first", "second"], "tool: ")
    log.raw_stdout(b'{"raw": 1}\n')
    log.raw_stderr(b"warn\xff\n")
    log.close()
    assert log_path(tmp_path, "A").read_text() == (
        "header\n[00:00:05] tool: first\n[00:00:05] tool: second\n"
    )
    assert raw_path(tmp_path, "A", 1).read_bytes() == b'{"raw": 1}\n'
    assert raw_path(tmp_path, "A", 1, "stderr").read_bytes() == b"warn\xff\n"
    assert log.error is None


def test_control_sequences_are_shown_not_played_and_secrets_masked(tmp_path: Path) -> None:
    log = TaskLog(tmp_path, "A", 1, Redactor(("hunter2-secret-value",)))
    log.open()
    log.lines(T0, ["title \x1b]0;owned\x07 key=hunter2-secret-value"])
    log.close()
    text = log_path(tmp_path, "A").read_text()
    assert "\x1b" not in text
    assert "\\e]0;owned\\x07" in text
    assert "hunter2-secret-value" not in text


def test_an_attempt_that_never_ran_leaves_no_files_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the raw log cannot be opened (no descriptor), the human log it just made is
    removed again and nothing is left open."""
    opened: list[Path] = []
    real = logs._open_append

    def open_append(path: Path, logs_dir: Path) -> int:
        if path.suffix == ".stdout":
            raise OSError(errno.EMFILE, "Too many open files")
        opened.append(path)
        return real(path, logs_dir)

    monkeypatch.setattr(logs, "_open_append", open_append)
    before = set(os.listdir("/proc/self/fd"))
    log = TaskLog(tmp_path, "A", 1)
    with pytest.raises(OSError, match="Too many open files"):
        log.open()
    assert opened == [log_path(tmp_path, "A")]
    assert not log_path(tmp_path, "A").exists()
    assert set(os.listdir("/proc/self/fd")) == before


def test_a_full_disk_keeps_the_first_error_and_never_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = TaskLog(tmp_path, "A", 1)
    log.open()

    def full(fd: int, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(logs, "_write_all", full)
    log.lines(T0, ["lost"])
    log.raw_stdout(b"lost too")
    log.close()
    assert log.error is not None
    assert log.error.errno == errno.ENOSPC


def test_the_human_log_of_an_attempt_stops_at_its_limit_and_says_where_the_rest_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs, "TEXT_LIMIT", 100)
    log = TaskLog(tmp_path, "A", 3)
    log.open()
    for i in range(20):
        log.lines(T0, [f"line {i}"])
    log.write("footer\n")  # framing is always written
    log.close()
    text = log_path(tmp_path, "A").read_text()
    assert "line 19" not in text
    assert "the rest of its output is only in A-3.stdout and A-3.stderr" in text
    assert text.endswith("footer\n")
