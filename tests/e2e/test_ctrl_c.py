"""Ctrl-C means exit 130 and no traceback, whenever it comes: the real `nova` command, SIGINT at
every moment of its first 400 ms, and commands other than `run`.

A signal that arrives before nova's first instruction is the interpreter's (it kills the
process, or raises inside `site`): no program can take it. So each test starts its clock when
nova's own code runs, which Python tells by its import-time report (PYTHONPROFILEIMPORTTIME):
the first import that finishes after `engine.interrupt` is one that nova's entry point started
after it took SIGINT.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.agents.harness import (
    Nova,
    agent_cmd,
    out_dir,
    run_nova,
    wait_until,
    write_cascade,
)

IMPORT_TIMES = {"PYTHONPROFILEIMPORTTIME": "1"}


def _nova_started(nova: Nova) -> None:
    """Return once nova's entry point has taken SIGINT (see the module docstring)."""

    def after_entry() -> bool:
        lines = nova.stderr().splitlines()
        at = next((n for n, line in enumerate(lines) if line.endswith("| engine.interrupt")), None)
        return at is not None and len(lines) > at + 1

    # Never seen: the console script predates engine.interrupt (`pip install -e .` again).
    wait_until(after_entry, "nova's entry point (engine.interrupt:main) to run", timeout=20)


def _nova_said(nova: Nova) -> str:
    """nova's stderr without Python's import-time report."""
    return "".join(
        line for line in nova.stderr().splitlines(keepends=True) if not line.startswith("import ")
    )


def _interrupt(nova: Nova, after: float) -> tuple[int, str]:
    _nova_started(nova)
    if after:
        time.sleep(after)  # the moment under test, not a wait for something
    os.kill(nova.pid, signal.SIGINT)
    try:
        return nova.wait(timeout=30), _nova_said(nova)
    finally:
        nova.kill()


@pytest.mark.timeout(120)
def test_ctrl_c_in_the_first_400_ms_of_a_run_always_exits_130_without_a_traceback(
    tmp_path: Path,
) -> None:
    """40 runs, each sent SIGINT 0, 20, ..., 380 ms after nova's code started (during its
    imports, the parse, prepare, the loop's start): every one exits 130 at once, says no
    Traceback, and leaves a state `nova status` reads."""
    out = out_dir(tmp_path)
    write_cascade(
        tmp_path,
        [("A", "-"), ("B", "-"), ("C", "A")],
        settings={"agent": "command", "command": agent_cmd("slow.py", str(out), "{id}")},
    )
    stopped_runs = 0
    for n in range(40):
        after = (n % 20) / 50
        nova = Nova(tmp_path, "run", "--grace", "1", name=f"nova{n}", extra=IMPORT_TIMES)
        code, said = _interrupt(nova, after)
        stopped_runs += "Ctrl-C: stopping" in nova.stdout()
        assert code == 130, (after, code, said)
        assert "Traceback" not in said, (after, code, said)
        status = run_nova(tmp_path, "status", "--json")
        if (tmp_path / "state" / "state.json").exists():
            assert status.returncode == 0, status.stderr
            assert json.loads(status.stdout)["run"]["running"] is False
        else:  # stopped before the run wrote a state: status says there is none
            assert status.returncode == 2
            assert "no state in state/ yet" in status.stderr
    assert 0 < stopped_runs < 40  # some Ctrl-Cs came before the run's loop, some in it


def test_ctrl_c_stops_status_watch_with_130_and_nothing_on_stderr(tmp_path: Path) -> None:
    """`nova status --watch` on a live run: Ctrl-C ends it quietly (no click 'Aborted.')."""
    out = out_dir(tmp_path)
    write_cascade(
        tmp_path,
        [("A", "-")],
        settings={"agent": "command", "command": agent_cmd("slow.py", str(out), "{id}")},
    )
    run = Nova(tmp_path, "run", "--grace", "1")
    try:
        wait_until((out / "A.runs").exists, "A to start")
        watch = Nova(
            tmp_path, "status", "--watch", "--interval", "0.1", name="watch", extra=IMPORT_TIMES
        )
        wait_until(lambda: "A" in watch.stdout(), "the first status report")
        code, said = _interrupt(watch, 0.2)
        assert (code, said.strip()) == (130, "")
    finally:
        os.kill(run.pid, signal.SIGINT)
        run.wait()
        run.kill()


def test_ctrl_c_during_validate_of_a_huge_plan_exits_130_quietly(tmp_path: Path) -> None:
    """Reading 40 MB of plan takes seconds; Ctrl-C in the middle of it ends it at once."""
    rows = "".join(f"| T{i} | Task {i} | work {'x' * 300} | - |\n" for i in range(120_000))
    (tmp_path / "CASCADE.md").write_text(
        "# Big\n\n## L1: A\n| Task ID | Task Name | What Changes | Depends On |\n"
        f"|---|---|---|---|\n{rows}",
        encoding="utf-8",
    )
    nova = Nova(tmp_path, "validate", name="validate", extra=IMPORT_TIMES)
    code, said = _interrupt(nova, 0.5)
    assert (code, said.strip()) == (130, "")
