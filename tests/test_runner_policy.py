"""The failure policy through the real runner, over the scripted executor (tests/test_runner.py):
continuing an incomplete session, a session lost after a resume, and shortages of resources
(the cap narrowed while others run, the starved-launch halt)."""

from __future__ import annotations

import errno
import itertools
import json
import time
from pathlib import Path

import pytest

from engine.errors import ExitCode
from engine.executors.base import SpawnError
from tests.test_runner import Play, claude_lines, run


def incomplete(session: str) -> list[bytes]:
    """An attempt that ran out of turns: a final result, but not a done one."""
    init, _ = claude_lines(session)
    result = {
        "type": "result",
        "subtype": "error_max_turns",
        "is_error": True,
        "num_turns": 5,
        "session_id": session,
        "stop_reason": "tool_use",
    }
    return [init, json.dumps(result).encode()]


def test_an_incomplete_session_continues_up_to_continues_times_then_fails(
    tmp_path: Path,
) -> None:
    """Out of turns twice with `continues: 2`: both times the same session goes on (--resume),
    at once and without a retry (retries is 0); the third time it fails, and blocks B."""
    script = {"A": [Play(lines=incomplete("sess-A"))] * 3}
    code, executor, tasks, said = run(
        tmp_path,
        [("A", "-"), ("B", "A")],
        script,
        agent="claude",
        settings="- retries: 0\n- continues: 2",
    )
    assert code is ExitCode.TASKS_NOT_DONE
    argvs = [launch.argv for t, launch in executor.launches]
    assert [t for t, _ in executor.launches] == ["A", "A", "A"]
    assert "--resume" not in argvs[0]
    assert all("--resume" in a and "sess-A" in a for a in argvs[1:])
    assert (tasks["A"]["status"], tasks["A"]["failure"]) == ("failed", "incomplete")
    assert tasks["A"]["reason"] == "reached max turns (5)"
    assert tasks["B"]["status"] == "blocked"
    assert "A: reached max turns (5); continuing the session (1/2)" in said
    assert "A: reached max turns (5); continuing the session (2/2)" in said
    assert "A failed: reached max turns (5)" in said
    log = (tmp_path / "logs" / "A.log").read_text()
    assert log.count("will continue · reached max turns (5)") == 2


def test_an_incomplete_session_that_is_then_done_needs_no_retry(tmp_path: Path) -> None:
    script = {"A": [Play(lines=incomplete("sess-A")), Play(lines=claude_lines("sess-A"))]}
    code, executor, tasks, _ = run(
        tmp_path, [("A", "-")], script, agent="claude", settings="- retries: 0\n- continues: 1"
    )
    assert code is ExitCode.OK
    assert (tasks["A"]["status"], tasks["A"]["attempts"]) == ("done", 2)
    assert "sess-A" in executor.launches[1][1].argv


