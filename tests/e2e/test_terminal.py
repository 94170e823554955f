"""Names from a plan never reach the terminal as control codes, from any `nova` command.

A CASCADE.md whose project, branch and group headings, task names and settings hold a window
title write (OSC 0), a clipboard write (OSC 52), a clear-screen, backspaces, an 8-bit CSI and
a bidi override is run, shown and printed by the real `nova` command, through a pipe and on
a terminal (a pty, where nova colours its output): what comes out holds no control
character but newline (and tab), and on a terminal no escape sequence but nova's colours.
"""

from __future__ import annotations

import errno
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
import tty
from pathlib import Path

from tests.e2e.agents.harness import DEADLINE, NOVA, nova_env, run_nova

# A CR cannot be in a name: it ends the line there, as a newline does.
BAD = "\x1b]0;TITLE\x07\x1b]52;c;ZXZpbA==\x07\x1b[2J\x08\x08\x9b31m\u202eevil\x7f"
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
NOVA_COLOUR = re.compile(r"\x1b\[(?:0|1|2|31|32|33|36)m")


def _hostile_plan(directory: Path) -> None:
    ok = f"{sys.executable} -S -c \"print('ok \\x1b]0;AGENT\\x07')\""  # the agent's too
    (directory / "CASCADE.md").write_text(
        f"# Proj {BAD}\n\n- agent: command\n- command: {ok}\n- retries: 0\n\n"
        f"## L1: Branch {BAD}\n\n### L2: Group {BAD}\n"
        "| Task ID | Task Name | What Changes | Depends On |\n"
        "|---------|-----------|--------------|------------|\n"
        f"| A1 | Name {BAD} | Do {BAD} | - |\n"
        f"| B2 | Other {BAD} | Do it | A1 |\n\n"
        f"#### B2: Other\n- check: false {BAD}\n",
        encoding="utf-8",
    )


def _controls(text: str, colour: bool = False) -> list[str]:
    """The control characters in `text`, after nova's own colour codes if `colour`."""
    if colour:
        text = NOVA_COLOUR.sub("", text)
    return CONTROL.findall(text)


def _on_a_terminal(cwd: Path, *args: str) -> tuple[int, str]:
    """Run `nova ARGS` with its stdout on a pty (raw: no CR added to newlines)."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen(
        [*NOVA, *args],
        cwd=cwd,
        env=nova_env(cwd),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.DEVNULL,
    )
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + DEADLINE
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([master], [], [], left)[0]:
                proc.kill()
                raise AssertionError(f"nova {' '.join(args)} did not finish in {DEADLINE:g} s")
            try:
                chunk = os.read(master, 65536)
            except OSError as exc:  # EIO: every writer to the pty has closed it
                if exc.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8")


def test_no_command_prints_a_plans_control_characters(tmp_path: Path) -> None:
    """run, status (table and JSON), plan, graph (DOT, Mermaid) and logs, through a pipe:
    the names are there, with every control character shown as an escape."""
    _hostile_plan(tmp_path)
    outputs = {}
    for args in (
        ("plan",),
        ("graph", "--format", "dot"),
        ("graph", "--format", "mermaid"),
        ("run",),
        ("status",),
        ("status", "--json"),
        ("logs", "A1"),
        ("logs", "B2"),
    ):
        done = run_nova(tmp_path, *args)
        assert done.returncode == (1 if args == ("run",) else 0), (args, done.stderr)
        outputs[" ".join(args)] = done.stdout + done.stderr
    for command, text in outputs.items():
        assert not _controls(text), f"nova {command} printed {_controls(text)[:5]}: {text!r}"
    shown = "\\e]0;TITLE\\x07\\e]52;c;ZXZpbA==\\x07\\e[2J\\b\\b\\x9b31m\\u202eevil\\x7f"
    for command in ("plan", "run", "status", "logs B2"):
        assert f"Other {shown}" in outputs[command], command
    assert "the check failed" in outputs["run"]
    doc = json.loads(outputs["status --json"])  # still exact JSON, with the names as they are
    assert doc["project"] == f"Proj {BAD}"
    assert doc["tasks"]["B2"]["name"] == f"Other {BAD}"
    log = (tmp_path / "logs" / "B2.log").read_text(encoding="utf-8")
    assert not _controls(log)  # a `cat` of the log is as safe


def test_validate_messages_quote_bad_values_with_their_controls_shown(tmp_path: Path) -> None:
    """`nova validate` quotes the offending value; its escapes are shown, not sent."""
    (tmp_path / "CASCADE.md").write_text(
        f"# P\n\n- timeout: 5{BAD}\n\n## L1: B\n"
        "| Task ID | Task Name | What Changes | Depends On |\n|---|---|---|---|\n"
        "| A1 | N | c | Z\x1b[2J\x08\x9b31m\u202e9 |\n",
        encoding="utf-8",
    )
    done = run_nova(tmp_path, "validate")
    assert done.returncode == 2
    assert "timeout '5\\e]0;TITLE\\x07\\e]52;c;" in done.stderr
    assert "depends on 'Z\\e[2J\\b\\x9b31m\\u202e9'" in done.stderr
    assert not _controls(done.stdout + done.stderr), done.stderr


def test_on_a_terminal_the_only_escapes_are_novas_colours(tmp_path: Path) -> None:
    """With colour on (stdout a terminal), `nova run` and `nova status` send no escape
    sequence but nova's own colour codes, and `nova status --json` none at all."""
    _hostile_plan(tmp_path)
    code, run = _on_a_terminal(tmp_path, "run")
    assert code == 1, run
    code, status = _on_a_terminal(tmp_path, "status")
    assert code == 0, status
    code, as_json = _on_a_terminal(tmp_path, "status", "--json")
    assert code == 0, as_json
    assert NOVA_COLOUR.search(run)
    assert NOVA_COLOUR.search(status)
    assert not _controls(run, colour=True), run
    assert not _controls(status, colour=True), status
    assert not _controls(as_json), as_json
    assert json.loads(as_json)["tasks"]["A1"]["name"] == f"Name {BAD}"
    code, raw = _on_a_terminal(tmp_path, "logs", "A1", "--raw")
    assert (code, raw) == (0, "ok \\e]0;AGENT\\x07\n")  # on a terminal, even --raw is shown
    piped = run_nova(tmp_path, "logs", "A1", "--raw")  # to a program: byte for byte
    assert piped.stdout == "ok \x1b]0;AGENT\x07\n"
