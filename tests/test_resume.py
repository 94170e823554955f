"""Carrying over the last run (engine.run.resume): done stays done, the rest runs again, and the
sessions of tasks stopped mid-work are continued."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import StateError
from engine.observe.state import State, TaskState
from engine.outcome import TaskStatus
from engine.plan.cascade import parse_cascade
from engine.plan.settings import Settings
from engine.run.preflight import resolve_settings
from engine.run.resume import attempts_on_disk, carry_over

PLAN = """# P

## L1: Work

| Task ID | Task Name | What Changes | Depends On |
|---|---|---|---|
| A | a | x | - |
| B | b | x | A |
| C | c | x | - |
| D | d | x | - |
| E | e | x | - |
"""


def previous_state(path: str) -> State:
    state = State(project="P", cascade=path)
    state.tasks = {
        "A": TaskState(id="A", status=TaskStatus.DONE, session_id="s-a"),
        "B": TaskState(id="B", status=TaskStatus.BLOCKED, reason="dependency X failed"),
        "C": TaskState(
            id="C",
            status=TaskStatus.PENDING,
            failure="rate_limit",
            reason="usage limit reached",
            session_id="s-c",
        ),
        "D": TaskState(id="D", status=TaskStatus.RUNNING, session_id="s-d", pid=4242),
        "E": TaskState(
            id="E",
            status=TaskStatus.FAILED,
            failure="permanent",
            reason="API error 400",
            session_id="s-e",
        ),
    }
    return state


def test_done_stays_done_and_the_rest_is_pending_again_without_old_reasons(
    tmp_path: Path,
) -> None:
    """B was blocked by a failure of the last run: pending now, with no stale reason."""
    cascade = parse_cascade(PLAN)
    state = State(project="P", cascade="/plan")
    carry_over(
        previous_state("/plan"),
        state,
        cascade,
        resolve_settings(cascade, Settings()),
        tmp_path,
        tmp_path / "state.json",
    )
    statuses = {t: s.status for t, s in state.tasks.items()}
    assert statuses == {"A": TaskStatus.DONE, **dict.fromkeys("BCDE", TaskStatus.PENDING)}
    assert (state.tasks["B"].reason, state.tasks["E"].failure) == (None, None)
    assert state.tasks["D"].pid is None


def test_sessions_of_tasks_stopped_mid_work_are_continued_and_no_others(tmp_path: Path) -> None:
    """D was running and C was waiting out a usage limit when the run ended: both continue
    their sessions; E failed for good, so it starts afresh."""
    cascade = parse_cascade(PLAN)
    state = State(project="P", cascade="/plan")
    resume = carry_over(
        previous_state("/plan"),
        state,
        cascade,
        resolve_settings(cascade, Settings()),
        tmp_path,
        tmp_path / "state.json",
    )
    assert resume == {"C": "s-c", "D": "s-d"}


def test_attempt_numbers_are_read_from_raw_log_names(tmp_path: Path) -> None:
    """`raw/F1-3.stdout` means F1 had 3 attempts; IDs with dashes and dots are read whole."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("F1-1.stdout", "F1-3.stderr", "api.v1-x-2.stdout", "junk.txt", "G-x.stdout"):
        (raw / name).write_bytes(b"")
    assert attempts_on_disk(tmp_path) == {"F1": 3, "api.v1-x": 2}


def test_attempts_go_on_above_every_number_given_in_the_state_journal_or_logs(
    tmp_path: Path,
) -> None:
    """The next attempt never reuses a number: D's state says 1 but its raw log says 2 (the
    state lagged), C's journal says 3 was given (an attempt counted as none afterwards), E
    is ahead in its own state; each goes on from the highest of the three."""
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "D-2.stdout").write_bytes(b"")
    cascade = parse_cascade(PLAN)
    previous = previous_state("/plan")
    previous.tasks["D"].attempts = 1
    previous.tasks["C"].attempts = 2
    previous.tasks["E"].attempts = 5
    state = State(project="P", cascade="/plan")
    carry_over(
        previous,
        state,
        cascade,
        resolve_settings(cascade, Settings()),
        tmp_path,
        tmp_path / "state.json",
        given={"C": 3, "E": 4},
    )
    assert {t: state.tasks[t].attempts for t in "CDE"} == {"C": 3, "D": 2, "E": 5}


def test_rerun_starts_tasks_afresh_done_or_not_and_keeps_what_they_spent(tmp_path: Path) -> None:
    """A (done) and D (interrupted) asked to run again: both pending, neither continues its
    session, and A's tokens so far stay counted; the note names the done one."""
    cascade = parse_cascade(PLAN)
    previous = previous_state("/plan")
    previous.tasks["A"].prior_cost = 0.25
    previous.tasks["A"].result = "made the types"
    state = State(project="P", cascade="/plan")
    notes: list[str] = []
    resume = carry_over(
        previous,
        state,
        cascade,
        resolve_settings(cascade, Settings()),
        tmp_path,
        tmp_path / "state.json",
        frozenset({"A", "D"}),
        notes.append,
    )
    assert resume == {"C": "s-c"}
    a = state.tasks["A"]
    assert (a.status, a.session_id, a.result, a.cost_usd) == (TaskStatus.PENDING, None, None, 0.25)
    assert notes == ["running 1 done task(s) again, as asked: A."]


def test_a_state_from_another_live_plan_is_refused_and_a_moved_one_adopted(
    tmp_path: Path,
) -> None:
    cascade = parse_cascade(PLAN)
    settings = resolve_settings(cascade, Settings())
    live = tmp_path / "other.md"
    live.write_text(PLAN)
    with pytest.raises(StateError, match="belongs to another plan"):
        carry_over(
            previous_state(str(live)),
            State(project="P", cascade="/plan"),
            cascade,
            settings,
            tmp_path,
            tmp_path / "state.json",
        )
    state = State(project="P", cascade="/plan")
    notes: list[str] = []
    carry_over(
        previous_state(str(tmp_path / "gone.md")),
        state,
        cascade,
        settings,
        tmp_path,
        tmp_path / "state.json",
        note=notes.append,
    )
    assert state.tasks["A"].status is TaskStatus.DONE
    assert notes == [f"the plan moved from {tmp_path / 'gone.md'}: its state is carried over."]