def test_a_session_lost_after_a_resume_starts_afresh_without_a_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A usage limit makes A continue its session; the CLI no longer has it: the third
    attempt starts afresh (no --resume) although retries is 0, and gets done."""
    limit = json.dumps(
        {
            "type": "rate_limit_event",
            "rate_limit_info": {"status": "rejected", "resetsAt": time.time() + 0.1},
        }
    ).encode()
    lost = claude_lines("sess-A", error=True, text="No conversation found with session ID: sess-A")
    script = {
        "A": [
            Play(lines=[claude_lines("sess-A")[0], limit], code=1),
            Play(lines=lost, code=1),
            Play(lines=claude_lines("sess-B")),
        ]
    }
    monkeypatch.setattr("engine.run.runner.RATE_LIMIT_MARGIN", 0.0)
    monkeypatch.setattr("engine.run.runner.RATE_LIMIT_MIN_WAIT", 0.05)
    code, executor, tasks, said = run(
        tmp_path, [("A", "-")], script, agent="claude", settings="- retries: 0"
    )
    assert code is ExitCode.OK
    assert "the session to continue was not found; starting the task afresh" in said
    argvs = [launch.argv for _, launch in executor.launches]
    assert len(argvs) == 3
    assert "--resume" in argvs[1]
    assert "sess-A" in argvs[1]
    assert "--resume" not in argvs[2]
    assert (tasks["A"]["status"], tasks["A"]["session_id"]) == ("done", "sess-B")
    log = (tmp_path / "logs" / "A.log").read_text()
    assert "will start afresh" in log


def test_no_resources_while_others_run_narrows_the_cap_until_one_ends(tmp_path: Path) -> None:
    """B cannot start (EMFILE) while A and C run: the run says only 2 fit, and B starts
    again only once one of them has ended, with no retry spent (retries is 0)."""
    script = {
        "A": [Play(seconds=0.3)],
        "B": [Play(raises=SpawnError(errno.EMFILE, "Too many open files")), Play()],
        "C": [Play(seconds=0.3)],
    }
    code, executor, tasks, said = run(
        tmp_path, [("A", "-"), ("B", "-"), ("C", "-")], script, jobs=3, settings="- retries: 0"
    )
    assert code is ExitCode.OK
    assert [t for t, _ in executor.launches] == ["A", "B", "C", "B"]
    # A and C each run 0.3 s: B's second start waits for one of them to end.
    assert executor.launched_at[3] - executor.launched_at[0] >= 0.25
    assert "only 2 agent(s) fit (Too many open files): running 2 at once until more do." in said
    assert {t["status"] for t in tasks.values()} == {"done"}
    assert tasks["B"]["attempts"] == 1  # the start that found no resources is no attempt


def test_a_launch_starved_of_resources_too_long_halts_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing runs and nothing can start: every launch is held, longer each time; after
    MAX_STARVED holds the task fails, its dependent is blocked, no other task starts and the
    run's warning says what ran out and what to do."""
    monkeypatch.setattr("engine.run.runner.MAX_STARVED", 3)
    monkeypatch.setattr("engine.run.policy.HOLD_FIRST", 0.01)
    script = {"A": [Play(raises=SpawnError(errno.EMFILE, "Too many open files"))]}
    code, executor, tasks, said = run(
        tmp_path, [("A", "-"), ("B", "A"), ("C", "-")], script, jobs=1, settings="- retries: 2"
    )
    assert code is ExitCode.TASKS_NOT_DONE
    assert [t for t, _ in executor.launches] == ["A"] * 4  # the first start, then 3 holds
    at = executor.launched_at
    # Held 0.01, 0.02, 0.04 s (x 0.8 at least, the jitter): a floor, load cannot break it.
    assert [b - a >= 0.008 * 2**i for i, (a, b) in enumerate(itertools.pairwise(at))] == [True] * 3
    assert (tasks["A"]["status"], tasks["A"]["failure"]) == ("failed", "resources")
    assert (tasks["B"]["status"], tasks["B"]["reason"]) == ("blocked", "dependency A failed")
    assert tasks["C"]["status"] == "pending"
    assert tasks["C"]["reason"].startswith("not started")
    warning = json.loads((tmp_path / "state" / "state.json").read_bytes())["run"]["warning"]
    assert warning.startswith(
        "no agent could be started (Too many open files) although none was running, 3 times "
        "in a row. Raise the limit that ran out (ulimit -n for open files"
    )
    assert "no agent could be started" in said


def test_a_nova_error_in_a_task_fails_it_and_blocks_its_dependents(tmp_path: Path) -> None:
    """The error path (no verdict applied) settles the task through the scheduler too: failed,
    its dependent blocked with the reason, the run over (no hang on a task left running)."""
    script = {"A": [Play(lines=[b"did the work"], fails_after=OSError(errno.EIO, "x"))]}
    code, executor, tasks, _ = run(tmp_path, [("A", "-"), ("B", "A"), ("C", "-")], script)
    assert code is ExitCode.TASKS_NOT_DONE
    assert sorted(t for t, _ in executor.launches) == ["A", "C"]
    assert tasks["A"]["status"] == "failed"
    assert tasks["A"]["reason"].startswith("nova error")
    assert (tasks["B"]["status"], tasks["B"]["reason"]) == ("blocked", "dependency A failed")
    assert tasks["C"]["status"] == "done"
